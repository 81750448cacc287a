//! Login, the second factor, and logout. A wrong password, an unknown user,
//! a locked or disabled account and a locked source address all get the
//! same answer after the same work, so none of them can be told apart.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_credentials::recovery;
use portcullis_store::{Actor, now_ms};
use serde::Deserialize;
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use crate::principal::{Caller, Peer, Via};
use crate::session_cookie::{clear_cookie, csrf_token, new_session_id, session_hash, set_cookie};
use crate::state::AppState;
use crate::strict_json::StrictJson;
use crate::totp_at_rest::open_secret;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LoginBody {
    name: String,
    password: String,
}

/// Verifies `password` against `phc` off the async threads (argon2 is
/// deliberately slow); `None` runs a dummy verification of equal cost.
pub(crate) async fn verify_password(state: &AppState, password: String, phc: Option<String>) -> bool {
    let hasher = state.hasher.clone();
    tokio::task::spawn_blocking(move || match phc {
        Some(phc) => hasher.verify(&password, &phc),
        None => {
            hasher.verify_dummy(&password);
            false
        }
    })
    .await
    .unwrap_or(false)
}

fn session_response(state: &AppState, id: &str, body: serde_json::Value) -> Response {
    let max_age = state.settings.session_absolute.as_secs();
    let mut response = (StatusCode::OK, Json(body)).into_response();
    if let Ok(cookie) = HeaderValue::from_str(&set_cookie(id, max_age)) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub(super) async fn login(
    State(state): State<AppState>,
    peer: axum::Extension<Peer>,
    StrictJson(body): StrictJson<LoginBody>,
) -> ApiResult<Response> {
    let source = peer.0.0.ip().to_string();
    let now = now_ms();
    let source_locked = state.store.source_locked(&source, now).await?;
    let found = state.store.admin_login(&body.name).await?;
    let phc = found.as_ref().map(|f| f.password_hash.clone());
    let password_ok = verify_password(&state, body.password, phc).await;
    let refusal = match &found {
        _ if source_locked => Some("source_locked"),
        None => Some("unknown_user"),
        Some(f) if f.user.disabled => Some("disabled"),
        Some(f) if f.user.locked_until > now => Some("locked"),
        Some(_) if !password_ok => Some("bad_password"),
        Some(_) => None,
    };
    let actor_name = found.as_ref().map_or("unknown", |f| f.user.name.as_str());
    let actor = Actor::user(actor_name, &source);
    let user_id = found.as_ref().map(|f| f.user.id.clone());
    let Some(login) = found.filter(|_| refusal.is_none()) else {
        let reason = refusal.unwrap_or("bad_password");
        state.store.record_login_failure(&actor, user_id.as_deref(), reason, &state.settings.lockout).await?;
        return Err(ApiError::unauthorized());
    };
    // Always a fresh id: a session id the client brought is never adopted.
    let id = new_session_id();
    let expires_at = now + i64::try_from(state.settings.session_absolute.as_millis()).unwrap_or(i64::MAX);
    let second_factor_done = !login.user.totp_enrolled;
    state
        .store
        .record_login_success(&actor, &login.user.id, &session_hash(&id), expires_at, second_factor_done)
        .await?;
    let caller = Caller {
        role: state.store.role(&login.user.role).await?,
        user: login.user,
        via: Via::Session { id_hash: session_hash(&id), second_factor_done },
        source,
    };
    let body = json!({
        "user": caller.user,
        "csrf_token": csrf_token(&id),
        "duty": caller.duty(&state).map(super::me::duty_word),
        "expires_at": expires_at,
    });
    Ok(session_response(&state, &id, body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SecondFactorBody {
    code: Option<String>,
    recovery_code: Option<String>,
}

pub(super) async fn second_factor(
    State(state): State<AppState>,
    caller: Caller,
    StrictJson(body): StrictJson<SecondFactorBody>,
) -> ApiResult<Response> {
    let Via::Session { id_hash, second_factor_done: false } = &caller.via else {
        return Err(ApiError::invalid("this session has no second factor to present"));
    };
    let login = state.store.admin_login(&caller.user.name).await?.ok_or_else(ApiError::unauthorized)?;
    let step = match (&body.code, &body.recovery_code, &login.totp_secret) {
        (Some(code), None, Some(stored)) => {
            let secret = open_secret(&state, stored)?;
            let last = login.totp_last_step.and_then(|s| u64::try_from(s).ok());
            let now = u64::try_from(now_ms() / 1000).unwrap_or(0);
            secret.verify(code, now, last).map(|step| i64::try_from(step).unwrap_or(i64::MAX))
        }
        (None, Some(code), Some(_)) => {
            let hash = portcullis_credentials::to_hex(&recovery::hash_recovery_code(code));
            state.store.use_recovery_code(&caller.actor(), &caller.user.id, &hash).await?.then_some(-1)
        }
        _ => return Err(ApiError::invalid("send exactly one of code or recovery_code")),
    };
    let Some(step) = step else {
        let actor = caller.actor();
        state
            .store
            .record_login_failure(&actor, Some(&caller.user.id), "bad_second_factor", &state.settings.lockout)
            .await?;
        return Err(ApiError::unauthorized());
    };
    // Privilege changed: the session gets a new id, the old one dies.
    let id = new_session_id();
    let totp_step = (step >= 0).then_some(step);
    state.store.rotate_session(&caller.actor(), id_hash, &session_hash(&id), totp_step).await?;
    let caller = Caller { via: Via::Session { id_hash: session_hash(&id), second_factor_done: true }, ..caller };
    let body = json!({ "csrf_token": csrf_token(&id), "duty": caller.duty(&state).map(super::me::duty_word) });
    Ok(session_response(&state, &id, body))
}

pub(super) async fn logout(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    match &caller.via {
        Via::Session { id_hash, .. } => state.store.revoke_session(&caller.actor(), id_hash, &caller.user.id).await?,
        Via::Token { .. } => return Err(ApiError::invalid("a token is revoked with DELETE /admin/v1/me/tokens/{id}")),
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(cookie) = HeaderValue::from_str(&clear_cookie()) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}
