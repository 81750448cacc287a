//! Admin users and roles (`users:read` / `users:write`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use crate::params::{ListParams, Params, if_match, tagged};
use crate::principal::Principal;
use crate::routes::consumers::check_name;
use crate::routes::me::{acceptable_password, hash_password};
use crate::state::AppState;
use crate::strict_json::StrictJson;

pub(super) async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Params(params): Params<ListParams>,
) -> ApiResult<Response> {
    principal.require(&state, "users:read").await?;
    Ok(Json(state.store.admin_users(&params.query()).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewUserBody {
    name: String,
    role: String,
    password: String,
}

/// Whether `name` is a valid login name: 1–64 of `[A-Za-z0-9._@-]`.
#[must_use]
pub fn is_login_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'))
}

/// Refuses a name that is not a login name.
pub(crate) fn check_login_name(name: &str) -> ApiResult<()> {
    if is_login_name(name) { Ok(()) } else { Err(ApiError::invalid("name must be 1 to 64 of A-Z a-z 0-9 . _ @ -")) }
}

pub(super) async fn create(
    State(state): State<AppState>,
    principal: Principal,
    StrictJson(body): StrictJson<NewUserBody>,
) -> ApiResult<Response> {
    principal.require(&state, "users:write").await?;
    check_login_name(&body.name)?;
    state
        .settings
        .password_policy
        .check(&body.password, &[&body.name])
        .map_err(|violation| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "weak_password", violation.to_string()))?;
    let phc = hash_password(&state, body.password).await?;
    // An initial password is set by someone else: the user must replace it.
    let user = state.store.create_admin_user(&principal.0.actor(), &body.name, &body.role, &phc, true).await?;
    Ok(tagged(StatusCode::CREATED, &user, user.version))
}

pub(super) async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    principal.require(&state, "users:read").await?;
    let user = state.store.admin_user(&id).await?;
    Ok(tagged(StatusCode::OK, &user, user.version))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UpdateUserBody {
    role: String,
    disabled: bool,
}

pub(super) async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    StrictJson(body): StrictJson<UpdateUserBody>,
) -> ApiResult<Response> {
    principal.require(&state, "users:write").await?;
    let version = if_match(&headers)?;
    let user = state.store.update_admin_user(&principal.0.actor(), &id, version, &body.role, body.disabled).await?;
    Ok(tagged(StatusCode::OK, &user, user.version))
}

pub(super) async fn remove(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    principal.require(&state, "users:write").await?;
    if id == principal.0.user.id {
        return Err(ApiError::invalid("you cannot delete yourself"));
    }
    state.store.delete_admin_user(&principal.0.actor(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ResetBody {
    password: String,
}

pub(super) async fn reset_password(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    StrictJson(body): StrictJson<ResetBody>,
) -> ApiResult<StatusCode> {
    principal.require(&state, "users:write").await?;
    let user = state.store.admin_user(&id).await?;
    acceptable_password(&state, &user.id, &user.name, &body.password).await?;
    let phc = hash_password(&state, body.password).await?;
    state.store.set_admin_password(&principal.0.actor(), &id, &phc, true, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn revoke_sessions(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    principal.require(&state, "users:write").await?;
    state.store.admin_user(&id).await?;
    state.store.revoke_user_sessions(&principal.0.actor(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn roles(State(state): State<AppState>, principal: Principal) -> ApiResult<Response> {
    principal.require(&state, "users:read").await?;
    Ok(Json(json!({ "items": state.store.roles().await? })).into_response())
}

pub(super) async fn show_role(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    principal.require(&state, "users:read").await?;
    let role = state.store.role(&name).await?;
    Ok(tagged(StatusCode::OK, &role, role.version))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RoleBody {
    name: String,
    #[serde(default)]
    description: String,
    permissions: Vec<String>,
    require_totp: bool,
}

pub(super) async fn create_role(
    State(state): State<AppState>,
    principal: Principal,
    StrictJson(body): StrictJson<RoleBody>,
) -> ApiResult<Response> {
    principal.require(&state, "users:write").await?;
    check_login_name(&body.name)?;
    check_name(if body.description.is_empty() { "-" } else { &body.description })?;
    let role = state
        .store
        .create_role(&principal.0.actor(), &body.name, &body.description, &body.permissions, body.require_totp)
        .await?;
    Ok(tagged(StatusCode::CREATED, &role, role.version))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UpdateRoleBody {
    permissions: Vec<String>,
    require_totp: bool,
}

pub(super) async fn update_role(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
    headers: HeaderMap,
    StrictJson(body): StrictJson<UpdateRoleBody>,
) -> ApiResult<Response> {
    principal.require(&state, "users:write").await?;
    let version = if_match(&headers)?;
    let role =
        state.store.update_role(&principal.0.actor(), &name, version, &body.permissions, body.require_totp).await?;
    Ok(tagged(StatusCode::OK, &role, role.version))
}

pub(super) async fn remove_role(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    principal.require(&state, "users:write").await?;
    state.store.delete_role(&principal.0.actor(), &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
