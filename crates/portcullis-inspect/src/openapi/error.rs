//! Why a document cannot be compiled into a policy.

/// A document that cannot be used. Every message names the problem and,
/// where there is one, the JSON pointer of the offending part
/// (`/paths/~1users~1{id}/get/parameters/0`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenApiError {
    /// The text is neither JSON nor YAML.
    #[error("the document does not parse: {0}")]
    Syntax(String),
    /// The document is not OpenAPI 3.0.x or 3.1.x.
    #[error("{0}")]
    Version(String),
    /// A `$ref` that points outside the document.
    #[error("{at}: remote reference {reference:?} is not supported; only local references (\"#/...\") are")]
    RemoteRef {
        /// Where the reference is.
        at: String,
        /// The reference as written.
        reference: String,
    },
    /// Any other part of the document that cannot be used.
    #[error("{at}: {message}")]
    Invalid {
        /// Where the problem is.
        at: String,
        /// What is wrong.
        message: String,
    },
}

/// An [`OpenApiError::Invalid`] at `at`.
pub(super) fn invalid(at: &str, message: impl Into<String>) -> OpenApiError {
    OpenApiError::Invalid { at: if at.is_empty() { "/".into() } else { at.into() }, message: message.into() }
}
