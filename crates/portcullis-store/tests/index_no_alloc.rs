//! The credential index's hot path allocates nothing: counted with an
//! instrumented global allocator, alone in this test binary so no other test
//! allocates meanwhile.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::alloc::System;
use std::hint::black_box;

use portcullis_credentials::KeyKind;
use portcullis_credentials::api_key;
use portcullis_store::{Actor, ConsumerFields, CredentialIndex, CredentialKind, Store, now_ms};
use portcullis_test_support::TempDir;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[test]
fn look_ups_do_not_allocate() {
    let dir = TempDir::new();
    let (index, token) = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        let store = Store::open(None, &dir.path().join("data")).await.unwrap();
        let actor = Actor::user("alice", "192.0.2.7");
        let fields = ConsumerFields { name: "acme".into(), email: None, groups: vec!["gold".into()] };
        let consumer = store.create_consumer(&actor, fields).await.unwrap();
        let app = store.create_app(&actor, &consumer.id, "web", "").await.unwrap();
        let (_, token) = store.create_api_key(&actor, &app.id, None).await.unwrap();
        store.create_basic_credential(&actor, &app.id, "svc", "$argon2id$fake").await.unwrap();
        let index = CredentialIndex::load(&store).await.unwrap();
        // No pool, no worker thread left to allocate behind our back.
        store.close().await;
        (index, token)
    });
    let wrong = format!("{}{}", &token[..token.len() - 1], if token.ends_with('A') { "E" } else { "A" });
    let unknown = api_key::generate(KeyKind::ApiKey).token;
    let huge = "x".repeat(100 * 1024);
    let now = now_ms();
    // Warm up: arc-swap registers this thread once, on first use.
    assert!(index.resolve_api_key(&token, now).is_some());

    let region = Region::new(GLOBAL);
    for _ in 0..1_000 {
        assert!(black_box(index.resolve_api_key(black_box(&token), now)).is_some());
        assert!(black_box(index.resolve_api_key(black_box(&wrong), now)).is_none());
        assert!(black_box(index.resolve_api_key(black_box(&unknown), now)).is_none());
        assert!(black_box(index.resolve_api_key(black_box(&huge), now)).is_none());
        assert!(black_box(index.lookup(CredentialKind::Basic, black_box("svc"), now)).is_some());
    }
    let stats = region.change();
    assert_eq!((stats.allocations, stats.reallocations), (0, 0), "{stats:?}");
    // The counter does count.
    let region = Region::new(GLOBAL);
    black_box(String::from(black_box("x")));
    assert_eq!(region.change().allocations, 1);
}
