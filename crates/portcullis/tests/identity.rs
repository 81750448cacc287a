//! Identity at the gateway, attacked from the client's side: API keys from
//! the store (missing, wrong, in the URL, revoked, rotated), identity
//! headers the client cannot forge, and object-level authorization.

mod common;

use std::time::Duration;

use common::mtls::{self, Mtls};
use common::plane::{admin_session, bootstrap};
use common::{BIN, Gateway, TestUpstream, raw};
use portcullis_test_support::TempDir;
use portcullis_test_support::admin::AdminClient;
use portcullis_test_support::certs::TestCa;
use serde_json::json;

fn config(upstream: &TestUpstream) -> String {
    format!(
        "workers: 1
listeners: [{{ name: public, listen: 127.0.0.1:0 }}]
upstream_allowlist: [127.0.0.0/8]
upstreams: [{{ name: app, targets: [{url}] }}]
routes:
  - name: accounts
    path: /accounts/{{consumer_id}}
    upstream: app
    policies:
      - type: api_key
      - type: authorize
        bind: [{{ param: consumer_id, claim: consumer }}]
  - name: orders
    prefix: /orders
    methods: [GET, DELETE]
    upstream: app
    policies:
      - type: api_key
        header: X-Key
      - type: authorize
        methods: [DELETE]
        groups: [admins]
  - name: open
    prefix: /open
    upstream: app
  - name: basic
    prefix: /basic
    upstream: app
    policies: [{{ type: basic }}]
  - name: limited
    prefix: /limited
    upstream: app
    policies:
      - type: api_key
      - type: rate_limit
        limits: [{{ name: per-consumer, key: [consumer], rate: 2/m, burst: 2 }}]
access_log: {{ path: \"{{dir}}/access.log\" }}
data_dir: {{dir}}/data
admin:
  listen: 127.0.0.1:0
  password_hashing: {{ memory: 8MiB, iterations: 1, parallelism: 1 }}
",
        url = upstream.url()
    )
}

/// A consumer with one app and one key; returns (consumer id, credential id, key).
async fn consumer_with_key(admin: &mut AdminClient, name: &str, groups: &[&str]) -> (String, String, String) {
    let consumer = admin.post("/admin/v1/consumers", &json!({ "name": name, "groups": groups })).await;
    assert_eq!(consumer.status(), 201, "{:?}", consumer.json);
    let id = consumer.json["id"].as_str().unwrap().to_owned();
    let app = admin.post(&format!("/admin/v1/consumers/{id}/apps"), &json!({ "name": "app" })).await;
    let app_id = app.json["id"].as_str().unwrap();
    let key = admin.post(&format!("/admin/v1/apps/{app_id}/credentials"), &json!({ "kind": "api_key" })).await;
    assert_eq!(key.status(), 201, "{:?}", key.json);
    (id, key.json["credential"]["id"].as_str().unwrap().to_owned(), key.json["secret"].as_str().unwrap().to_owned())
}

/// Waits until `key` works: the index follows the store within milliseconds.
async fn until_active(gw: &Gateway, path: &str, header: &str, key: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while get(gw, path, &[(header, key)]).await.status != 200 {
        assert!(tokio::time::Instant::now() < deadline, "the new key never started working");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn get(gw: &Gateway, path: &str, headers: &[(&str, &str)]) -> raw::RawResponse {
    let extra: String = headers.iter().map(|(n, v)| format!("{n}: {v}\r\n")).collect();
    raw::request(gw.addr(), &format!("GET {path} HTTP/1.1\r\nHost: api\r\n{extra}Connection: close\r\n\r\n")).await
}

struct World {
    gw: Gateway,
    upstream: TestUpstream,
    admin: AdminClient,
}

async fn world() -> World {
    let upstream = TestUpstream::start().await;
    let dir = TempDir::new();
    let config = config(&upstream);
    let password = bootstrap(&dir, &config);
    let gw = Gateway::start_in(BIN, dir, &config);
    let admin = admin_session(&gw, &password).await;
    World { gw, upstream, admin }
}

#[tokio::test]
async fn a_valid_key_reaches_the_upstream_as_an_identity_the_client_cannot_forge() {
    let mut w = world().await;
    let (consumer, _, key) = consumer_with_key(&mut w.admin, "acme", &["partners"]).await;
    until_active(&w.gw, &format!("/accounts/{consumer}"), "X-API-Key", &key).await;
    let forged = [("X-API-Key", key.as_str()), ("X-Consumer-Id", "con_admin"), ("X-Consumer-Groups", "admins")];
    let ok = get(&w.gw, &format!("/accounts/{consumer}"), &forged).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    let seen = w.upstream.seen().pop().unwrap();
    assert_eq!(seen.headers.get("x-consumer-id").unwrap(), consumer.as_str());
    assert_eq!(seen.headers.get("x-consumer-groups").unwrap(), "partners");
    assert_eq!(seen.headers.get("x-authenticated-by").unwrap(), "api_key");
    assert!(seen.headers.get("x-api-key").is_none(), "the key is not forwarded");
    // On a route without authentication, forged identity headers are dropped too.
    let open = get(&w.gw, "/open", &[("X-Consumer-Id", "con_admin"), ("X-Scopes", "admin")]).await;
    assert_eq!(open.status, 200);
    let seen = w.upstream.seen().pop().unwrap();
    assert!(seen.headers.get("x-consumer-id").is_none() && seen.headers.get("x-scopes").is_none());
}

#[tokio::test]
async fn missing_wrong_and_url_keys_get_the_same_generic_401() {
    let mut w = world().await;
    let (consumer, _, key) = consumer_with_key(&mut w.admin, "acme", &[]).await;
    let path = format!("/accounts/{consumer}");
    until_active(&w.gw, &path, "X-API-Key", &key).await;
    let mut tampered = key.clone();
    tampered.pop();
    tampered.push(if key.ends_with('A') { 'B' } else { 'A' });
    let unknown = format!("pck_zzzzzzzz_{}", &key[13..]);
    let answers = [
        get(&w.gw, &path, &[]).await,
        get(&w.gw, &path, &[("X-API-Key", &tampered)]).await,
        get(&w.gw, &path, &[("X-API-Key", &unknown)]).await,
        get(&w.gw, &path, &[("X-API-Key", "pck_garbage")]).await,
        get(&w.gw, &format!("{path}?api_key={key}"), &[]).await,
        get(&w.gw, &format!("{path}?q=%70ck_{}", &key[4..]), &[("X-API-Key", &key)]).await,
        get(&w.gw, &path, &[("X-API-Key", &key), ("X-API-Key", &key)]).await,
    ];
    for answer in &answers {
        assert_eq!(answer.status, 401, "{}", answer.text());
        assert_eq!(answer.header("www-authenticate"), Some("ApiKey realm=\"portcullis\""));
        let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(body["error"], "unauthorized");
    }
    assert_eq!(w.upstream.count(), 1, "only the probe that waited for the key reached the upstream");
    let reasons = ["auth.api_key.missing", "auth.api_key.invalid", "auth.api_key.in_url", "auth.api_key.repeated"];
    let log = w.gw.access_log_with(&reasons, Duration::from_secs(5));
    for reason in reasons {
        assert!(log.contains(reason), "{reason} not in\n{log}");
    }
    assert!(!log.contains(&key[13..]), "the key reached the access log");
}

#[tokio::test]
async fn failed_keys_and_passwords_are_logged_by_a_masked_fingerprint_never_in_clear() {
    let mut w = world().await;
    let (consumer, _, key) = consumer_with_key(&mut w.admin, "acme", &[]).await;
    let path = format!("/accounts/{consumer}");
    until_active(&w.gw, &path, "X-API-Key", &key).await;
    // A well-formed key with one secret character changed: its public prefix is logged.
    let mut guessed = key.clone().into_bytes();
    guessed[30] = if guessed[30] == b'a' { b'b' } else { b'a' };
    let guessed = String::from_utf8(guessed).unwrap();
    let garbage = "an entirely different secret 7f3a";
    let password = "correct horse battery staple";
    assert_eq!(get(&w.gw, &path, &[("X-API-Key", &guessed)]).await.status, 401);
    assert_eq!(get(&w.gw, &path, &[("X-API-Key", garbage)]).await.status, 401);
    assert_eq!(get(&w.gw, "/open?x=1", &[]).await.status, 200);
    assert_eq!(get(&w.gw, "/basic", &[("Authorization", &basic("batch", password))]).await.status, 401);
    let reasons = ["auth.api_key.invalid", "auth.basic.invalid"];
    let log = w.gw.access_log_with(&reasons, Duration::from_secs(5));
    let keys = common::credentials_logged(&log, "auth.api_key.invalid");
    // (The probe that waited for the new key may have been refused first.)
    assert!(keys.ends_with(&[format!("pck_{}…", &key[4..12]), common::short_sha256(garbage)]), "{log}");
    assert_eq!(common::credentials_logged(&log, "auth.basic.invalid"), ["user:batch"]);
    for secret in [&key[13..], &guessed[13..], garbage, password] {
        assert!(!log.contains(secret), "{secret} reached the access log");
    }
    let admitted = log.lines().map(common::json).filter(|line| line["status"] == 200);
    assert!(admitted.into_iter().all(|line| line.get("credential").is_none()), "{log}");
}

#[tokio::test]
async fn revocation_is_effective_at_once_and_rotation_keeps_the_old_key_for_the_overlap() {
    let mut w = world().await;
    let (consumer, credential, key) = consumer_with_key(&mut w.admin, "acme", &[]).await;
    let path = format!("/accounts/{consumer}");
    until_active(&w.gw, &path, "X-API-Key", &key).await;
    let rotated =
        w.admin.post(&format!("/admin/v1/credentials/{credential}/rotate"), &json!({ "overlap_seconds": 60 })).await;
    let new_key = rotated.json["secret"].as_str().unwrap().to_owned();
    let new_id = rotated.json["credential"]["id"].as_str().unwrap().to_owned();
    until_active(&w.gw, &path, "X-API-Key", &new_key).await;
    assert_eq!(get(&w.gw, &path, &[("X-API-Key", &key)]).await.status, 200, "old key works during the overlap");
    for id in [&credential, &new_id] {
        assert_eq!(w.admin.post(&format!("/admin/v1/credentials/{id}/revoke"), &json!({})).await.status(), 200);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    loop {
        let (old, new) =
            (get(&w.gw, &path, &[("X-API-Key", &key)]).await, get(&w.gw, &path, &[("X-API-Key", &new_key)]).await);
        if old.status == 401 && new.status == 401 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "revocation took longer than 2 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn one_consumer_cannot_reach_another_consumers_object() {
    let mut w = world().await;
    let (alice, _, alice_key) = consumer_with_key(&mut w.admin, "alice", &[]).await;
    let (bob, _, _) = consumer_with_key(&mut w.admin, "bob", &["admins"]).await;
    until_active(&w.gw, &format!("/accounts/{alice}"), "X-API-Key", &alice_key).await;
    assert_eq!(get(&w.gw, &format!("/accounts/{alice}"), &[("X-API-Key", &alice_key)]).await.status, 200);
    let other = get(&w.gw, &format!("/accounts/{bob}"), &[("X-API-Key", &alice_key)]).await;
    assert_eq!(other.status, 403);
    let body: serde_json::Value = serde_json::from_slice(&other.body).unwrap();
    assert_eq!(body["error"], "forbidden");
    // Function level: DELETE needs the admins group, GET does not.
    let key_header = [("X-Key", alice_key.as_str())];
    assert_eq!(get(&w.gw, "/orders/1", &key_header).await.status, 200);
    let delete = raw::request(
        w.gw.addr(),
        &format!("DELETE /orders/1 HTTP/1.1\r\nHost: api\r\nX-Key: {alice_key}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert_eq!(delete.status, 403);
    let log = w.gw.access_log_with(&["authz.object", "authz.group"], Duration::from_secs(5));
    assert!(log.contains("authz.object") && log.contains("authz.group"), "{log}");
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

#[tokio::test]
async fn basic_credentials_work_and_a_guessing_client_is_cut_off() {
    let mut w = world().await;
    let consumer = w.admin.post("/admin/v1/consumers", &json!({ "name": "legacy" })).await;
    let consumer_id = consumer.json["id"].as_str().unwrap().to_owned();
    let app = w.admin.post(&format!("/admin/v1/consumers/{consumer_id}/apps"), &json!({ "name": "batch" })).await;
    let app_id = app.json["id"].as_str().unwrap();
    let password = "nightly export secret 2026!";
    let created = w
        .admin
        .post(
            &format!("/admin/v1/apps/{app_id}/credentials"),
            &json!({ "kind": "basic", "username": "batch", "password": password }),
        )
        .await;
    assert_eq!(created.status(), 201, "{:?}", created.json);
    until_active(&w.gw, "/basic", "Authorization", &basic("batch", password)).await;
    let seen = w.upstream.seen().pop().unwrap();
    assert_eq!(seen.headers.get("x-consumer-id").unwrap(), consumer_id.as_str());
    assert!(seen.headers.get("authorization").is_none(), "credentials are not forwarded");
    let wrong = get(&w.gw, "/basic", &[("Authorization", &basic("batch", "guess"))]).await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.header("www-authenticate"), Some("Basic realm=\"portcullis\", charset=\"UTF-8\""));
    let unknown = get(&w.gw, "/basic", &[("Authorization", &basic("nobody", password))]).await;
    assert_eq!((unknown.status, unknown.header("www-authenticate")), (401, wrong.header("www-authenticate")));
    for n in 0..10 {
        get(&w.gw, "/basic", &[("Authorization", &basic("batch", &format!("guess {n}")))]).await;
    }
    let locked = get(&w.gw, "/basic", &[("Authorization", &basic("batch", password))]).await;
    assert_eq!(locked.status, 401, "the user name is locked after repeated failures");
    let log = w.gw.access_log_with(&["auth.basic.invalid", "auth.basic.locked"], Duration::from_secs(5));
    assert!(log.contains("auth.basic.invalid") && log.contains("auth.basic.locked"), "{log}");
    assert!(!log.contains(password), "a password reached the access log");
}

/// A gateway with the `mtls` listener and a `/partners` route holding `policies`.
fn mtls_config(upstream: &TestUpstream, policies: &str) -> String {
    format!(
        "workers: 1
listeners:
{listener}upstream_allowlist: [127.0.0.0/8]
upstreams: [{{ name: app, targets: [{url}] }}]
routes:
  - name: partners
    prefix: /partners
    upstream: app
    policies:
{policies}access_log: {{ path: \"{{dir}}/access.log\" }}
data_dir: {{dir}}/data
admin:
  listen: 127.0.0.1:0
  password_hashing: {{ memory: 8MiB, iterations: 1, parallelism: 1 }}
",
        listener = mtls::LISTENER,
        url = upstream.url()
    )
}

#[tokio::test]
async fn a_registered_client_certificate_is_the_callers_identity() {
    let upstream = TestUpstream::start().await;
    let dir = TempDir::new();
    let ca = Mtls::new(&dir);
    let config = mtls_config(&upstream, "      - type: mtls_identity\n");
    let password = bootstrap(&dir, &config);
    let gw = Gateway::start_in(BIN, dir, &config);
    let mut admin = admin_session(&gw, &password).await;
    let known = ca.clients.leaf(&["partner-1"]);
    let stranger = ca.clients.leaf(&["partner-2"]);
    let fingerprint: String = mtls::sha256(&known).iter().map(|b| format!("{b:02X}:")).collect();
    let consumer = admin.post("/admin/v1/consumers", &json!({ "name": "partner" })).await;
    let consumer_id = consumer.json["id"].as_str().unwrap().to_owned();
    let app = admin.post(&format!("/admin/v1/consumers/{consumer_id}/apps"), &json!({ "name": "b2b" })).await;
    let app_id = app.json["id"].as_str().unwrap();
    let registered = admin
        .post(
            &format!("/admin/v1/apps/{app_id}/credentials"),
            &json!({ "kind": "mtls", "fingerprint": fingerprint.trim_end_matches(':') }),
        )
        .await;
    assert_eq!(registered.status(), 201, "{:?}", registered.json);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while ca.get(&gw, Some(&known), "/partners", &[]).await.map(|r| r.status) != Some(200) {
        assert!(tokio::time::Instant::now() < deadline, "the registered certificate never worked");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seen = upstream.seen().pop().unwrap();
    assert_eq!(seen.headers.get("x-consumer-id").unwrap(), consumer_id.as_str());
    assert_eq!(seen.headers.get("x-authenticated-by").unwrap(), "mtls");
    let refused = ca.get(&gw, Some(&stranger), "/partners", &[]).await.unwrap();
    assert_eq!(refused.status, 401, "a valid but unregistered certificate is no identity");
    assert_eq!(ca.get(&gw, None, "/partners", &[]).await.unwrap().status, 401);
}

#[tokio::test]
async fn certificate_rules_name_consumers_by_spiffe_id_and_subject_and_nothing_else() {
    let upstream = TestUpstream::start().await;
    let dir = TempDir::new();
    let ca = Mtls::new(&dir);
    let policies = "      - type: mtls_identity
        rules:
          - match: { san_uri: \"spiffe://example.org/ns/payments/sa/*\" }
            consumer: con_payments
            groups: [payments]
          - match: { subject_cn: billing.internal, subject_o: Example }
            consumer: con_billing
";
    let gw = Gateway::start_in(BIN, dir, &mtls_config(&upstream, policies));
    let spiffe = |id: &str| ca.clients.client_leaf("workload", None, &[id]);
    let admitted = [
        (spiffe("spiffe://example.org/ns/payments/sa/api"), "con_payments", "payments"),
        (ca.clients.client_leaf("billing.internal", Some("Example"), &[]), "con_billing", ""),
    ];
    for (cert, consumer, groups) in &admitted {
        let answer = ca.get(&gw, Some(cert), "/partners", &[("X-Consumer-Id", "con_admin")]).await.unwrap();
        assert_eq!(answer.status, 200, "{consumer}: {}", answer.text());
        let seen = upstream.seen().pop().unwrap();
        assert_eq!(seen.headers.get("x-consumer-id").unwrap(), consumer);
        assert_eq!(seen.headers.get("x-authenticated-by").unwrap(), "mtls");
        assert_eq!(seen.headers.get("x-consumer-groups").map_or("", |v| v.to_str().unwrap()), *groups);
    }
    let refused = [
        ("a deeper path", spiffe("spiffe://example.org/ns/payments/sa/api/admin")),
        ("a dot segment", spiffe("spiffe://example.org/ns/payments/sa/..")),
        ("an encoded slash", spiffe("spiffe://example.org/ns/payments/sa/a%2Fb")),
        ("another trust domain", spiffe("spiffe://evil.org/ns/payments/sa/api")),
        ("a sibling namespace", spiffe("spiffe://example.org/ns/payments-evil/sa/api")),
        ("another organization", ca.clients.client_leaf("billing.internal", Some("Evil"), &[])),
        ("no organization", ca.clients.client_leaf("billing.internal", None, &[])),
    ];
    for (what, cert) in &refused {
        let answer = ca.get(&gw, Some(cert), "/partners", &[]).await.unwrap();
        assert_eq!(answer.status, 401, "{what}: {}", answer.text());
        assert_eq!(answer.header("www-authenticate"), Some("Mutual realm=\"portcullis\""), "{what}");
    }
    // The right names from a CA the listener does not trust never get a request through.
    let rogue = TestCa::new("Rogue CA").client_leaf("billing.internal", Some("Example"), &[]);
    assert!(ca.get(&gw, Some(&rogue), "/partners", &[]).await.is_none_or(|r| r.status != 200));
    assert_eq!(ca.get(&gw, None, "/partners", &[]).await.unwrap().status, 401);
    assert_eq!(upstream.count(), 2, "only the two matching certificates reached the upstream");
    let log = gw.access_log_with(&["auth.mtls.unknown", "auth.mtls.missing"], Duration::from_secs(5));
    assert!(log.contains("auth.mtls.unknown") && log.contains("auth.mtls.missing"), "{log}");
}

#[tokio::test]
async fn rate_limits_count_each_consumer_apart_wherever_it_calls_from() {
    let mut w = world().await;
    let (_, _, first) = consumer_with_key(&mut w.admin, "first", &[]).await;
    let (_, _, second) = consumer_with_key(&mut w.admin, "second", &[]).await;
    until_active(&w.gw, "/limited", "X-API-Key", &second).await;
    until_active(&w.gw, "/limited", "X-API-Key", &first).await;
    assert_eq!(get(&w.gw, "/limited", &[("X-API-Key", &first)]).await.status, 200);
    let over = get(&w.gw, "/limited", &[("X-API-Key", &first)]).await;
    assert_eq!(over.status, 429, "{}", over.text());
    // The same address, another consumer: its own budget (one used while waiting for the key).
    assert_eq!(get(&w.gw, "/limited", &[("X-API-Key", &second)]).await.status, 200);
}

#[tokio::test]
async fn guessing_keys_locks_the_address_until_an_admin_unlocks_it() {
    let mut w = world().await;
    let (consumer, _, key) = consumer_with_key(&mut w.admin, "acme", &[]).await;
    let path = format!("/accounts/{consumer}");
    until_active(&w.gw, &path, "X-API-Key", &key).await;
    for n in 0..10 {
        let guess = format!("pck_guess{n:03}_{}", &key[13..]);
        assert_eq!(get(&w.gw, &path, &[("X-API-Key", &guess)]).await.status, 401);
    }
    // Now even the right key is refused, exactly like a wrong one.
    let locked = get(&w.gw, &path, &[("X-API-Key", &key)]).await;
    assert_eq!(locked.status, 401);
    assert_eq!(locked.header("www-authenticate"), Some("ApiKey realm=\"portcullis\""));
    let listed = w.admin.get("/admin/v1/lockouts").await;
    assert_eq!(listed.json["items"][0]["key"], "ip:127.0.0.1", "{:?}", listed.json);
    let unlocked = w.admin.post("/admin/v1/lockouts/unlock", &json!({ "key": "ip:127.0.0.1" })).await;
    assert_eq!(unlocked.status(), 204, "{:?}", unlocked.json);
    assert_eq!(get(&w.gw, &path, &[("X-API-Key", &key)]).await.status, 200);
    let audit = w.admin.get("/admin/v1/audit/events?action=lockout.unlock").await;
    assert_eq!(audit.json["items"].as_array().map(Vec::len), Some(1), "{:?}", audit.json);
    let log = w.gw.access_log_with(&["auth.api_key.locked"], Duration::from_secs(5));
    assert!(log.contains("auth.api_key.locked"));
}
