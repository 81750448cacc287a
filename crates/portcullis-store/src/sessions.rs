//! Admin sessions: stored by the SHA-256 of their random id (a database
//! reader cannot hijack one), with idle and absolute expiry.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::clock::now_ms;
use crate::write::Write;
use crate::{Actor, Store, StoreError};

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    /// Hex SHA-256 of the session id.
    pub id_hash: String,
    /// The user it belongs to.
    pub user_id: String,
    /// The client address that opened it.
    pub source: String,
    /// Login time, Unix ms.
    pub created_at: i64,
    /// Last request, Unix ms (idle timeout counts from here).
    pub last_seen_at: i64,
    /// Absolute expiry, Unix ms.
    pub expires_at: i64,
    /// Whether the second factor was presented in this session.
    pub second_factor_done: bool,
    /// Revocation time, Unix ms.
    pub revoked_at: Option<i64>,
}

impl Session {
    /// Whether the session is usable at `now` with the given idle timeout.
    #[must_use]
    pub fn is_live(&self, now: i64, idle_ms: i64) -> bool {
        self.revoked_at.is_none() && now < self.expires_at && now - self.last_seen_at < idle_ms
    }
}

fn from_row(row: &AnyRow) -> Result<Session, sqlx::Error> {
    Ok(Session {
        id_hash: row.try_get("id_hash")?,
        user_id: row.try_get("user_id")?,
        source: row.try_get("source")?,
        created_at: row.try_get("created_at")?,
        last_seen_at: row.try_get("last_seen_at")?,
        expires_at: row.try_get("expires_at")?,
        second_factor_done: row.try_get::<i64, _>("second_factor_done")? != 0,
        revoked_at: row.try_get("revoked_at")?,
    })
}

const COLUMNS: &str = "id_hash, user_id, source, created_at, last_seen_at, expires_at, second_factor_done, revoked_at";

impl Store {
    /// The session whose id hashes to `id_hash`.
    ///
    /// # Errors
    /// The database failed.
    pub async fn session(&self, id_hash: &str) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM admin_sessions WHERE id_hash = $1"))
            .bind(id_hash)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    /// Marks the session used now (idle timeout bookkeeping; not audited).
    ///
    /// # Errors
    /// The database failed.
    pub async fn touch_session(&self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE admin_sessions SET last_seen_at = $1 WHERE id_hash = $2")
            .bind(now_ms())
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Replaces a session by a new id after a privilege change (the second
    /// factor was presented): the old id stops working, so a fixed or leaked
    /// pre-login id is worth nothing.
    ///
    /// # Errors
    /// [`StoreError::NotFound`].
    pub async fn rotate_session(
        &self,
        actor: &Actor,
        old_hash: &str,
        new_hash: &str,
        totp_step: Option<i64>,
    ) -> Result<(), StoreError> {
        let old = self.session(old_hash).await?.ok_or(StoreError::NotFound)?;
        let now = now_ms();
        let mut write = self.begin().await?;
        sqlx::query("UPDATE admin_sessions SET revoked_at = $1 WHERE id_hash = $2")
            .bind(now)
            .bind(old_hash)
            .execute(write.conn())
            .await?;
        insert_session(&mut write, new_hash, &old.user_id, &actor.source, old.expires_at, true).await?;
        if let Some(step) = totp_step {
            sqlx::query("UPDATE admin_users SET totp_last_step = $1 WHERE id = $2")
                .bind(step)
                .bind(&old.user_id)
                .execute(write.conn())
                .await?;
        }
        write.commit(actor.event("admin.second_factor", &old.user_id)).await?;
        Ok(())
    }

    /// Ends a session (logout or an admin's revocation).
    ///
    /// # Errors
    /// The database failed.
    pub async fn revoke_session(&self, actor: &Actor, id_hash: &str, user_id: &str) -> Result<(), StoreError> {
        let mut write = self.begin().await?;
        sqlx::query("UPDATE admin_sessions SET revoked_at = $1 WHERE id_hash = $2 AND revoked_at IS NULL")
            .bind(now_ms())
            .bind(id_hash)
            .execute(write.conn())
            .await?;
        write.commit(actor.event("admin.logout", user_id)).await?;
        Ok(())
    }

    /// Ends every session of a user.
    ///
    /// # Errors
    /// The database failed.
    pub async fn revoke_user_sessions(&self, actor: &Actor, user_id: &str) -> Result<(), StoreError> {
        let mut write = self.begin().await?;
        crate::admins::end_sessions(&mut write, user_id, "", now_ms()).await?;
        write.commit(actor.event("admin_user.sessions.revoke", user_id)).await?;
        Ok(())
    }
}

pub(crate) async fn insert_session(
    write: &mut Write,
    id_hash: &str,
    user_id: &str,
    source: &str,
    expires_at: i64,
    second_factor_done: bool,
) -> Result<(), StoreError> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO admin_sessions (id_hash, user_id, source, created_at, last_seen_at, expires_at, \
         second_factor_done) VALUES ($1, $2, $3, $4, $4, $5, $6)",
    )
    .bind(id_hash)
    .bind(user_id)
    .bind(source)
    .bind(now)
    .bind(expires_at)
    .bind(i64::from(second_factor_done))
    .execute(write.conn())
    .await?;
    Ok(())
}
