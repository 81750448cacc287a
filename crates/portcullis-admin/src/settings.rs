//! What the management plane runs with, compiled from the configuration
//! file by the config crate. Everything here is restart-only except where noted.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use portcullis_audit::PublicKey;
use portcullis_audit::SyslogTarget;
use portcullis_core::ip::IpSet;
use portcullis_credentials::PasswordPolicy;
use portcullis_secrets::PassphraseSource;
use portcullis_store::{LockoutPolicy, Retention};

/// The whole management plane: store, secrets, audit, retention and the
/// admin API. `Debug` never prints the store URL (it may hold a password).
#[derive(Clone)]
pub struct ManagementSettings {
    /// Where the SQLite store, the audit signing key and other state live
    /// (created owner-only). Default: `data` beside the configuration file.
    pub data_dir: PathBuf,
    /// A `postgres://` URL (it may hold a password, so never log it); `None`
    /// selects the embedded SQLite store.
    pub store_url: Option<String>,
    /// Where the master passphrase comes from, when `enc:v1:` values or an
    /// encrypted signing key are used.
    pub master_passphrase: Option<PassphraseSource>,
    /// The audit log's signing and forwarding.
    pub audit: AuditSettings,
    /// How long each data class is kept, and how often that is enforced.
    pub retention: Retention,
    /// How often the retention job runs.
    pub retention_interval: Duration,
    /// The admin API; `None` when switched off (gateway-only nodes).
    pub admin: Option<AdminSettings>,
}

impl std::fmt::Debug for ManagementSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagementSettings")
            .field("data_dir", &self.data_dir)
            .field("store_url", &self.store_url.as_ref().map(|_| "<redacted>"))
            .field("master_passphrase", &self.master_passphrase)
            .field("audit", &self.audit)
            .field("retention", &self.retention)
            .field("retention_interval", &self.retention_interval)
            .field("admin", &self.admin)
            .finish()
    }
}

/// The audit log's checkpoints and forwarding.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    /// How often the chain's head is signed.
    pub checkpoint_interval: Duration,
    /// Public keys of other nodes whose checkpoints `verify` trusts (the
    /// local node's own key is always trusted).
    pub trusted_keys: Vec<PublicKey>,
    /// Forward every event to a syslog collector (RFC 5424).
    pub syslog: Option<SyslogTarget>,
}

/// The admin API listener and its account rules.
#[derive(Debug, Clone)]
pub struct AdminSettings {
    /// Listen address; 127.0.0.1 unless configured otherwise.
    pub listen: SocketAddr,
    /// TLS (optionally requiring a client certificate), built by portcullis-tls.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Client addresses allowed to connect; empty allows every address that
    /// can reach the listener.
    pub allow: IpSet,
    /// A session ends after this long without a request (at most 120 min).
    pub session_idle: Duration,
    /// A session ends this long after login, whatever happens.
    pub session_absolute: Duration,
    /// Rules for new passwords.
    pub password_policy: PasswordPolicy,
    /// How many previous passwords may not be reused.
    pub password_history: usize,
    /// A password older than this must be changed before anything else.
    pub password_max_age: Option<Duration>,
    /// argon2id cost: memory (KiB), iterations, lanes.
    pub password_hashing: (u32, u32, u32),
    /// When failed logins lock an account or a source address.
    pub lockout: LockoutPolicy,
    /// How long a rotated API key keeps working by default.
    pub key_rotation_overlap: Duration,
    /// The longest lifetime an automation token may have.
    pub api_token_max_lifetime: Duration,
    /// The largest request body the admin API reads.
    pub max_body: usize,
}

impl AdminSettings {
    /// Defaults for everything but the address: what a hardened deployment
    /// gets without writing a line.
    #[must_use]
    pub fn with_defaults(listen: SocketAddr) -> Self {
        const MINUTE: i64 = 60_000;
        Self {
            listen,
            tls: None,
            allow: IpSet::new(Vec::new()),
            session_idle: Duration::from_secs(30 * 60),
            session_absolute: Duration::from_secs(8 * 3600),
            password_policy: PasswordPolicy::default(),
            password_history: 5,
            password_max_age: None,
            password_hashing: (19_456, 2, 1),
            lockout: LockoutPolicy {
                max_failures: 5,
                lock_ms: 15 * MINUTE,
                max_lock_ms: 24 * 60 * MINUTE,
                source_max_failures: 50,
                source_window_ms: 15 * MINUTE,
            },
            key_rotation_overlap: Duration::from_secs(24 * 3600),
            api_token_max_lifetime: Duration::from_secs(90 * 24 * 3600),
            max_body: 64 * 1024,
        }
    }
}
