//! Strict JSON input: the right Content-Type (else 415), a bounded body
//! (else 413), well-formed JSON with no unknown fields (else 400, naming the
//! problem but never echoing the input).

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use http_body_util::{BodyExt, Limited};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

/// A JSON body deserialized into `T` (whose type should `deny_unknown_fields`).
#[derive(Debug)]
pub(crate) struct StrictJson<T>(pub(crate) T);

impl<T: DeserializeOwned> FromRequest<AppState> for StrictJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as application/json",
            ));
        }
        let limit = state.settings.max_body;
        let too_large = || ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the body is too large");
        let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Err(too_large());
        }
        let body: Body = req.into_body();
        let bytes = Limited::new(body, limit).collect().await.map_err(|_| too_large())?.to_bytes();
        serde_json::from_slice(&bytes).map(StrictJson).map_err(|err| {
            // serde's message names the field or the position, never the value.
            let message = match err.classify() {
                serde_json::error::Category::Data => format!("the body does not fit the expected shape: {err}"),
                _ => format!("the body is not valid JSON (line {}, column {})", err.line(), err.column()),
            };
            ApiError::invalid(message)
        })
    }
}
