//! Brute-force lockouts: the gateway's locked client addresses and
//! credentials (this node's table), and admin accounts. Unlocking is an
//! audited admin action.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use portcullis_ratelimit::Lockouts;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::principal::Principal;
use crate::state::AppState;
use crate::strict_json::StrictJson;

pub(super) async fn list(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<Value>> {
    principal.require(&state, "revocations:read").await?;
    let items: Vec<Value> = Lockouts::process()
        .locked()
        .into_iter()
        .map(|l| json!({ "key": l.key, "remaining_seconds": l.remaining.as_secs(), "locks": l.locks }))
        .collect();
    Ok(Json(json!({ "items": items })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UnlockBody {
    /// The locked key, e.g. `ip:203.0.113.9` or `basic:alice`.
    key: String,
}

pub(super) async fn unlock(
    State(state): State<AppState>,
    principal: Principal,
    StrictJson(body): StrictJson<UnlockBody>,
) -> ApiResult<StatusCode> {
    principal.require(&state, "revocations:write").await?;
    if !Lockouts::process().unlock(&body.key).await {
        return Err(ApiError::not_found());
    }
    let caller = &principal.0;
    let event = portcullis_audit::NewEvent::new(
        &caller.user.name,
        &caller.source,
        "lockout.unlock",
        &body.key,
        portcullis_audit::Outcome::Success,
    );
    state.store.record(event).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn unlock_user(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    principal.require(&state, "users:write").await?;
    state.store.unlock_admin_user(&principal.0.actor(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
