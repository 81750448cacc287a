//! Audit log queries (`audit:read`).

use axum::Json;
use axum::extract::State;
use portcullis_store::AuditQuery;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiResult;
use crate::params::Params;
use crate::principal::Principal;
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EventParams {
    after: Option<i64>,
    limit: Option<u32>,
    actor: Option<String>,
    action: Option<String>,
    target: Option<String>,
    /// Unix ms.
    since: Option<i64>,
}

pub(super) async fn events(
    State(state): State<AppState>,
    principal: Principal,
    Params(params): Params<EventParams>,
) -> ApiResult<Json<Value>> {
    principal.require(&state, "audit:read").await?;
    let query = AuditQuery {
        after_seq: params.after.unwrap_or(0),
        limit: params.limit.unwrap_or(100),
        actor: params.actor,
        action_prefix: params.action,
        target: params.target,
        since_ms: params.since,
    };
    let events = state.store.audit_events(&query).await?;
    let next = events.last().map(|e| e.event.seq);
    let items: Vec<Value> = events
        .iter()
        .map(|stored| {
            let mut value = json!(stored.event);
            value["hash"] = json!(portcullis_credentials::to_hex(&stored.hash));
            value
        })
        .collect();
    Ok(Json(json!({ "items": items, "next": next })))
}
