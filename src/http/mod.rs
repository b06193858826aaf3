//! The HTTP surface: the one route table and the middleware around it.
//!
//! Middleware order, outermost first: request id → trace → metrics →
//! security headers → `Connection: close` unless the body was read → page
//! errors → timeout → handler. Metrics sit outside the timeout so timed-out
//! requests are still counted; the `Connection` check sits outside the page
//! errors, which rebuild the response. Connections themselves (timeouts, the
//! cap, TLS) are [`server`]'s.

pub mod authorize;
pub mod client_auth;
pub mod cookie;
pub mod discovery;
mod drain;
pub mod end_session;
pub mod error;
pub mod extract;
pub mod health;
pub mod introspect;
pub mod jwks;
pub mod lang;
pub mod metrics;
pub mod oauth_error;
pub mod pages;
pub mod par;
pub mod params;
pub mod revoke;
mod security_headers;
pub mod server;
mod static_files;
pub mod token;
pub mod userinfo;

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, StatusCode};
use axum::routing::{get, post};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::state::AppState;

/// Largest form or token-request body read (they are small). Every body is
/// read through a limited reader that answers in the endpoint's own error
/// format (a page, or OAuth JSON), so there is no global limit layer.
pub(crate) const BODY_LIMIT_BYTES: usize = 64 * 1024;
/// A request taking longer than this is answered 408.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Builds the router with every route and middleware.
pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(discovery::openid_configuration),
        )
        .route("/jwks", get(jwks::jwks))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/static/{file}", get(static_files::asset))
        .route("/favicon.ico", get(static_files::no_favicon))
        .route(
            "/authorize",
            get(authorize::authorize).post(authorize::authorize),
        )
        .route("/authorize/continue", get(authorize::resume))
        .route("/authorize/consent", post(authorize::consent))
        .route("/authorize/decline", post(authorize::decline))
        .route("/token", post(token::token))
        .route(
            "/userinfo",
            get(userinfo::userinfo).post(userinfo::userinfo),
        )
        .route("/par", post(par::par))
        .route("/revoke", post(revoke::revoke))
        .route("/introspect", post(introspect::introspect))
        .route(
            "/session/end",
            get(end_session::end_session).post(end_session::end_session),
        )
        .route("/session/end/confirm", post(end_session::confirm))
        .route("/login", get(pages::login::show).post(pages::login::submit))
        .route(
            "/login/email",
            get(pages::otp::choose_email).post(pages::otp::send_code),
        )
        .route(
            "/login/code",
            get(pages::otp::enter_code).post(pages::otp::check_code),
        )
        .route(
            "/login/totp",
            get(pages::otp::enter_totp).post(pages::otp::check_totp),
        )
        .route(
            "/stepup",
            get(pages::step_up::show).post(pages::step_up::start),
        )
        .route("/account", get(pages::account::show))
        .route("/account/sessions/end", post(pages::account::end_session))
        .route(
            "/account/sessions/end-others",
            post(pages::account::end_other_sessions),
        )
        .route("/account/totp/start", post(pages::account::totp_start))
        .route("/account/totp", get(pages::account::totp_show))
        .route("/account/totp/confirm", post(pages::account::totp_confirm))
        .route(
            "/logout",
            get(pages::logout::confirm).post(pages::logout::logout),
        )
        .merge(pages::passkey::routes())
        .fallback(not_found)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            error::render_page_errors,
        ))
        .layer(axum::middleware::from_fn(drain::close_unless_drained))
        .layer(axum::middleware::from_fn(
            security_headers::security_headers,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(
            TraceLayer::new_for_http().on_response(
                DefaultOnResponse::new()
                    .level(tracing::Level::DEBUG)
                    .latency_unit(tower_http::LatencyUnit::Millis),
            ),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

async fn not_found() -> error::PageError {
    error::PageError::not_found()
}
