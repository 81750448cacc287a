//! Query strings and preconditions: strict query parsing (unknown
//! parameters rejected), list paging, and version preconditions (`ETag` /
//! `If-Match`) against lost updates.

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ApiResult};

/// Query parameters parsed into `T` (which should `deny_unknown_fields`).
#[derive(Debug)]
pub(crate) struct Params<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| Self(value))
            .map_err(|err| ApiError::invalid(format!("bad query string: {}", err.body_text())))
    }
}

/// `?limit=&after=&name=` on every list.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListParams {
    /// Page size (1..=500, default 50).
    pub limit: Option<u32>,
    /// The previous page's `next`.
    pub after: Option<String>,
    /// Name prefix filter.
    pub name: Option<String>,
}

impl ListParams {
    /// The store's form.
    #[must_use]
    pub(crate) fn query(self) -> portcullis_store::ListQuery {
        portcullis_store::ListQuery { limit: self.limit.unwrap_or(50), after: self.after, name_prefix: self.name }
    }
}

/// The version an `If-Match: "N"` header names; required on every update.
///
/// # Errors
/// 428 when missing, 400 when malformed.
pub(crate) fn if_match(headers: &HeaderMap) -> ApiResult<i64> {
    let value = headers.get(header::IF_MATCH).ok_or_else(|| {
        ApiError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "precondition_required",
            "send If-Match with the ETag you read, so a concurrent change is not overwritten",
        )
    })?;
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().strip_prefix('"')?.strip_suffix('"')?.parse().ok())
        .ok_or_else(|| ApiError::invalid("If-Match must be an ETag such as \"3\""))
}

/// A JSON answer carrying `ETag: "version"`.
pub(crate) fn tagged<T: serde::Serialize>(status: StatusCode, value: &T, version: i64) -> Response {
    let mut response = (status, axum::Json(value)).into_response();
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{version}\"")) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}
