//! How long the data plane takes to authenticate an API key against the
//! in-memory [`CredentialIndex`] holding 100,000 keys: a valid key (a random
//! one of the 100,000 each time), a well-formed key with an unknown prefix,
//! and a known prefix with a wrong secret. The goal is under 1 µs median.
//!
//! Setup: the keys are made through the public API (`create_api_key`, one
//! audited write each, real random keys) in a SQLite store, and the index is
//! loaded from it. The store goes in a fresh directory on tmpfs
//! (`/dev/shm`) where there is one, else under the temp directory, removed
//! afterwards: with the store's `synchronous = FULL`, 100,000 commits cost
//! about 1 ms each on this machine's disk (over 90 s) and 0.3 ms on tmpfs
//! (about 35 s); the index never touches the disk, so only the setup time
//! changes. `PORTCULLIS_BENCH_KEYS` changes the count (default 100,000),
//! `PORTCULLIS_BENCH_DIR` the directory. Run with
//! `cargo bench -p portcullis-store --bench credential_index`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime};
use portcullis_credentials::KeyKind;
use portcullis_credentials::api_key::{self, TOKEN_LEN};
use portcullis_store::{Actor, ConsumerFields, CredentialIndex, Store, now_ms};

/// A directory removed on drop, on tmpfs where there is one.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> Self {
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
        let path = base.join(format!("portcullis-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A xorshift64 generator: enough to pick keys in an order the CPU cannot
/// predict, with no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        usize::try_from(self.0 % u64::try_from(n).unwrap()).unwrap()
    }
}

/// The tokens in a random order, so consecutive look-ups hit unrelated
/// shards and cache lines.
fn shuffled(mut tokens: Vec<String>, rng: &mut Rng) -> Vec<String> {
    for i in (1..tokens.len()).rev() {
        tokens.swap(i, rng.below(i + 1));
    }
    tokens
}

/// The same token with one secret character changed (still well formed).
fn tampered(token: &str) -> String {
    let at = token.len() - 10;
    let replacement = if &token[at..=at] == "A" { "B" } else { "A" };
    format!("{}{replacement}{}", &token[..at], &token[at + 1..])
}

async fn build(store: &Store, keys: usize) -> Vec<String> {
    let actor = Actor::user("bench", "192.0.2.1");
    let mut tokens = Vec::with_capacity(keys);
    // 100 keys per app, 10 apps per consumer: shaped like a tenant mix.
    let (mut consumer_id, mut app_id) = (String::new(), String::new());
    for n in 0..keys {
        if n % 1_000 == 0 {
            let fields = ConsumerFields {
                name: format!("consumer-{n}"),
                email: None,
                groups: vec!["partners".into(), format!("tier-{}", n % 3)],
            };
            consumer_id = store.create_consumer(&actor, fields).await.unwrap().id;
        }
        if n % 100 == 0 {
            app_id = store.create_app(&actor, &consumer_id, &format!("app-{n}"), "").await.unwrap().id;
        }
        tokens.push(store.create_api_key(&actor, &app_id, None).await.unwrap().1);
    }
    tokens
}

/// The tokens back to back in one buffer, read in order: like a request
/// header a gateway has just parsed, the token is in cache; scattered
/// `String`s would make the benchmark measure its own input's cache misses.
fn packed(tokens: &[String]) -> String {
    assert!(tokens.iter().all(|t| t.len() == TOKEN_LEN));
    tokens.concat()
}

/// Benchmarks `resolve_api_key` over the packed tokens, one after the other.
fn look_ups(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, index: &CredentialIndex, tokens: &str) {
    let now = now_ms();
    let count = tokens.len() / TOKEN_LEN;
    let mut next = 0;
    group.bench_function(name, |b| {
        b.iter(|| {
            next = (next + 1) % count;
            black_box(index.resolve_api_key(black_box(&tokens[next * TOKEN_LEN..(next + 1) * TOKEN_LEN]), now))
        });
    });
}

fn bench(c: &mut Criterion) {
    let keys: usize = std::env::var("PORTCULLIS_BENCH_KEYS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let scratch = ScratchDir::new();
    let dir = std::env::var_os("PORTCULLIS_BENCH_DIR").map_or_else(|| scratch.0.join("data"), PathBuf::from);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();

    let started = Instant::now();
    let (store, tokens) = runtime.block_on(async {
        let store = Store::open(None, &dir).await.unwrap();
        let tokens = build(&store, keys).await;
        (store, tokens)
    });
    let setup = started.elapsed();
    let started = Instant::now();
    let index = runtime.block_on(CredentialIndex::load(&store)).unwrap();
    let load = started.elapsed();
    eprintln!(
        "setup: {keys} API keys created through the store API in {:.1} s ({:.0} µs each) in {}; index loaded in {} ms",
        setup.as_secs_f64(),
        setup.as_secs_f64() * 1e6 / keys.max(1) as f64,
        dir.display(),
        load.as_millis()
    );
    assert_eq!(index.len(), keys);

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let valid = shuffled(tokens, &mut rng);
    // As many of each, so all three read their input alike.
    let wrong: Vec<String> = valid.iter().map(|t| tampered(t)).collect();
    let unknown: Vec<String> = (0..keys).map(|_| api_key::generate(KeyKind::ApiKey).token).collect();
    let now = now_ms();
    assert!(valid.iter().all(|t| index.resolve_api_key(t, now).is_some()));
    assert!(wrong.iter().chain(&unknown).all(|t| index.resolve_api_key(t, now).is_none()));

    let mut group = c.benchmark_group(format!("resolve_api_key/{keys}_keys"));
    look_ups(&mut group, "valid", &index, &packed(&valid));
    look_ups(&mut group, "unknown_prefix", &index, &packed(&unknown));
    look_ups(&mut group, "wrong_secret", &index, &packed(&wrong));
    group.finish();
    runtime.block_on(store.close());
}

criterion_group!(benches, bench);
criterion_main!(benches);
