//! Revoked access tokens: by token id (`jti`) until the token would have
//! expired anyway, and by subject (every token issued before a time).

use serde::Serialize;
use serde_json::json;
use sqlx::Row;

use crate::clock::now_ms;
use crate::{Actor, Store, StoreError};

/// A revoked token id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevokedToken {
    /// The token's `jti`.
    pub jti: String,
    /// Its issuer (`iss`).
    pub issuer: String,
    /// The token's own expiry, Unix ms: after it the entry can be forgotten.
    pub expires_at: i64,
    /// Revocation time, Unix ms.
    pub revoked_at: i64,
    /// Why, for the record.
    pub reason: String,
}

/// Every token of a subject issued before `not_before` is revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubjectRevocation {
    /// The issuer.
    pub issuer: String,
    /// The subject (`sub`).
    pub subject: String,
    /// Tokens issued (`iat`) before this, Unix ms, are refused.
    pub not_before: i64,
}

impl Store {
    /// Revokes the token `jti` of `issuer`.
    ///
    /// # Errors
    /// The database failed.
    pub async fn revoke_token(
        &self,
        actor: &Actor,
        issuer: &str,
        jti: &str,
        expires_at: i64,
        reason: &str,
    ) -> Result<RevokedToken, StoreError> {
        let revoked = RevokedToken {
            jti: jti.to_owned(),
            issuer: issuer.to_owned(),
            expires_at,
            revoked_at: now_ms(),
            reason: reason.to_owned(),
        };
        let mut write = self.begin().await?;
        sqlx::query(
            "INSERT INTO revoked_tokens (jti, issuer, expires_at, revoked_at, reason) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti)
        .bind(issuer)
        .bind(expires_at)
        .bind(revoked.revoked_at)
        .bind(reason)
        .execute(write.conn())
        .await?;
        write
            .commit(actor.event("revocation.token", &format!("jti:{jti}")).with_details(json!({ "after": &revoked })))
            .await?;
        Ok(revoked)
    }

    /// Revokes every token of `subject` issued before `not_before`.
    ///
    /// # Errors
    /// The database failed.
    pub async fn revoke_subject(
        &self,
        actor: &Actor,
        issuer: &str,
        subject: &str,
        not_before: i64,
    ) -> Result<SubjectRevocation, StoreError> {
        let mut write = self.begin().await?;
        sqlx::query(
            "INSERT INTO subject_revocations (issuer, subject, not_before) VALUES ($1, $2, $3) \
             ON CONFLICT (issuer, subject) DO UPDATE SET not_before = $3",
        )
        .bind(issuer)
        .bind(subject)
        .bind(not_before)
        .execute(write.conn())
        .await?;
        let revocation = SubjectRevocation { issuer: issuer.to_owned(), subject: subject.to_owned(), not_before };
        let event =
            actor.event("revocation.subject", &format!("sub:{subject}")).with_details(json!({ "after": &revocation }));
        write.commit(event).await?;
        Ok(revocation)
    }

    /// Revoked token ids that have not expired yet, newest first, at most `limit`.
    ///
    /// # Errors
    /// The database failed.
    pub async fn revoked_tokens(&self, limit: i64) -> Result<Vec<RevokedToken>, StoreError> {
        let rows = sqlx::query(
            "SELECT jti, issuer, expires_at, revoked_at, reason FROM revoked_tokens WHERE expires_at > $1 \
             ORDER BY revoked_at DESC LIMIT $2",
        )
        .bind(now_ms())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(RevokedToken {
                    jti: row.try_get("jti")?,
                    issuer: row.try_get("issuer")?,
                    expires_at: row.try_get("expires_at")?,
                    revoked_at: row.try_get("revoked_at")?,
                    reason: row.try_get("reason")?,
                })
            })
            .collect()
    }

    /// Every subject revocation.
    ///
    /// # Errors
    /// The database failed.
    pub async fn subject_revocations(&self) -> Result<Vec<SubjectRevocation>, StoreError> {
        let rows = sqlx::query("SELECT issuer, subject, not_before FROM subject_revocations ORDER BY issuer, subject")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(SubjectRevocation {
                    issuer: row.try_get("issuer")?,
                    subject: row.try_get("subject")?,
                    not_before: row.try_get("not_before")?,
                })
            })
            .collect()
    }
}
