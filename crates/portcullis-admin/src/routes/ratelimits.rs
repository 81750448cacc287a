//! Rate limits in force: list them, read one key's state, and reset a key
//! to its full budget (audited). A key is named by the values of the parts
//! the limit counts by, e.g. `?client_ip=203.0.113.9` or `?consumer=con_…`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use portcullis_ratelimit::{KeyValues, LimitInForce, limit_in_force, limits_in_force};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use crate::principal::Principal;
use crate::state::AppState;

pub(super) async fn list(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<Value>> {
    principal.require(&state, "revocations:read").await?;
    let items: Vec<Value> = limits_in_force()
        .iter()
        .map(|l| {
            let limit = l.limit();
            json!({
                "route": limit.route,
                "name": limit.name,
                "key": limit.key.describe(),
                "algorithm": limit.algorithm.describe(),
                "counting": if l.is_shared() { "redis" } else { "local" },
            })
        })
        .collect();
    Ok(Json(json!({ "items": items })))
}

/// The values naming a key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct KeyParams {
    client_ip: Option<String>,
    consumer: Option<String>,
    app: Option<String>,
    subject: Option<String>,
    method: Option<String>,
    /// `Name:value`.
    header: Option<String>,
}

impl KeyParams {
    fn values(self) -> ApiResult<KeyValues> {
        let client_ip = self
            .client_ip
            .map(|ip| ip.parse().map_err(|_| ApiError::invalid("client_ip is not an IP address")))
            .transpose()?;
        let method = self
            .method
            .map(|m| Method::from_bytes(m.as_bytes()).map_err(|_| ApiError::invalid("method is not an HTTP method")))
            .transpose()?;
        let mut headers = Vec::new();
        if let Some(header) = self.header {
            let bad = || ApiError::invalid("header must be `Name:value`");
            let (name, value) = header.split_once(':').ok_or_else(bad)?;
            let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| bad())?;
            let value = HeaderValue::from_str(value.trim()).map_err(|_| bad())?;
            headers.push((name, value));
        }
        Ok(KeyValues { client_ip, consumer: self.consumer, app: self.app, subject: self.subject, method, headers })
    }
}

fn find(route: &str, name: &str) -> ApiResult<LimitInForce> {
    limit_in_force(route, name).ok_or_else(ApiError::not_found)
}

fn unavailable() -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the shared rate-limit counters are unreachable")
}

pub(super) async fn state(
    State(state): State<AppState>,
    principal: Principal,
    Path((route, name)): Path<(String, String)>,
    Params(key): Params<KeyParams>,
) -> ApiResult<Json<Value>> {
    principal.require(&state, "revocations:read").await?;
    let limit = find(&route, &name)?;
    let s = limit.state(&key.values()?).await.map_err(|_| unavailable())?;
    Ok(Json(json!({
        "route": route,
        "name": name,
        "quota": s.quota,
        "remaining": s.remaining,
        "reset_seconds": s.reset,
        "retry_after_seconds": s.retry_after,
    })))
}

pub(super) async fn reset(
    State(state): State<AppState>,
    principal: Principal,
    Path((route, name)): Path<(String, String)>,
    Params(key): Params<KeyParams>,
) -> ApiResult<StatusCode> {
    principal.require(&state, "revocations:write").await?;
    let limit = find(&route, &name)?;
    let values = key.values()?;
    limit.reset(&values).await.map_err(|_| unavailable())?;
    let caller = &principal.0;
    let mut event = portcullis_audit::NewEvent::new(
        &caller.user.name,
        &caller.source,
        "ratelimit.reset",
        format!("{route}/{name}"),
        portcullis_audit::Outcome::Success,
    );
    event.details = json!({
        "client_ip": values.client_ip.map(|ip| ip.to_string()),
        "consumer": values.consumer,
        "app": values.app,
        "subject": values.subject,
        "method": values.method.map(|m| m.to_string()),
        "header": values.headers.first().map(|(n, _)| n.as_str()),
    });
    state.store.record(event).await?;
    Ok(StatusCode::NO_CONTENT)
}
