//! Admin users: named accounts only, each with one role, an argon2id
//! password with history, and an optional TOTP second factor.

use serde::Serialize;
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::clock::{new_id, now_ms};
use crate::record::{Listed, Record};
use crate::write::Write;
use crate::{Actor, ListQuery, Page, Store, StoreError};

/// An admin user as the admin API shows it: no secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdminUser {
    /// Random id, `usr_…`.
    pub id: String,
    /// Unique login name.
    pub name: String,
    /// The role's name.
    pub role: String,
    /// The user must set a new password before doing anything else.
    pub must_change_password: bool,
    /// When the password was last set, Unix ms.
    pub password_changed_at: i64,
    /// Whether a TOTP second factor is enrolled.
    pub totp_enrolled: bool,
    /// Failed logins since the last success.
    pub failed_logins: i64,
    /// Locked until this time, Unix ms (0: not locked).
    pub locked_until: i64,
    /// A disabled user cannot log in.
    pub disabled: bool,
    /// Lost-update guard.
    pub version: i64,
    /// Creation time, Unix ms.
    pub created_at: i64,
    /// Last change, Unix ms.
    pub updated_at: i64,
}

/// What login checks: the user with its secrets.
#[derive(Debug, Clone)]
pub struct AdminLogin {
    /// The user.
    pub user: AdminUser,
    /// argon2id (or imported PBKDF2) PHC string.
    pub password_hash: String,
    /// The TOTP secret as stored (the caller decides its encoding).
    pub totp_secret: Option<String>,
    /// The last TOTP time step accepted (replay guard).
    pub totp_last_step: Option<i64>,
}

impl Record for AdminUser {
    const TABLE: &'static str = "admin_users";
    const COLUMNS: &'static str = "id, name, role, must_change_password, password_changed_at, totp_secret, \
        failed_logins, locked_until, disabled, version, created_at, updated_at";

    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(AdminUser {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            role: row.try_get("role")?,
            must_change_password: row.try_get::<i64, _>("must_change_password")? != 0,
            password_changed_at: row.try_get("password_changed_at")?,
            totp_enrolled: row.try_get::<Option<String>, _>("totp_secret")?.is_some(),
            failed_logins: row.try_get("failed_logins")?,
            locked_until: row.try_get("locked_until")?,
            disabled: row.try_get::<i64, _>("disabled")? != 0,
            version: row.try_get("version")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

impl Listed for AdminUser {
    fn id(&self) -> &str {
        &self.id
    }
}

impl Store {
    /// How many admin users exist.
    ///
    /// # Errors
    /// The database failed.
    pub async fn admin_user_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT COUNT(*) FROM admin_users").fetch_one(&self.pool).await?.try_get(0)?)
    }

    /// Creates an admin user with the argon2id `password_phc`.
    ///
    /// # Errors
    /// [`StoreError::Duplicate`] for a taken name, [`StoreError::NotFound`]
    /// for an unknown role.
    pub async fn create_admin_user(
        &self,
        actor: &Actor,
        name: &str,
        role: &str,
        password_phc: &str,
        must_change_password: bool,
    ) -> Result<AdminUser, StoreError> {
        self.role(role).await?;
        let now = now_ms();
        let user = AdminUser {
            id: new_id("usr"),
            name: name.to_owned(),
            role: role.to_owned(),
            must_change_password,
            password_changed_at: now,
            totp_enrolled: false,
            failed_logins: 0,
            locked_until: 0,
            disabled: false,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let mut write = self.begin().await?;
        sqlx::query(
            "INSERT INTO admin_users (id, name, role, password_hash, password_changed_at, must_change_password, \
             version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7)",
        )
        .bind(&user.id)
        .bind(name)
        .bind(role)
        .bind(password_phc)
        .bind(now)
        .bind(i64::from(must_change_password))
        .bind(now)
        .execute(write.conn())
        .await?;
        remember_password(&mut write, &user.id, password_phc, now).await?;
        write.commit(actor.event("admin_user.create", &user.id).with_details(json!({ "after": &user }))).await?;
        Ok(user)
    }

    /// One admin user.
    ///
    /// # Errors
    /// [`StoreError::NotFound`].
    pub async fn admin_user(&self, id: &str) -> Result<AdminUser, StoreError> {
        self.one(id).await
    }

    /// A page of admin users, by id.
    ///
    /// # Errors
    /// The database failed.
    pub async fn admin_users(&self, query: &ListQuery) -> Result<Page<AdminUser>, StoreError> {
        self.page(None, query).await
    }

    /// The user named `name` with what login checks, if it exists.
    ///
    /// # Errors
    /// The database failed.
    pub async fn admin_login(&self, name: &str) -> Result<Option<AdminLogin>, StoreError> {
        let sql =
            format!("SELECT {}, password_hash, totp_last_step FROM admin_users WHERE name = $1", AdminUser::COLUMNS);
        let row = sqlx::query(&sql).bind(name).fetch_optional(&self.pool).await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(AdminLogin {
            user: AdminUser::from_row(&row)?,
            password_hash: row.try_get("password_hash")?,
            totp_secret: row.try_get("totp_secret")?,
            totp_last_step: row.try_get("totp_last_step")?,
        }))
    }

    /// The user's last `count` password hashes, newest first (reuse check).
    ///
    /// # Errors
    /// The database failed.
    pub async fn password_history(&self, user_id: &str, count: i64) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT password_hash FROM password_history WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2",
        )
        .bind(user_id)
        .bind(count)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|row| row.try_get(0)).collect::<Result<_, _>>()?)
    }

    /// Sets a new password. Every session of the user ends, so a stolen
    /// session does not survive a password change; `keep_session` (the id
    /// hash of the session making the change) is the exception.
    ///
    /// # Errors
    /// [`StoreError::NotFound`].
    pub async fn set_admin_password(
        &self,
        actor: &Actor,
        user_id: &str,
        password_phc: &str,
        must_change_password: bool,
        keep_session: Option<&str>,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let mut write = self.begin().await?;
        let done = sqlx::query(
            "UPDATE admin_users SET password_hash = $1, password_changed_at = $2, must_change_password = $3, \
             failed_logins = 0, locked_until = 0, version = version + 1, updated_at = $2 WHERE id = $4",
        )
        .bind(password_phc)
        .bind(now)
        .bind(i64::from(must_change_password))
        .bind(user_id)
        .execute(write.conn())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        remember_password(&mut write, user_id, password_phc, now).await?;
        end_sessions(&mut write, user_id, keep_session.unwrap_or(""), now).await?;
        let event =
            actor.event("admin_user.password", user_id).with_details(json!({ "must_change": must_change_password }));
        write.commit(event).await?;
        Ok(())
    }

    /// Changes a user's role or disabled flag, if still at `version`. A
    /// privilege change ends the user's sessions. The last enabled holder of
    /// the `admin` role cannot be demoted or disabled.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], [`StoreError::Conflict`], [`StoreError::Invalid`].
    pub async fn update_admin_user(
        &self,
        actor: &Actor,
        user_id: &str,
        version: i64,
        role: &str,
        disabled: bool,
    ) -> Result<AdminUser, StoreError> {
        let before = self.admin_user(user_id).await?;
        if before.version != version {
            return Err(StoreError::Conflict);
        }
        self.role(role).await?;
        let now = now_ms();
        let mut write = self.begin().await?;
        if before.role == "admin" && !before.disabled && (role != "admin" || disabled) {
            guard_last_admin(&mut write, user_id).await?;
        }
        let done = sqlx::query(
            "UPDATE admin_users SET role = $1, disabled = $2, version = version + 1, updated_at = $3 \
             WHERE id = $4 AND version = $5",
        )
        .bind(role)
        .bind(i64::from(disabled))
        .bind(now)
        .bind(user_id)
        .bind(version)
        .execute(write.conn())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict);
        }
        if role != before.role || disabled {
            end_sessions(&mut write, user_id, "", now).await?;
        }
        let after =
            AdminUser { role: role.to_owned(), disabled, version: version + 1, updated_at: now, ..before.clone() };
        let event =
            actor.event("admin_user.update", user_id).with_details(json!({ "before": before, "after": &after }));
        write.commit(event).await?;
        Ok(after)
    }

    /// Deletes an admin user (not the last enabled admin).
    ///
    /// # Errors
    /// [`StoreError::NotFound`], [`StoreError::Invalid`].
    pub async fn delete_admin_user(&self, actor: &Actor, user_id: &str) -> Result<(), StoreError> {
        let user = self.admin_user(user_id).await?;
        let mut write = self.begin().await?;
        if user.role == "admin" && !user.disabled {
            guard_last_admin(&mut write, user_id).await?;
        }
        sqlx::query("DELETE FROM admin_users WHERE id = $1").bind(user_id).execute(write.conn()).await?;
        write.commit(actor.event("admin_user.delete", user_id).with_details(json!({ "name": user.name }))).await?;
        Ok(())
    }

    /// Enrols (`Some`) or removes (`None`) a TOTP secret, replacing the
    /// user's recovery codes with `recovery_code_hashes` (hex SHA-256).
    ///
    /// # Errors
    /// [`StoreError::NotFound`].
    pub async fn set_admin_totp(
        &self,
        actor: &Actor,
        user_id: &str,
        secret: Option<&str>,
        recovery_code_hashes: &[String],
    ) -> Result<(), StoreError> {
        let mut write = self.begin().await?;
        let done = sqlx::query(
            "UPDATE admin_users SET totp_secret = $1, totp_last_step = NULL, version = version + 1, updated_at = $2 \
             WHERE id = $3",
        )
        .bind(secret)
        .bind(now_ms())
        .bind(user_id)
        .execute(write.conn())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user_id).execute(write.conn()).await?;
        for hash in recovery_code_hashes {
            sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                .bind(user_id)
                .bind(hash)
                .execute(write.conn())
                .await?;
        }
        let action = if secret.is_some() { "admin_user.totp.enrol" } else { "admin_user.totp.remove" };
        write.commit(actor.event(action, user_id)).await?;
        Ok(())
    }
}

impl Store {
    /// Clears an admin account's lockout and failure count (an admin action).
    ///
    /// # Errors
    /// [`StoreError::NotFound`].
    pub async fn unlock_admin_user(&self, actor: &Actor, user_id: &str) -> Result<(), StoreError> {
        let mut write = self.begin().await?;
        let done = sqlx::query("UPDATE admin_users SET failed_logins = 0, locked_until = 0 WHERE id = $1")
            .bind(user_id)
            .execute(write.conn())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        write.commit(actor.event("admin_user.unlock", user_id)).await?;
        Ok(())
    }

    /// Re-seals every sealed (`enc:`) TOTP secret with `reseal`, in one
    /// audited transaction: all or nothing (master-key rotation).
    ///
    /// # Errors
    /// [`StoreError::Invalid`] when `reseal` refuses a value; nothing changes then.
    pub async fn reseal_totp_secrets(
        &self,
        actor: &Actor,
        reseal: impl Fn(&str) -> Result<String, String>,
    ) -> Result<usize, StoreError> {
        let mut write = self.begin().await?;
        let rows = sqlx::query("SELECT id, totp_secret FROM admin_users WHERE totp_secret LIKE 'enc:%'")
            .fetch_all(write.conn())
            .await?;
        for row in &rows {
            let id: String = row.try_get("id")?;
            let sealed: String = row.try_get("totp_secret")?;
            let resealed = reseal(&sealed).map_err(StoreError::Invalid)?;
            sqlx::query("UPDATE admin_users SET totp_secret = $1 WHERE id = $2")
                .bind(resealed)
                .bind(&id)
                .execute(write.conn())
                .await?;
        }
        let event =
            actor.event("secrets.rotate_master", "admin_users").with_details(json!({ "totp_secrets": rows.len() }));
        write.commit(event).await?;
        Ok(rows.len())
    }
}

async fn remember_password(write: &mut Write, user_id: &str, phc: &str, now: i64) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO password_history (user_id, password_hash, created_at) VALUES ($1, $2, $3)")
        .bind(user_id)
        .bind(phc)
        .bind(now)
        .execute(write.conn())
        .await?;
    // Keep the last 24 (the largest reuse window the policy allows).
    sqlx::query(
        "DELETE FROM password_history WHERE user_id = $1 AND created_at < (SELECT MIN(created_at) FROM \
         (SELECT created_at FROM password_history WHERE user_id = $1 ORDER BY created_at DESC LIMIT 24) AS kept)",
    )
    .bind(user_id)
    .execute(write.conn())
    .await?;
    Ok(())
}

pub(crate) async fn end_sessions(write: &mut Write, user_id: &str, except: &str, now: i64) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE admin_sessions SET revoked_at = $1 WHERE user_id = $2 AND id_hash <> $3 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(user_id)
    .bind(except)
    .execute(write.conn())
    .await?;
    Ok(())
}

async fn guard_last_admin(write: &mut Write, user_id: &str) -> Result<(), StoreError> {
    let others: i64 =
        sqlx::query("SELECT COUNT(*) FROM admin_users WHERE role = 'admin' AND disabled = 0 AND id <> $1")
            .bind(user_id)
            .fetch_one(write.conn())
            .await?
            .try_get(0)?;
    if others == 0 {
        return Err(StoreError::Invalid("the last enabled admin cannot be removed, demoted or disabled".into()));
    }
    Ok(())
}
