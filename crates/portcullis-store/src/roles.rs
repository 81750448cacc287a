//! Admin roles: named permission sets. Four are built in (`admin`,
//! `operator`, `auditor`, `portal-moderator`) and cannot be deleted; more can
//! be defined.

use serde::Serialize;
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::record::Record;
use crate::{Actor, Store, StoreError};

/// Every permission a role can grant.
pub const PERMISSIONS: &[&str] = &[
    "consumers:read",
    "consumers:write",
    "credentials:write",
    "revocations:read",
    "revocations:write",
    "users:read",
    "users:write",
    "config:read",
    "audit:read",
    "portal:moderate",
    "tokens:write",
];

/// A role as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Role {
    /// Unique name.
    pub name: String,
    /// What the role is for.
    pub description: String,
    /// Granted permissions, from [`PERMISSIONS`].
    pub permissions: Vec<String>,
    /// Whether members must use a second factor (TOTP).
    pub require_totp: bool,
    /// Built-in roles cannot be deleted or have their permissions changed.
    pub builtin: bool,
    /// Lost-update guard.
    pub version: i64,
}

impl Role {
    /// Whether the role grants `permission`.
    #[must_use]
    pub fn allows(&self, permission: &str) -> bool {
        self.permissions.iter().any(|p| p == permission)
    }
}

impl Record for Role {
    const TABLE: &'static str = "roles";
    const KEY: &'static str = "name";
    const COLUMNS: &'static str = "name, description, permissions, require_totp, builtin, version";

    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        let permissions: String = row.try_get("permissions")?;
        Ok(Role {
            name: row.try_get("name")?,
            description: row.try_get("description")?,
            permissions: permissions.split_ascii_whitespace().map(str::to_owned).collect(),
            require_totp: row.try_get::<i64, _>("require_totp")? != 0,
            builtin: row.try_get::<i64, _>("builtin")? != 0,
            version: row.try_get("version")?,
        })
    }
}

fn check_permissions(permissions: &[String]) -> Result<String, StoreError> {
    if let Some(unknown) = permissions.iter().find(|p| !PERMISSIONS.contains(&p.as_str())) {
        return Err(StoreError::Invalid(format!("unknown permission {unknown:?}")));
    }
    Ok(permissions.join(" "))
}

impl Store {
    /// Every role, by name.
    ///
    /// # Errors
    /// The database failed.
    pub async fn roles(&self) -> Result<Vec<Role>, StoreError> {
        let rows =
            sqlx::query(&format!("SELECT {} FROM roles ORDER BY name", Role::COLUMNS)).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(Role::from_row).collect::<Result<_, _>>()?)
    }

    /// One role.
    ///
    /// # Errors
    /// [`StoreError::NotFound`].
    pub async fn role(&self, name: &str) -> Result<Role, StoreError> {
        self.one(name).await
    }

    /// Defines a new role.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for an unknown permission, [`StoreError::Duplicate`].
    pub async fn create_role(
        &self,
        actor: &Actor,
        name: &str,
        description: &str,
        permissions: &[String],
        require_totp: bool,
    ) -> Result<Role, StoreError> {
        let text = check_permissions(permissions)?;
        let mut write = self.begin().await?;
        sqlx::query(&format!("INSERT INTO roles ({}) VALUES ($1, $2, $3, $4, 0, 1)", Role::COLUMNS))
            .bind(name)
            .bind(description)
            .bind(&text)
            .bind(i64::from(require_totp))
            .execute(write.conn())
            .await?;
        let role = Role {
            name: name.to_owned(),
            description: description.to_owned(),
            permissions: permissions.to_vec(),
            require_totp,
            builtin: false,
            version: 1,
        };
        write
            .commit(actor.event("role.create", &format!("role:{name}")).with_details(json!({ "after": &role })))
            .await?;
        Ok(role)
    }

    /// Changes a role still at `version`. A built-in role keeps its
    /// permissions; only its second-factor requirement can change.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], [`StoreError::Conflict`], [`StoreError::Invalid`].
    pub async fn update_role(
        &self,
        actor: &Actor,
        name: &str,
        version: i64,
        permissions: &[String],
        require_totp: bool,
    ) -> Result<Role, StoreError> {
        let before = self.role(name).await?;
        if before.version != version {
            return Err(StoreError::Conflict);
        }
        if before.builtin && permissions != before.permissions.as_slice() {
            return Err(StoreError::Invalid("a built-in role's permissions cannot change".into()));
        }
        let text = check_permissions(permissions)?;
        let mut write = self.begin().await?;
        let done = sqlx::query(
            "UPDATE roles SET permissions = $1, require_totp = $2, version = version + 1 WHERE name = $3 AND version = $4",
        )
        .bind(&text)
        .bind(i64::from(require_totp))
        .bind(name)
        .bind(version)
        .execute(write.conn())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict);
        }
        let after = Role { permissions: permissions.to_vec(), require_totp, version: version + 1, ..before.clone() };
        let event = actor
            .event("role.update", &format!("role:{name}"))
            .with_details(json!({ "before": before, "after": &after }));
        write.commit(event).await?;
        Ok(after)
    }

    /// Deletes a role nobody holds.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], [`StoreError::Invalid`] for a built-in or
    /// assigned role.
    pub async fn delete_role(&self, actor: &Actor, name: &str) -> Result<(), StoreError> {
        let role = self.role(name).await?;
        if role.builtin {
            return Err(StoreError::Invalid("a built-in role cannot be deleted".into()));
        }
        let mut write = self.begin().await?;
        let holders: i64 = sqlx::query("SELECT COUNT(*) FROM admin_users WHERE role = $1")
            .bind(name)
            .fetch_one(write.conn())
            .await?
            .try_get(0)?;
        if holders > 0 {
            return Err(StoreError::Invalid("the role is still assigned to admin users".into()));
        }
        sqlx::query("DELETE FROM roles WHERE name = $1").bind(name).execute(write.conn()).await?;
        write.commit(actor.event("role.delete", &format!("role:{name}"))).await?;
        Ok(())
    }
}
