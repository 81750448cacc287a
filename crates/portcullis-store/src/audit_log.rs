//! Reading the audit log back: queries for the admin API, the stream that
//! `audit-log verify` and `export` walk, and signed checkpoints.

use portcullis_audit::{AuditSigner, Checkpoint, Event, Outcome, StoredEvent};
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::clock::{digest_from_hex, now_ms};
use crate::page::like_prefix;
use crate::{Store, StoreError};
use portcullis_credentials::to_hex as hex;

/// Which audit events to return.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Events after this sequence number (the previous page's last).
    pub after_seq: i64,
    /// At most this many; clamped to 1..=1000.
    pub limit: u32,
    /// Only this actor.
    pub actor: Option<String>,
    /// Only actions starting with this text (`consumer.` or `admin.login`).
    pub action_prefix: Option<String>,
    /// Only this target.
    pub target: Option<String>,
    /// Only events at or after this time, Unix ms.
    pub since_ms: Option<i64>,
}

/// The head of the chain and the retention anchor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditHead {
    /// The newest sequence number.
    pub seq: i64,
    /// The chain value after it.
    pub hash: [u8; 32],
    /// Events up to this sequence number were removed by retention.
    pub anchor_seq: i64,
    /// The chain value at `anchor_seq`.
    pub anchor_hash: [u8; 32],
}

fn event_from_row(row: &AnyRow) -> Result<StoredEvent, StoreError> {
    let outcome: String = row.try_get("outcome")?;
    let details: String = row.try_get("details")?;
    let hash: String = row.try_get("hash")?;
    let corrupt = |what: &str| StoreError::Invalid(format!("audit event has an unreadable {what}"));
    Ok(StoredEvent {
        event: Event {
            seq: row.try_get("seq")?,
            at_ms: row.try_get("at_ms")?,
            actor: row.try_get("actor")?,
            source: row.try_get("source")?,
            action: row.try_get("action")?,
            target: row.try_get("target")?,
            outcome: Outcome::parse(&outcome).map_err(|_| corrupt("outcome"))?,
            details: serde_json::from_str::<Value>(&details).map_err(|_| corrupt("details"))?,
        },
        hash: digest_from_hex(&hash).ok_or_else(|| corrupt("hash"))?,
    })
}

const COLUMNS: &str = "seq, at_ms, actor, source, action, target, outcome, details, hash";

impl Store {
    /// Audit events matching `query`, oldest first.
    ///
    /// # Errors
    /// The database failed or a row is unreadable.
    pub async fn audit_events(&self, query: &AuditQuery) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM audit_events WHERE seq > $1 AND ($2 = '' OR actor = $2) \
             AND action LIKE $3 ESCAPE '\\' AND ($4 = '' OR target = $4) AND at_ms >= $5 ORDER BY seq LIMIT $6"
        ))
        .bind(query.after_seq)
        .bind(query.actor.as_deref().unwrap_or(""))
        .bind(like_prefix(query.action_prefix.as_deref().unwrap_or("")))
        .bind(query.target.as_deref().unwrap_or(""))
        .bind(query.since_ms.unwrap_or(i64::MIN))
        .bind(i64::from(query.limit.clamp(1, 1000)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// The chain's head and retention anchor.
    ///
    /// # Errors
    /// The database failed.
    pub async fn audit_head(&self) -> Result<AuditHead, StoreError> {
        let row = sqlx::query("SELECT seq, hash, anchor_seq, anchor_hash FROM audit_head WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        let digest = |column: &str| -> Result<[u8; 32], StoreError> {
            digest_from_hex(&row.try_get::<String, _>(column)?)
                .ok_or_else(|| StoreError::Invalid("the audit head is corrupt".into()))
        };
        Ok(AuditHead {
            seq: row.try_get("seq")?,
            hash: digest("hash")?,
            anchor_seq: row.try_get("anchor_seq")?,
            anchor_hash: digest("anchor_hash")?,
        })
    }

    /// Every stored checkpoint, by sequence number.
    ///
    /// # Errors
    /// The database failed or a row is unreadable.
    pub async fn audit_checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        let rows = sqlx::query("SELECT seq, hash, at_ms, key_id, signature FROM audit_checkpoints ORDER BY seq")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let corrupt = || StoreError::Invalid("an audit checkpoint is unreadable".into());
                let signature: String = row.try_get("signature")?;
                let signature = portcullis_credentials::from_hex(&signature)
                    .and_then(|bytes| <[u8; 64]>::try_from(bytes).ok())
                    .ok_or_else(corrupt)?;
                Ok(Checkpoint {
                    seq: row.try_get("seq")?,
                    hash: digest_from_hex(&row.try_get::<String, _>("hash")?).ok_or_else(corrupt)?,
                    at_ms: row.try_get("at_ms")?,
                    key_id: row.try_get("key_id")?,
                    signature,
                })
            })
            .collect()
    }

    /// Signs the chain's current head, unless it is already signed. Called
    /// on a schedule and at shutdown; returns the new checkpoint.
    ///
    /// # Errors
    /// The database failed.
    pub async fn sign_checkpoint(&self, signer: &AuditSigner) -> Result<Option<Checkpoint>, StoreError> {
        let head = self.audit_head().await?;
        if head.seq == 0 {
            return Ok(None);
        }
        let checkpoint = signer.sign(head.seq, &head.hash, now_ms());
        let done = sqlx::query(
            "INSERT INTO audit_checkpoints (seq, hash, at_ms, key_id, signature) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (seq) DO NOTHING",
        )
        .bind(checkpoint.seq)
        .bind(hex(&checkpoint.hash))
        .bind(checkpoint.at_ms)
        .bind(&checkpoint.key_id)
        .bind(hex(&checkpoint.signature))
        .execute(&self.pool)
        .await?;
        Ok((done.rows_affected() > 0).then_some(checkpoint))
    }
}
