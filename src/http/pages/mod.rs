//! Hosted pages: login, second factors, account, logout. Handlers extract,
//! call one `authn` operation and render a template; nothing else.

pub mod account;
pub mod login;
pub mod logout;
pub mod otp;
pub mod passkey;
pub mod passkey_api;
pub mod step_up;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Serialize;

use super::cookie::with_cookie;
use super::error::PageError;
use super::extract::Browser;
use crate::state::AppState;
use crate::templates::pages::{Frame, LangUrls, Link, MessagePage, framed};

/// A 303 redirect to a local path, carrying the browser's new cookie if any.
pub fn redirect(browser: &Browser, to: &str) -> Response {
    with_cookie(
        Redirect::to(to).into_response(),
        browser.new_cookie.as_deref(),
    )
}

/// Optional page messages: catalogue keys of an alert and a status line.
#[derive(Clone, Copy, Debug, Default)]
pub struct Messages {
    /// `role="alert"` message.
    pub error: Option<&'static str>,
    /// `role="status"` message.
    pub notice: Option<&'static str>,
}

impl Messages {
    /// Only an error.
    pub fn error(key: &'static str) -> Self {
        Self {
            error: Some(key),
            notice: None,
        }
    }
}

/// Renders `template` with the context every page gets (CSRF token, language
/// links, messages) merged into `ctx`.
pub fn render(
    state: &AppState,
    browser: &Browser,
    template: &str,
    status: StatusCode,
    ctx: impl Serialize,
    messages: Messages,
) -> Result<Response, PageError> {
    let link = |lang: &str| {
        let mut query = browser.query_without_lang.clone();
        if !query.is_empty() {
            query.push('&');
        }
        format!("{}?{query}lang={lang}", browser.path)
    };
    let frame = Frame {
        csrf: &browser.session.csrf_token,
        lang_urls: Some(LangUrls {
            ja: link("ja"),
            en: link("en"),
        }),
        error: messages.error,
        notice: messages.notice,
    };
    let full = framed(&frame, &ctx);
    let html = state
        .templates
        .render_page(template, browser.lang, full)
        .map_err(|e| PageError::from(e).in_lang(browser.lang))?;
    let mut response = (status, Html(html)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(with_cookie(response, browser.new_cookie.as_deref()))
}

/// Renders the generic message page.
pub fn message(
    state: &AppState,
    browser: &Browser,
    status: StatusCode,
    heading: &'static str,
    text: &'static str,
    link: Option<(&str, &'static str)>,
) -> Result<Response, PageError> {
    let ctx = MessagePage {
        heading,
        message: text,
        detail: None,
        link: link.map(|(href, label_key)| Link { href, label_key }),
    };
    render(
        state,
        browser,
        "message.html",
        status,
        ctx,
        Messages::default(),
    )
}
