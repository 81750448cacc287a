//! Opening the store: choosing the backend from its URL, preparing SQLite
//! (owner-only file, WAL, foreign keys, full sync) and applying migrations.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};

use crate::StoreError;
use crate::changes::{Changes, head_seq};
use crate::migrate::migrate;

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded default: one file under the data directory.
    Sqlite,
    /// A shared server for clusters.
    Postgres,
}

/// The runtime-data store: consumers, apps, credentials, admin users,
/// sessions, tokens, revocations and the audit log, on SQLite or PostgreSQL.
///
/// Cloning is cheap (a pool handle); clones share one pool and one change
/// channel ([`Store::subscribe`]).
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    pub(crate) backend: Backend,
    /// The change channel; holds the PostgreSQL URL for its listener, which
    /// its `Debug` never shows.
    pub(crate) changes: Arc<Changes>,
}

impl Store {
    /// Opens the SQLite store `portcullis.db` in `data_dir` (created with
    /// owner-only permissions) or, when `url` starts with `postgres://` or
    /// `postgresql://`, that PostgreSQL database; then applies migrations.
    ///
    /// # Errors
    /// The directory cannot be created, the database cannot be reached, or a
    /// migration fails.
    pub async fn open(url: Option<&str>, data_dir: &Path) -> Result<Self, StoreError> {
        install_default_drivers();
        let (pool, backend) = match url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                (Self::open_postgres(url).await?, Backend::Postgres)
            }
            Some(other) => {
                return Err(StoreError::Open(format!(
                    "unsupported store URL scheme in {:?}; use postgres:// or leave it out for SQLite",
                    other.split(':').next().unwrap_or_default()
                )));
            }
            None => (Self::open_sqlite(data_dir).await?, Backend::Sqlite),
        };
        migrate(&pool, backend).await?;
        let head = head_seq(&pool).await?;
        let listen_url = (backend == Backend::Postgres).then(|| url.unwrap_or_default().to_owned());
        Ok(Self { pool, backend, changes: Arc::new(Changes::new(head, listen_url)) })
    }

    /// Which backend this store runs on.
    #[must_use]
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every pooled connection (SQLite checkpoints its WAL) and stops
    /// the change listener and poll.
    pub async fn close(&self) {
        self.changes.stop();
        self.pool.close().await;
    }

    async fn open_sqlite(data_dir: &Path) -> Result<AnyPool, StoreError> {
        create_private_dir(data_dir)?;
        let file = data_dir.join("portcullis.db");
        // Create the file owner-only before SQLite does; SQLite gives its
        // -wal and -shm files the same mode as the database file.
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&file)
            .map_err(|err| StoreError::Open(format!("{}: {err}", file.display())))?;
        let path = file.to_str().ok_or_else(|| StoreError::Open("the data directory path is not UTF-8".into()))?;
        let pool = AnyPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    // WAL for concurrent readers; FULL sync so an acknowledged
                    // write survives a power cut, not only a crash; secure
                    // delete so erased personal data leaves no free-page copy.
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
                         PRAGMA busy_timeout = 10000; PRAGMA secure_delete = ON;",
                    )
                    .await?;
                    Ok(())
                })
            })
            .connect(&format!("sqlite://{path}?mode=rwc"))
            .await
            .map_err(|err| StoreError::Open(format!("{}: {err}", file.display())))?;
        Ok(pool)
    }

    async fn open_postgres(url: &str) -> Result<AnyPool, StoreError> {
        let pool = AnyPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            // The URL may hold a password: never echo it.
            .map_err(|err| StoreError::Open(format!("PostgreSQL: {}", redact(&err))))?;
        Ok(pool)
    }
}

/// An error's text without anything of the URL, which may hold a password.
pub(crate) fn redact(err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::Configuration(_) => "the URL is not valid".into(),
        sqlx::Error::Io(io) => io.to_string(),
        sqlx::Error::Database(db) => db.message().to_owned(),
        _ => "cannot connect".into(),
    }
}

fn create_private_dir(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let fail = |err: std::io::Error| StoreError::Open(format!("{}: {err}", path.display()));
    if !path.exists() {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(path).map_err(fail)?;
    }
    let meta = std::fs::metadata(path).map_err(fail)?;
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).map_err(fail)?;
    }
    Ok(())
}
