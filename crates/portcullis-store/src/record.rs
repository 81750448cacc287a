//! Rows read back as records: one by its key, or a page of a list in id
//! order. Each stored kind says once where it lives and how a row reads.

use sqlx::any::AnyRow;

use crate::{ListQuery, Page, Store, StoreError};

/// A kind of row the store reads whole.
pub(crate) trait Record: Sized {
    /// Its table.
    const TABLE: &'static str;
    /// The column that names one row.
    const KEY: &'static str = "id";
    /// The columns [`Record::from_row`] reads.
    const COLUMNS: &'static str;

    /// Reads one selected row.
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error>;
}

/// A record listed in pages: it has an id to order by and a name to filter on.
pub(crate) trait Listed: Record {
    /// The id the next page starts after.
    fn id(&self) -> &str;
}

impl Store {
    /// The record whose key is `key`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], or the database failed.
    pub(crate) async fn one<T: Record>(&self, key: &str) -> Result<T, StoreError> {
        let row = sqlx::query(&format!("SELECT {} FROM {} WHERE {} = $1", T::COLUMNS, T::TABLE, T::KEY))
            .bind(key)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok(T::from_row(&row)?)
    }

    /// A page of records by id, those whose `owner.0` column is `owner.1`
    /// when given.
    ///
    /// # Errors
    /// The database failed.
    pub(crate) async fn page<T: Listed>(
        &self,
        owner: Option<(&str, &str)>,
        query: &ListQuery,
    ) -> Result<Page<T>, StoreError> {
        let owned = owner.map_or_else(String::new, |(column, _)| format!("{column} = $4 AND "));
        let sql = format!(
            "SELECT {} FROM {} WHERE {owned}id > $1 AND name LIKE $2 ESCAPE '\\' ORDER BY id LIMIT $3",
            T::COLUMNS,
            T::TABLE
        );
        let mut select = sqlx::query(&sql).bind(query.after()).bind(query.like_pattern()).bind(query.limit() + 1);
        if let Some((_, value)) = owner {
            select = select.bind(value);
        }
        let rows = select.fetch_all(&self.pool).await?;
        let items = rows.iter().map(T::from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(items, query.limit(), T::id))
    }
}
