//! Login bookkeeping: failures lock the account (and optionally the source
//! address) with exponential backoff; a success resets the count and opens
//! a session. Each outcome is one audited write.

use serde_json::json;
use sqlx::Row;

use crate::clock::now_ms;
use crate::sessions::insert_session;
use crate::{Actor, Store, StoreError};

/// When failures lock an account or a source address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures in a row that lock the account.
    pub max_failures: i64,
    /// The first lock's length (ms); each further lock doubles it.
    pub lock_ms: i64,
    /// The longest lock (ms).
    pub max_lock_ms: i64,
    /// Failures from one source address within `source_window_ms` that lock
    /// the address; 0 turns source locking off.
    pub source_max_failures: i64,
    /// The window source failures are counted in (ms).
    pub source_window_ms: i64,
}

/// What a recorded failure caused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FailureOutcome {
    /// The account is now locked until this time (Unix ms).
    pub account_locked_until: Option<i64>,
    /// The source address is now locked until this time (Unix ms).
    pub source_locked_until: Option<i64>,
}

impl LockoutPolicy {
    /// The lock length after `failures` failures in a row, if they lock.
    fn lock_for(&self, failures: i64) -> Option<i64> {
        if self.max_failures <= 0 || failures < self.max_failures {
            return None;
        }
        let doublings = u32::try_from((failures / self.max_failures - 1).clamp(0, 20)).unwrap_or(20);
        Some(self.lock_ms.saturating_mul(1 << doublings).min(self.max_lock_ms))
    }
}

impl Store {
    /// Whether `source` is locked out at `now`.
    ///
    /// # Errors
    /// The database failed.
    pub async fn source_locked(&self, source: &str, now: i64) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT locked_until FROM source_lockouts WHERE source = $1")
            .bind(source)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| row.try_get::<i64, _>(0)).transpose()?.is_some_and(|until| until > now))
    }

    /// Records a failed login by `attempted` (a user name) from
    /// `actor.source`; `user_id` is the account when the name exists.
    ///
    /// # Errors
    /// The database failed.
    pub async fn record_login_failure(
        &self,
        actor: &Actor,
        user_id: Option<&str>,
        reason: &str,
        policy: &LockoutPolicy,
    ) -> Result<FailureOutcome, StoreError> {
        let now = now_ms();
        let mut outcome = FailureOutcome::default();
        let mut write = self.begin().await?;
        if let Some(user_id) = user_id {
            let failures: i64 = sqlx::query(
                "UPDATE admin_users SET failed_logins = failed_logins + 1 WHERE id = $1 RETURNING failed_logins",
            )
            .bind(user_id)
            .fetch_one(write.conn())
            .await?
            .try_get(0)?;
            if let Some(lock) = policy.lock_for(failures).filter(|_| failures % policy.max_failures == 0) {
                let until = now + lock;
                sqlx::query("UPDATE admin_users SET locked_until = $1 WHERE id = $2")
                    .bind(until)
                    .bind(user_id)
                    .execute(write.conn())
                    .await?;
                outcome.account_locked_until = Some(until);
            }
        }
        if policy.source_max_failures > 0 {
            outcome.source_locked_until = count_source_failure(&mut write, &actor.source, policy, now).await?;
        }
        let action = if outcome == FailureOutcome::default() { "admin.login" } else { "admin.lockout" };
        let target = user_id.unwrap_or("unknown-user");
        let event = portcullis_audit::NewEvent::new(
            &actor.name,
            &actor.source,
            action,
            target,
            portcullis_audit::Outcome::Failure,
        )
        .with_details(json!({
            "reason": reason,
            "account_locked_until": outcome.account_locked_until,
            "source_locked_until": outcome.source_locked_until,
        }));
        write.commit(event).await?;
        Ok(outcome)
    }

    /// Records a successful password login and opens a session whose id
    /// hashes to `session_hash`, expiring at `expires_at` at the latest.
    ///
    /// # Errors
    /// The database failed.
    pub async fn record_login_success(
        &self,
        actor: &Actor,
        user_id: &str,
        session_hash: &str,
        expires_at: i64,
        second_factor_done: bool,
    ) -> Result<(), StoreError> {
        let mut write = self.begin().await?;
        sqlx::query("UPDATE admin_users SET failed_logins = 0, locked_until = 0 WHERE id = $1")
            .bind(user_id)
            .execute(write.conn())
            .await?;
        insert_session(&mut write, session_hash, user_id, &actor.source, expires_at, second_factor_done).await?;
        let event = actor.event("admin.login", user_id).with_details(json!({ "second_factor": second_factor_done }));
        write.commit(event).await?;
        Ok(())
    }

    /// Marks a recovery code used, if it belongs to the user and is unused.
    ///
    /// # Errors
    /// The database failed.
    pub async fn use_recovery_code(&self, actor: &Actor, user_id: &str, code_hash: &str) -> Result<bool, StoreError> {
        let mut write = self.begin().await?;
        let done = sqlx::query(
            "UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
        )
        .bind(now_ms())
        .bind(user_id)
        .bind(code_hash)
        .execute(write.conn())
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        write.commit(actor.event("admin_user.recovery_code.use", user_id)).await?;
        Ok(true)
    }
}

async fn count_source_failure(
    write: &mut crate::write::Write,
    source: &str,
    policy: &LockoutPolicy,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    let row = sqlx::query("SELECT failures, window_start FROM source_lockouts WHERE source = $1")
        .bind(source)
        .fetch_optional(write.conn())
        .await?;
    let (failures, window_start) = match row {
        Some(row) if now - row.try_get::<i64, _>(1)? < policy.source_window_ms => {
            (row.try_get::<i64, _>(0)? + 1, row.try_get(1)?)
        }
        _ => (1, now),
    };
    let locked_until = if failures >= policy.source_max_failures { now + policy.lock_ms } else { 0 };
    sqlx::query(
        "INSERT INTO source_lockouts (source, failures, window_start, locked_until) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (source) DO UPDATE SET failures = $2, window_start = $3, locked_until = $4",
    )
    .bind(source)
    .bind(failures)
    .bind(window_start)
    .bind(locked_until)
    .execute(write.conn())
    .await?;
    Ok((locked_until > 0).then_some(locked_until))
}
