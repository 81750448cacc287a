//! The API's own OpenAPI document and the effective configuration.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiResult;
use crate::principal::Principal;
use crate::state::AppState;

/// The published description of this API (public: it holds no data).
pub(super) async fn openapi() -> Response {
    let mut response = include_str!("../../openapi.json").into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

pub(super) async fn config(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<serde_json::Value>> {
    principal.require(&state, "config:read").await?;
    Ok(Json((state.config_view)()))
}
