//! Who is calling: an admin session (browser cookie, CSRF-checked) or an
//! automation token (`Authorization: Bearer pca_…`). Both resolve to an
//! enabled user, its role, and the permissions this credential carries.

use std::net::SocketAddr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use portcullis_credentials::api_key;
use portcullis_store::{Actor, AdminUser, Role, now_ms};

use crate::error::ApiError;
use crate::session_cookie::{COOKIE, csrf_token, session_hash};
use crate::state::AppState;

/// The TCP peer of the admin connection, set by the listener.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// How the caller authenticated.
#[derive(Debug, Clone)]
pub enum Via {
    /// A login session.
    Session {
        /// Hex SHA-256 of the session id.
        id_hash: String,
        /// Whether the second factor was presented.
        second_factor_done: bool,
    },
    /// An automation token.
    Token {
        /// The token's id.
        id: String,
        /// Its scopes.
        scopes: Vec<String>,
    },
}

/// An authenticated caller, before the account's pending duties are checked.
/// Only the endpoints that fulfil those duties (change password, enrol or
/// present a second factor, log out) take this directly.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user.
    pub user: AdminUser,
    /// The user's role.
    pub role: Role,
    /// The credential used.
    pub via: Via,
    /// Where the request came from.
    pub source: String,
}

/// A caller with nothing pending: what every ordinary endpoint requires.
#[derive(Debug, Clone)]
pub struct Principal(pub Caller);

/// What the account must do before anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duty {
    /// Set a new password (first login, reset, or the password is too old).
    ChangePassword,
    /// Enrol a TOTP second factor (the role requires one).
    EnrolSecondFactor,
    /// Present the second factor for this session.
    PresentSecondFactor,
}

impl Caller {
    /// The audit actor for this caller.
    #[must_use]
    pub fn actor(&self) -> Actor {
        Actor::user(&self.user.name, &self.source)
    }

    /// The first duty pending, if any.
    #[must_use]
    pub fn duty(&self, state: &AppState) -> Option<Duty> {
        let too_old = state.settings.password_max_age.is_some_and(|max| {
            now_ms() - self.user.password_changed_at > i64::try_from(max.as_millis()).unwrap_or(i64::MAX)
        });
        if self.user.must_change_password || too_old {
            return Some(Duty::ChangePassword);
        }
        let Via::Session { second_factor_done, .. } = &self.via else { return None };
        if self.user.totp_enrolled && !second_factor_done {
            return Some(Duty::PresentSecondFactor);
        }
        if self.role.require_totp && !self.user.totp_enrolled {
            return Some(Duty::EnrolSecondFactor);
        }
        None
    }

    /// Whether this credential carries `permission`: the role must grant it,
    /// and a token must also have it in its scopes.
    #[must_use]
    pub fn may(&self, permission: &str) -> bool {
        self.role.allows(permission)
            && match &self.via {
                Via::Session { .. } => true,
                Via::Token { scopes, .. } => scopes.iter().any(|s| s == permission),
            }
    }
}

impl Principal {
    /// Refuses with 403 (and an audit event) unless the caller may `permission`.
    ///
    /// # Errors
    /// 403 when the permission is missing.
    pub async fn require(&self, state: &AppState, permission: &str) -> Result<(), ApiError> {
        if self.0.may(permission) {
            return Ok(());
        }
        let event = portcullis_audit::NewEvent::new(
            &self.0.user.name,
            &self.0.source,
            "access.denied",
            permission,
            portcullis_audit::Outcome::Denied,
        );
        state.store.record(event).await?;
        Err(ApiError::forbidden(format!("your role does not grant {permission}")))
    }
}

fn source_of(parts: &Parts) -> String {
    parts.extensions.get::<Peer>().map_or_else(|| "unknown".into(), |p| p.0.ip().to_string())
}

async fn by_token(state: &AppState, token: &str) -> Result<(AdminUser, Via), ApiError> {
    let parsed = api_key::parse(token).filter(|p| p.kind == api_key::KeyKind::AdminToken);
    let found = match parsed {
        Some(parsed) => state.store.api_token_by_prefix(parsed.prefix).await?,
        None => None,
    };
    // Hash even when nothing was found, so timing does not tell which part was wrong.
    let stored = found.as_ref().and_then(|(_, hash)| portcullis_credentials::from_hex(hash)?.try_into().ok());
    let matches = api_key::verify(token, &stored.unwrap_or([0; 32]));
    let Some((record, _)) = found.filter(|_| matches && stored.is_some()) else {
        return Err(ApiError::unauthorized());
    };
    if record.revoked_at.is_some() || record.expires_at <= now_ms() {
        return Err(ApiError::unauthorized());
    }
    let user = state.store.admin_user(&record.user_id).await?;
    let store = state.store.clone();
    let id = record.id.clone();
    tokio::spawn(async move { store.touch_api_token(&id).await });
    Ok((user, Via::Token { id: record.id, scopes: record.scopes }))
}

async fn by_session(state: &AppState, parts: &Parts, id: &str) -> Result<(AdminUser, Via), ApiError> {
    let id_hash = session_hash(id);
    let idle = i64::try_from(state.settings.session_idle.as_millis()).unwrap_or(i64::MAX);
    let session = state.store.session(&id_hash).await?.filter(|s| s.is_live(now_ms(), idle));
    let Some(session) = session else { return Err(ApiError::unauthorized()) };
    // A cookie rides along on cross-site requests; a state-changing request
    // must also prove it read our response (SameSite=Strict is the first wall).
    let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        let sent = parts.headers.get("x-csrf-token").map(|v| v.as_bytes()).unwrap_or_default();
        if !portcullis_credentials::constant_time_eq(sent, csrf_token(id).as_bytes()) {
            return Err(ApiError::new(StatusCode::FORBIDDEN, "csrf_token_missing", "send the X-CSRF-Token header"));
        }
    }
    state.store.touch_session(&id_hash).await?;
    let user = state.store.admin_user(&session.user_id).await?;
    Ok((user, Via::Session { id_hash, second_factor_done: session.second_factor_done }))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let cookie = parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|pair| pair.trim().strip_prefix(COOKIE).and_then(|rest| rest.strip_prefix('=')));
        let (user, via) = match (bearer, cookie) {
            (Some(token), _) => by_token(state, token).await?,
            (None, Some(id)) => by_session(state, parts, id).await?,
            (None, None) => return Err(ApiError::unauthorized()),
        };
        if user.disabled {
            return Err(ApiError::unauthorized());
        }
        let role = state.store.role(&user.role).await?;
        Ok(Self { user, role, via, source: source_of(parts) })
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        match caller.duty(state) {
            None => Ok(Self(caller)),
            Some(Duty::ChangePassword) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "password_change_required",
                "set a new password first: POST /admin/v1/me/password",
            )),
            Some(Duty::EnrolSecondFactor) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "second_factor_enrolment_required",
                "your role requires a second factor: POST /admin/v1/me/totp",
            )),
            Some(Duty::PresentSecondFactor) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "second_factor_required",
                "present your one-time code: POST /admin/v1/login/second-factor",
            )),
        }
    }
}
