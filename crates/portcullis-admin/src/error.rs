//! The admin API's one error shape: `{"error": word, "message": sentence,
//! "request_id": id}`. The word is stable API; the sentence helps the user
//! and never holds internal detail (that goes to the log only).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_store::StoreError;
use serde::Serialize;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable word, e.g. `invalid_request`.
    pub error: &'static str,
    /// A plain sentence for the user, if one helps.
    pub message: Option<String>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    request_id: &'a str,
}

impl ApiError {
    /// An error with a sentence.
    pub fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        Self { status, error, message: Some(message.into()) }
    }

    /// 400 with a sentence.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// 401, saying nothing about why.
    #[must_use]
    pub fn unauthorized() -> Self {
        Self { status: StatusCode::UNAUTHORIZED, error: "unauthorized", message: None }
    }

    /// 403 with a sentence.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404.
    #[must_use]
    pub fn not_found() -> Self {
        Self { status: StatusCode::NOT_FOUND, error: "not_found", message: None }
    }

    /// 500: the detail is logged, the client learns nothing.
    pub fn internal(detail: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "Admin request failed.");
        Self { status: StatusCode::INTERNAL_SERVER_ERROR, error: "internal_error", message: None }
    }

    /// Renders the body with `request_id`.
    #[must_use]
    pub fn render(&self, request_id: &str) -> Response {
        let body = serde_json::to_vec(&Body { error: self.error, message: self.message.as_deref(), request_id })
            .unwrap_or_default();
        let mut response = (self.status, body).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"portcullis-admin\""));
        }
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // The request-id layer fills in the id when it sees this marker.
        let mut response = self.render("");
        response.extensions_mut().insert(PendingError(self));
        response
    }
}

/// An error whose body still needs the request id.
#[derive(Debug)]
pub(crate) struct PendingError(pub(crate) ApiError);

impl Clone for PendingError {
    fn clone(&self) -> Self {
        Self(ApiError { status: self.0.status, error: self.0.error, message: self.0.message.clone() })
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => Self::not_found(),
            StoreError::Conflict => Self::new(
                StatusCode::PRECONDITION_FAILED,
                "version_mismatch",
                "the record changed since you read it; fetch it again and retry",
            ),
            StoreError::Duplicate => Self::new(StatusCode::CONFLICT, "already_exists", "the name is already taken"),
            StoreError::Invalid(message) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", message),
            other @ (StoreError::Open(_) | StoreError::Database(_)) => Self::internal(&other),
        }
    }
}

/// The result type of every handler.
pub(crate) type ApiResult<T> = Result<T, ApiError>;
