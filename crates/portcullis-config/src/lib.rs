//! Configuration for Portcullis: the YAML file is parsed (unknown keys are
//! errors), validated (every problem reported with its line, column and
//! path), and compiled into the data plane's immutable `Snapshot` and the
//! management plane's settings (store, secrets, audit, retention, admin API).
//!
//! Secrets may be written as `enc:v1:…` values anywhere a secret is read;
//! they are opened with `secrets.master_passphrase`, loaded once per load.
//!
//! A reload does all fallible work beside the running snapshot and swaps it
//! in only when everything succeeded; restart-only settings are refused on
//! reload with their names. This crate is the only one that knows the file
//! format.

#![forbid(unsafe_code)]

mod compile;
pub mod spec;
pub mod units;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use portcullis_proxy::access_log::LogDestination;
use portcullis_proxy::metrics::Metrics;
use portcullis_proxy::{Live, Snapshot};
use serde_saphyr::Location;

use crate::compile::Compiler;

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// 1-based line and column, when known.
    pub position: Option<(u64, u64)>,
    /// Where in the document, e.g. `routes[2].upstream`.
    pub path: String,
    /// A plain sentence.
    pub message: String,
}

impl ConfigError {
    fn new(at: Option<Location>, path: String, message: String) -> Self {
        let position = at.filter(|l| l.line() > 0).map(|l| (l.line(), l.column()));
        Self { position, path, message }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, column)) => write!(f, "{line}:{column}: ")?,
            None => f.write_str("-: ")?,
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// A configuration file that cannot be used, with every reason.
#[derive(Debug)]
pub struct LoadError {
    /// The file.
    pub file: PathBuf,
    /// Every problem found.
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{}:{e}", self.file.display())?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}

/// Process settings that are read at start and cannot change on reload
/// (apart from `log_level`, which is informational there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeSettings {
    /// Worker threads.
    pub workers: usize,
    /// Ops listener address.
    pub metrics_listen: Option<SocketAddr>,
    /// Access log destination, if enabled.
    pub access_log: Option<LogDestination>,
    /// Log level filter.
    pub log_level: String,
    /// JSON operational logs.
    pub log_json: bool,
    /// File-watch interval, if watching.
    pub watch: Option<Duration>,
    /// SIGTERM drain deadline.
    pub drain_timeout: Duration,
    /// Connection limit.
    pub max_connections: usize,
    /// The management plane's settings as compared on reload (all restart-only).
    pub management: ManagementFingerprint,
}

/// A digest of each management section (`data_dir`, `store`, `secrets`,
/// `audit`, `retention`, `admin`) as configured, so that a reload can name
/// the sections it would change. `Debug` shows the section names only.
///
/// Secret values enter only as SHA-256 digests; an `enc:v1:` value counts by
/// what it decrypts to, so re-encrypting it under a new passphrase is no
/// change. The admin API's certificate and key files count by their paths
/// and references, not their contents.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ManagementFingerprint(Vec<(&'static str, [u8; 32])>);

impl ManagementFingerprint {
    /// Records `section` by a canonical description of its settings.
    fn push(&mut self, section: &'static str, canonical: &str) {
        use sha2::Digest as _;
        self.0.push((section, sha2::Sha256::digest(canonical.as_bytes()).into()));
    }

    /// The sections whose settings differ between `self` and `other`, in file order.
    #[must_use]
    pub fn changed(&self, other: &Self) -> Vec<&'static str> {
        let mut changed: Vec<&'static str> = self
            .0
            .iter()
            .filter(|(name, digest)| other.0.iter().find(|(n, _)| n == name).is_none_or(|(_, d)| d != digest))
            .map(|(name, _)| *name)
            .collect();
        changed.extend(other.0.iter().map(|(name, _)| *name).filter(|name| self.0.iter().all(|(n, _)| n != name)));
        changed
    }
}

impl fmt::Debug for ManagementFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ManagementFingerprint").field(&self.0.iter().map(|(name, _)| *name).collect::<Vec<_>>()).finish()
    }
}

/// A compiled configuration.
pub struct Loaded {
    /// What the data plane serves.
    pub snapshot: Snapshot,
    /// How the process runs.
    pub runtime: RuntimeSettings,
    /// The management plane: store, secrets, audit, retention and admin API
    /// (restart-only). `store_url` may hold a password: never log it.
    pub management: portcullis_admin::ManagementSettings,
    /// The Redis counters every limit and lockout shares with other gateways, if configured.
    pub shared_counters: Option<Arc<portcullis_ratelimit::SharedCounters>>,
}

impl Loaded {
    /// Brute-force lockouts count with the other gateways as this configuration says.
    pub fn share_lockouts(&self) {
        portcullis_ratelimit::Lockouts::process().share(self.shared_counters.clone());
    }
}

impl fmt::Debug for Loaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.management;
        let management = fmt::from_fn(|f| {
            f.debug_struct("ManagementSettings")
                .field("data_dir", &m.data_dir)
                .field("store_url", &m.store_url.as_ref().map(|_| "<redacted>"))
                .field("master_passphrase", &m.master_passphrase)
                .field("audit", &m.audit)
                .field("retention", &m.retention)
                .field("retention_interval", &m.retention_interval)
                .field("admin", &m.admin)
                .finish_non_exhaustive()
        });
        f.debug_struct("Loaded")
            .field("snapshot", &self.snapshot)
            .field("runtime", &self.runtime)
            .field("management", &management)
            .finish()
    }
}

/// Parses and compiles configuration text. Relative paths in it are relative
/// to `base`. `metrics` receives the routes' series.
///
/// # Errors
/// Every problem found, with positions where known.
pub fn parse(text: &str, base: &Path, generation: u64, metrics: &Metrics) -> Result<Loaded, Vec<ConfigError>> {
    let spec: spec::ConfigSpec = serde_saphyr::from_str(text).map_err(|e| {
        let message = e.to_string();
        let message = message.lines().next().unwrap_or("invalid YAML").to_owned();
        vec![ConfigError::new(e.location(), String::new(), message)]
    })?;
    let now = portcullis_core::time::now_unix_millis() / 1000;
    let mut compiler = Compiler::new(base, now);
    match compiler.compile(&spec, generation, metrics) {
        Some(loaded) if compiler.errors.is_empty() => Ok(loaded),
        _ => {
            let mut errors = compiler.errors;
            errors.sort_by_key(|e| e.position.unwrap_or((0, 0)));
            Err(errors)
        }
    }
}

/// Reads, parses and compiles the file at `path`.
///
/// # Errors
/// An unreadable file or every problem in it.
pub fn load(path: &Path, generation: u64, metrics: &Metrics) -> Result<Loaded, LoadError> {
    let fail = |errors| LoadError { file: path.to_owned(), errors };
    let text = std::fs::read_to_string(path).map_err(|e| {
        fail(vec![ConfigError { position: None, path: String::new(), message: format!("cannot read the file: {e}") }])
    })?;
    let base = path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    parse(&text, &base, generation, metrics).map_err(fail)
}

/// Why a reload was refused (the running configuration keeps serving).
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The new file is invalid.
    #[error("{0}")]
    Invalid(#[from] LoadError),
    /// The new file changes settings that need a restart.
    #[error("these settings change only with a restart: {}", .0.join(", "))]
    RestartOnly(Vec<String>),
}

/// Reads, validates and compiles `path`, then swaps it in. On any error nothing changes.
///
/// # Errors
/// An invalid file, or a change to restart-only settings.
pub fn reload(live: &Live, path: &Path, running: &RuntimeSettings, metrics: &Metrics) -> Result<u64, ReloadError> {
    let current = live.load();
    let generation = current.generation + 1;
    let next = load(path, generation, metrics)?;
    let changed = restart_only_changes(&current, running, &next);
    if !changed.is_empty() {
        return Err(ReloadError::RestartOnly(changed));
    }
    next.share_lockouts();
    live.store(Arc::new(next.snapshot));
    Ok(generation)
}

fn restart_only_changes(current: &Snapshot, running: &RuntimeSettings, next: &Loaded) -> Vec<String> {
    let mut changed = Vec::new();
    let old: Vec<_> = current.listeners.iter().map(|l| (&l.name, l.addr)).collect();
    let new: Vec<_> = next.snapshot.listeners.iter().map(|l| (&l.name, l.addr)).collect();
    if old != new {
        changed.push("listeners (names and addresses)".to_owned());
    }
    let r = &next.runtime;
    let fields = [
        ("workers", running.workers != r.workers),
        ("metrics.listen", running.metrics_listen != r.metrics_listen),
        ("access_log.enabled/path", running.access_log != r.access_log),
        ("logging", running.log_level != r.log_level || running.log_json != r.log_json),
        ("reload", running.watch != r.watch),
        ("limits.max_connections", running.max_connections != r.max_connections),
    ];
    changed.extend(fields.iter().filter(|(_, differs)| *differs).map(|(name, _)| (*name).to_owned()));
    changed.extend(running.management.changed(&r.management).into_iter().map(str::to_owned));
    changed
}
