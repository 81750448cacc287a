//! Revoked access tokens, by id and by subject.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use crate::principal::Principal;
use crate::state::AppState;
use crate::strict_json::StrictJson;

fn bounded(what: &str, value: &str) -> ApiResult<()> {
    if value.is_empty() || value.len() > 512 || value.chars().any(char::is_control) {
        return Err(ApiError::invalid(format!("{what} must be 1 to 512 printable characters")));
    }
    Ok(())
}

pub(super) async fn tokens(State(state): State<AppState>, principal: Principal) -> ApiResult<Response> {
    principal.require(&state, "revocations:read").await?;
    Ok(Json(json!({ "items": state.store.revoked_tokens(1000).await? })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TokenBody {
    issuer: String,
    jti: String,
    /// The token's own `exp`, Unix seconds.
    expires_at: i64,
    #[serde(default)]
    reason: String,
}

pub(super) async fn revoke_token(
    State(state): State<AppState>,
    principal: Principal,
    StrictJson(body): StrictJson<TokenBody>,
) -> ApiResult<Response> {
    principal.require(&state, "revocations:write").await?;
    bounded("issuer", &body.issuer)?;
    bounded("jti", &body.jti)?;
    let expires_at =
        body.expires_at.checked_mul(1000).ok_or_else(|| ApiError::invalid("expires_at is out of range"))?;
    let revoked =
        state.store.revoke_token(&principal.0.actor(), &body.issuer, &body.jti, expires_at, &body.reason).await?;
    Ok((StatusCode::CREATED, Json(revoked)).into_response())
}

pub(super) async fn subjects(State(state): State<AppState>, principal: Principal) -> ApiResult<Response> {
    principal.require(&state, "revocations:read").await?;
    Ok(Json(json!({ "items": state.store.subject_revocations().await? })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SubjectBody {
    issuer: String,
    subject: String,
    /// Tokens issued before this (Unix seconds) are refused; default now.
    #[serde(default)]
    not_before: Option<i64>,
}

pub(super) async fn revoke_subject(
    State(state): State<AppState>,
    principal: Principal,
    StrictJson(body): StrictJson<SubjectBody>,
) -> ApiResult<Response> {
    principal.require(&state, "revocations:write").await?;
    bounded("issuer", &body.issuer)?;
    bounded("subject", &body.subject)?;
    let not_before = match body.not_before {
        Some(seconds) => seconds.checked_mul(1000).ok_or_else(|| ApiError::invalid("not_before is out of range"))?,
        None => portcullis_store::now_ms(),
    };
    let revocation = state.store.revoke_subject(&principal.0.actor(), &body.issuer, &body.subject, not_before).await?;
    Ok((StatusCode::CREATED, Json(revocation)).into_response())
}
