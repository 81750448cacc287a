//! Consumers: the people or organisations that call the APIs.

use serde::Serialize;
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::clock::{new_id, now_ms};
use crate::record::{Listed, Record};
use crate::{Actor, ListQuery, Page, Store, StoreError};

/// A consumer as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Consumer {
    /// Random id, `con_…`.
    pub id: String,
    /// Unique display name.
    pub name: String,
    /// Contact address (personal data: erased with the consumer).
    pub email: Option<String>,
    /// Groups authorization rules can require.
    pub groups: Vec<String>,
    /// Bumped on every change; send it back to update (lost-update guard).
    pub version: i64,
    /// Creation time, Unix ms.
    pub created_at: i64,
    /// Last change, Unix ms.
    pub updated_at: i64,
}

/// The writable fields of a consumer.
#[derive(Debug, Clone, Default)]
pub struct ConsumerFields {
    /// Unique display name.
    pub name: String,
    /// Contact address.
    pub email: Option<String>,
    /// Groups.
    pub groups: Vec<String>,
}

impl Record for Consumer {
    const TABLE: &'static str = "consumers";
    const COLUMNS: &'static str = "id, name, email, groups_csv, version, created_at, updated_at";

    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Consumer {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            email: row.try_get("email")?,
            groups: groups_from_row(row)?,
            version: row.try_get("version")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

impl Listed for Consumer {
    fn id(&self) -> &str {
        &self.id
    }
}

/// Selects the credentials of the consumer `$2`.
const OF_CONSUMER: &str = "app_id IN (SELECT id FROM apps WHERE consumer_id = $2)";

/// A consumer's groups from the row's `groups_csv` column.
pub(crate) fn groups_from_row(row: &AnyRow) -> Result<Vec<String>, sqlx::Error> {
    let groups: String = row.try_get("groups_csv")?;
    Ok(groups.split(',').filter(|g| !g.is_empty()).map(str::to_owned).collect())
}

fn groups_csv(groups: &[String]) -> Result<String, StoreError> {
    if groups.iter().any(|g| g.is_empty() || g.contains(',')) {
        return Err(StoreError::Invalid("a group name must be non-empty and contain no comma".into()));
    }
    Ok(groups.join(","))
}

impl Store {
    /// Creates a consumer.
    ///
    /// # Errors
    /// [`StoreError::Duplicate`] when the name is taken.
    pub async fn create_consumer(&self, actor: &Actor, fields: ConsumerFields) -> Result<Consumer, StoreError> {
        let now = now_ms();
        let consumer = Consumer {
            id: new_id("con"),
            name: fields.name,
            email: fields.email,
            groups: fields.groups,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let mut write = self.begin().await?;
        sqlx::query(&format!("INSERT INTO consumers ({}) VALUES ($1, $2, $3, $4, $5, $6, $7)", Consumer::COLUMNS))
            .bind(&consumer.id)
            .bind(&consumer.name)
            .bind(&consumer.email)
            .bind(groups_csv(&consumer.groups)?)
            .bind(consumer.version)
            .bind(now)
            .bind(now)
            .execute(write.conn())
            .await?;
        let event = actor.event("consumer.create", &consumer.id).with_details(json!({ "after": &consumer }));
        write.commit(event).await?;
        Ok(consumer)
    }

    /// One consumer.
    ///
    /// # Errors
    /// [`StoreError::NotFound`].
    pub async fn consumer(&self, id: &str) -> Result<Consumer, StoreError> {
        self.one(id).await
    }

    /// A page of consumers, by id.
    ///
    /// # Errors
    /// The database failed.
    pub async fn consumers(&self, query: &ListQuery) -> Result<Page<Consumer>, StoreError> {
        self.page(None, query).await
    }

    /// Replaces a consumer's fields if it is still at `version`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], [`StoreError::Conflict`] when the version
    /// moved on, [`StoreError::Duplicate`] when the new name is taken.
    pub async fn update_consumer(
        &self,
        actor: &Actor,
        id: &str,
        version: i64,
        fields: ConsumerFields,
    ) -> Result<Consumer, StoreError> {
        let before = self.consumer(id).await?;
        if before.version != version {
            return Err(StoreError::Conflict);
        }
        let after = Consumer {
            name: fields.name,
            email: fields.email,
            groups: fields.groups,
            version: version + 1,
            updated_at: now_ms(),
            ..before.clone()
        };
        let mut write = self.begin().await?;
        let done = sqlx::query(
            "UPDATE consumers SET name = $1, email = $2, groups_csv = $3, version = $4, updated_at = $5 \
             WHERE id = $6 AND version = $7",
        )
        .bind(&after.name)
        .bind(&after.email)
        .bind(groups_csv(&after.groups)?)
        .bind(after.version)
        .bind(after.updated_at)
        .bind(id)
        .bind(version)
        .execute(write.conn())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict);
        }
        // Credentials carry their consumer's name and groups into the
        // credential index: a change to either must reach it like a change
        // to the credential itself.
        if after.name != before.name || after.groups != before.groups {
            write.requeue_credentials(OF_CONSUMER, id).await?;
        }
        let event = actor.event("consumer.update", id).with_details(json!({ "before": before, "after": &after }));
        write.commit(event).await?;
        Ok(after)
    }

    /// Deletes a consumer with its apps and credentials, erasing its personal
    /// data (GDPR art. 17). The audit event keeps only the id.
    ///
    /// # Errors
    /// [`StoreError::NotFound`].
    pub async fn delete_consumer(&self, actor: &Actor, id: &str) -> Result<(), StoreError> {
        let mut write = self.begin().await?;
        write.requeue_credentials(OF_CONSUMER, id).await?;
        let done = sqlx::query("DELETE FROM consumers WHERE id = $1").bind(id).execute(write.conn()).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        write.commit(actor.event("consumer.delete", id).with_details(json!({ "erased": true }))).await?;
        Ok(())
    }
}
