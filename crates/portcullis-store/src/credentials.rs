//! Credentials: API keys, basic-auth passwords and client-certificate
//! fingerprints, each belonging to an app. Secrets are never stored in clear:
//! an API key is kept as its SHA-256, a password as an argon2id PHC string.

use portcullis_credentials::api_key::{self, KeyKind};
use serde::Serialize;
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::clock::{new_id, now_ms};
use crate::consumers::groups_from_row;
use crate::record::Record;
use crate::write::Write;
use crate::{Actor, Store, StoreError};
use portcullis_credentials::to_hex as hex;

/// What kind of secret a credential holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// An API key; looked up by its public prefix.
    ApiKey,
    /// A user name and password (HTTP basic); looked up by user name.
    Basic,
    /// A client certificate; looked up by its SHA-256 fingerprint (hex).
    Mtls,
}

impl CredentialKind {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApiKey => "api_key",
            Self::Basic => "basic",
            Self::Mtls => "mtls",
        }
    }

    /// Parses a stored name.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "api_key" => Some(Self::ApiKey),
            "basic" => Some(Self::Basic),
            "mtls" => Some(Self::Mtls),
            _ => None,
        }
    }
}

/// A credential as the admin API shows it: never the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Credential {
    /// Random id, `crd_…`.
    pub id: String,
    /// The owning app.
    pub app_id: String,
    /// What it is.
    pub kind: CredentialKind,
    /// The public part: key prefix, user name, or certificate fingerprint.
    pub lookup: String,
    /// Creation time, Unix ms.
    pub created_at: i64,
    /// After this (Unix ms) the credential no longer works.
    pub expires_at: Option<i64>,
    /// Revocation time, Unix ms; a revoked credential never works again.
    pub revoked_at: Option<i64>,
    /// The credential that replaced this one in a rotation.
    pub replaced_by: Option<String>,
}

/// A credential joined with the identity it proves: what authentication needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedCredential {
    /// The credential.
    pub credential: Credential,
    /// SHA-256 hex of an API key, or the PHC string of a password.
    pub secret_hash: String,
    /// The owning consumer's id.
    pub consumer_id: String,
    /// The owning consumer's name.
    pub consumer_name: String,
    /// The owning consumer's groups.
    pub groups: Vec<String>,
}

impl Credential {
    /// Whether the credential works at `now_ms`.
    #[must_use]
    pub fn is_active(&self, now_ms: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| now_ms < at)
    }
}

impl Record for Credential {
    const TABLE: &'static str = "credentials";
    const COLUMNS: &'static str = "id, app_id, kind, lookup, created_at, expires_at, revoked_at, replaced_by";

    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        let kind: String = row.try_get("kind")?;
        Ok(Credential {
            id: row.try_get("id")?,
            app_id: row.try_get("app_id")?,
            kind: CredentialKind::parse(&kind).ok_or_else(|| sqlx::Error::Decode("unknown credential kind".into()))?,
            lookup: row.try_get("lookup")?,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
            revoked_at: row.try_get("revoked_at")?,
            replaced_by: row.try_get("replaced_by")?,
        })
    }
}

fn resolved_from_row(row: &AnyRow) -> Result<ResolvedCredential, sqlx::Error> {
    Ok(ResolvedCredential {
        credential: Credential::from_row(row)?,
        secret_hash: row.try_get("secret_hash")?,
        consumer_id: row.try_get("consumer_id")?,
        consumer_name: row.try_get("consumer_name")?,
        groups: groups_from_row(row)?,
    })
}

const RESOLVED: &str = "SELECT c.id, c.app_id, c.kind, c.lookup, c.created_at, c.expires_at, c.revoked_at, \
    c.replaced_by, c.secret_hash, a.consumer_id, o.name AS consumer_name, o.groups_csv \
    FROM credentials c JOIN apps a ON a.id = c.app_id JOIN consumers o ON o.id = a.consumer_id";

impl Store {
    /// Issues a new API key for `app_id`. The returned token is the only
    /// time the key exists in clear: show it once.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown app.
    pub async fn create_api_key(
        &self,
        actor: &Actor,
        app_id: &str,
        expires_at: Option<i64>,
    ) -> Result<(Credential, String), StoreError> {
        self.app(app_id).await?;
        let mut write = self.begin().await?;
        let (credential, token) = insert_api_key(&mut write, app_id, expires_at).await?;
        let event = actor.event("credential.create", &credential.id).with_details(json!({ "after": &credential }));
        write.commit(event).await?;
        Ok((credential, token))
    }

    /// Adds a basic-auth user name with its argon2id `password_phc` to `app_id`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown app, [`StoreError::Duplicate`]
    /// when the user name is taken.
    pub async fn create_basic_credential(
        &self,
        actor: &Actor,
        app_id: &str,
        username: &str,
        password_phc: &str,
    ) -> Result<Credential, StoreError> {
        self.create_credential(actor, app_id, CredentialKind::Basic, username, password_phc).await
    }

    /// Binds a client certificate (SHA-256 fingerprint, hex) to `app_id`.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for a malformed fingerprint, [`StoreError::NotFound`],
    /// [`StoreError::Duplicate`].
    pub async fn create_mtls_credential(
        &self,
        actor: &Actor,
        app_id: &str,
        fingerprint: &str,
    ) -> Result<Credential, StoreError> {
        let fingerprint = fingerprint.replace(':', "").to_ascii_lowercase();
        if fingerprint.len() != 64 || !fingerprint.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::Invalid("a certificate fingerprint is 64 hex digits (SHA-256)".into()));
        }
        self.create_credential(actor, app_id, CredentialKind::Mtls, &fingerprint, "").await
    }

    async fn create_credential(
        &self,
        actor: &Actor,
        app_id: &str,
        kind: CredentialKind,
        lookup: &str,
        secret_hash: &str,
    ) -> Result<Credential, StoreError> {
        self.app(app_id).await?;
        let mut write = self.begin().await?;
        let credential = insert_credential(&mut write, app_id, kind, lookup, secret_hash, None).await?;
        let event = actor.event("credential.create", &credential.id).with_details(json!({ "after": &credential }));
        write.commit(event).await?;
        Ok(credential)
    }

    /// One credential.
    ///
    /// # Errors
    /// [`StoreError::NotFound`].
    pub async fn credential(&self, id: &str) -> Result<Credential, StoreError> {
        self.one(id).await
    }

    /// Every credential of an app, oldest first.
    ///
    /// # Errors
    /// The database failed.
    pub async fn credentials(&self, app_id: &str) -> Result<Vec<Credential>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM credentials WHERE app_id = $1 ORDER BY created_at, id",
            Credential::COLUMNS
        ))
        .bind(app_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(Credential::from_row).collect::<Result<_, _>>()?)
    }

    /// Replaces API key `id` with a new one; the old key keeps working for
    /// `overlap_ms` so clients can switch without an outage.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], or [`StoreError::Invalid`] when the
    /// credential is not an active API key.
    pub async fn rotate_api_key(
        &self,
        actor: &Actor,
        id: &str,
        overlap_ms: i64,
    ) -> Result<(Credential, String), StoreError> {
        let old = self.credential(id).await?;
        let now = now_ms();
        if old.kind != CredentialKind::ApiKey || !old.is_active(now) {
            return Err(StoreError::Invalid("only an active API key can be rotated".into()));
        }
        let mut write = self.begin().await?;
        let (credential, token) = insert_api_key(&mut write, &old.app_id, old.expires_at).await?;
        let old_expiry = old.expires_at.map_or(now + overlap_ms, |at| at.min(now + overlap_ms));
        let seq = write.seq();
        sqlx::query("UPDATE credentials SET expires_at = $1, replaced_by = $2, changed_seq = $3 WHERE id = $4")
            .bind(old_expiry)
            .bind(&credential.id)
            .bind(seq)
            .bind(id)
            .execute(write.conn())
            .await?;
        note_change(&mut write, old.kind, &old.lookup).await?;
        let event = actor
            .event("credential.rotate", id)
            .with_details(json!({ "replaced_by": &credential.id, "old_expires_at": old_expiry }));
        write.commit(event).await?;
        Ok((credential, token))
    }

    /// Revokes a credential at once.
    ///
    /// # Errors
    /// [`StoreError::NotFound`].
    pub async fn revoke_credential(&self, actor: &Actor, id: &str) -> Result<Credential, StoreError> {
        let credential = self.credential(id).await?;
        if credential.revoked_at.is_some() {
            return Ok(credential);
        }
        let now = now_ms();
        let mut write = self.begin().await?;
        let seq = write.seq();
        sqlx::query("UPDATE credentials SET revoked_at = $1, changed_seq = $2 WHERE id = $3")
            .bind(now)
            .bind(seq)
            .bind(id)
            .execute(write.conn())
            .await?;
        note_change(&mut write, credential.kind, &credential.lookup).await?;
        write.commit(actor.event("credential.revoke", id)).await?;
        Ok(Credential { revoked_at: Some(now), ..credential })
    }

    /// The credential of `kind` whose public part is `lookup`, with its
    /// identity, whether active or not.
    ///
    /// # Errors
    /// The database failed.
    pub async fn resolve_credential(
        &self,
        kind: CredentialKind,
        lookup: &str,
    ) -> Result<Option<ResolvedCredential>, StoreError> {
        let row = sqlx::query(&format!("{RESOLVED} WHERE c.kind = $1 AND c.lookup = $2"))
            .bind(kind.as_str())
            .bind(lookup)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(resolved_from_row).transpose()?)
    }

    /// Every credential that can still work, with the audit sequence number
    /// the snapshot is consistent with.
    ///
    /// # Errors
    /// The database failed.
    pub async fn active_credentials(&self) -> Result<(Vec<ResolvedCredential>, i64), StoreError> {
        let mut tx = self.pool.begin().await?;
        let seq: i64 = sqlx::query("SELECT seq FROM audit_head WHERE id = 1").fetch_one(&mut *tx).await?.try_get(0)?;
        let rows = sqlx::query(&format!(
            "{RESOLVED} WHERE c.revoked_at IS NULL AND (c.expires_at IS NULL OR c.expires_at > $1)"
        ))
        .bind(now_ms())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((rows.iter().map(resolved_from_row).collect::<Result<_, _>>()?, seq))
    }

    /// The credentials changed after audit sequence number `seq`, as
    /// `(seq, kind, lookup)`, oldest first.
    ///
    /// # Errors
    /// The database failed.
    pub async fn credential_changes_since(&self, seq: i64) -> Result<Vec<(i64, CredentialKind, String)>, StoreError> {
        let rows = sqlx::query("SELECT seq, kind, lookup FROM credential_changes WHERE seq > $1 ORDER BY seq")
            .bind(seq)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .filter_map(|row| {
                let kind: String = match row.try_get("kind") {
                    Ok(kind) => kind,
                    Err(err) => return Some(Err(err.into())),
                };
                let kind = CredentialKind::parse(&kind)?;
                Some(Ok((row.try_get("seq").ok()?, kind, row.try_get("lookup").ok()?)))
            })
            .collect()
    }
}

async fn insert_api_key(
    write: &mut Write,
    app_id: &str,
    expires_at: Option<i64>,
) -> Result<(Credential, String), StoreError> {
    // The public prefix has 40 bits: at a few hundred thousand keys a clash
    // is rare but possible, so draw again rather than fail the insert (a
    // failed statement would abort the whole PostgreSQL transaction).
    let mut key = api_key::generate(KeyKind::ApiKey);
    while sqlx::query("SELECT 1 FROM credentials WHERE kind = 'api_key' AND lookup = $1")
        .bind(&key.prefix)
        .fetch_optional(write.conn())
        .await?
        .is_some()
    {
        key = api_key::generate(KeyKind::ApiKey);
    }
    let credential =
        insert_credential(write, app_id, CredentialKind::ApiKey, &key.prefix, &hex(&key.hash), expires_at).await?;
    Ok((credential, key.token))
}

async fn insert_credential(
    write: &mut Write,
    app_id: &str,
    kind: CredentialKind,
    lookup: &str,
    secret_hash: &str,
    expires_at: Option<i64>,
) -> Result<Credential, StoreError> {
    let credential = Credential {
        id: new_id("crd"),
        app_id: app_id.to_owned(),
        kind,
        lookup: lookup.to_owned(),
        created_at: now_ms(),
        expires_at,
        revoked_at: None,
        replaced_by: None,
    };
    let seq = write.seq();
    sqlx::query(
        "INSERT INTO credentials (id, app_id, kind, lookup, secret_hash, created_at, expires_at, changed_seq) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&credential.id)
    .bind(app_id)
    .bind(kind.as_str())
    .bind(lookup)
    .bind(secret_hash)
    .bind(credential.created_at)
    .bind(expires_at)
    .bind(seq)
    .execute(write.conn())
    .await?;
    note_change(write, kind, lookup).await?;
    Ok(credential)
}

async fn note_change(write: &mut Write, kind: CredentialKind, lookup: &str) -> Result<(), StoreError> {
    let seq = write.seq();
    sqlx::query("INSERT INTO credential_changes (seq, kind, lookup) VALUES ($1, $2, $3)")
        .bind(seq)
        .bind(kind.as_str())
        .bind(lookup)
        .execute(write.conn())
        .await?;
    Ok(())
}
