//! The caller's own account: password change, TOTP enrolment, and
//! automation tokens.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_credentials::{TotpSecret, recovery};
use portcullis_store::now_ms;
use serde::Deserialize;
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use crate::principal::{Caller, Duty, Principal, Via};
use crate::routes::login::verify_password;
use crate::state::AppState;
use crate::strict_json::StrictJson;
use crate::totp_at_rest::{open_secret, seal_secret};

/// The stable word for a pending duty.
pub(super) fn duty_word(duty: Duty) -> &'static str {
    match duty {
        Duty::ChangePassword => "change_password",
        Duty::EnrolSecondFactor => "enrol_second_factor",
        Duty::PresentSecondFactor => "present_second_factor",
    }
}

pub(super) async fn show(State(state): State<AppState>, caller: Caller) -> Json<serde_json::Value> {
    Json(json!({
        "user": caller.user,
        "role": caller.role,
        "duty": caller.duty(&state).map(duty_word),
        "via": match &caller.via { Via::Session { .. } => "session", Via::Token { .. } => "token" },
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PasswordBody {
    current_password: String,
    new_password: String,
}

/// Checks `password` against the policy and the user's recent passwords.
pub(crate) async fn acceptable_password(state: &AppState, user_id: &str, name: &str, password: &str) -> ApiResult<()> {
    state
        .settings
        .password_policy
        .check(password, &[name])
        .map_err(|violation| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "weak_password", violation.to_string()))?;
    let history = i64::try_from(state.settings.password_history).unwrap_or(0);
    for old in state.store.password_history(user_id, history).await? {
        if verify_password(state, password.to_owned(), Some(old)).await {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "weak_password",
                "the password was used recently; choose another",
            ));
        }
    }
    Ok(())
}

/// Hashes off the async threads.
pub(crate) async fn hash_password(state: &AppState, password: String) -> ApiResult<String> {
    let hasher = state.hasher.clone();
    tokio::task::spawn_blocking(move || hasher.try_hash(&password))
        .await
        .map_err(|err| ApiError::internal(&err))?
        .map_err(|err| ApiError::invalid(err.to_string()))
}

pub(super) async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    StrictJson(body): StrictJson<PasswordBody>,
) -> ApiResult<StatusCode> {
    let login = state.store.admin_login(&caller.user.name).await?.ok_or_else(ApiError::unauthorized)?;
    if !verify_password(&state, body.current_password, Some(login.password_hash)).await {
        let actor = caller.actor();
        state
            .store
            .record_login_failure(&actor, Some(&caller.user.id), "bad_password", &state.settings.lockout)
            .await?;
        return Err(ApiError::forbidden("the current password is wrong"));
    }
    acceptable_password(&state, &caller.user.id, &caller.user.name, &body.new_password).await?;
    let phc = hash_password(&state, body.new_password).await?;
    let keep = match &caller.via {
        Via::Session { id_hash, .. } => Some(id_hash.as_str()),
        Via::Token { .. } => None,
    };
    state.store.set_admin_password(&caller.actor(), &caller.user.id, &phc, false, keep).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn start_totp(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    if caller.user.totp_enrolled {
        return Err(ApiError::new(StatusCode::CONFLICT, "already_enrolled", "remove the current second factor first"));
    }
    if caller.duty(&state) == Some(Duty::ChangePassword) {
        return Err(ApiError::forbidden("set a new password first"));
    }
    let secret = TotpSecret::generate();
    let uri = secret.otpauth_uri("Portcullis", &caller.user.name);
    Ok((StatusCode::OK, Json(json!({ "secret": secret.to_base32(), "otpauth_uri": uri }))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConfirmBody {
    secret: String,
    code: String,
}

pub(super) async fn confirm_totp(
    State(state): State<AppState>,
    caller: Caller,
    StrictJson(body): StrictJson<ConfirmBody>,
) -> ApiResult<Response> {
    if caller.user.totp_enrolled {
        return Err(ApiError::new(StatusCode::CONFLICT, "already_enrolled", "remove the current second factor first"));
    }
    let secret =
        TotpSecret::from_base32(&body.secret).map_err(|_| ApiError::invalid("the secret is not valid base32"))?;
    let now = u64::try_from(now_ms() / 1000).unwrap_or(0);
    if secret.verify(&body.code, now, None).is_none() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "wrong_code",
            "the code does not match the secret",
        ));
    }
    let codes = recovery::generate_recovery_codes(10);
    let hashes: Vec<String> =
        codes.iter().map(|c| portcullis_credentials::to_hex(&recovery::hash_recovery_code(c))).collect();
    state.store.set_admin_totp(&caller.actor(), &caller.user.id, Some(&seal_secret(&state, &secret)), &hashes).await?;
    // Proving the factor is a privilege change: rotate the session id.
    if let Via::Session { id_hash, .. } = &caller.via {
        let id = crate::session_cookie::new_session_id();
        let new_hash = crate::session_cookie::session_hash(&id);
        state.store.rotate_session(&caller.actor(), id_hash, &new_hash, None).await?;
        let max_age = state.settings.session_absolute.as_secs();
        let body = json!({ "recovery_codes": codes, "csrf_token": crate::session_cookie::csrf_token(&id) });
        let mut response = (StatusCode::OK, Json(body)).into_response();
        if let Ok(cookie) = crate::session_cookie::set_cookie(&id, max_age).parse() {
            response.headers_mut().insert(axum::http::header::SET_COOKIE, cookie);
        }
        return Ok(response);
    }
    Ok((StatusCode::OK, Json(json!({ "recovery_codes": codes }))).into_response())
}

pub(super) async fn remove_totp(State(state): State<AppState>, principal: Principal) -> ApiResult<StatusCode> {
    let caller = &principal.0;
    if caller.role.require_totp {
        return Err(ApiError::forbidden("your role requires a second factor"));
    }
    if let Some(stored) = state.store.admin_login(&caller.user.name).await?.and_then(|l| l.totp_secret) {
        open_secret(&state, &stored)?;
    }
    state.store.set_admin_totp(&caller.actor(), &caller.user.id, None, &[]).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TokenBody {
    name: String,
    scopes: Vec<String>,
    expires_in_days: u32,
}

pub(super) async fn create_token(
    State(state): State<AppState>,
    principal: Principal,
    StrictJson(body): StrictJson<TokenBody>,
) -> ApiResult<Response> {
    principal.require(&state, "tokens:write").await?;
    let caller = &principal.0;
    if body.name.is_empty() || body.name.len() > 100 {
        return Err(ApiError::invalid("name must be 1 to 100 characters"));
    }
    if let Some(scope) = body.scopes.iter().find(|s| !caller.may(s)) {
        return Err(ApiError::forbidden(format!("you cannot grant {scope}, which you do not hold")));
    }
    let lifetime_ms = i64::from(body.expires_in_days) * 86_400_000;
    let max_ms = i64::try_from(state.settings.api_token_max_lifetime.as_millis()).unwrap_or(i64::MAX);
    if lifetime_ms <= 0 || lifetime_ms > max_ms {
        return Err(ApiError::invalid(format!("expires_in_days must be between 1 and {}", max_ms / 86_400_000)));
    }
    let (token, secret) = state
        .store
        .create_api_token(&caller.actor(), &caller.user.id, &body.name, &body.scopes, now_ms() + lifetime_ms)
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "token": token, "secret": secret }))).into_response())
}

pub(super) async fn tokens(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(json!({ "items": state.store.api_tokens(&principal.0.user.id).await? })))
}

pub(super) async fn revoke_token(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let owned = state.store.api_tokens(&principal.0.user.id).await?.iter().any(|t| t.id == id);
    if !owned {
        return Err(ApiError::not_found());
    }
    state.store.revoke_api_token(&principal.0.actor(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
