//! Versioned migrations, applied in order at start, each in its own
//! transaction. The SQL is portable, so both backends run the same text and
//! keep the same schema semantics.

use sqlx::{AnyPool, Row};

use crate::clock::now_ms;
use crate::{Backend, StoreError};

/// (version, name, SQL), in order. Never edit a released entry: add one.
const MIGRATIONS: &[(i64, &str, &str)] = &[(1, "initial", include_str!("../migrations/0001_initial.sql"))];

pub(crate) async fn migrate(pool: &AnyPool, backend: Backend) -> Result<(), StoreError> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, \
         applied_at BIGINT NOT NULL)",
    )
    .execute(pool)
    .await?;
    let newest = MIGRATIONS.last().map_or(0, |m| m.0);
    for &(version, name, sql) in MIGRATIONS {
        let mut tx = pool.begin().await?;
        if backend == Backend::Postgres {
            // Nodes of a cluster may start together: one migrates, the others wait.
            sqlx::query("SELECT pg_advisory_xact_lock(727362)").execute(&mut *tx).await?;
        }
        let applied: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations")
            .fetch_one(&mut *tx)
            .await?
            .try_get("v")?;
        if applied > newest {
            return Err(StoreError::Open(format!(
                "the store has schema version {applied}, newer than this binary knows ({newest}); upgrade Portcullis"
            )));
        }
        if applied >= version {
            continue;
        }
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
            .bind(version)
            .bind(name)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(version, name, "Store migration applied.");
    }
    Ok(())
}
