//! The in-memory credential index against a real store: SQLite, and
//! PostgreSQL for what crosses nodes (notifications, reconnection).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis_credentials::KeyKind;
use portcullis_credentials::api_key;
use portcullis_store::{Actor, App, ConsumerFields, CredentialIndex, CredentialKind, IndexedCredential, Store, now_ms};
use portcullis_test_support::TempDir;
use portcullis_test_support::postgres::Postgres;

fn alice() -> Actor {
    Actor::user("alice", "192.0.2.7")
}

fn fields(name: &str, groups: &[&str]) -> ConsumerFields {
    ConsumerFields { name: name.into(), email: None, groups: groups.iter().map(|&g| g.to_owned()).collect() }
}

async fn sqlite(dir: &TempDir) -> Store {
    Store::open(None, &dir.path().join("data")).await.unwrap()
}

async fn app(store: &Store, consumer: &str) -> App {
    let consumer = store.create_consumer(&alice(), fields(consumer, &["partners", "gold"])).await.unwrap();
    store.create_app(&alice(), &consumer.id, "web", "").await.unwrap()
}

/// Polls `check` every 5 ms until it holds; panics after `within`. Returns
/// how long it took.
async fn eventually(within: Duration, what: &str, mut check: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    start.elapsed()
}

fn resolves(index: &CredentialIndex, token: &str) -> bool {
    index.resolve_api_key(token, now_ms()).is_some()
}

/// One character of the secret changed, still well formed.
fn tampered(token: &str) -> String {
    let at = token.len() - 10;
    let old = &token[at..=at];
    format!("{}{}{}", &token[..at], if old == "A" { "B" } else { "A" }, &token[at + 1..])
}

#[tokio::test]
async fn a_valid_key_resolves_to_its_consumer_and_nothing_else_does() {
    let dir = TempDir::new();
    let store = sqlite(&dir).await;
    let app = app(&store, "acme").await;
    let (credential, token) = store.create_api_key(&alice(), &app.id, None).await.unwrap();
    let index = CredentialIndex::load(&store).await.unwrap();
    assert_eq!(index.len(), 1);
    assert_eq!(index.seq(), store.audit_head().await.unwrap().seq);

    // A wrong secret before the key was ever verified (nothing remembered)…
    assert!(index.resolve_api_key(&tampered(&token), now_ms()).is_none(), "cold slot");
    let found = index.resolve_api_key(&token, now_ms()).expect("the key resolves");
    // …and after (the slot remembers the genuine key's MAC, not a prefix).
    assert!(index.resolve_api_key(&tampered(&token), now_ms()).is_none(), "warm slot");
    assert!(resolves(&index, &token), "and the genuine key again, now by its MAC");
    assert_eq!(found.id, credential.id);
    assert_eq!(found.app_id, app.id);
    assert_eq!(found.consumer_id, app.consumer_id);
    assert_eq!(found.consumer_name, "acme");
    assert_eq!(&*found.groups, ["partners", "gold"]);
    assert_eq!(found.kind, CredentialKind::ApiKey);
    assert_eq!(found.lookup, credential.lookup);
    assert!(found.password_phc().is_none());
    // Debug shows who, never the hash.
    let shown = format!("{found:?}");
    assert!(shown.contains(&credential.id), "{shown}");
    let hash = portcullis_credentials::to_hex(&api_key::hash(&token));
    assert!(!shown.contains(&hash), "{shown}");

    // One character of the secret changed: same prefix, wrong secret.
    let wrong = tampered(&token);
    assert!(api_key::parse(&wrong).is_some(), "still well formed");
    assert!(index.resolve_api_key(&wrong, now_ms()).is_none());
    // A well-formed key whose prefix the store never issued.
    let unknown = api_key::generate(KeyKind::ApiKey).token;
    assert!(index.resolve_api_key(&unknown, now_ms()).is_none());
    // The same body with the admin tag is not an API key.
    assert!(index.resolve_api_key(&token.replacen("pck", "pca", 1), now_ms()).is_none());
    // The prefix alone proves nothing: no look-up by prefix.
    assert!(index.lookup(CredentialKind::ApiKey, &credential.lookup, now_ms()).is_none());

    // Garbage never panics and never resolves.
    let huge = "A".repeat(100 * 1024);
    let huge_token = format!("{token}{huge}");
    let non_ascii = format!("{}é{}", &token[..20], &token[22..]);
    let garbage = [
        "",
        "pck",
        "pck__",
        huge.as_str(),
        huge_token.as_str(),
        non_ascii.as_str(),
        "ключ_апи_🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑",
        "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
        &format!(" {}", &token[1..]),
        &format!("{token}\n"),
        &token[..token.len() - 1],
        &token.to_uppercase(),
    ];
    for input in garbage {
        assert!(index.resolve_api_key(input, now_ms()).is_none(), "{:?}", input.get(..60));
        assert!(index.lookup(CredentialKind::Basic, input, now_ms()).is_none());
        assert!(index.lookup(CredentialKind::Mtls, input, now_ms()).is_none());
    }
    // The key still works after all that.
    assert!(resolves(&index, &token));
}

#[tokio::test]
async fn expiry_is_judged_at_the_time_given() {
    let dir = TempDir::new();
    let store = sqlite(&dir).await;
    let app = app(&store, "acme").await;
    let expires = now_ms() + 60_000;
    let (_, token) = store.create_api_key(&alice(), &app.id, Some(expires)).await.unwrap();
    let index = CredentialIndex::load(&store).await.unwrap();
    assert!(index.resolve_api_key(&token, expires - 1).is_some());
    assert!(index.resolve_api_key(&token, expires).is_none());
}

#[tokio::test]
async fn refresh_applies_changes_since_the_index_seq() {
    let dir = TempDir::new();
    let store = sqlite(&dir).await;
    let app = app(&store, "acme").await;
    let index = CredentialIndex::load(&store).await.unwrap();
    assert!(index.is_empty());
    assert_eq!(index.refresh(&store).await.unwrap(), 0, "nothing happened");

    let (first, first_token) = store.create_api_key(&alice(), &app.id, None).await.unwrap();
    let (_, second_token) = store.create_api_key(&alice(), &app.id, None).await.unwrap();
    assert!(!resolves(&index, &first_token), "not before a refresh: nothing follows the store here");
    assert_eq!(index.refresh(&store).await.unwrap(), 2);
    assert!(resolves(&index, &first_token) && resolves(&index, &second_token));
    assert_eq!(index.seq(), store.audit_head().await.unwrap().seq);

    // Writes that touch no credential move the seq, change nothing.
    store.create_consumer(&alice(), fields("other", &[])).await.unwrap();
    assert_eq!(index.refresh(&store).await.unwrap(), 0);
    assert_eq!(index.seq(), store.audit_head().await.unwrap().seq);

    store.revoke_credential(&alice(), &first.id).await.unwrap();
    assert_eq!(index.refresh(&store).await.unwrap(), 1);
    assert!(!resolves(&index, &first_token) && resolves(&index, &second_token));
    assert_eq!(index.len(), 1, "the revoked key left the index");
}

/// Revocation on the node that made it: the commit itself wakes the index.
async fn revocation_is_effective_at_once_on_this_node(store: Store) {
    let app = app(&store, "acme").await;
    let (credential, token) = store.create_api_key(&alice(), &app.id, None).await.unwrap();
    let index = CredentialIndex::load(&store).await.unwrap();
    // No safety net: only the change notification can do it.
    store.set_change_poll(Duration::from_secs(600));
    let follower = index.follow(store.clone());
    assert!(resolves(&index, &token));

    store.revoke_credential(&alice(), &credential.id).await.unwrap();
    let took = eventually(Duration::from_secs(1), "revocation", || !resolves(&index, &token)).await;
    eprintln!("revocation effective after {took:?} on {:?}", store.backend());
    assert!(index.lookup(CredentialKind::ApiKey, &credential.lookup, now_ms()).is_none());

    // A new key is usable as soon.
    let (_, fresh) = store.create_api_key(&alice(), &app.id, None).await.unwrap();
    eventually(Duration::from_secs(1), "new key", || resolves(&index, &fresh)).await;
    follower.abort();
}

#[tokio::test]
async fn revocation_is_effective_at_once_on_this_node_sqlite() {
    let dir = TempDir::new();
    revocation_is_effective_at_once_on_this_node(sqlite(&dir).await).await;
}

#[tokio::test]
async fn revocation_is_effective_at_once_on_this_node_postgres() {
    let server = Postgres::start();
    let dir = TempDir::new();
    revocation_is_effective_at_once_on_this_node(Store::open(Some(&server.url), dir.path()).await.unwrap()).await;
}

#[tokio::test]
async fn rotation_keeps_the_old_key_working_for_the_overlap_only() {
    let dir = TempDir::new();
    let store = sqlite(&dir).await;
    let app = app(&store, "acme").await;
    let (old, old_token) = store.create_api_key(&alice(), &app.id, None).await.unwrap();
    let index = CredentialIndex::load(&store).await.unwrap();
    let follower = index.follow(store.clone());

    let overlap = 300;
    let rotated_at = now_ms();
    let (new, new_token) = store.rotate_api_key(&alice(), &old.id, overlap).await.unwrap();
    eventually(Duration::from_secs(1), "the new key", || resolves(&index, &new_token)).await;
    let during = index.resolve_api_key(&old_token, now_ms()).expect("the old key works during the overlap");
    assert_eq!(during.id, old.id);
    let ends = during.expires_at.expect("the rotation set an expiry");
    assert!((rotated_at + overlap..=now_ms() + overlap).contains(&ends), "{ends}");
    assert!(index.resolve_api_key(&old_token, ends - 1).is_some());
    assert!(index.resolve_api_key(&old_token, ends).is_none());

    // In real time: it stops when the overlap ends, with no further change
    // in the store.
    eventually(Duration::from_millis(u64::try_from(overlap).unwrap() + 500), "the overlap ends", || {
        !resolves(&index, &old_token)
    })
    .await;
    assert!(now_ms() >= ends);
    assert_eq!(index.resolve_api_key(&new_token, now_ms()).unwrap().id, new.id);
    // The next refresh drops the expired entry.
    store.create_consumer(&alice(), fields("nudge", &[])).await.unwrap();
    eventually(Duration::from_secs(1), "expired entry dropped", || index.len() == 1).await;
    follower.abort();
}

#[tokio::test]
async fn deleting_the_consumer_removes_its_keys() {
    let dir = TempDir::new();
    let store = sqlite(&dir).await;
    let doomed = app(&store, "doomed").await;
    let kept = app(&store, "kept").await;
    let (_, doomed_a) = store.create_api_key(&alice(), &doomed.id, None).await.unwrap();
    let (_, doomed_b) = store.create_api_key(&alice(), &doomed.id, None).await.unwrap();
    store.create_basic_credential(&alice(), &doomed.id, "doomed-user", "$argon2id$fake").await.unwrap();
    let (_, kept_token) = store.create_api_key(&alice(), &kept.id, None).await.unwrap();
    let index = CredentialIndex::load(&store).await.unwrap();
    assert_eq!(index.len(), 4);
    let follower = index.follow(store.clone());

    store.delete_consumer(&alice(), &doomed.consumer_id).await.unwrap();
    eventually(Duration::from_secs(1), "keys of the deleted consumer", || {
        !resolves(&index, &doomed_a) && !resolves(&index, &doomed_b)
    })
    .await;
    assert!(index.lookup(CredentialKind::Basic, "doomed-user", now_ms()).is_none());
    assert!(resolves(&index, &kept_token));
    assert_eq!(index.len(), 1);
    follower.abort();
}

#[tokio::test]
async fn consumer_changes_reach_indexed_credentials() {
    let dir = TempDir::new();
    let store = sqlite(&dir).await;
    let app = app(&store, "acme").await;
    let (_, token) = store.create_api_key(&alice(), &app.id, None).await.unwrap();
    let index = CredentialIndex::load(&store).await.unwrap();
    let follower = index.follow(store.clone());
    let consumer = store.consumer(&app.consumer_id).await.unwrap();

    store.update_consumer(&alice(), &consumer.id, consumer.version, fields("acme-renamed", &["bronze"])).await.unwrap();
    eventually(Duration::from_secs(1), "the new groups", || {
        index.resolve_api_key(&token, now_ms()).is_some_and(|c| *c.groups == ["bronze"])
    })
    .await;
    assert_eq!(index.resolve_api_key(&token, now_ms()).unwrap().consumer_name, "acme-renamed");
    follower.abort();
}

#[tokio::test]
async fn basic_and_mtls_credentials_are_looked_up_while_active() {
    let dir = TempDir::new();
    let store = sqlite(&dir).await;
    let app = app(&store, "acme").await;
    let basic = store.create_basic_credential(&alice(), &app.id, "svc-acme", "$argon2id$v=19$fake").await.unwrap();
    let fingerprint = "AB:".repeat(31) + "AB";
    let mtls = store.create_mtls_credential(&alice(), &app.id, &fingerprint).await.unwrap();
    let index = CredentialIndex::load(&store).await.unwrap();

    let found = index.lookup(CredentialKind::Basic, "svc-acme", now_ms()).expect("basic");
    assert_eq!(found.id, basic.id);
    assert_eq!(found.password_phc(), Some("$argon2id$v=19$fake"));
    assert!(!format!("{found:?}").contains("argon2id"), "Debug hides the password hash");
    let found: Arc<IndexedCredential> = index.lookup(CredentialKind::Mtls, &"ab".repeat(32), now_ms()).expect("mtls");
    assert_eq!(found.id, mtls.id);
    assert_eq!(found.consumer_name, "acme");
    assert!(index.lookup(CredentialKind::Basic, "svc-other", now_ms()).is_none());
    assert!(index.lookup(CredentialKind::Mtls, "svc-acme", now_ms()).is_none(), "kinds do not mix");

    store.revoke_credential(&alice(), &basic.id).await.unwrap();
    store.revoke_credential(&alice(), &mtls.id).await.unwrap();
    assert_eq!(index.refresh(&store).await.unwrap(), 2);
    assert!(index.lookup(CredentialKind::Basic, "svc-acme", now_ms()).is_none());
    assert!(index.lookup(CredentialKind::Mtls, &"ab".repeat(32), now_ms()).is_none());
    assert!(index.is_empty());
}

#[tokio::test]
async fn a_large_backlog_reloads_the_index_whole() {
    let dir = TempDir::new();
    let store = sqlite(&dir).await;
    let app = app(&store, "acme").await;
    let index = CredentialIndex::load(&store).await.unwrap();
    let mut tokens = Vec::new();
    // More changes than an incremental refresh resolves one by one.
    for _ in 0..2_100 {
        tokens.push(store.create_api_key(&alice(), &app.id, None).await.unwrap().1);
    }
    index.refresh(&store).await.unwrap();
    assert_eq!(index.len(), tokens.len());
    assert!(tokens.iter().all(|t| resolves(&index, t)));
    assert_eq!(index.seq(), store.audit_head().await.unwrap().seq);
}

/// The safety net: a write this node's channel never heard about (another
/// process on the same SQLite file) still reaches the index by polling.
#[tokio::test]
async fn polling_catches_a_write_no_notification_announced() {
    let dir = TempDir::new();
    let node_a = sqlite(&dir).await;
    let node_b = sqlite(&dir).await;
    let app = app(&node_a, "acme").await;
    let (credential, token) = node_a.create_api_key(&alice(), &app.id, None).await.unwrap();
    node_b.set_change_poll(Duration::from_millis(200));
    let index = CredentialIndex::load(&node_b).await.unwrap();
    let follower = index.follow(node_b.clone());
    assert!(resolves(&index, &token));

    node_a.revoke_credential(&alice(), &credential.id).await.unwrap();
    let took = eventually(Duration::from_secs(2), "revocation by polling", || !resolves(&index, &token)).await;
    eprintln!("revocation seen by polling after {took:?}");
    follower.abort();
}

/// Two nodes on one PostgreSQL: a revocation through node A stops the key on
/// node B's index by notification alone (node B's poll is turned down to
/// 10 minutes), without anyone calling refresh; and after B's listener loses
/// its connection it reconnects and still hears A.
#[tokio::test]
async fn revocation_on_one_node_reaches_the_other_by_notification() {
    let server = Postgres::start();
    let dir = TempDir::new();
    let node_a = Store::open(Some(&server.url), dir.path()).await.unwrap();
    let node_b = Store::open(Some(&server.url), dir.path()).await.unwrap();
    assert!(!format!("{node_b:?}").contains(&server.url), "Debug leaks the store URL");
    node_b.set_change_poll(Duration::from_secs(600));
    let app = app(&node_a, "acme").await;
    let (first, first_token) = node_a.create_api_key(&alice(), &app.id, None).await.unwrap();
    let index = CredentialIndex::load(&node_b).await.unwrap();
    let follower = index.follow(node_b.clone());
    assert!(resolves(&index, &first_token));

    // A key made on A becomes usable on B: the listener is up.
    let (second, second_token) = node_a.create_api_key(&alice(), &app.id, None).await.unwrap();
    eventually(Duration::from_secs(2), "a new key from the other node", || resolves(&index, &second_token)).await;

    node_a.revoke_credential(&alice(), &first.id).await.unwrap();
    let took =
        eventually(Duration::from_secs(2), "revocation from the other node", || !resolves(&index, &first_token)).await;
    eprintln!("cross-node revocation effective after {took:?}");

    // Cut B's listening connection; it reconnects with backoff.
    let cut = cut_listeners(&server.url).await;
    assert!(cut >= 1, "no listening connection to cut");
    node_a.revoke_credential(&alice(), &second.id).await.unwrap();
    let took =
        eventually(Duration::from_secs(3), "revocation after a reconnect", || !resolves(&index, &second_token)).await;
    eprintln!("revocation after the listener reconnected: {took:?}");
    follower.abort();
}

/// Terminates every backend that is listening for changes (B's listener),
/// through a plain connection of our own.
async fn cut_listeners(url: &str) -> i64 {
    use sqlx::{Connection, Row};
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let row = sqlx::query(
        "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE query ILIKE 'LISTEN%' \
         AND pid <> pg_backend_pid()",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    row.try_get("n").unwrap()
}
