//! The audited write: every change to runtime data happens inside a
//! [`Write`], which can only commit together with the audit event that
//! records it. No change without its event, no event without its change.

use std::sync::Arc;

use portcullis_audit::{Digest, NewEvent, link};
use sqlx::AnyConnection;
use sqlx::{Any, Row, Transaction};

use crate::changes::Changes;
use crate::clock::{digest_from_hex, now_ms};
use crate::{Backend, Store, StoreError};
use portcullis_credentials::to_hex as hex;

/// The PostgreSQL channel that carries new audit sequence numbers to every
/// node, so in-memory indexes refresh at once.
pub const CHANGE_CHANNEL: &str = "portcullis_changes";

/// An open write transaction that holds the audit chain's head.
///
/// Dropping it without [`Write::commit`] rolls everything back.
pub(crate) struct Write {
    tx: Transaction<'static, Any>,
    seq: i64,
    prev: Digest,
    backend: Backend,
    changes: Arc<Changes>,
}

impl Store {
    /// Starts an audited write. The first statement advances the audit head,
    /// which takes the write lock on SQLite and the head row's lock on
    /// PostgreSQL: writers serialize on the chain, so it can never fork.
    pub(crate) async fn begin(&self) -> Result<Write, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
            .fetch_one(&mut *tx)
            .await?;
        let seq: i64 = row.try_get("seq")?;
        let prev = digest_from_hex(&row.try_get::<String, _>("hash")?)
            .ok_or_else(|| StoreError::Invalid("the audit head is corrupt".into()))?;
        Ok(Write { tx, seq, prev, backend: self.backend, changes: Arc::clone(&self.changes) })
    }

    /// Records an event that goes with no other change (a failed login, a
    /// denied request, a reload).
    ///
    /// # Errors
    /// The database failed; the event is then not written.
    pub async fn record(&self, event: NewEvent) -> Result<i64, StoreError> {
        self.begin().await?.commit(event).await
    }
}

impl Write {
    /// The connection to run the change's statements on.
    pub(crate) fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    /// The audit sequence number this change will carry.
    pub(crate) fn seq(&self) -> i64 {
        self.seq
    }

    /// Queues the credentials that `filter` selects (by its parameter `$2`,
    /// which is `id`) for every node's credential index to read again, as a
    /// change to them or to what they carry from their app and consumer.
    pub(crate) async fn requeue_credentials(&mut self, filter: &str, id: &str) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO credential_changes (seq, kind, lookup) SELECT $1, kind, lookup FROM credentials WHERE {filter}"
        );
        sqlx::query(&sql).bind(self.seq).bind(id).execute(&mut *self.tx).await?;
        Ok(())
    }

    /// Appends `event` to the chain and commits it with the change, then
    /// announces its sequence number to this node's subscribers (other nodes
    /// hear the `pg_notify` sent in the transaction, or poll).
    pub(crate) async fn commit(mut self, event: NewEvent) -> Result<i64, StoreError> {
        let event = event.into_event(self.seq, now_ms());
        let hash = link(&self.prev, &event);
        let hash_hex = hex(&hash);
        sqlx::query(
            "INSERT INTO audit_events (seq, at_ms, actor, source, action, target, outcome, details, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(event.seq)
        .bind(event.at_ms)
        .bind(&event.actor)
        .bind(&event.source)
        .bind(&event.action)
        .bind(&event.target)
        .bind(event.outcome.as_str())
        .bind(event.details.to_string())
        .bind(&hash_hex)
        .execute(&mut *self.tx)
        .await?;
        sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1").bind(&hash_hex).execute(&mut *self.tx).await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANGE_CHANNEL)
                .bind(self.seq.to_string())
                .execute(&mut *self.tx)
                .await?;
        }
        self.tx.commit().await?;
        self.changes.committed(self.seq);
        Ok(self.seq)
    }
}
