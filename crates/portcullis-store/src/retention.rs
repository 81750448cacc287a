//! Retention: how long each class of data is kept, enforced by a periodic
//! job. Pruning the audit log keeps the chain verifiable: events are removed
//! only up to a signed checkpoint, which becomes the chain's new anchor.

use serde_json::json;
use sqlx::Row;

use crate::clock::now_ms;
use crate::{Actor, Store, StoreError};

/// How long each data class is kept (ms); `None` keeps it forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Retention {
    /// Audit events (pruned only up to a signed checkpoint).
    pub audit_events: Option<i64>,
    /// Ended or expired admin sessions.
    pub sessions: Option<i64>,
    /// Revoked token ids, counted from the token's own expiry.
    pub revoked_tokens: Option<i64>,
    /// Expired or revoked API tokens and credentials, from their end.
    pub expired_credentials: Option<i64>,
}

/// What one retention run removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct RetentionReport {
    /// Audit events removed.
    pub audit_events: u64,
    /// Sessions removed.
    pub sessions: u64,
    /// Revoked token ids removed.
    pub revoked_tokens: u64,
    /// Credentials and API tokens removed.
    pub credentials: u64,
}

impl Store {
    /// Removes what `retention` no longer keeps and records the run as an
    /// audit event (when it removed anything).
    ///
    /// # Errors
    /// The database failed; nothing is removed then.
    pub async fn enforce_retention(&self, retention: &Retention) -> Result<RetentionReport, StoreError> {
        let now = now_ms();
        let mut report = RetentionReport::default();
        let mut write = self.begin().await?;
        if let Some(keep) = retention.sessions {
            report.sessions = sqlx::query(
                "DELETE FROM admin_sessions WHERE (revoked_at IS NOT NULL AND revoked_at < $1) OR expires_at < $1",
            )
            .bind(now - keep)
            .execute(write.conn())
            .await?
            .rows_affected();
        }
        if let Some(keep) = retention.revoked_tokens {
            report.revoked_tokens = sqlx::query("DELETE FROM revoked_tokens WHERE expires_at < $1")
                .bind(now - keep)
                .execute(write.conn())
                .await?
                .rows_affected();
        }
        if let Some(keep) = retention.expired_credentials {
            let cutoff = now - keep;
            let seq = write.seq();
            sqlx::query(
                "INSERT INTO credential_changes (seq, kind, lookup) SELECT $1, kind, lookup FROM credentials \
                 WHERE COALESCE(revoked_at, expires_at, $2) < $2",
            )
            .bind(seq)
            .bind(cutoff)
            .execute(write.conn())
            .await?;
            let credentials = sqlx::query("DELETE FROM credentials WHERE COALESCE(revoked_at, expires_at, $1) < $1")
                .bind(cutoff)
                .execute(write.conn())
                .await?
                .rows_affected();
            let tokens = sqlx::query("DELETE FROM api_tokens WHERE COALESCE(revoked_at, expires_at) < $1")
                .bind(cutoff)
                .execute(write.conn())
                .await?
                .rows_affected();
            sqlx::query(
                "DELETE FROM credential_changes WHERE seq < (SELECT MAX(seq) FROM credential_changes) - 1000000",
            )
            .execute(write.conn())
            .await?;
            report.credentials = credentials + tokens;
        }
        if let Some(keep) = retention.audit_events {
            // The newest checkpoint whose event is older than the cutoff.
            let anchor = sqlx::query(
                "SELECT c.seq, c.hash FROM audit_checkpoints c JOIN audit_events e ON e.seq = c.seq \
                 WHERE e.at_ms < $1 ORDER BY c.seq DESC LIMIT 1",
            )
            .bind(now - keep)
            .fetch_optional(write.conn())
            .await?;
            if let Some(anchor) = anchor {
                let seq: i64 = anchor.try_get("seq")?;
                let hash: String = anchor.try_get("hash")?;
                report.audit_events = sqlx::query("DELETE FROM audit_events WHERE seq <= $1")
                    .bind(seq)
                    .execute(write.conn())
                    .await?
                    .rows_affected();
                sqlx::query("DELETE FROM audit_checkpoints WHERE seq < $1").bind(seq).execute(write.conn()).await?;
                sqlx::query("UPDATE audit_head SET anchor_seq = $1, anchor_hash = $2 WHERE id = 1")
                    .bind(seq)
                    .bind(&hash)
                    .execute(write.conn())
                    .await?;
            }
        }
        if report == RetentionReport::default() {
            return Ok(report);
        }
        write.commit(Actor::system().event("retention.run", "store").with_details(json!(report))).await?;
        Ok(report)
    }
}
