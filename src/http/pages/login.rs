//! `GET /login` and `POST /login`: customer code and password
//! (`docs/product.md#logging-in`, passkey registration step 1). Works without JavaScript.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use secrecy::SecretString;
use serde::Deserialize;

use super::{Messages, redirect, render};
use crate::authn::login::{self, PasswordLogin, PasswordOutcome};
use crate::authn::return_to;
use crate::http::error::PageError;
use crate::http::extract::{Browser, CsrfForm, PageQuery};
use crate::paths;
use crate::state::AppState;
use crate::templates::pages::LoginPage;

/// Query of the login page.
#[derive(Debug, Default, Deserialize)]
pub struct LoginQuery {
    /// Local path to continue at after the login.
    #[serde(default)]
    return_to: Option<String>,
    /// Prefill for the customer code field.
    #[serde(default)]
    login_hint: Option<String>,
    /// Ask for the password even with a session (`prompt=login`, `max_age`).
    #[serde(default)]
    reauth: Option<String>,
    /// Language hint of an OIDC request (handled by the `Browser` extractor).
    #[serde(default)]
    #[expect(
        dead_code,
        reason = "read by the Browser extractor; named here so the query parses"
    )]
    ui_locales: Option<String>,
    /// Language switch (handled by the `Browser` extractor).
    #[serde(default)]
    #[expect(
        dead_code,
        reason = "read by the Browser extractor; named here so the query parses"
    )]
    lang: Option<String>,
}

/// The login form.
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    customer_code: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    return_to: String,
}

/// Where to continue: a `return_to` that stays on our origin, normalised, else the account page.
fn continuation(state: &AppState, raw: Option<&str>) -> String {
    return_to::continuation(&state.config.issuer, raw, paths::ACCOUNT)
}

/// Shows the login form; a customer already logged in goes straight on.
pub async fn show(
    State(state): State<AppState>,
    browser: Browser,
    PageQuery(q): PageQuery<LoginQuery>,
) -> Result<Response, PageError> {
    let return_to = continuation(&state, q.return_to.as_deref());
    if browser.session.customer_id.is_some() && q.reauth.is_none() {
        return Ok(redirect(&browser, &return_to));
    }
    let prefill: String = q.login_hint.unwrap_or_default().chars().take(32).collect();
    page(
        &state,
        &browser,
        &prefill,
        &return_to,
        StatusCode::OK,
        Messages::default(),
    )
}

fn page(
    state: &AppState,
    browser: &Browser,
    customer_code: &str,
    return_to: &str,
    status: StatusCode,
    messages: Messages,
) -> Result<Response, PageError> {
    let ctx = LoginPage {
        customer_code,
        return_to,
        passkey_enabled: true,
    };
    render(state, browser, "login.html", status, ctx, messages)
}

/// Checks the password and moves on to the second factor.
pub async fn submit(
    State(state): State<AppState>,
    CsrfForm { browser, form }: CsrfForm<LoginForm>,
) -> Result<Response, PageError> {
    let return_to = continuation(&state, Some(&form.return_to));
    let attempt = PasswordLogin {
        sid: &browser.session.sid,
        customer_code: &form.customer_code,
        return_to: &return_to,
        ip: &browser.ip,
        lang: browser.lang,
    };
    let code: String = form.customer_code.chars().take(32).collect();
    match login::check_password(&state, attempt, SecretString::from(form.password)).await? {
        PasswordOutcome::SecondFactor { totp: true, .. } => {
            Ok(redirect(&browser, paths::LOGIN_TOTP))
        }
        PasswordOutcome::SecondFactor { totp: false, .. } => {
            Ok(redirect(&browser, paths::LOGIN_EMAIL))
        }
        PasswordOutcome::Failed => page(
            &state,
            &browser,
            &code,
            &return_to,
            StatusCode::OK,
            Messages::error("login.failed"),
        ),
        PasswordOutcome::Throttled => page(
            &state,
            &browser,
            &code,
            &return_to,
            StatusCode::TOO_MANY_REQUESTS,
            Messages::error("login.rate_limited"),
        ),
    }
}
