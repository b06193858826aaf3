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
pub mod dpop;
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

use crate::paths;
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
        .route(paths::DISCOVERY, get(discovery::openid_configuration))
        .route(paths::JWKS, get(jwks::jwks))
        .route(paths::HEALTHZ, get(health::healthz))
        .route(paths::READYZ, get(health::readyz))
        .route(paths::METRICS, get(metrics::metrics))
        .route(paths::STATIC_FILE, get(static_files::asset))
        .route(paths::FAVICON, get(static_files::no_favicon))
        .route(
            paths::AUTHORIZE,
            get(authorize::authorize).post(authorize::authorize),
        )
        .route(paths::AUTHORIZE_CONTINUE, get(authorize::resume))
        .route(paths::AUTHORIZE_CONSENT, post(authorize::consent))
        .route(paths::AUTHORIZE_DECLINE, post(authorize::decline))
        .route(paths::AUTHORIZE_CANCEL, post(authorize::cancel))
        .route(paths::TOKEN, post(token::token))
        .route(
            paths::USERINFO,
            get(userinfo::userinfo).post(userinfo::userinfo),
        )
        .route(paths::PAR, post(par::par))
        .route(paths::REVOKE, post(revoke::revoke))
        .route(paths::INTROSPECT, post(introspect::introspect))
        .route(
            paths::END_SESSION,
            get(end_session::end_session).post(end_session::end_session),
        )
        .route(paths::END_SESSION_CONFIRM, post(end_session::confirm))
        .route(
            paths::LOGIN,
            get(pages::login::show).post(pages::login::submit),
        )
        .route(
            paths::LOGIN_EMAIL,
            get(pages::otp::choose_email).post(pages::otp::send_code),
        )
        .route(
            paths::LOGIN_CODE,
            get(pages::otp::enter_code).post(pages::otp::check_code),
        )
        .route(
            paths::LOGIN_TOTP,
            get(pages::otp::enter_totp).post(pages::otp::check_totp),
        )
        .route(
            paths::STEP_UP,
            get(pages::step_up::show).post(pages::step_up::start),
        )
        .route(paths::ACCOUNT, get(pages::account::show))
        .route(
            paths::ACCOUNT_SESSIONS_END,
            post(pages::account::end_session),
        )
        .route(
            paths::ACCOUNT_SESSIONS_END_OTHERS,
            post(pages::account::end_other_sessions),
        )
        .route(paths::ACCOUNT_TOTP_START, post(pages::account::totp_start))
        .route(paths::ACCOUNT_TOTP, get(pages::account::totp_show))
        .route(
            paths::ACCOUNT_TOTP_CONFIRM,
            post(pages::account::totp_confirm),
        )
        .route(
            paths::LOGOUT,
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
