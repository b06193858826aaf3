//! `GET /logout` asks for confirmation; `POST /logout` ends the session,
//! revokes its tokens and sends back-channel logout tokens to the RPs.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;

use super::{Messages, message, render};
use crate::http::cookie::clear_session_cookie;
use crate::http::error::PageError;
use crate::http::extract::{Browser, CsrfForm};
use crate::paths;
use crate::state::AppState;
use crate::templates::pages::LogoutPage;

/// The confirmation page (a GET must not log anyone out: a link or an image could).
pub async fn confirm(
    State(state): State<AppState>,
    browser: Browser,
) -> Result<Response, PageError> {
    render(
        &state,
        &browser,
        "logout.html",
        StatusCode::OK,
        LogoutPage::default(),
        Messages::default(),
    )
}

/// The logout form (only the CSRF token).
#[derive(Deserialize)]
pub struct LogoutForm {}

/// Ends the session server-side and deletes the cookie.
pub async fn logout(
    State(state): State<AppState>,
    CsrfForm {
        browser,
        form: LogoutForm {},
    }: CsrfForm<LogoutForm>,
) -> Result<Response, PageError> {
    // Ends the session, revokes its tokens and tells the RPs (back-channel logout).
    crate::http::end_session::log_out(&state, &browser, "logout").await?;
    let mut response = message(
        &state,
        &browser,
        StatusCode::OK,
        "logout.done.heading",
        "logout.done",
        Some((paths::LOGIN, "nav.login")),
    )?;
    response.headers_mut().remove(header::SET_COOKIE);
    if let Ok(value) = HeaderValue::from_str(&clear_session_cookie()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}
