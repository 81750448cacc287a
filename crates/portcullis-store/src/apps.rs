//! Apps: a consumer's applications, each holding its own credentials.

use serde::Serialize;
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::clock::{new_id, now_ms};
use crate::record::{Listed, Record};
use crate::{Actor, ListQuery, Page, Store, StoreError};

/// An app as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct App {
    /// Random id, `app_…`.
    pub id: String,
    /// The owning consumer.
    pub consumer_id: String,
    /// Name, unique per consumer.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Lost-update guard.
    pub version: i64,
    /// Creation time, Unix ms.
    pub created_at: i64,
    /// Last change, Unix ms.
    pub updated_at: i64,
}

impl Record for App {
    const TABLE: &'static str = "apps";
    const COLUMNS: &'static str = "id, consumer_id, name, description, version, created_at, updated_at";

    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(App {
            id: row.try_get("id")?,
            consumer_id: row.try_get("consumer_id")?,
            name: row.try_get("name")?,
            description: row.try_get("description")?,
            version: row.try_get("version")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

impl Listed for App {
    fn id(&self) -> &str {
        &self.id
    }
}

impl Store {
    /// Creates an app for `consumer_id`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown consumer,
    /// [`StoreError::Duplicate`] when the consumer already has an app by that name.
    pub async fn create_app(
        &self,
        actor: &Actor,
        consumer_id: &str,
        name: &str,
        description: &str,
    ) -> Result<App, StoreError> {
        self.consumer(consumer_id).await?;
        let now = now_ms();
        let app = App {
            id: new_id("app"),
            consumer_id: consumer_id.to_owned(),
            name: name.to_owned(),
            description: description.to_owned(),
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let mut write = self.begin().await?;
        sqlx::query(&format!("INSERT INTO apps ({}) VALUES ($1, $2, $3, $4, $5, $6, $7)", App::COLUMNS))
            .bind(&app.id)
            .bind(&app.consumer_id)
            .bind(&app.name)
            .bind(&app.description)
            .bind(app.version)
            .bind(now)
            .bind(now)
            .execute(write.conn())
            .await?;
        write.commit(actor.event("app.create", &app.id).with_details(json!({ "after": &app }))).await?;
        Ok(app)
    }

    /// One app.
    ///
    /// # Errors
    /// [`StoreError::NotFound`].
    pub async fn app(&self, id: &str) -> Result<App, StoreError> {
        self.one(id).await
    }

    /// A page of one consumer's apps, by id.
    ///
    /// # Errors
    /// The database failed.
    pub async fn apps(&self, consumer_id: &str, query: &ListQuery) -> Result<Page<App>, StoreError> {
        self.page(Some(("consumer_id", consumer_id)), query).await
    }

    /// Renames or re-describes an app still at `version`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], [`StoreError::Conflict`], [`StoreError::Duplicate`].
    pub async fn update_app(
        &self,
        actor: &Actor,
        id: &str,
        version: i64,
        name: &str,
        description: &str,
    ) -> Result<App, StoreError> {
        let before = self.app(id).await?;
        if before.version != version {
            return Err(StoreError::Conflict);
        }
        let after = App {
            name: name.to_owned(),
            description: description.to_owned(),
            version: version + 1,
            updated_at: now_ms(),
            ..before.clone()
        };
        let mut write = self.begin().await?;
        let done = sqlx::query(
            "UPDATE apps SET name = $1, description = $2, version = $3, updated_at = $4 WHERE id = $5 AND version = $6",
        )
        .bind(&after.name)
        .bind(&after.description)
        .bind(after.version)
        .bind(after.updated_at)
        .bind(id)
        .bind(version)
        .execute(write.conn())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict);
        }
        write.commit(actor.event("app.update", id).with_details(json!({ "before": before, "after": &after }))).await?;
        Ok(after)
    }

    /// Deletes an app and its credentials.
    ///
    /// # Errors
    /// [`StoreError::NotFound`].
    pub async fn delete_app(&self, actor: &Actor, id: &str) -> Result<(), StoreError> {
        let mut write = self.begin().await?;
        write.requeue_credentials("app_id = $2", id).await?;
        let done = sqlx::query("DELETE FROM apps WHERE id = $1").bind(id).execute(write.conn()).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        write.commit(actor.event("app.delete", id)).await?;
        Ok(())
    }
}
