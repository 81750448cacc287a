//! The store's behaviour, run the same way on SQLite and on a real
//! PostgreSQL server started by the test.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use portcullis_audit::{AuditSigner, Problem, Verifier};
use portcullis_store::{
    Actor, AuditQuery, ConsumerFields, CredentialKind, ListQuery, LockoutPolicy, Retention, Store, StoreError,
};
use portcullis_test_support::TempDir;
use portcullis_test_support::postgres::Postgres;

/// A store under test with whatever keeps its backend alive.
struct Fixture {
    store: Store,
    dir: TempDir,
    _postgres: Option<Postgres>,
}

async fn sqlite() -> Fixture {
    let dir = TempDir::new();
    let store = Store::open(None, &dir.path().join("data")).await.unwrap();
    Fixture { store, dir, _postgres: None }
}

async fn postgres() -> Fixture {
    let server = Postgres::start();
    let dir = TempDir::new();
    let store = Store::open(Some(&server.url), dir.path()).await.unwrap();
    Fixture { store, dir, _postgres: Some(server) }
}

/// Runs an `async fn(Fixture)` once per backend, as two tests.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name(super::sqlite().await).await;
            }
            #[tokio::test]
            async fn postgres() {
                super::$name(super::postgres().await).await;
            }
        }
    )*};
}

on_both!(
    every_change_is_audited_and_the_chain_verifies,
    a_rewritten_event_is_caught_by_the_signed_checkpoint,
    a_stale_version_cannot_overwrite_a_newer_one,
    sql_looking_input_is_data,
    lists_page_in_id_order_within_their_owner,
    api_keys_rotate_with_overlap_and_revoke_at_once,
    deleting_a_consumer_erases_its_credentials,
    the_last_admin_cannot_be_removed,
    repeated_failures_lock_the_account_and_the_source,
    concurrent_writers_never_fork_the_chain,
    retention_prunes_up_to_a_checkpoint,
    migrations_apply_once,
);

fn alice() -> Actor {
    Actor::user("alice", "192.0.2.7")
}

fn fields(name: &str) -> ConsumerFields {
    ConsumerFields { name: name.into(), email: Some(format!("{name}@example.com")), groups: vec!["partners".into()] }
}

async fn verify(store: &Store, signer: Option<&AuditSigner>) -> portcullis_audit::Report {
    let checkpoints = store.audit_checkpoints().await.unwrap();
    let trusted = signer.map(|s| vec![s.public_key()]).unwrap_or_default();
    let mut verifier = Verifier::new(trusted, checkpoints);
    let events = store.audit_events(&AuditQuery { limit: 1000, ..AuditQuery::default() }).await.unwrap();
    for event in &events {
        if !verifier.push(event) {
            break;
        }
    }
    verifier.finish()
}

async fn every_change_is_audited_and_the_chain_verifies(fx: Fixture) {
    let store = &fx.store;
    let consumer = store.create_consumer(&alice(), fields("acme")).await.unwrap();
    let app = store.create_app(&alice(), &consumer.id, "mobile", "the phone app").await.unwrap();
    let (credential, token) = store.create_api_key(&alice(), &app.id, None).await.unwrap();
    assert!(token.starts_with("pck_"));
    let events = store.audit_events(&AuditQuery { limit: 100, ..AuditQuery::default() }).await.unwrap();
    let actions: Vec<_> = events.iter().map(|e| e.event.action.as_str()).collect();
    assert_eq!(actions, ["consumer.create", "app.create", "credential.create"]);
    assert_eq!(events[2].event.target, credential.id);
    assert_eq!(events[0].event.actor, "alice");
    assert_eq!(events[0].event.source, "192.0.2.7");
    // Personal data is masked in the event, the key never appears.
    let text = serde_json::to_string(&events[0].event.details).unwrap();
    assert!(!text.contains("acme@example.com"), "{text}");
    assert!(!serde_json::to_string(&events[2].event.details).unwrap().contains(&token));
    let report = verify(store, None).await;
    assert!(report.problem.is_none(), "{:?}", report.problem);
    assert_eq!(report.events, 3);
    // A filter narrows the query.
    let only = store
        .audit_events(&AuditQuery { limit: 10, action_prefix: Some("app.".into()), ..AuditQuery::default() })
        .await
        .unwrap();
    assert_eq!(only.len(), 1);
}

async fn a_rewritten_event_is_caught_by_the_signed_checkpoint(fx: Fixture) {
    let store = &fx.store;
    let signer = AuditSigner::generate();
    for n in 0..5 {
        store.create_consumer(&alice(), fields(&format!("c{n}"))).await.unwrap();
    }
    store.sign_checkpoint(&signer).await.unwrap().expect("a new checkpoint");
    assert!(store.sign_checkpoint(&signer).await.unwrap().is_none(), "the head is already signed");
    assert!(verify(store, Some(&signer)).await.problem.is_none());

    // An attacker with database access rewrites who did event 2 and
    // recomputes every following hash so the chain links again.
    let mut events = store.audit_events(&AuditQuery { limit: 100, ..AuditQuery::default() }).await.unwrap();
    events[1].event.actor = "mallory".into();
    let mut prev = events[0].hash;
    for stored in &mut events[1..] {
        stored.hash = portcullis_audit::link(&prev, &stored.event);
        prev = stored.hash;
    }
    let checkpoints = store.audit_checkpoints().await.unwrap();
    let mut verifier = Verifier::new(vec![signer.public_key()], checkpoints);
    for stored in &events {
        verifier.push(stored);
    }
    assert_eq!(verifier.finish().problem, Some(Problem::CheckpointMismatch { seq: 5 }));
}

async fn a_stale_version_cannot_overwrite_a_newer_one(fx: Fixture) {
    let store = &fx.store;
    let created = store.create_consumer(&alice(), fields("acme")).await.unwrap();
    let updated = store.update_consumer(&alice(), &created.id, created.version, fields("acme-2")).await.unwrap();
    assert_eq!(updated.version, created.version + 1);
    let stale = store.update_consumer(&alice(), &created.id, created.version, fields("acme-3")).await;
    assert!(matches!(stale, Err(StoreError::Conflict)), "{stale:?}");
    assert_eq!(store.consumer(&created.id).await.unwrap().name, "acme-2");
    let taken = store.create_consumer(&alice(), fields("acme-2")).await;
    assert!(matches!(taken, Err(StoreError::Duplicate)), "{taken:?}");
    // Neither refused write left an event.
    let events = store.audit_events(&AuditQuery { limit: 100, ..AuditQuery::default() }).await.unwrap();
    assert_eq!(events.len(), 2);
    assert!(verify(store, None).await.problem.is_none());
}

async fn sql_looking_input_is_data(fx: Fixture) {
    let store = &fx.store;
    let name = "x'); DROP TABLE consumers; --";
    let created = store.create_consumer(&alice(), fields(name)).await.unwrap();
    assert_eq!(store.consumer(&created.id).await.unwrap().name, name);
    store.create_consumer(&alice(), fields("plain")).await.unwrap();
    // A LIKE wildcard in a filter is matched literally.
    let all = |prefix: &str| ListQuery { limit: 50, name_prefix: Some(prefix.into()), ..ListQuery::default() };
    assert_eq!(store.consumers(&all("%")).await.unwrap().items.len(), 0);
    assert_eq!(store.consumers(&all("x'")).await.unwrap().items.len(), 1);
    assert_eq!(store.consumers(&all("")).await.unwrap().items.len(), 2);
    assert!(matches!(store.consumer("' OR '1'='1").await, Err(StoreError::NotFound)));
}

async fn lists_page_in_id_order_within_their_owner(fx: Fixture) {
    let store = &fx.store;
    let acme = store.create_consumer(&alice(), fields("acme")).await.unwrap();
    let other = store.create_consumer(&alice(), fields("other")).await.unwrap();
    let mut ids = Vec::new();
    for name in ["web", "mobile", "cli", "batch", "api"] {
        ids.push(store.create_app(&alice(), &acme.id, name, "").await.unwrap().id);
    }
    store.create_app(&alice(), &other.id, "web", "").await.unwrap();
    ids.sort();
    let mut seen = Vec::new();
    let mut query = ListQuery { limit: 2, ..ListQuery::default() };
    loop {
        let page = store.apps(&acme.id, &query).await.unwrap();
        assert!(page.items.len() <= 2);
        assert!(page.items.iter().all(|app| app.consumer_id == acme.id));
        seen.extend(page.items.into_iter().map(|app| app.id));
        let Some(next) = page.next else { break };
        query.after = Some(next);
    }
    assert_eq!(seen, ids);
    let named = ListQuery { limit: 10, name_prefix: Some("we".into()), ..ListQuery::default() };
    let web = store.apps(&other.id, &named).await.unwrap();
    assert_eq!(web.items.len(), 1);
    assert_eq!(web.items[0].consumer_id, other.id);
    assert!(store.apps("con_unknown", &named).await.unwrap().items.is_empty());
    let first = store.consumers(&ListQuery { limit: 1, ..ListQuery::default() }).await.unwrap();
    assert_eq!(first.next.as_deref(), Some(acme.id.as_str().min(other.id.as_str())));
}

async fn api_keys_rotate_with_overlap_and_revoke_at_once(fx: Fixture) {
    let store = &fx.store;
    let consumer = store.create_consumer(&alice(), fields("acme")).await.unwrap();
    let app = store.create_app(&alice(), &consumer.id, "web", "").await.unwrap();
    let (old, old_token) = store.create_api_key(&alice(), &app.id, None).await.unwrap();
    let (_, seq_before) = store.active_credentials().await.unwrap();
    let (new, new_token) = store.rotate_api_key(&alice(), &old.id, 60_000).await.unwrap();
    assert_ne!(old_token, new_token);
    let old_now = store.credential(&old.id).await.unwrap();
    let now = portcullis_store::now_ms();
    assert!(old_now.is_active(now), "the old key works during the overlap");
    assert!(!old_now.is_active(now + 61_000), "and stops after it");
    assert_eq!(old_now.replaced_by.as_deref(), Some(new.id.as_str()));
    let changes = store.credential_changes_since(seq_before).await.unwrap();
    let lookups: Vec<_> = changes.iter().map(|c| c.2.as_str()).collect();
    assert!(lookups.contains(&old.lookup.as_str()) && lookups.contains(&new.lookup.as_str()), "{lookups:?}");

    store.revoke_credential(&alice(), &new.id).await.unwrap();
    let resolved = store.resolve_credential(CredentialKind::ApiKey, &new.lookup).await.unwrap().unwrap();
    assert!(!resolved.credential.is_active(portcullis_store::now_ms()));
    assert_eq!(resolved.consumer_id, consumer.id);
    assert!(portcullis_credentials::api_key::verify(
        &new_token,
        &portcullis_credentials::from_hex(&resolved.secret_hash).unwrap().try_into().unwrap()
    ));
    let (active, _) = store.active_credentials().await.unwrap();
    assert_eq!(active.iter().map(|c| &c.credential.id).collect::<Vec<_>>(), [&old.id]);
    let rotate_revoked = store.rotate_api_key(&alice(), &new.id, 0).await;
    assert!(matches!(rotate_revoked, Err(StoreError::Invalid(_))));
    // The key is never stored in clear: not in the SQLite file or its WAL.
    if store.backend() == portcullis_store::Backend::Sqlite {
        let secret = new_token.rsplit('_').next().unwrap();
        for file in ["portcullis.db", "portcullis.db-wal"] {
            let bytes = std::fs::read(fx.dir.path().join("data").join(file)).unwrap_or_default();
            assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "{file} holds the key");
        }
    }
}

async fn deleting_a_consumer_erases_its_credentials(fx: Fixture) {
    let store = &fx.store;
    let consumer = store.create_consumer(&alice(), fields("erasable")).await.unwrap();
    let app = store.create_app(&alice(), &consumer.id, "web", "").await.unwrap();
    let (key, _) = store.create_api_key(&alice(), &app.id, None).await.unwrap();
    let (_, seq) = store.active_credentials().await.unwrap();
    store.delete_consumer(&alice(), &consumer.id).await.unwrap();
    assert!(matches!(store.consumer(&consumer.id).await, Err(StoreError::NotFound)));
    assert!(matches!(store.app(&app.id).await, Err(StoreError::NotFound)));
    assert!(store.resolve_credential(CredentialKind::ApiKey, &key.lookup).await.unwrap().is_none());
    let changes = store.credential_changes_since(seq).await.unwrap();
    assert_eq!(changes.iter().map(|c| c.2.as_str()).collect::<Vec<_>>(), [key.lookup.as_str()]);
    let last = store.audit_events(&AuditQuery { limit: 100, ..AuditQuery::default() }).await.unwrap();
    assert_eq!(last.last().unwrap().event.action, "consumer.delete");
    if store.backend() == portcullis_store::Backend::Sqlite {
        store.close().await;
        let bytes = std::fs::read(fx.dir.path().join("data/portcullis.db")).unwrap();
        assert!(!bytes.windows(21).any(|w| w == b"erasable@example.com\0"[..21].as_ref()));
        assert!(!bytes.windows(20).any(|w| w == b"erasable@example.com"), "the e-mail survives in the file");
    }
}

async fn the_last_admin_cannot_be_removed(fx: Fixture) {
    let store = &fx.store;
    let host = Actor::host("root");
    let first = store.create_admin_user(&host, "alice", "admin", "$argon2id$fake", true).await.unwrap();
    let demote = store.update_admin_user(&alice(), &first.id, first.version, "auditor", false).await;
    assert!(matches!(demote, Err(StoreError::Invalid(_))), "{demote:?}");
    assert!(matches!(store.delete_admin_user(&alice(), &first.id).await, Err(StoreError::Invalid(_))));
    let second = store.create_admin_user(&alice(), "bob", "admin", "$argon2id$fake2", true).await.unwrap();
    store.update_admin_user(&alice(), &first.id, first.version, "auditor", false).await.unwrap();
    assert!(matches!(store.delete_admin_user(&alice(), &second.id).await, Err(StoreError::Invalid(_))));
    assert!(matches!(
        store.create_admin_user(&host, "carol", "no-such-role", "x", true).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.password_history(&first.id, 5).await.unwrap(), ["$argon2id$fake"]);
}

async fn repeated_failures_lock_the_account_and_the_source(fx: Fixture) {
    let store = &fx.store;
    let user = store.create_admin_user(&Actor::host("root"), "alice", "admin", "x", false).await.unwrap();
    let policy = LockoutPolicy {
        max_failures: 3,
        lock_ms: 60_000,
        max_lock_ms: 3_600_000,
        source_max_failures: 5,
        source_window_ms: 60_000,
    };
    let attacker = Actor::user("alice", "203.0.113.9");
    for _ in 0..2 {
        let outcome = store.record_login_failure(&attacker, Some(&user.id), "bad_password", &policy).await.unwrap();
        assert_eq!(outcome.account_locked_until, None);
    }
    let third = store.record_login_failure(&attacker, Some(&user.id), "bad_password", &policy).await.unwrap();
    let first_lock = third.account_locked_until.expect("locked after 3") - portcullis_store::now_ms();
    assert!((55_000..=60_000).contains(&first_lock), "{first_lock}");
    for _ in 0..2 {
        store.record_login_failure(&attacker, None, "unknown_user", &policy).await.unwrap();
    }
    assert!(store.source_locked("203.0.113.9", portcullis_store::now_ms()).await.unwrap());
    assert!(!store.source_locked("198.51.100.1", portcullis_store::now_ms()).await.unwrap());
    // The next lock lasts twice as long.
    for _ in 0..2 {
        store.record_login_failure(&attacker, Some(&user.id), "bad_password", &policy).await.unwrap();
    }
    let sixth = store.record_login_failure(&attacker, Some(&user.id), "bad_password", &policy).await.unwrap();
    let second_lock = sixth.account_locked_until.unwrap() - portcullis_store::now_ms();
    assert!((115_000..=120_000).contains(&second_lock), "{second_lock}");
    let lockouts = store
        .audit_events(&AuditQuery { limit: 100, action_prefix: Some("admin.lockout".into()), ..AuditQuery::default() })
        .await
        .unwrap();
    assert!(lockouts.len() >= 2);
    store.record_login_success(&Actor::user("alice", "192.0.2.1"), &user.id, "ab", i64::MAX, false).await.unwrap();
    assert_eq!(store.admin_user(&user.id).await.unwrap().failed_logins, 0);
}

async fn concurrent_writers_never_fork_the_chain(fx: Fixture) {
    let store = fx.store.clone();
    let tasks: Vec<_> = (0..16)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move { store.create_consumer(&alice(), fields(&format!("c{n}"))).await.unwrap() })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let report = verify(&store, None).await;
    assert!(report.problem.is_none(), "{:?}", report.problem);
    assert_eq!(report.events, 16);
    assert_eq!(store.audit_head().await.unwrap().seq, 16);
}

async fn retention_prunes_up_to_a_checkpoint(fx: Fixture) {
    let store = &fx.store;
    let signer = AuditSigner::generate();
    store.create_consumer(&alice(), fields("a")).await.unwrap();
    store.create_consumer(&alice(), fields("b")).await.unwrap();
    // Nothing is signed yet, so nothing can be pruned.
    let keep_none = Retention { audit_events: Some(-1_000), ..Retention::default() };
    assert_eq!(store.enforce_retention(&keep_none).await.unwrap().audit_events, 0);
    store.sign_checkpoint(&signer).await.unwrap().unwrap();
    store.create_consumer(&alice(), fields("c")).await.unwrap();
    let report = store.enforce_retention(&keep_none).await.unwrap();
    assert_eq!(report.audit_events, 2);
    let head = store.audit_head().await.unwrap();
    assert_eq!(head.anchor_seq, 2);
    let left = store.audit_events(&AuditQuery { limit: 100, ..AuditQuery::default() }).await.unwrap();
    let actions: Vec<_> = left.iter().map(|e| e.event.action.as_str()).collect();
    assert_eq!(actions, ["consumer.create", "retention.run"]);
    // The shortened log still verifies from its anchor, and only with it.
    let checkpoints = store.audit_checkpoints().await.unwrap();
    let mut verifier =
        Verifier::new(vec![signer.public_key()], checkpoints.clone()).starting_after(2, head.anchor_hash);
    for event in &left {
        assert!(verifier.push(event));
    }
    assert!(verifier.finish().problem.is_none());
    let mut from_genesis = Verifier::new(vec![signer.public_key()], checkpoints);
    from_genesis.push(&left[0]);
    assert_eq!(from_genesis.finish().problem, Some(Problem::Gap { expected_seq: 1, found_seq: 3 }));
}

async fn migrations_apply_once(fx: Fixture) {
    let store = &fx.store;
    store.create_consumer(&alice(), fields("kept")).await.unwrap();
    let url = match store.backend() {
        portcullis_store::Backend::Postgres => Some(fx._postgres.as_ref().unwrap().url.clone()),
        portcullis_store::Backend::Sqlite => None,
    };
    store.close().await;
    let again = Store::open(url.as_deref(), &fx.dir.path().join("data")).await.unwrap();
    let page = again.consumers(&ListQuery { limit: 10, ..ListQuery::default() }).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(again.roles().await.unwrap().len(), 4);
}

mod revocation_index {
    use super::*;
    use portcullis_store::RevocationIndex;

    async fn revoked_tokens_and_subjects_are_seen(fx: Fixture) {
        let store = &fx.store;
        let index = RevocationIndex::load(store).await.unwrap();
        let _follow = index.follow(store.clone());
        let now = portcullis_store::now_ms();
        assert!(!index.is_revoked("https://idp", Some("t1"), Some("alice"), Some(now)));
        store.revoke_token(&alice(), "https://idp", "t1", now + 60_000, "leaked").await.unwrap();
        store.revoke_subject(&alice(), "https://idp", "bob", now).await.unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !(index.is_revoked("https://idp", Some("t1"), None, None)
            && index.is_revoked("https://idp", None, Some("bob"), None))
        {
            assert!(std::time::Instant::now() < deadline, "the revocation never arrived");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(!index.is_revoked("https://other-idp", Some("t1"), None, None), "jti is per issuer");
        assert!(index.is_revoked("https://idp", Some("t2"), Some("bob"), Some(now - 1)), "issued before");
        assert!(!index.is_revoked("https://idp", Some("t3"), Some("bob"), Some(now + 1)), "issued after");
        assert!(index.is_revoked("https://idp", None, Some("bob"), None), "no iat: revoked to be safe");
    }

    on_both!(revoked_tokens_and_subjects_are_seen);
}
