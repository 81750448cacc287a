//! The `/admin/v1` routes, one module per resource.

mod audit;
mod consumers;
mod credentials;
mod lockouts;
mod login;
mod me;
mod misc;
mod ratelimits;
mod revocations;
pub(crate) mod users;

use axum::Router;
use axum::routing::{delete, get, post};

use crate::state::AppState;

/// Every admin route.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/openapi.json", get(misc::openapi))
        .route("/admin/v1/login", post(login::login))
        .route("/admin/v1/login/second-factor", post(login::second_factor))
        .route("/admin/v1/logout", post(login::logout))
        .route("/admin/v1/me", get(me::show))
        .route("/admin/v1/me/password", post(me::change_password))
        .route("/admin/v1/me/totp", post(me::start_totp).delete(me::remove_totp))
        .route("/admin/v1/me/totp/confirm", post(me::confirm_totp))
        .route("/admin/v1/me/tokens", get(me::tokens).post(me::create_token))
        .route("/admin/v1/me/tokens/{id}", delete(me::revoke_token))
        .route("/admin/v1/consumers", get(consumers::list).post(consumers::create))
        .route("/admin/v1/consumers/{id}", get(consumers::show).put(consumers::update).delete(consumers::remove))
        .route("/admin/v1/consumers/{id}/apps", get(consumers::apps).post(consumers::create_app))
        .route("/admin/v1/apps/{id}", get(consumers::show_app).put(consumers::update_app).delete(consumers::remove_app))
        .route("/admin/v1/apps/{id}/credentials", get(credentials::list).post(credentials::create))
        .route("/admin/v1/credentials/{id}", get(credentials::show))
        .route("/admin/v1/credentials/{id}/rotate", post(credentials::rotate))
        .route("/admin/v1/credentials/{id}/revoke", post(credentials::revoke))
        .route("/admin/v1/users", get(users::list).post(users::create))
        .route("/admin/v1/users/{id}", get(users::show).patch(users::update).delete(users::remove))
        .route("/admin/v1/users/{id}/password", post(users::reset_password))
        .route("/admin/v1/users/{id}/sessions/revoke", post(users::revoke_sessions))
        .route("/admin/v1/users/{id}/unlock", post(lockouts::unlock_user))
        .route("/admin/v1/lockouts", get(lockouts::list))
        .route("/admin/v1/lockouts/unlock", post(lockouts::unlock))
        .route("/admin/v1/ratelimits", get(ratelimits::list))
        .route("/admin/v1/ratelimits/{route}/{limit}/state", get(ratelimits::state).delete(ratelimits::reset))
        .route("/admin/v1/roles", get(users::roles).post(users::create_role))
        .route("/admin/v1/roles/{name}", get(users::show_role).put(users::update_role).delete(users::remove_role))
        .route("/admin/v1/revocations/tokens", get(revocations::tokens).post(revocations::revoke_token))
        .route("/admin/v1/revocations/subjects", get(revocations::subjects).post(revocations::revoke_subject))
        .route("/admin/v1/audit/events", get(audit::events))
        .route("/admin/v1/config", get(misc::config))
}
