//! Consumers and their apps.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use portcullis_store::ConsumerFields;
use serde::Deserialize;

use crate::error::{ApiError, ApiResult};
use crate::params::{ListParams, Params, if_match, tagged};
use crate::principal::Principal;
use crate::state::AppState;
use crate::strict_json::StrictJson;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConsumerBody {
    name: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    groups: Vec<String>,
}

/// Checks a display name: 1–200 characters, no control characters.
pub(super) fn check_name(name: &str) -> ApiResult<()> {
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(ApiError::invalid("name must be 1 to 200 printable characters"));
    }
    Ok(())
}

impl ConsumerBody {
    fn fields(self) -> ApiResult<ConsumerFields> {
        check_name(&self.name)?;
        if let Some(email) = &self.email {
            let valid =
                email.len() <= 254 && email.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.'));
            if !valid || email.chars().any(|c| c.is_control() || c.is_whitespace()) {
                return Err(ApiError::invalid("email is not an e-mail address"));
            }
        }
        if self.groups.len() > 50 || self.groups.iter().any(|g| g.is_empty() || g.len() > 64 || g.contains(',')) {
            return Err(ApiError::invalid("at most 50 groups of 1 to 64 characters, without commas"));
        }
        Ok(ConsumerFields { name: self.name, email: self.email, groups: self.groups })
    }
}

pub(super) async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Params(params): Params<ListParams>,
) -> ApiResult<Response> {
    principal.require(&state, "consumers:read").await?;
    let page = state.store.consumers(&params.query()).await?;
    Ok(axum::response::IntoResponse::into_response(Json(page)))
}

pub(super) async fn create(
    State(state): State<AppState>,
    principal: Principal,
    StrictJson(body): StrictJson<ConsumerBody>,
) -> ApiResult<Response> {
    principal.require(&state, "consumers:write").await?;
    let consumer = state.store.create_consumer(&principal.0.actor(), body.fields()?).await?;
    Ok(tagged(StatusCode::CREATED, &consumer, consumer.version))
}

pub(super) async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    principal.require(&state, "consumers:read").await?;
    let consumer = state.store.consumer(&id).await?;
    Ok(tagged(StatusCode::OK, &consumer, consumer.version))
}

pub(super) async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    StrictJson(body): StrictJson<ConsumerBody>,
) -> ApiResult<Response> {
    principal.require(&state, "consumers:write").await?;
    let version = if_match(&headers)?;
    let consumer = state.store.update_consumer(&principal.0.actor(), &id, version, body.fields()?).await?;
    Ok(tagged(StatusCode::OK, &consumer, consumer.version))
}

pub(super) async fn remove(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    principal.require(&state, "consumers:write").await?;
    state.store.delete_consumer(&principal.0.actor(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AppBody {
    name: String,
    #[serde(default)]
    description: String,
}

impl AppBody {
    fn check(&self) -> ApiResult<()> {
        check_name(&self.name)?;
        if self.description.chars().count() > 2000 {
            return Err(ApiError::invalid("description must be at most 2000 characters"));
        }
        Ok(())
    }
}

pub(super) async fn apps(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Params(params): Params<ListParams>,
) -> ApiResult<Response> {
    principal.require(&state, "consumers:read").await?;
    state.store.consumer(&id).await?;
    let page = state.store.apps(&id, &params.query()).await?;
    Ok(axum::response::IntoResponse::into_response(Json(page)))
}

pub(super) async fn create_app(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    StrictJson(body): StrictJson<AppBody>,
) -> ApiResult<Response> {
    principal.require(&state, "consumers:write").await?;
    body.check()?;
    let app = state.store.create_app(&principal.0.actor(), &id, &body.name, &body.description).await?;
    Ok(tagged(StatusCode::CREATED, &app, app.version))
}

pub(super) async fn show_app(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    principal.require(&state, "consumers:read").await?;
    let app = state.store.app(&id).await?;
    Ok(tagged(StatusCode::OK, &app, app.version))
}

pub(super) async fn update_app(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    StrictJson(body): StrictJson<AppBody>,
) -> ApiResult<Response> {
    principal.require(&state, "consumers:write").await?;
    body.check()?;
    let version = if_match(&headers)?;
    let app = state.store.update_app(&principal.0.actor(), &id, version, &body.name, &body.description).await?;
    Ok(tagged(StatusCode::OK, &app, app.version))
}

pub(super) async fn remove_app(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    principal.require(&state, "consumers:write").await?;
    state.store.delete_app(&principal.0.actor(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
