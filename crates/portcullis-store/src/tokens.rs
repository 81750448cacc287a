//! API tokens for automation: scoped, expiring, stored as SHA-256 hashes,
//! found by their public prefix.

use portcullis_credentials::api_key::{self, KeyKind};
use serde::Serialize;
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::clock::{new_id, now_ms};
use crate::{Actor, Store, StoreError};
use portcullis_credentials::to_hex as hex;

/// An API token as the admin API shows it: never the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiToken {
    /// Random id, `tok_…`.
    pub id: String,
    /// The token's public prefix.
    pub prefix: String,
    /// The admin user the token acts as.
    pub user_id: String,
    /// What it is for.
    pub name: String,
    /// Permissions it keeps (a subset of its user's role).
    pub scopes: Vec<String>,
    /// Creation time, Unix ms.
    pub created_at: i64,
    /// Expiry, Unix ms; every token expires.
    pub expires_at: i64,
    /// Revocation time, Unix ms.
    pub revoked_at: Option<i64>,
    /// Last use, Unix ms.
    pub last_used_at: Option<i64>,
}

const COLUMNS: &str = "id, prefix, user_id, name, scopes, created_at, expires_at, revoked_at, last_used_at";

fn from_row(row: &AnyRow) -> Result<ApiToken, sqlx::Error> {
    let scopes: String = row.try_get("scopes")?;
    Ok(ApiToken {
        id: row.try_get("id")?,
        prefix: row.try_get("prefix")?,
        user_id: row.try_get("user_id")?,
        name: row.try_get("name")?,
        scopes: scopes.split_ascii_whitespace().map(str::to_owned).collect(),
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

impl Store {
    /// Issues a token for `user_id`; the returned secret is shown once.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown user.
    pub async fn create_api_token(
        &self,
        actor: &Actor,
        user_id: &str,
        name: &str,
        scopes: &[String],
        expires_at: i64,
    ) -> Result<(ApiToken, String), StoreError> {
        self.admin_user(user_id).await?;
        let key = api_key::generate(KeyKind::AdminToken);
        let token = ApiToken {
            id: new_id("tok"),
            prefix: key.prefix.clone(),
            user_id: user_id.to_owned(),
            name: name.to_owned(),
            scopes: scopes.to_vec(),
            created_at: now_ms(),
            expires_at,
            revoked_at: None,
            last_used_at: None,
        };
        let mut write = self.begin().await?;
        sqlx::query(
            "INSERT INTO api_tokens (id, prefix, token_hash, user_id, name, scopes, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&token.id)
        .bind(&token.prefix)
        .bind(hex(&key.hash))
        .bind(user_id)
        .bind(name)
        .bind(scopes.join(" "))
        .bind(token.created_at)
        .bind(expires_at)
        .execute(write.conn())
        .await?;
        write.commit(actor.event("api_token.create", &token.id).with_details(json!({ "after": &token }))).await?;
        Ok((token, key.token))
    }

    /// The token with public `prefix` and its stored hash.
    ///
    /// # Errors
    /// The database failed.
    pub async fn api_token_by_prefix(&self, prefix: &str) -> Result<Option<(ApiToken, String)>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS}, token_hash FROM api_tokens WHERE prefix = $1"))
            .bind(prefix)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some((from_row(&row)?, row.try_get("token_hash")?)))
    }

    /// The tokens of one user.
    ///
    /// # Errors
    /// The database failed.
    pub async fn api_tokens(&self, user_id: &str) -> Result<Vec<ApiToken>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM api_tokens WHERE user_id = $1 ORDER BY created_at, id"))
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    /// Records a token's use (not audited: the request it makes is).
    ///
    /// # Errors
    /// The database failed.
    pub async fn touch_api_token(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Revokes a token at once.
    ///
    /// # Errors
    /// [`StoreError::NotFound`].
    pub async fn revoke_api_token(&self, actor: &Actor, id: &str) -> Result<(), StoreError> {
        let mut write = self.begin().await?;
        let done = sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now_ms())
            .bind(id)
            .execute(write.conn())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        write.commit(actor.event("api_token.revoke", id)).await?;
        Ok(())
    }
}
