//! The admin API over real sockets, attacked and used as a client would.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use portcullis_admin::{AdminSettings, AppState};
use portcullis_credentials::{PasswordHasher, TotpSecret};
use portcullis_store::{Actor, AuditQuery, Store};
use portcullis_test_support::TempDir;
use portcullis_test_support::admin::{AdminClient, AdminResponse};
use serde_json::{Value, json};

const STRONG: &str = "correct horse battery staple 42";
const STRONGER: &str = "Tr0ub4dor & the seventh gate!";

struct Harness {
    addr: std::net::SocketAddr,
    store: Store,
    hasher: PasswordHasher,
    _dir: TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start(adjust: impl FnOnce(&mut AdminSettings)) -> Harness {
    let dir = TempDir::new();
    let store = Store::open(None, &dir.path().join("data")).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut settings = AdminSettings::with_defaults(addr);
    // Cheap argon2 keeps debug-build tests fast; the cost is configuration.
    settings.password_hashing = (1024, 1, 1);
    adjust(&mut settings);
    let view: portcullis_admin::ConfigView = Arc::new(|| json!({ "routes": [] }));
    let state = AppState::new(store.clone(), settings, None, view).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(portcullis_admin::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    Harness { addr, store, hasher: PasswordHasher::new(1024, 1, 1).unwrap(), _dir: dir, _stop: stop }
}

impl Harness {
    /// An account as `bootstrap` leaves it: must change its password.
    async fn user(&self, name: &str, role: &str, password: &str, must_change: bool) -> String {
        let phc = self.hasher.hash(password);
        self.store.create_admin_user(&Actor::host("root"), name, role, &phc, must_change).await.unwrap().id
    }

    /// Logs `name` in and completes every duty: password change (to
    /// STRONGER) if asked, TOTP enrolment if the role needs it.
    async fn session(&self, name: &str, password: &str) -> (AdminClient, Option<TotpSecret>) {
        let mut client = AdminClient::new(self.addr);
        let login = client.login(name, password).await;
        assert_eq!(login.status(), 200, "{:?}", login.json);
        let mut duty = login.json["duty"].as_str().map(str::to_owned);
        let mut secret = None;
        while let Some(next) = duty.take() {
            match next.as_str() {
                "change_password" => {
                    let r = client
                        .post(
                            "/admin/v1/me/password",
                            &json!({ "current_password": password, "new_password": STRONGER }),
                        )
                        .await;
                    assert_eq!(r.status(), 204, "{:?}", r.json);
                }
                "enrol_second_factor" => {
                    let start = client.post("/admin/v1/me/totp", &json!({})).await;
                    let totp = TotpSecret::from_base32(start.json["secret"].as_str().unwrap()).unwrap();
                    let code = totp.code_at(now_s());
                    let confirm = client
                        .post("/admin/v1/me/totp/confirm", &json!({ "secret": totp.to_base32(), "code": code }))
                        .await;
                    assert_eq!(confirm.status(), 200, "{:?}", confirm.json);
                    assert_eq!(confirm.json["recovery_codes"].as_array().unwrap().len(), 10);
                    secret = Some(totp);
                }
                other => panic!("unexpected duty {other}"),
            }
            duty = client.get("/admin/v1/me").await.json["duty"].as_str().map(str::to_owned);
        }
        (client, secret)
    }
}

fn now_s() -> u64 {
    u64::try_from(portcullis_store::now_ms() / 1000).unwrap()
}

fn assert_error(response: &AdminResponse, status: u16, word: &str) {
    assert_eq!((response.status(), response.error()), (status, Some(word)), "{:?}", response.json);
    assert!(response.json["request_id"].as_str().is_some_and(|id| !id.is_empty()), "{:?}", response.json);
}

#[tokio::test]
async fn first_login_forces_a_new_password_and_a_second_factor() {
    let h = start(|_| {}).await;
    h.user("root-admin", "admin", STRONG, true).await;
    let mut client = AdminClient::new(h.addr);
    let login = client.login("root-admin", STRONG).await;
    assert_eq!(login.json["duty"], "change_password");
    let cookie = login.raw.header("set-cookie").unwrap();
    for flag in ["HttpOnly", "Secure", "SameSite=Strict"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    // Nothing else works until the password is changed.
    assert_error(&client.get("/admin/v1/consumers").await, 403, "password_change_required");
    // A password from the common list is refused, so is the user's name.
    for weak in ["Password123!", "root-admin-2024-xyz!"] {
        let r =
            client.post("/admin/v1/me/password", &json!({ "current_password": STRONG, "new_password": weak })).await;
        assert_error(&r, 422, "weak_password");
    }
    let r =
        client.post("/admin/v1/me/password", &json!({ "current_password": STRONG, "new_password": STRONGER })).await;
    assert_eq!(r.status(), 204);
    // The admin role requires TOTP: enrolment comes next.
    assert_error(&client.get("/admin/v1/consumers").await, 403, "second_factor_enrolment_required");
    let (mut client, secret) = h.session("root-admin", STRONGER).await;
    let secret = secret.expect("enrolled");
    assert_eq!(client.get("/admin/v1/consumers").await.status(), 200);

    // The next login must present the code, and the pre-factor session id dies.
    let mut next = AdminClient::new(h.addr);
    let login = next.login("root-admin", STRONGER).await;
    assert_eq!(login.json["duty"], "present_second_factor");
    let before = next.clone();
    assert_error(&next.get("/admin/v1/consumers").await, 403, "second_factor_required");
    let wrong = next.post("/admin/v1/login/second-factor", &json!({ "code": "000000" })).await;
    assert_error(&wrong, 401, "unauthorized");
    let code = secret.code_at(now_s() + 30);
    let ok = next.post("/admin/v1/login/second-factor", &json!({ "code": code })).await;
    assert_eq!(ok.status(), 200, "{:?}", ok.json);
    assert_eq!(next.get("/admin/v1/consumers").await.status(), 200);
    let mut stale = before;
    assert_error(&stale.get("/admin/v1/me").await, 401, "unauthorized");
    // The same code cannot be replayed in another session.
    let mut third = AdminClient::new(h.addr);
    third.login("root-admin", STRONGER).await;
    let replay = third.post("/admin/v1/login/second-factor", &json!({ "code": code })).await;
    assert_error(&replay, 401, "unauthorized");
    drop(client.get("/admin/v1/me").await);
}

#[tokio::test]
async fn brute_force_hits_the_lockout_and_a_locked_account_answers_like_a_wrong_password() {
    let h = start(|s| s.lockout.max_failures = 3).await;
    h.user("victim", "portal-moderator", STRONG, false).await;
    let mut attacker = AdminClient::new(h.addr);
    let unknown = attacker.login("nobody", STRONG).await;
    assert_error(&unknown, 401, "unauthorized");
    let mut wrong = Vec::new();
    for n in 0..3 {
        wrong.push(attacker.login("victim", &format!("guess number {n}")).await);
    }
    // Now even the right password is refused, exactly like a wrong one.
    let locked = attacker.login("victim", STRONG).await;
    for response in wrong.iter().chain([&locked, &unknown]) {
        assert_eq!(response.status(), 401);
        assert_eq!(response.json.as_object().unwrap().keys().collect::<Vec<_>>(), ["error", "request_id"]);
        assert_eq!(response.raw.header("www-authenticate"), locked.raw.header("www-authenticate"));
        assert!(response.raw.header("set-cookie").is_none());
    }
    let events = h
        .store
        .audit_events(&AuditQuery { limit: 100, action_prefix: Some("admin.lockout".into()), ..AuditQuery::default() })
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event.source, "127.0.0.1");
}

#[tokio::test]
async fn a_session_id_chosen_by_the_client_is_never_adopted() {
    let h = start(|_| {}).await;
    h.user("mod", "portal-moderator", STRONG, false).await;
    let mut client = AdminClient::new(h.addr);
    client.session = Some("attacker-chosen-session-id".into());
    assert_error(&client.get("/admin/v1/me").await, 401, "unauthorized");
    client.login("mod", STRONG).await;
    let issued = client.session.clone().unwrap();
    assert_ne!(issued, "attacker-chosen-session-id");
    assert_eq!(issued.len(), 43);
    assert_eq!(client.get("/admin/v1/me").await.status(), 200);
    // Logout ends it for good.
    assert_eq!(client.post("/admin/v1/logout", &json!({})).await.status(), 204);
    let mut replay = AdminClient::new(h.addr);
    replay.session = Some(issued);
    assert_error(&replay.get("/admin/v1/me").await, 401, "unauthorized");
}

#[tokio::test]
async fn an_idle_session_expires() {
    let h = start(|s| s.session_idle = Duration::from_millis(600)).await;
    h.user("mod", "portal-moderator", STRONG, false).await;
    let (mut client, _) = h.session("mod", STRONG).await;
    assert_eq!(client.get("/admin/v1/me").await.status(), 200);
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_error(&client.get("/admin/v1/me").await, 401, "unauthorized");
}

#[tokio::test]
async fn state_changes_need_the_csrf_token() {
    let h = start(|_| {}).await;
    h.user("op", "operator", STRONG, false).await;
    let (mut client, _) = h.session("op", STRONG).await;
    let csrf = client.csrf.take();
    let forged = client.post("/admin/v1/consumers", &json!({ "name": "acme" })).await;
    assert_error(&forged, 403, "csrf_token_missing");
    client.csrf = Some("0".repeat(64));
    assert_error(&client.post("/admin/v1/consumers", &json!({ "name": "acme" })).await, 403, "csrf_token_missing");
    client.csrf = csrf;
    assert_eq!(client.post("/admin/v1/consumers", &json!({ "name": "acme" })).await.status(), 201);
    assert_eq!(
        h.store.consumers(&portcullis_store::ListQuery { limit: 10, ..Default::default() }).await.unwrap().items.len(),
        1
    );
}

#[tokio::test]
async fn bad_input_gets_a_clear_answer_and_changes_nothing() {
    let h = start(|s| s.max_body = 1024).await;
    h.user("op", "operator", STRONG, false).await;
    let (mut client, _) = h.session("op", STRONG).await;
    let body = r#"{"name":"acme"}"#;
    let wrong_type = client
        .send(
            "POST",
            "/admin/v1/consumers",
            None,
            &["Content-Type: text/plain", &format!("Content-Length: {}", body.len()), "", body],
        )
        .await;
    assert_error(&wrong_type, 415, "unsupported_media_type");
    let unknown = client.post("/admin/v1/consumers", &json!({ "name": "acme", "admin": true })).await;
    assert_error(&unknown, 400, "invalid_request");
    let huge = client.post("/admin/v1/consumers", &json!({ "name": "x".repeat(5000) })).await;
    assert_error(&huge, 413, "payload_too_large");
    let not_json = client.send("GET", "/admin/v1/consumers", None, &["Accept: text/html"]).await;
    assert_error(&not_json, 406, "not_acceptable");
    let bad_query = client.get("/admin/v1/consumers?limit=ten").await;
    assert_error(&bad_query, 400, "invalid_request");
    let unknown_param = client.get("/admin/v1/consumers?order=name").await;
    assert_error(&unknown_param, 400, "invalid_request");
    assert_error(&client.get("/admin/v1/nowhere").await, 404, "not_found");
    assert_error(&client.send("PATCH", "/admin/v1/consumers", None, &[]).await, 405, "method_not_allowed");
    let sql = "acme'; DROP TABLE consumers; --";
    let created = client.post("/admin/v1/consumers", &json!({ "name": sql })).await;
    assert_eq!(created.status(), 201);
    let id = created.json["id"].as_str().unwrap().to_owned();
    assert_eq!(client.get(&format!("/admin/v1/consumers/{id}")).await.json["name"], sql);
    let page = client.get("/admin/v1/consumers").await;
    assert_eq!(page.json["items"].as_array().unwrap().len(), 1);
    // Nothing in the answers leaks internals.
    for r in [&wrong_type, &unknown, &huge, &bad_query] {
        let text = r.raw.text();
        assert!(!text.contains("sqlx") && !text.contains("panicked") && !text.contains("src/"), "{text}");
    }
}

#[tokio::test]
async fn updates_need_the_current_version() {
    let h = start(|_| {}).await;
    h.user("op", "operator", STRONG, false).await;
    let (mut client, _) = h.session("op", STRONG).await;
    let created = client.post("/admin/v1/consumers", &json!({ "name": "acme" })).await;
    assert_eq!(created.raw.header("etag"), Some("\"1\""));
    let id = created.json["id"].as_str().unwrap().to_owned();
    let path = format!("/admin/v1/consumers/{id}");
    let body = json!({ "name": "acme-2" });
    assert_error(&client.send("PUT", &path, Some(&body), &[]).await, 428, "precondition_required");
    let ok = client.send("PUT", &path, Some(&body), &["If-Match: \"1\""]).await;
    assert_eq!((ok.status(), ok.raw.header("etag")), (200, Some("\"2\"")));
    let stale = client.send("PUT", &path, Some(&json!({ "name": "acme-3" })), &["If-Match: \"1\""]).await;
    assert_error(&stale, 412, "version_mismatch");
    assert_eq!(client.get(&path).await.json["name"], "acme-2");
}

#[tokio::test]
async fn roles_grant_least_privilege() {
    let h = start(|_| {}).await;
    h.user("audrey", "auditor", STRONG, false).await;
    h.user("otto", "operator", STRONG, false).await;
    let (mut auditor, _) = h.session("audrey", STRONG).await;
    let (mut operator, _) = h.session("otto", STRONG).await;
    assert_eq!(auditor.get("/admin/v1/audit/events").await.status(), 200);
    assert_error(&auditor.post("/admin/v1/consumers", &json!({ "name": "x" })).await, 403, "forbidden");
    assert_error(&operator.get("/admin/v1/users").await, 403, "forbidden");
    assert_error(&operator.get("/admin/v1/audit/events").await, 403, "forbidden");
    let denied = h
        .store
        .audit_events(&AuditQuery { limit: 100, action_prefix: Some("access.denied".into()), ..AuditQuery::default() })
        .await
        .unwrap();
    assert_eq!(denied.len(), 3);
    assert_eq!(denied[0].event.outcome, portcullis_audit::Outcome::Denied);
}

#[tokio::test]
async fn keys_are_shown_once_and_tokens_carry_only_their_scopes() {
    let h = start(|_| {}).await;
    h.user("otto", "operator", STRONG, false).await;
    let (mut operator, _) = h.session("otto", STRONG).await;
    let consumer = operator.post("/admin/v1/consumers", &json!({ "name": "acme", "email": "ops@acme.example" })).await;
    let consumer_id = consumer.json["id"].as_str().unwrap().to_owned();
    let app = operator.post(&format!("/admin/v1/consumers/{consumer_id}/apps"), &json!({ "name": "web" })).await;
    let app_id = app.json["id"].as_str().unwrap().to_owned();
    let key = operator.post(&format!("/admin/v1/apps/{app_id}/credentials"), &json!({ "kind": "api_key" })).await;
    assert_eq!(key.status(), 201, "{:?}", key.json);
    let secret = key.json["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("pck_"));
    let listed = operator.get(&format!("/admin/v1/apps/{app_id}/credentials")).await;
    assert!(!listed.raw.text().contains(&secret[12..]), "the key is listed in clear");
    // Cannot grant what the role does not hold.
    let too_much = operator
        .post("/admin/v1/me/tokens", &json!({ "name": "ci", "scopes": ["users:write"], "expires_in_days": 30 }))
        .await;
    assert_error(&too_much, 403, "forbidden");
    let too_long = operator
        .post("/admin/v1/me/tokens", &json!({ "name": "ci", "scopes": ["consumers:read"], "expires_in_days": 3650 }))
        .await;
    assert_error(&too_long, 400, "invalid_request");
    let issued = operator
        .post("/admin/v1/me/tokens", &json!({ "name": "ci", "scopes": ["consumers:read"], "expires_in_days": 30 }))
        .await;
    assert_eq!(issued.status(), 201, "{:?}", issued.json);
    let token = issued.json["secret"].as_str().unwrap().to_owned();
    let token_id = issued.json["token"]["id"].as_str().unwrap().to_owned();
    let mut bot = AdminClient::new(h.addr);
    bot.token = Some(token.clone());
    assert_eq!(bot.get("/admin/v1/consumers").await.status(), 200);
    assert_error(&bot.post("/admin/v1/consumers", &json!({ "name": "bot" })).await, 403, "forbidden");
    let mut forged = AdminClient::new(h.addr);
    let mut chars: Vec<char> = token.chars().collect();
    let last = chars.len() - 1;
    chars[last] = if chars[last] == 'A' { 'B' } else { 'A' };
    forged.token = Some(chars.into_iter().collect());
    assert_error(&forged.get("/admin/v1/consumers").await, 401, "unauthorized");
    let revoke = operator.send("DELETE", &format!("/admin/v1/me/tokens/{token_id}"), None, &[]).await;
    assert_eq!(revoke.status(), 204);
    assert_error(&bot.get("/admin/v1/consumers").await, 401, "unauthorized");
    // Rotation returns a new key once; revoke is immediate.
    let key_id = key.json["credential"]["id"].as_str().unwrap().to_owned();
    let rotated =
        operator.post(&format!("/admin/v1/credentials/{key_id}/rotate"), &json!({ "overlap_seconds": 60 })).await;
    assert_eq!(rotated.status(), 201);
    assert_ne!(rotated.json["secret"], Value::String(secret));
    let old = operator.get(&format!("/admin/v1/credentials/{key_id}")).await;
    assert!(old.json["expires_at"].as_i64().is_some());
}

#[tokio::test]
async fn the_allow_list_refuses_other_addresses_before_reading() {
    let h = start(|s| s.allow = portcullis_core::ip::IpSet::new(vec!["10.0.0.0/8".parse().unwrap()])).await;
    let mut client = AdminClient::new(h.addr);
    let response = client.get("/admin/v1/openapi.json").await;
    assert_eq!(response.status(), 0, "the connection should be closed without an answer");
}

#[tokio::test]
async fn the_api_publishes_its_openapi_document() {
    let h = start(|_| {}).await;
    let mut client = AdminClient::new(h.addr);
    let doc = client.get("/admin/v1/openapi.json").await;
    assert_eq!(doc.status(), 200);
    assert!(doc.json["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc.raw.header("x-request-id").is_some());
}

#[tokio::test]
async fn basic_credentials_take_a_password_or_an_imported_pbkdf2_hash() {
    let h = start(|_| {}).await;
    h.user("otto", "operator", STRONG, false).await;
    let (mut operator, _) = h.session("otto", STRONG).await;
    let consumer = operator.post("/admin/v1/consumers", &json!({ "name": "legacy" })).await;
    let app = operator
        .post(&format!("/admin/v1/consumers/{}/apps", consumer.json["id"].as_str().unwrap()), &json!({ "name": "old" }))
        .await;
    let path = format!("/admin/v1/apps/{}/credentials", app.json["id"].as_str().unwrap());
    // Made by Django 5.2: PBKDF2PasswordHasher().encode("correct horse battery staple", "Qh2DyHmYJ8cI", 1000).
    let django = "pbkdf2_sha256$1000$Qh2DyHmYJ8cI$Zmt2RUc845u1TvFKm5XFmeZpXanUkm7S4tlB5NYG66s=";
    let imported =
        operator.post(&path, &json!({ "kind": "basic", "username": "legacy-user", "password_hash": django })).await;
    assert_eq!(imported.status(), 201, "{:?}", imported.json);
    let resolved =
        h.store.resolve_credential(portcullis_store::CredentialKind::Basic, "legacy-user").await.unwrap().unwrap();
    assert!(h.hasher.verify("correct horse battery staple", &resolved.secret_hash));
    let md5 = operator.post(&path, &json!({ "kind": "basic", "username": "x", "password_hash": "$1$abc$def" })).await;
    assert_error(&md5, 400, "invalid_request");
    let both = operator
        .post(&path, &json!({ "kind": "basic", "username": "y", "password": STRONGER, "password_hash": django }))
        .await;
    assert_error(&both, 400, "invalid_request");
    let weak = operator.post(&path, &json!({ "kind": "basic", "username": "z", "password": "password1" })).await;
    assert_error(&weak, 422, "weak_password");
    let fresh = operator.post(&path, &json!({ "kind": "basic", "username": "z", "password": STRONGER })).await;
    assert_eq!(fresh.status(), 201);
    assert!(!fresh.raw.text().contains("argon2"), "the hash is never returned");
}

#[tokio::test]
async fn a_recovery_code_stands_in_for_the_second_factor_once() {
    let h = start(|_| {}).await;
    h.user("root", "admin", STRONG, false).await;
    let mut client = AdminClient::new(h.addr);
    client.login("root", STRONG).await;
    let start = client.post("/admin/v1/me/totp", &json!({})).await;
    let totp = TotpSecret::from_base32(start.json["secret"].as_str().unwrap()).unwrap();
    let confirm = client
        .post("/admin/v1/me/totp/confirm", &json!({ "secret": totp.to_base32(), "code": totp.code_at(now_s()) }))
        .await;
    let code = confirm.json["recovery_codes"][0].as_str().unwrap().to_owned();
    let mut next = AdminClient::new(h.addr);
    next.login("root", STRONG).await;
    let ok = next.post("/admin/v1/login/second-factor", &json!({ "recovery_code": code })).await;
    assert_eq!(ok.status(), 200, "{:?}", ok.json);
    assert_eq!(next.get("/admin/v1/consumers").await.status(), 200);
    let mut again = AdminClient::new(h.addr);
    again.login("root", STRONG).await;
    let reused = again.post("/admin/v1/login/second-factor", &json!({ "recovery_code": code })).await;
    assert_error(&reused, 401, "unauthorized");
}

#[tokio::test]
async fn a_password_past_its_maximum_age_must_be_changed_first() {
    let h = start(|s| s.password_max_age = Some(Duration::from_millis(1))).await;
    h.user("old-timer", "portal-moderator", STRONG, false).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut client = AdminClient::new(h.addr);
    let login = client.login("old-timer", STRONG).await;
    assert_eq!(login.json["duty"], "change_password");
    assert_error(&client.get("/admin/v1/consumers").await, 403, "password_change_required");
}

#[tokio::test]
async fn an_admin_unlocks_a_locked_account_and_it_is_audited() {
    let h = start(|s| s.lockout.max_failures = 2).await;
    h.user("victim", "portal-moderator", STRONG, false).await;
    h.user("boss", "portal-moderator", STRONG, false).await;
    let mut attacker = AdminClient::new(h.addr);
    for _ in 0..2 {
        attacker.login("victim", "wrong guess of a password").await;
    }
    assert_eq!(attacker.login("victim", STRONG).await.status(), 401, "locked");
    h.user("root", "admin", STRONG, false).await;
    let (mut admin, _) = h.session("root", STRONG).await;
    let victim = h.store.admin_login("victim").await.unwrap().unwrap().user.id;
    let unlocked = admin.post(&format!("/admin/v1/users/{victim}/unlock"), &json!({})).await;
    assert_eq!(unlocked.status(), 204, "{:?}", unlocked.json);
    assert_eq!(AdminClient::new(h.addr).login("victim", STRONG).await.status(), 200);
    let events = h
        .store
        .audit_events(&AuditQuery {
            limit: 100,
            action_prefix: Some("admin_user.unlock".into()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!((events.len(), events[0].event.actor.as_str()), (1, "root"));
    let (mut moderator, _) = h.session("boss", STRONG).await;
    assert_error(&moderator.post(&format!("/admin/v1/users/{victim}/unlock"), &json!({})).await, 403, "forbidden");
}
