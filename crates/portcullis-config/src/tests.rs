//! Management-plane sections: defaults, every refusal with its path and
//! position, `enc:v1:` values, and restart-only reloads.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use portcullis_audit::{AuditSigner, SyslogTarget};
use portcullis_proxy::metrics::Metrics;
use portcullis_secrets::{KdfParams, MasterKey, Passphrase};

use crate::{ConfigError, Loaded, parse, restart_only_changes};

/// The smallest valid data plane; management sections are appended.
const BASE: &str = "\
listeners:
  - name: web
    listen: 127.0.0.1:8080
upstream_allowlist: [127.0.0.1]
upstreams:
  - name: app
    targets: [http://127.0.0.1:9000]
routes:
  - name: all
    prefix: /
    upstream: app
";

const PASSPHRASE: &str = "correct horse battery staple";

/// An owner-only temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!("portcullis-config-test-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let path = std::env::temp_dir().join(name);
        let _ = std::fs::remove_dir_all(&path);
        portcullis_secrets::create_private_dir(&path).unwrap();
        Self(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    /// Writes an owner-only file and returns its path.
    fn write(&self, name: &str, contents: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        portcullis_secrets::write_private(&path, contents).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn load_in(dir: &Path, extra: &str) -> Result<Loaded, Vec<ConfigError>> {
    parse(&format!("{BASE}{extra}"), dir, 1, &Metrics::default())
}

fn load(extra: &str) -> Result<Loaded, Vec<ConfigError>> {
    load_in(Path::new("/etc/portcullis"), extra)
}

fn errors(extra: &str) -> Vec<ConfigError> {
    match load(extra) {
        Ok(_) => panic!("accepted:\n{extra}"),
        Err(errors) => errors,
    }
}

/// The one error at `path`, with its message containing `message`; returns its position.
#[track_caller]
fn expect_error(extra: &str, path: &str, message: &str) -> (u64, u64) {
    let errors = errors(extra);
    let found = errors.iter().find(|e| e.path == path && e.message.contains(message));
    let Some(found) = found else { panic!("no {path}: {message} in {errors:#?}") };
    found.position.unwrap_or_else(|| panic!("{path} has no position"))
}

/// The line of BASE + extra on which `needle` first appears in `extra` (1-based).
fn line_of(extra: &str, needle: &str) -> u64 {
    let index = extra.lines().position(|l| l.contains(needle)).unwrap() + BASE.lines().count();
    u64::try_from(index).unwrap() + 1
}

/// A passphrase file (mode 0600) and a key to seal values for it.
fn sealed(dir: &TempDir) -> (PathBuf, MasterKey) {
    let file = dir.write("passphrase", format!("{PASSPHRASE}\n").as_bytes());
    let passphrase = Passphrase::new(PASSPHRASE.to_owned()).unwrap();
    (file, MasterKey::derive(&passphrase, KdfParams::for_tests()).unwrap())
}

/// A self-signed certificate and its key, as PEM.
fn certificate() -> (String, String) {
    let key = rcgen::generate_simple_self_signed(vec!["admin.internal".to_owned()]).unwrap();
    (key.cert.pem(), key.signing_key.serialize_pem())
}

#[test]
fn absent_sections_take_the_defaults() {
    let loaded = load("").unwrap();
    let m = &loaded.management;
    assert_eq!(m.data_dir, Path::new("/etc/portcullis/data"));
    assert_eq!(m.store_url, None, "SQLite");
    assert!(m.master_passphrase.is_none());
    assert_eq!(m.audit.checkpoint_interval, Duration::from_secs(10));
    assert!(m.audit.trusted_keys.is_empty() && m.audit.syslog.is_none());
    let day = 86_400_000;
    assert_eq!(m.retention.audit_events, Some(400 * day));
    assert_eq!(m.retention.sessions, Some(30 * day));
    assert_eq!(m.retention.revoked_tokens, Some(7 * day));
    assert_eq!(m.retention.expired_credentials, Some(90 * day));
    assert_eq!(m.retention_interval, Duration::from_secs(3600));
    let admin = m.admin.as_ref().expect("the admin API is on by default");
    assert_eq!(admin.listen, "127.0.0.1:9180".parse::<SocketAddr>().unwrap());
    assert!(admin.tls.is_none() && admin.allow.is_empty());
    assert_eq!(admin.session_idle, Duration::from_secs(30 * 60));
    assert_eq!(admin.session_absolute, Duration::from_secs(8 * 3600));
    assert_eq!(admin.password_policy, portcullis_credentials::PasswordPolicy::default());
    assert_eq!(admin.password_history, 5);
    assert_eq!(admin.password_hashing, (19_456, 2, 1));
    assert_eq!(admin.lockout.max_failures, 5);
    assert_eq!(admin.max_body, 64 * 1024);

    // `admin: {}` is the same as no section; `enabled: false` switches it off.
    assert!(load("admin: {}\n").unwrap().management.admin.is_some());
    assert!(load("admin:\n  enabled: false\n").unwrap().management.admin.is_none());
}

#[test]
fn every_key_is_read() {
    let signer = AuditSigner::generate();
    let extra = format!(
        "\
data_dir: /var/lib/portcullis
audit:
  checkpoint_interval: 1m
  trusted_keys: [\"{}\"]
  syslog: tcp://[::1]:6514
retention:
  interval: 10m
  audit_events: forever
  sessions: 1d
  revoked_tokens: 2d
  expired_credentials: forever
admin:
  listen: 10.1.2.3:9443
  allow: [10.0.0.0/8, 192.168.1.7]
  sessions: {{ idle_timeout: 15m, absolute_timeout: 1h }}
  password_policy: {{ min_length: 14, max_length: 200, min_classes: 2, min_entropy_bits: 60, reject_common: false, history: 24, max_age: 90d }}
  password_hashing: {{ memory: 64MiB, iterations: 3, parallelism: 2 }}
  lockout: {{ max_failures: 3, lock_for: 5m, max_lock: 1h, source_max_failures: 0, source_window: 10m }}
  key_rotation_overlap: 0s
  api_token_max_lifetime: 30d
  max_body: 1MiB
",
        signer.public_key().to_text()
    );
    let loaded = load(&extra).unwrap();
    let m = &loaded.management;
    assert_eq!(m.data_dir, Path::new("/var/lib/portcullis"));
    assert_eq!(m.audit.checkpoint_interval, Duration::from_secs(60));
    assert_eq!(m.audit.trusted_keys, vec![signer.public_key()]);
    assert_eq!(m.audit.syslog, Some(SyslogTarget::Tcp("[::1]:6514".parse().unwrap())));
    assert_eq!(m.retention.audit_events, None);
    assert_eq!(m.retention.sessions, Some(86_400_000));
    assert_eq!(m.retention.expired_credentials, None);
    assert_eq!(m.retention_interval, Duration::from_secs(600));
    let a = m.admin.as_ref().unwrap();
    assert_eq!(a.listen, "10.1.2.3:9443".parse::<SocketAddr>().unwrap());
    assert!(a.allow.contains("10.9.9.9".parse().unwrap()) && a.allow.contains("192.168.1.7".parse().unwrap()));
    assert!(!a.allow.contains("192.168.1.8".parse().unwrap()));
    assert_eq!((a.session_idle, a.session_absolute), (Duration::from_secs(900), Duration::from_secs(3600)));
    assert_eq!(a.password_policy.min_length, 14);
    assert_eq!(a.password_policy.max_length, 200);
    assert_eq!(a.password_policy.min_classes, 2);
    assert!((a.password_policy.min_entropy_bits - 60.0).abs() < f64::EPSILON);
    assert!(!a.password_policy.reject_common);
    assert_eq!(a.password_history, 24);
    assert_eq!(a.password_max_age, Some(Duration::from_secs(90 * 86_400)));
    assert_eq!(a.password_hashing, (65_536, 3, 2));
    assert_eq!(a.lockout.max_failures, 3);
    assert_eq!((a.lockout.lock_ms, a.lockout.max_lock_ms), (300_000, 3_600_000));
    assert_eq!((a.lockout.source_max_failures, a.lockout.source_window_ms), (0, 600_000));
    assert_eq!(a.key_rotation_overlap, Duration::ZERO);
    assert_eq!(a.api_token_max_lifetime, Duration::from_secs(30 * 86_400));
    assert_eq!(a.max_body, 1 << 20);
}

#[test]
fn relative_paths_are_relative_to_the_config_file() {
    let loaded = load("data_dir: state\n").unwrap();
    assert_eq!(loaded.management.data_dir, Path::new("/etc/portcullis/state"));
    let dir = TempDir::new();
    dir.write("pass", PASSPHRASE.as_bytes());
    let loaded = load_in(dir.path(), "secrets:\n  master_passphrase: file:pass\n").unwrap();
    assert_eq!(
        loaded.management.master_passphrase,
        Some(portcullis_secrets::PassphraseSource::File(dir.path().join("pass")))
    );
}

#[test]
fn admin_refusals_name_their_path_and_position() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "admin:\n  listen: 0.0.0.0:9180\n",
            "admin.listen",
            "an admin listener off loopback needs tls or an allow list",
            "0.0.0.0:9180",
        ),
        ("admin:\n  listen: localhost:9180\n", "admin.listen", "is not ip:port", "localhost"),
        ("admin:\n  allow: [10.0.0.0/33]\n", "admin.allow[0]", "not an IP address or CIDR", "10.0.0.0/33"),
        ("admin:\n  sessions:\n    idle_timeout: 121m\n", "admin.sessions.idle_timeout", "at most 120m", "121m"),
        (
            "admin:\n  sessions:\n    idle_timeout: 60m\n    absolute_timeout: 30m\n",
            "admin.sessions.absolute_timeout",
            "at least idle_timeout",
            "30m",
        ),
        ("admin:\n  password_policy:\n    min_length: 7\n", "admin.password_policy.min_length", "at least 8", "7"),
        ("admin:\n  password_policy:\n    history: 25\n", "admin.password_policy.history", "at most 24", "25"),
        ("admin:\n  password_policy:\n    max_length: 300\n", "admin.password_policy.max_length", "at most 256", "300"),
        (
            "admin:\n  password_policy:\n    min_classes: 5\n",
            "admin.password_policy.min_classes",
            "between 1 and 4",
            "5",
        ),
        ("admin:\n  password_hashing:\n    memory: 4MiB\n", "admin.password_hashing.memory", "at least 8MiB", "4MiB"),
        ("admin:\n  password_hashing:\n    memory: 5GiB\n", "admin.password_hashing.memory", "at most 4GiB", "5GiB"),
        (
            "admin:\n  password_hashing:\n    iterations: 0\n",
            "admin.password_hashing.iterations",
            "at least 1",
            "iterations",
        ),
        (
            "admin:\n  password_hashing:\n    iterations: 101\n",
            "admin.password_hashing.iterations",
            "at most 100",
            "101",
        ),
        (
            "admin:\n  password_hashing:\n    parallelism: 17\n",
            "admin.password_hashing.parallelism",
            "at most 16",
            "17",
        ),
        ("admin:\n  lockout:\n    max_failures: 0\n", "admin.lockout.max_failures", "at least 1", "max_failures"),
        (
            "admin:\n  lockout:\n    lock_for: 2h\n    max_lock: 1h\n",
            "admin.lockout.max_lock",
            "at least lock_for",
            "max_lock",
        ),
        ("admin:\n  max_body: 32MiB\n", "admin.max_body", "between 1KiB and 16MiB", "32MiB"),
        ("admin:\n  api_token_max_lifetime: 0s\n", "admin.api_token_max_lifetime", "at least 1s", "0s"),
    ];
    for (extra, path, message, needle) in cases {
        let (line, _) = expect_error(extra, path, message);
        assert_eq!(line, line_of(extra, needle), "{path} in\n{extra}");
    }
}

#[test]
fn off_loopback_is_fine_with_an_allow_list_or_tls() {
    assert!(load("admin:\n  listen: 0.0.0.0:9180\n  allow: [10.0.0.0/8]\n").is_ok());
    let dir = TempDir::new();
    let (cert, key) = certificate();
    dir.write("admin.pem", cert.as_bytes());
    dir.write("admin.key", key.as_bytes());
    let extra =
        "admin:\n  listen: '[::]:9443'\n  tls:\n    certificates:\n      - cert: admin.pem\n        key: admin.key\n";
    let loaded = load_in(dir.path(), extra).unwrap();
    let tls = loaded.management.admin.unwrap().tls.expect("admin TLS");
    assert_eq!(tls.alpn_protocols, vec![b"http/1.1".to_vec()], "the admin API speaks HTTP/1.1 only");
}

#[test]
fn admin_tls_errors_use_the_listener_checks() {
    let extra = "admin:\n  tls:\n    certificates:\n      - cert: missing.pem\n        key: missing.key\n    min_version: '1.1'\n";
    let errors = errors(extra);
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    for path in ["admin.tls.certificates[0].cert", "admin.tls.certificates[0].key", "admin.tls.min_version"] {
        assert!(paths.contains(&path), "{path} in {errors:#?}");
    }
    // A mapping's position is that of its first key.
    let line = line_of(extra, "certificates:");
    assert!(errors.iter().all(|e| e.position.is_some_and(|(l, _)| l == line)), "{errors:#?}");
}

#[test]
fn audit_and_retention_refusals() {
    expect_error("audit:\n  checkpoint_interval: 500ms\n", "audit.checkpoint_interval", "at least 1s");
    expect_error("audit:\n  trusted_keys: [\"ed25519:nope\"]\n", "audit.trusted_keys[0]", "invalid public key");
    expect_error("audit:\n  syslog: udp://logs.internal:514\n", "audit.syslog", "not udp://IP:PORT or tcp://IP:PORT");
    expect_error("audit:\n  syslog: http://127.0.0.1:514\n", "audit.syslog", "not udp://IP:PORT");
    expect_error("retention:\n  sessions: 0s\n", "retention.sessions", "more than zero");
    expect_error("retention:\n  interval: 0s\n", "retention.interval", "at least 1s");
    let errors = errors("retention:\n  audit_events: always\n");
    assert!(errors[0].message.contains("forever"), "{errors:?}");
    expect_error("data_dir: ''\n", "data_dir", "must not be empty");
}

#[test]
fn unknown_keys_are_refused_with_their_position() {
    let extra = "admin:\n  listen: 127.0.0.1:9180\n  lisen: 127.0.0.1:9181\n";
    let errors = errors(extra);
    assert_eq!(errors.len(), 1, "{errors:?}");
    let (line, column) = errors[0].position.expect("a position");
    assert_eq!(line, line_of(extra, "lisen"));
    assert!(column > 0);
    assert!(errors[0].message.contains("lisen"), "{}", errors[0].message);
    for extra in ["store:\n  uri: x\n", "audit:\n  syslogs: x\n", "retention:\n  audit: 1d\n", "secrets:\n  key: x\n"] {
        let errors = self::errors(extra);
        assert!(errors[0].position.is_some(), "{extra}: {errors:?}");
    }
}

#[test]
fn store_url_literal_env_and_file() {
    let url = "postgres://portcullis:pw@db.internal/portcullis";
    let loaded = load(&format!("store:\n  url: {url}\n")).unwrap();
    assert_eq!(loaded.management.store_url.as_deref(), Some(url));
    let shown = format!("{loaded:?}");
    assert!(!shown.contains("pw@db"), "Debug shows the store URL");

    let dir = TempDir::new();
    dir.write("store-url", format!("{url}\n").as_bytes());
    let loaded = load_in(dir.path(), "store:\n  url: file:store-url\n").unwrap();
    assert_eq!(loaded.management.store_url.as_deref(), Some(url));

    let (line, _) = expect_error("store:\n  url: env:PORTCULLIS_SURELY_UNSET_URL\n", "store.url", "is not set");
    assert_eq!(line, line_of("store:\n  url: env:PORTCULLIS_SURELY_UNSET_URL\n", "url:"));
    let errors = errors("store:\n  url: mysql://root:hunter2@db/x\n");
    assert_eq!(errors[0].path, "store.url");
    assert!(errors.iter().all(|e| !e.message.contains("hunter2") && !e.to_string().contains("hunter2")));
}

#[test]
fn enc_values_decrypt_with_the_master_passphrase() {
    let dir = TempDir::new();
    let (pass_file, key) = sealed(&dir);
    let url = "postgres://portcullis:s3cret@db.internal/portcullis";
    let (cert, key_pem) = certificate();
    dir.write("admin.pem", cert.as_bytes());
    let extra = format!(
        "secrets:\n  master_passphrase: file:{}\nstore:\n  url: {}\nadmin:\n  tls:\n    certificates:\n      - cert: admin.pem\n        key: {}\n",
        pass_file.display(),
        key.encrypt(url.as_bytes()),
        key.encrypt(key_pem.as_bytes()),
    );
    let loaded = load_in(dir.path(), &extra).unwrap();
    assert_eq!(loaded.management.store_url.as_deref(), Some(url));
    assert!(loaded.management.admin.unwrap().tls.is_some());
}

#[test]
fn enc_values_without_or_with_a_wrong_passphrase_are_positioned_errors() {
    let dir = TempDir::new();
    let (_, key) = sealed(&dir);
    let url = "postgres://portcullis:s3cret@db.internal/portcullis";
    let token = key.encrypt(url.as_bytes());

    // No passphrase configured.
    let extra = format!("store:\n  url: {token}\n");
    let errors = load_in(dir.path(), &extra).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].path, "store.url");
    assert!(errors[0].message.contains("secrets.master_passphrase is not set"), "{}", errors[0].message);
    assert_eq!(errors[0].position.map(|p| p.0), Some(line_of(&extra, "url:")));

    // A wrong passphrase.
    dir.write("wrong", b"not the right passphrase at all");
    let extra = format!("secrets:\n  master_passphrase: file:wrong\nstore:\n  url: {token}\n");
    let errors = load_in(dir.path(), &extra).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].path, "store.url");
    assert!(errors[0].message.contains("wrong passphrase"), "{}", errors[0].message);
    assert_eq!(errors[0].position.map(|p| p.0), Some(line_of(&extra, "url:")));

    // A tampered value: flip one character of the sealed data.
    let mut tampered = token.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let (pass_file, _) = sealed(&dir);
    let extra = format!("secrets:\n  master_passphrase: file:{}\nstore:\n  url: {tampered}\n", pass_file.display());
    let errors = load_in(dir.path(), &extra).unwrap_err();
    assert_eq!(errors[0].path, "store.url");
    assert!(errors[0].message.contains("cannot be decrypted"), "{}", errors[0].message);

    // Errors never show the value, encrypted or not.
    for e in &errors {
        assert!(!e.to_string().contains(&tampered) && !e.to_string().contains("s3cret"));
    }
}

#[test]
fn enc_listener_key_without_passphrase_names_the_field() {
    let dir = TempDir::new();
    let (_, key) = sealed(&dir);
    let (cert, key_pem) = certificate();
    dir.write("web.pem", cert.as_bytes());
    let text = format!(
        "{}admin:\n  enabled: false\n",
        BASE.replace(
            "    listen: 127.0.0.1:8080\n",
            &format!(
                "    listen: 127.0.0.1:8443\n    tls:\n      certificates:\n        - cert: web.pem\n          key: {}\n",
                key.encrypt(key_pem.as_bytes())
            ),
        )
    );
    let errors = parse(&text, dir.path(), 1, &Metrics::default()).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].path, "listeners[0].tls.certificates[0].key");
    assert!(errors[0].message.contains("master_passphrase"));
    assert!(errors[0].position.is_some());

    // With the passphrase, the listener serves TLS.
    let (pass_file, _) = sealed(&dir);
    let text = format!("secrets:\n  master_passphrase: file:{}\n{text}", pass_file.display());
    let loaded = parse(&text, dir.path(), 1, &Metrics::default()).unwrap();
    assert!(loaded.snapshot.listeners[0].tls.is_some());
}

#[test]
fn passphrase_source_errors() {
    expect_error("secrets:\n  master_passphrase: vault:x\n", "secrets.master_passphrase", "env:NAME, file:PATH");
    expect_error(
        "secrets:\n  master_passphrase: env:PORTCULLIS_SURELY_UNSET_PASS\n",
        "secrets.master_passphrase",
        "PORTCULLIS_SURELY_UNSET_PASS",
    );
    let dir = TempDir::new();
    let file = dir.path().join("open");
    std::fs::write(&file, PASSPHRASE).unwrap();
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let errors = load_in(dir.path(), "secrets:\n  master_passphrase: file:open\n").unwrap_err();
    assert!(errors[0].message.contains("readable by group or others"), "{errors:?}");
}

#[test]
fn any_management_change_is_restart_only() {
    let running = load("").unwrap();
    let same = load("admin: {}\nretention:\n  interval: 1h\n").unwrap();
    assert!(restart_only_changes(&running.snapshot, &running.runtime, &same).is_empty());

    let changed =
        load("data_dir: other\nretention:\n  sessions: 1d\nadmin:\n  sessions:\n    idle_timeout: 10m\n").unwrap();
    let names = restart_only_changes(&running.snapshot, &running.runtime, &changed);
    assert_eq!(names, ["data_dir", "retention", "admin"]);

    for (extra, section) in [
        ("store:\n  url: postgres://db/x\n", "store"),
        ("audit:\n  checkpoint_interval: 20s\n", "audit"),
        ("admin:\n  enabled: false\n", "admin"),
        ("admin:\n  allow: [10.0.0.0/8]\n", "admin"),
    ] {
        let next = load(extra).unwrap();
        assert_eq!(restart_only_changes(&running.snapshot, &running.runtime, &next), [section], "{extra}");
    }
    assert!(!format!("{:?}", running.runtime).contains("postgres"));
}

#[test]
fn re_encrypting_a_value_is_no_change() {
    let dir = TempDir::new();
    let (pass_file, key) = sealed(&dir);
    let url = "postgres://portcullis:s3cret@db.internal/portcullis";
    let config = |token: String| {
        format!("secrets:\n  master_passphrase: file:{}\nstore:\n  url: {token}\n", pass_file.display())
    };
    let first = load_in(dir.path(), &config(key.encrypt(url.as_bytes()))).unwrap();
    let second = load_in(dir.path(), &config(key.encrypt(url.as_bytes()))).unwrap();
    assert!(restart_only_changes(&first.snapshot, &first.runtime, &second).is_empty());
    let other =
        load_in(dir.path(), &config(key.encrypt(b"postgres://portcullis:other@db.internal/portcullis"))).unwrap();
    assert_eq!(restart_only_changes(&first.snapshot, &first.runtime, &other), ["store"]);
}

#[test]
fn counters_in_redis_are_checked_and_never_echoed() {
    let bad = "counters:\n  redis: memcached://:hunter2@cache\n";
    expect_error(bad, "counters.redis", "must be a redis:// or rediss:// URL");
    assert!(!format!("{:?}", errors(bad)).contains("hunter2"), "the URL may hold a password");
    expect_error("counters:\n  redis: redis://a\n  redis_cluster: [redis://b]\n", "counters.redis", "not both");
    expect_error("counters:\n  redis: redis://a\n  gateways: 0\n", "counters.gateways", "at least 1");
    expect_error("counters:\n  redis: redis://a\n  timeout: 0s\n", "counters.timeout", "at least 1ms");
    expect_error("counters:\n  redis_cluster: [redis://a, ftp://b]\n", "counters.redis_cluster[1]", "redis://");
    assert!(
        load("counters:\n  redis_cluster: [redis://10.0.0.1:7000, redis://10.0.0.2:7000]\n  gateways: 3\n").is_ok()
    );
    assert!(load("counters:\n  redis: rediss://:secret@cache.internal:6380/0\n  local_precheck: false\n").is_ok());
}
