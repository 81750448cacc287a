//! The management plane's sections: `data_dir`, `store`, `secrets`, `audit`,
//! `retention` and `admin`, compiled into [`ManagementSettings`] and the
//! fingerprint a reload compares.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use portcullis_admin::{AdminSettings, AuditSettings, ManagementSettings};
use portcullis_audit::{PublicKey, SyslogTarget};
use portcullis_core::ip::IpSet;
use portcullis_credentials::{PasswordHasher, PasswordPolicy};
use portcullis_secrets::{Decrypter, PassphraseSource};
use portcullis_store::{LockoutPolicy, Retention};
use serde_saphyr::{Location, Spanned};
use sha2::{Digest as _, Sha256};

use super::{Compiler, Master, parse_net};
use crate::ManagementFingerprint;
use crate::spec::{AdminSpec, ConfigSpec, RetentionSpec, TlsSpec};
use crate::units::{HumanDuration, KeepFor, SecretRef};

/// The admin API's address when none is configured.
const DEFAULT_ADMIN_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9180);

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);
const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;

/// Longest accepted admin session idle timeout.
const MAX_IDLE: Duration = Duration::from_secs(120 * 60);
/// Most characters a password policy may allow: 256 characters of up to four
/// bytes each still fit the hasher's 1024-byte limit.
const MAX_PASSWORD_CHARS: usize = portcullis_credentials::MAX_PASSWORD_BYTES / 4;
/// Shortest minimum password length accepted.
const MIN_PASSWORD_CHARS: usize = 8;
/// Most previous passwords remembered.
const MAX_HISTORY: usize = 24;

/// Where a spanned value is.
pub(super) fn at<T>(value: &Spanned<T>) -> Option<Location> {
    Some(value.referenced)
}

/// A hex SHA-256 of secret bytes, for fingerprints.
fn digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().fold(String::with_capacity(64), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

impl Compiler<'_> {
    /// Loads `secrets.master_passphrase`, once, and keeps its decrypter.
    /// Returns the source (relative paths resolved) for the settings.
    pub(super) fn master_passphrase(&mut self, spec: &ConfigSpec) -> Option<PassphraseSource> {
        let entry = spec.secrets.master_passphrase.as_ref()?;
        let path = "secrets.master_passphrase";
        let Some(source) = PassphraseSource::parse(&entry.value) else {
            self.master = Master::Failed;
            self.error(at(entry), path, "must be env:NAME, file:PATH or cmd:PROGRAM ARG…");
            return None;
        };
        let source = match source {
            PassphraseSource::File(file) => PassphraseSource::File(self.base.join(file)),
            other => other,
        };
        match source.load() {
            Ok(passphrase) => self.master = Master::Ready(Decrypter::new(passphrase)),
            Err(e) => {
                self.master = Master::Failed;
                self.error(at(entry), path, format!("cannot load the master passphrase: {e}"));
            }
        }
        Some(source)
    }

    /// A duration with a default and a lower bound (`min` is also shown in the error).
    pub(super) fn bounded(
        &mut self,
        path: &str,
        value: Option<&Spanned<HumanDuration>>,
        default: Duration,
        (min, min_text): (Duration, &str),
    ) -> Duration {
        let Some(value) = value else { return default };
        if value.value.0 < min {
            self.error(at(value), path, format!("must be at least {min_text}"));
        }
        value.value.0
    }

    /// Milliseconds for the store's `i64` fields.
    fn millis(&mut self, at: Option<Location>, path: &str, value: Duration) -> i64 {
        i64::try_from(value.as_millis()).unwrap_or_else(|_| {
            self.error(at, path, "is too long");
            i64::MAX
        })
    }

    /// Compiles the management sections; `master_passphrase` was loaded first.
    pub(super) fn management(
        &mut self,
        spec: &ConfigSpec,
        master_passphrase: Option<PassphraseSource>,
    ) -> Option<(ManagementSettings, ManagementFingerprint)> {
        let data_dir = match &spec.data_dir {
            None => self.base.join("data"),
            Some(dir) if dir.value.trim().is_empty() => {
                self.error(at(dir), "data_dir", "must not be empty");
                PathBuf::new()
            }
            Some(dir) => self.base.join(&dir.value),
        };
        let store_url = self.store_url(spec);
        let audit = self.audit(spec);
        let (retention, retention_interval) = self.retention(&spec.retention);
        let default_admin = AdminSpec::default();
        let admin_spec = spec.admin.as_ref().unwrap_or(&default_admin);
        let admin = if admin_spec.enabled { Some(self.admin(admin_spec)?) } else { None };
        let settings = ManagementSettings {
            data_dir,
            store_url: store_url?,
            master_passphrase,
            audit,
            retention,
            retention_interval,
            admin,
        };
        let fingerprint = self.fingerprint(&settings, admin_spec.enabled.then_some(admin_spec));
        Some((settings, fingerprint))
    }

    /// `store.url`: `Some(None)` for SQLite, `None` after an error.
    fn store_url(&mut self, spec: &ConfigSpec) -> Option<Option<String>> {
        let Some(url) = &spec.store.url else { return Some(None) };
        let path = "store.url";
        if url.value.is_encrypted() && matches!(self.master, Master::Failed) {
            self.error(at(url), path, "cannot be decrypted: secrets.master_passphrase could not be loaded");
            return None;
        }
        let text = url.value.resolve_with(self.base, self.master.decrypter()).map_err(|e| self.error(at(url), path, e));
        let text = text.ok()?;
        let text = text.trim();
        if !(text.starts_with("postgres://") || text.starts_with("postgresql://")) {
            // Never echo the value: it may be a mistyped secret.
            self.error(at(url), path, "must be a postgres:// URL (leave store.url out for SQLite)");
            return None;
        }
        Some(Some(text.to_owned()))
    }

    fn audit(&mut self, spec: &ConfigSpec) -> AuditSettings {
        let a = &spec.audit;
        let checkpoint_interval = self.bounded(
            "audit.checkpoint_interval",
            a.checkpoint_interval.as_ref(),
            Duration::from_secs(10),
            (Duration::from_secs(1), "1s"),
        );
        let mut trusted_keys = Vec::new();
        for (i, key) in a.trusted_keys.iter().enumerate() {
            match PublicKey::parse(&key.value) {
                Ok(k) => trusted_keys.push(k),
                Err(e) => self.error(at(key), format!("audit.trusted_keys[{i}]"), format!("{e} (expected ed25519:…)")),
            }
        }
        let syslog = a.syslog.as_ref().and_then(|target| {
            let parsed = parse_syslog(&target.value);
            if parsed.is_none() {
                self.error(
                    at(target),
                    "audit.syslog",
                    format!("{:?} is not udp://IP:PORT or tcp://IP:PORT (an IP address, not a name)", target.value),
                );
            }
            parsed
        });
        AuditSettings { checkpoint_interval, trusted_keys, syslog }
    }

    fn retention(&mut self, spec: &RetentionSpec) -> (Retention, Duration) {
        let interval = self.bounded("retention.interval", spec.interval.as_ref(), HOUR, (Duration::from_secs(1), "1s"));
        let mut keep = |field: &str, value: Option<&Spanned<KeepFor>>, default: Duration| -> Option<i64> {
            let path = format!("retention.{field}");
            let (at, kept) = value.map_or((None, KeepFor::Duration(default)), |v| (at(v), v.value));
            match kept {
                KeepFor::Forever => None,
                KeepFor::Duration(d) if d.is_zero() => {
                    self.error(at, path, "must be more than zero (or forever)");
                    None
                }
                KeepFor::Duration(d) => Some(self.millis(at, &path, d)),
            }
        };
        let retention = Retention {
            audit_events: keep("audit_events", spec.audit_events.as_ref(), 400 * DAY),
            sessions: keep("sessions", spec.sessions.as_ref(), 30 * DAY),
            revoked_tokens: keep("revoked_tokens", spec.revoked_tokens.as_ref(), 7 * DAY),
            expired_credentials: keep("expired_credentials", spec.expired_credentials.as_ref(), 90 * DAY),
        };
        (retention, interval)
    }

    /// The admin API; `None` after an error.
    fn admin(&mut self, spec: &AdminSpec) -> Option<AdminSettings> {
        let listen = match &spec.listen {
            None => Some(DEFAULT_ADMIN_LISTEN),
            Some(text) => text
                .value
                .parse::<SocketAddr>()
                .map_err(|_| self.error(at(text), "admin.listen", format!("{:?} is not ip:port", text.value)))
                .ok(),
        };
        let mut nets = Vec::new();
        for (i, entry) in spec.allow.iter().enumerate() {
            match parse_net(&entry.value) {
                Some(net) => nets.push(net),
                None => self.error(
                    at(entry),
                    format!("admin.allow[{i}]"),
                    format!("{:?} is not an IP address or CIDR", entry.value),
                ),
            }
        }
        if let Some(addr) = listen
            && !addr.ip().is_loopback()
            && spec.allow.is_empty()
            && spec.tls.is_none()
        {
            let position = spec.listen.as_ref().map(|l| l.referenced);
            self.error(position, "admin.listen", "an admin listener off loopback needs tls or an allow list");
        }
        let tls = match &spec.tls {
            None => Some(None),
            // The admin API speaks HTTP/1.1 only.
            Some(tls) => self.server_tls(at(tls), "admin.tls", &tls.value, false).map(Some),
        };

        let mut settings = AdminSettings::with_defaults(listen.unwrap_or(DEFAULT_ADMIN_LISTEN));
        self.admin_sessions(spec, &mut settings);
        self.password_rules(spec, &mut settings);
        self.lockout(spec, &mut settings);
        settings.key_rotation_overlap = self.bounded(
            "admin.key_rotation_overlap",
            spec.key_rotation_overlap.as_ref(),
            settings.key_rotation_overlap,
            (Duration::ZERO, "0s"),
        );
        if let Some(v) = &spec.key_rotation_overlap {
            self.millis(at(v), "admin.key_rotation_overlap", v.value.0);
        }
        settings.api_token_max_lifetime = self.bounded(
            "admin.api_token_max_lifetime",
            spec.api_token_max_lifetime.as_ref(),
            settings.api_token_max_lifetime,
            (Duration::from_secs(1), "1s"),
        );
        if let Some(v) = &spec.api_token_max_lifetime {
            self.millis(at(v), "admin.api_token_max_lifetime", v.value.0);
        }
        if let Some(size) = &spec.max_body {
            if !(KIB..=16 * MIB).contains(&size.value.0) {
                self.error(at(size), "admin.max_body", "must be between 1KiB and 16MiB");
            }
            settings.max_body = usize::try_from(size.value.0).unwrap_or(usize::MAX);
        }
        settings.allow = IpSet::new(nets);
        settings.tls = tls?;
        listen?;
        Some(settings)
    }

    fn admin_sessions(&mut self, spec: &AdminSpec, settings: &mut AdminSettings) {
        let s = &spec.sessions;
        let idle = self.bounded(
            "admin.sessions.idle_timeout",
            s.idle_timeout.as_ref(),
            settings.session_idle,
            (Duration::from_secs(1), "1s"),
        );
        if let Some(v) = s.idle_timeout.as_ref().filter(|_| idle > MAX_IDLE) {
            self.error(at(v), "admin.sessions.idle_timeout", "must be at most 120m");
        }
        let absolute = self.bounded(
            "admin.sessions.absolute_timeout",
            s.absolute_timeout.as_ref(),
            settings.session_absolute,
            (Duration::ZERO, "0s"),
        );
        if absolute < idle {
            let position = s.absolute_timeout.as_ref().or(s.idle_timeout.as_ref()).map(|v| v.referenced);
            self.error(position, "admin.sessions.absolute_timeout", "must be at least idle_timeout");
        }
        if let Some(v) = &s.absolute_timeout {
            self.millis(at(v), "admin.sessions.absolute_timeout", absolute);
        }
        settings.session_idle = idle;
        settings.session_absolute = absolute;
    }

    fn password_rules(&mut self, spec: &AdminSpec, settings: &mut AdminSettings) {
        let p = &spec.password_policy;
        let d = PasswordPolicy::default();
        let min_length = p.min_length.as_ref().map_or(d.min_length, |v| v.value);
        if let Some(v) = p.min_length.as_ref().filter(|_| min_length < MIN_PASSWORD_CHARS) {
            self.error(at(v), "admin.password_policy.min_length", "must be at least 8");
        }
        let max_length = p.max_length.as_ref().map_or(d.max_length, |v| v.value);
        if max_length > MAX_PASSWORD_CHARS {
            let position = p.max_length.as_ref().map(|v| v.referenced);
            self.error(position, "admin.password_policy.max_length", "must be at most 256");
        } else if max_length < min_length {
            let position = p.max_length.as_ref().or(p.min_length.as_ref()).map(|v| v.referenced);
            self.error(position, "admin.password_policy.max_length", "must be at least min_length");
        }
        let min_classes = p.min_classes.as_ref().map_or(d.min_classes, |v| v.value);
        if let Some(v) = p.min_classes.as_ref().filter(|_| !(1..=4).contains(&min_classes)) {
            self.error(at(v), "admin.password_policy.min_classes", "must be between 1 and 4");
        }
        let min_entropy_bits = p.min_entropy_bits.as_ref().map_or(d.min_entropy_bits, |v| v.value);
        if let Some(v) = p.min_entropy_bits.as_ref().filter(|_| !(0.0..=1000.0).contains(&min_entropy_bits)) {
            self.error(at(v), "admin.password_policy.min_entropy_bits", "must be between 0 and 1000");
        }
        let history = p.history.as_ref().map_or(settings.password_history, |v| v.value);
        if let Some(v) = p.history.as_ref().filter(|_| history > MAX_HISTORY) {
            self.error(at(v), "admin.password_policy.history", "must be at most 24");
        }
        let max_age = p.max_age.as_ref().map(|v| {
            if v.value.0 < Duration::from_secs(1) {
                self.error(at(v), "admin.password_policy.max_age", "must be at least 1s (leave it out for no limit)");
            }
            v.value.0
        });
        settings.password_policy = PasswordPolicy {
            min_length,
            max_length,
            min_classes,
            min_entropy_bits,
            reject_common: p.reject_common.unwrap_or(d.reject_common),
        };
        settings.password_history = history;
        settings.password_max_age = max_age.or(settings.password_max_age);

        let h = &spec.password_hashing;
        let before = self.errors.len();
        let (default_memory, default_iterations, default_lanes) = settings.password_hashing;
        let memory = match &h.memory {
            None => default_memory,
            Some(v) => {
                let bytes = v.value.0;
                let path = "admin.password_hashing.memory";
                if bytes < 8 * MIB {
                    self.error(at(v), path, "must be at least 8MiB (less is too weak)");
                } else if bytes > 4 * GIB {
                    self.error(at(v), path, "must be at most 4GiB");
                } else if bytes % KIB != 0 {
                    self.error(at(v), path, "must be a whole number of KiB");
                }
                u32::try_from(bytes / KIB).unwrap_or(u32::MAX)
            }
        };
        let mut count = |field: &str, value: Option<&Spanned<u32>>, default: u32, max: u32, weak: &str| {
            let Some(v) = value else { return default };
            if v.value < 1 {
                self.error(at(v), format!("admin.password_hashing.{field}"), format!("must be at least 1{weak}"));
            } else if v.value > max {
                self.error(at(v), format!("admin.password_hashing.{field}"), format!("must be at most {max}"));
            }
            v.value
        };
        let iterations = count("iterations", h.iterations.as_ref(), default_iterations, 100, " (less is too weak)");
        let lanes = count("parallelism", h.parallelism.as_ref(), default_lanes, 16, "");
        settings.password_hashing = (memory, iterations, lanes);
        if self.errors.len() == before
            && let Err(e) = PasswordHasher::new(memory, iterations, lanes)
        {
            let position = h.memory.as_ref().map(|v| v.referenced);
            self.error(position, "admin.password_hashing", e.to_string());
        }
    }

    fn lockout(&mut self, spec: &AdminSpec, settings: &mut AdminSettings) {
        let l = &spec.lockout;
        let d = settings.lockout;
        let max_failures = match &l.max_failures {
            None => d.max_failures,
            Some(v) => {
                if v.value < 1 {
                    self.error(at(v), "admin.lockout.max_failures", "must be at least 1");
                }
                i64::from(v.value)
            }
        };
        let mut ms = |field: &str, value: Option<&Spanned<HumanDuration>>, default: i64| -> i64 {
            let Some(v) = value else { return default };
            let path = format!("admin.lockout.{field}");
            if v.value.0 < Duration::from_secs(1) {
                self.error(at(v), &path, "must be at least 1s");
            }
            self.millis(at(v), &path, v.value.0)
        };
        let lock_ms = ms("lock_for", l.lock_for.as_ref(), d.lock_ms);
        let max_lock_ms = ms("max_lock", l.max_lock.as_ref(), d.max_lock_ms);
        let source_window_ms = ms("source_window", l.source_window.as_ref(), d.source_window_ms);
        if max_lock_ms < lock_ms {
            let position = l.max_lock.as_ref().or(l.lock_for.as_ref()).map(|v| v.referenced);
            self.error(position, "admin.lockout.max_lock", "must be at least lock_for");
        }
        let source_max_failures = l.source_max_failures.as_ref().map_or(d.source_max_failures, |v| i64::from(v.value));
        settings.lockout = LockoutPolicy { max_failures, lock_ms, max_lock_ms, source_max_failures, source_window_ms };
    }

    /// Digests each section as configured (see [`ManagementFingerprint`]).
    fn fingerprint(&self, m: &ManagementSettings, admin: Option<&AdminSpec>) -> ManagementFingerprint {
        let mut fingerprint = ManagementFingerprint::default();
        fingerprint.push("data_dir", &format!("{:?}", m.data_dir));
        let store = m.store_url.as_deref().map(|url| digest(url.as_bytes()));
        fingerprint.push("store", &format!("{store:?}"));
        fingerprint.push("secrets", &format!("{:?}", m.master_passphrase));
        let keys: Vec<String> = m.audit.trusted_keys.iter().map(PublicKey::to_text).collect();
        fingerprint.push("audit", &format!("{:?} {keys:?} {:?}", m.audit.checkpoint_interval, m.audit.syslog));
        fingerprint.push("retention", &format!("{:?} {:?}", m.retention, m.retention_interval));
        let admin = match (&m.admin, admin) {
            (Some(a), Some(spec)) => format!(
                "{:?} {} {:?} {:?} {:?} {:?} {:?} {} {:?} {:?} {:?} {:?} {:?} {:?}",
                a.listen,
                spec.tls.as_ref().map_or_else(|| "-".to_owned(), |t| self.tls_identity(&t.value)),
                spec.allow.iter().map(|e| &e.value).collect::<Vec<_>>(),
                a.session_idle,
                a.session_absolute,
                a.password_policy,
                a.password_history,
                a.password_max_age.map_or_else(|| "-".to_owned(), |d| format!("{d:?}")),
                a.password_hashing,
                a.lockout,
                a.key_rotation_overlap,
                a.api_token_max_lifetime,
                a.max_body,
                a.listen.ip().is_loopback(),
            ),
            _ => "off".to_owned(),
        };
        fingerprint.push("admin", &admin);
        fingerprint
    }

    /// The admin TLS settings as written; an `enc:` key counts by what it decrypts to.
    fn tls_identity(&self, tls: &TlsSpec) -> String {
        let key = |secret: &SecretRef| {
            if secret.is_encrypted() {
                let plain = secret.resolve_with(self.base, self.master.decrypter()).unwrap_or_default();
                format!("enc:{}", digest(&plain))
            } else {
                secret.reference().to_owned()
            }
        };
        let certificates: Vec<(&str, String)> =
            tls.certificates.iter().map(|c| (c.cert.as_str(), key(&c.key))).collect();
        let client_auth = tls.client_auth.as_ref().map(|c| (c.ca.as_str(), c.required));
        format!("{certificates:?} {client_auth:?} {:?}", tls.min_version)
    }
}

/// `udp://IP:PORT` or `tcp://IP:PORT` (port not 0).
fn parse_syslog(text: &str) -> Option<SyslogTarget> {
    let (scheme, rest) = text.trim().split_once("://")?;
    let addr: SocketAddr = rest.parse().ok().filter(|a: &SocketAddr| a.port() != 0)?;
    match scheme {
        "udp" => Some(SyslogTarget::Udp(addr)),
        "tcp" => Some(SyslogTarget::Tcp(addr)),
        _ => None,
    }
}
