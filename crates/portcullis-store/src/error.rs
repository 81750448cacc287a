//! The store's one error type.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The addressed row does not exist.
    #[error("not found")]
    NotFound,
    /// The row changed since the caller read it (its version differs).
    #[error("the record was changed by someone else")]
    Conflict,
    /// A unique name or key is already taken.
    #[error("already exists")]
    Duplicate,
    /// The input breaks a rule the store enforces; the text is for the user.
    #[error("{0}")]
    Invalid(String),
    /// The store URL or data directory is unusable.
    #[error("cannot open the store: {0}")]
    Open(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::RowNotFound => Self::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Duplicate,
            _ => Self::Database(err),
        }
    }
}
