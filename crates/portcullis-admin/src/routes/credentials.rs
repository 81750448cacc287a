//! Credentials of an app. A created or rotated API key is in the response
//! once and nowhere else.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_store::now_ms;
use serde::Deserialize;
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use crate::principal::Principal;
use crate::routes::me::hash_password;
use crate::state::AppState;
use crate::strict_json::StrictJson;

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub(super) enum CredentialBody {
    ApiKey {
        #[serde(default)]
        expires_in_days: Option<u32>,
    },
    Basic {
        username: String,
        /// A new password (checked against the policy, hashed with argon2id).
        #[serde(default)]
        password: Option<String>,
        /// Or an existing hash to import: argon2id or PBKDF2-HMAC-SHA256
        /// (passlib `$pbkdf2-sha256$…` or Django `pbkdf2_sha256$…`).
        #[serde(default)]
        password_hash: Option<String>,
    },
    Mtls {
        fingerprint: String,
    },
}

pub(super) async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    principal.require(&state, "consumers:read").await?;
    state.store.app(&id).await?;
    Ok(Json(json!({ "items": state.store.credentials(&id).await? })).into_response())
}

pub(super) async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    principal.require(&state, "consumers:read").await?;
    Ok(Json(state.store.credential(&id).await?).into_response())
}

pub(super) async fn create(
    State(state): State<AppState>,
    principal: Principal,
    Path(app_id): Path<String>,
    StrictJson(body): StrictJson<CredentialBody>,
) -> ApiResult<Response> {
    principal.require(&state, "credentials:write").await?;
    let actor = principal.0.actor();
    let body = match body {
        CredentialBody::ApiKey { expires_in_days } => {
            let expires_at = expires_in_days.map(|days| now_ms() + i64::from(days) * 86_400_000);
            let (credential, key) = state.store.create_api_key(&actor, &app_id, expires_at).await?;
            json!({ "credential": credential, "secret": key })
        }
        CredentialBody::Basic { username, password, password_hash } => {
            if username.is_empty() || username.len() > 128 || username.contains(':') {
                return Err(ApiError::invalid("username must be 1 to 128 characters without ':'"));
            }
            let phc = match (password, password_hash) {
                (Some(password), None) => {
                    state.settings.password_policy.check(&password, &[&username]).map_err(|violation| {
                        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "weak_password", violation.to_string())
                    })?;
                    hash_password(&state, password).await?
                }
                (None, Some(imported)) if is_importable(&imported) => imported,
                (None, Some(_)) => {
                    return Err(ApiError::invalid("password_hash must be an argon2id or PBKDF2-HMAC-SHA256 hash"));
                }
                _ => return Err(ApiError::invalid("send exactly one of password or password_hash")),
            };
            json!({ "credential": state.store.create_basic_credential(&actor, &app_id, &username, &phc).await? })
        }
        CredentialBody::Mtls { fingerprint } => {
            json!({ "credential": state.store.create_mtls_credential(&actor, &app_id, &fingerprint).await? })
        }
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Whether an imported hash is in a format verification understands.
fn is_importable(hash: &str) -> bool {
    let known = ["$argon2id$", "$pbkdf2-sha256$", "pbkdf2_sha256$"].iter().any(|prefix| hash.starts_with(prefix));
    known && hash.len() <= 512 && hash.bytes().all(|b| b.is_ascii_graphic())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RotateBody {
    #[serde(default)]
    overlap_seconds: Option<u32>,
}

pub(super) async fn rotate(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    StrictJson(body): StrictJson<RotateBody>,
) -> ApiResult<Response> {
    principal.require(&state, "credentials:write").await?;
    let default = i64::try_from(state.settings.key_rotation_overlap.as_millis()).unwrap_or(0);
    let overlap = body.overlap_seconds.map_or(default, |s| i64::from(s) * 1000);
    let (credential, key) = state.store.rotate_api_key(&principal.0.actor(), &id, overlap).await?;
    Ok((StatusCode::CREATED, Json(json!({ "credential": credential, "secret": key }))).into_response())
}

pub(super) async fn revoke(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    principal.require(&state, "credentials:write").await?;
    Ok(Json(state.store.revoke_credential(&principal.0.actor(), &id).await?).into_response())
}
