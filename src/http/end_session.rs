//! The end-session endpoint (OpenID Connect RP-Initiated Logout 1.0 §2):
//! `GET`/`POST /session/end`, the confirmation's `POST /session/end/confirm`,
//! and `log_out`, which the hosted logout page shares.
//!
//! A request that fails the checks of `oidc::logout::check` gets an error
//! page and never a redirect. A valid `id_token_hint` for the logged-in
//! customer logs out at once (or, when the browser sent no session cookie,
//! ends the session the hint names); without one the customer is asked
//! first, because anyone can make a browser load this URL (§2, §6).

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::cookie::{clear_session_cookie, with_cookie};
use super::error::PageError;
use super::extract::{Browser, CsrfForm};
use super::pages::{Messages, message, render};
use super::params::QueryOrForm;
use crate::authn::session;
use crate::oidc::error::Failure;
use crate::oidc::logout::{self, Checked, EndSessionRequest, Next, Refusal};
use crate::paths;
use crate::state::AppState;
use crate::templates::Lang;
use crate::templates::pages::{HiddenField, LogoutPage};

/// `GET`/`POST /session/end`.
pub async fn end_session(
    State(state): State<AppState>,
    mut browser: Browser,
    params: Result<QueryOrForm, PageError>,
) -> Result<Response, PageError> {
    let QueryOrForm(params) = params.map_err(|e| e.in_lang(browser.lang))?;
    // The GET query's `ui_locales` was read by the extractor; a POST body's is read here.
    if let Some(lang) = params.get("ui_locales").and_then(Lang::from_ui_locales) {
        browser.lang = lang;
    }
    let req = EndSessionRequest::from_params(&params)
        .ok_or_else(|| PageError::bad_request().in_lang(browser.lang))?;
    let checked = logout::check(&state, &req)
        .await
        .map_err(|r| refused(&browser, r))?;
    match logout::next(&checked, &browser.session) {
        Next::LogOut => {
            log_out(&state, &browser, "rp_logout").await?;
            finish(&state, &browser, &checked, true)
        }
        Next::EndHinted => {
            logout::end_hinted_session(&state, &checked).await?;
            finish(&state, &browser, &checked, false)
        }
        Next::Return => finish(&state, &browser, &checked, false),
        Next::Confirm => confirm_page(&state, &browser, &checked),
    }
}

/// The fields the confirmation page carries back (checked again on arrival).
#[derive(Debug, Deserialize)]
pub struct ConfirmForm {
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
    client_id: Option<String>,
}

/// `POST /session/end/confirm`: the customer confirmed; log out and return.
pub async fn confirm(
    State(state): State<AppState>,
    CsrfForm { browser, form }: CsrfForm<ConfirmForm>,
) -> Result<Response, PageError> {
    let non_empty = |v: Option<String>| v.filter(|s| !s.is_empty());
    let req = EndSessionRequest {
        id_token_hint: None,
        post_logout_redirect_uri: non_empty(form.post_logout_redirect_uri),
        state: non_empty(form.state),
        client_id: non_empty(form.client_id),
    };
    let checked = logout::check(&state, &req)
        .await
        .map_err(|r| refused(&browser, r))?;
    log_out(&state, &browser, "rp_logout").await?;
    finish(&state, &browser, &checked, true)
}

/// Ends the browser's session, then revokes its tokens and sends the
/// back-channel logout tokens (`oidc::backchannel::session_ended`).
pub(crate) async fn log_out(
    state: &AppState,
    browser: &Browser,
    reason: &str,
) -> Result<(), PageError> {
    let sid = &browser.session.sid;
    let customer = match &browser.session.customer_id {
        Some(id) => state.store.find_customer(id).await?,
        None => None,
    };
    match customer {
        Some(customer) => {
            // Only the request that ended it notifies, so a double submit sends nothing twice.
            if session::end(state, sid, &customer, &browser.ip, reason).await? {
                crate::oidc::backchannel::session_ended(state, sid, &customer.id).await?;
            }
        }
        None => {
            state
                .store
                .end_session(sid, None, state.clock.now())
                .await?;
        }
    }
    Ok(())
}

fn refused(browser: &Browser, failure: Failure<Refusal>) -> PageError {
    let refusal = match failure {
        Failure::Refused(refusal) => refusal,
        Failure::Internal(e) => return e.into(),
    };
    tracing::info!(reason = refusal.as_str(), "end-session request refused");
    PageError {
        status: StatusCode::BAD_REQUEST,
        heading: "logout.refused.heading",
        message: "logout.refused",
        lang: Some(browser.lang),
    }
}

/// Back to the RP (303, with `state` only if sent), or the "logged out" page;
/// `ended` replaces the cookie with one that deletes it.
fn finish(
    state: &AppState,
    browser: &Browser,
    checked: &Checked,
    ended: bool,
) -> Result<Response, PageError> {
    let mut response = match &checked.redirect {
        Some(uri) => with_cookie(
            Redirect::to(&logout::return_url(uri, checked.state.as_deref())).into_response(),
            browser.new_cookie.as_deref(),
        ),
        None => message(
            state,
            browser,
            StatusCode::OK,
            "logout.done.heading",
            "logout.done",
            Some((paths::LOGIN, "nav.login")),
        )?,
    };
    if ended {
        response.headers_mut().remove(header::SET_COOKIE);
        if let Ok(value) = HeaderValue::from_str(&clear_session_cookie()) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

/// The confirmation page, naming the RP and carrying its redirect and state.
fn confirm_page(
    state: &AppState,
    browser: &Browser,
    checked: &Checked,
) -> Result<Response, PageError> {
    let carried = [
        ("post_logout_redirect_uri", checked.redirect.as_deref()),
        ("state", checked.state.as_deref()),
        (
            "client_id",
            checked.client.as_ref().map(|c| c.client_id.as_str()),
        ),
    ];
    let fields = carried
        .iter()
        .filter_map(|(name, value)| value.map(|value| HiddenField { name, value }))
        .collect();
    let ctx = LogoutPage {
        client_name: checked.client.as_ref().map(|c| c.name.as_str()),
        action: Some(paths::END_SESSION_CONFIRM),
        fields,
    };
    let response = render(
        state,
        browser,
        "logout.html",
        StatusCode::OK,
        ctx,
        Messages::default(),
    )?;
    Ok(response)
}
