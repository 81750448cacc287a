//! The in-memory view of revoked tokens the data plane checks JWTs against:
//! revoked token ids (`jti`) until their own expiry, and per-subject
//! "not before" times. Revocations are rare and small, so the view is
//! reloaded whole whenever the revocation tables change (a cheap fingerprint
//! query decides), following [`Store::subscribe`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use sqlx::Row;
use tokio::task::JoinHandle;

use crate::{Store, StoreError};

#[derive(Debug, Default)]
struct Revoked {
    /// (issuer, jti).
    tokens: HashSet<(String, String)>,
    /// (issuer, subject) → tokens issued before this (Unix ms) are revoked.
    subjects: HashMap<(String, String), i64>,
    /// What the tables looked like when loaded.
    fingerprint: (i64, i64, i64, i64),
}

/// Revoked tokens and subjects, in memory.
#[derive(Debug, Default)]
pub struct RevocationIndex {
    current: ArcSwap<Revoked>,
}

async fn fingerprint(store: &Store) -> Result<(i64, i64, i64, i64), StoreError> {
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM revoked_tokens) AS t, (SELECT CAST(COALESCE(SUM(revoked_at), 0) AS BIGINT) FROM revoked_tokens) \
         AS tm, (SELECT COUNT(*) FROM subject_revocations) AS s, \
         (SELECT CAST(COALESCE(SUM(not_before), 0) AS BIGINT) FROM subject_revocations) AS sm",
    )
    .fetch_one(&store.pool)
    .await?;
    Ok((row.try_get("t")?, row.try_get("tm")?, row.try_get("s")?, row.try_get("sm")?))
}

impl RevocationIndex {
    /// Loads every revocation from `store`.
    ///
    /// # Errors
    /// The database failed.
    pub async fn load(store: &Store) -> Result<Arc<Self>, StoreError> {
        let index = Arc::new(Self::default());
        index.reload(store).await?;
        Ok(index)
    }

    /// Whether a token of `issuer` with id `jti`, subject `subject` and
    /// issue time `issued_at_ms` is revoked. A token without an issue time
    /// whose subject has a revocation counts as revoked.
    #[must_use]
    pub fn is_revoked(
        &self,
        issuer: &str,
        jti: Option<&str>,
        subject: Option<&str>,
        issued_at_ms: Option<i64>,
    ) -> bool {
        let current = self.current.load();
        if current.tokens.is_empty() && current.subjects.is_empty() {
            return false;
        }
        if let Some(jti) = jti
            && current.tokens.contains(&(issuer.to_owned(), jti.to_owned()))
        {
            return true;
        }
        let Some(subject) = subject else { return false };
        current
            .subjects
            .get(&(issuer.to_owned(), subject.to_owned()))
            .is_some_and(|not_before| issued_at_ms.is_none_or(|iat| iat < *not_before))
    }

    /// Reloads when the revocation tables changed; returns whether it did.
    ///
    /// # Errors
    /// The database failed; the previous view stays.
    pub async fn reload(&self, store: &Store) -> Result<bool, StoreError> {
        let seen = fingerprint(store).await?;
        if seen == self.current.load().fingerprint && seen != (0, 0, 0, 0) {
            return Ok(false);
        }
        let tokens = store.revoked_tokens(i64::MAX).await?.into_iter().map(|t| (t.issuer, t.jti)).collect();
        let subjects =
            store.subject_revocations().await?.into_iter().map(|s| ((s.issuer, s.subject), s.not_before)).collect();
        self.current.store(Arc::new(Revoked { tokens, subjects, fingerprint: seen }));
        Ok(true)
    }

    /// Keeps the view fresh until the store closes or the task is aborted.
    ///
    /// # Panics
    /// Outside a Tokio runtime.
    #[must_use = "the index follows the store only while the task runs"]
    pub fn follow(self: &Arc<Self>, store: Store) -> JoinHandle<()> {
        let index = Arc::clone(self);
        let mut changes = store.subscribe();
        tokio::spawn(async move {
            loop {
                if let Err(err) = index.reload(&store).await {
                    if store.pool.is_closed() {
                        return;
                    }
                    tracing::warn!(error = %err, "Cannot refresh revoked tokens; the last view answers meanwhile.");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                if changes.changed().await.is_err() {
                    return;
                }
            }
        })
    }
}
