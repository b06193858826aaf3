//! Page errors: every failure of a hosted page ends as a readable, localized
//! page with the right status, never a framework's plain-text rejection.
//!
//! A handler returns a [`PageError`] (directly or through `?` from the domain
//! `Error`); its response carries a marker that [`render_page_errors`], a
//! middleware with access to the templates, turns into the page.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

use crate::error::Error;
use crate::paths;
use crate::state::AppState;
use crate::templates::Lang;
use crate::templates::pages::{Frame, LangUrls, Link, MessagePage, framed};

/// A hosted-page failure: status plus catalogue keys of heading and message.
#[derive(Clone, Debug)]
pub struct PageError {
    /// HTTP status.
    pub status: StatusCode,
    /// Catalogue key of the heading.
    pub heading: &'static str,
    /// Catalogue key of the message.
    pub message: &'static str,
    /// Language, when the handler knows it (else from the request).
    pub lang: Option<Lang>,
}

impl PageError {
    /// A page error with the generic heading of its status.
    pub fn new(status: StatusCode, message: &'static str) -> Self {
        let heading = match status.as_u16() {
            400 => "error.bad_request.heading",
            403 if message == "error.csrf" => "error.csrf.heading",
            403 => "error.forbidden.heading",
            404 => "error.not_found.heading",
            429 => "error.rate_limited.heading",
            503 => "error.unavailable.heading",
            _ => "error.internal.heading",
        };
        Self {
            status,
            heading,
            message,
            lang: None,
        }
    }

    /// 400 for malformed input.
    pub fn bad_request() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "error.bad_request")
    }

    /// 403 for a missing or wrong CSRF token.
    pub fn csrf() -> Self {
        Self::new(StatusCode::FORBIDDEN, "error.csrf")
    }

    /// 404.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "error.not_found")
    }

    /// Sets the page language.
    pub fn in_lang(mut self, lang: Lang) -> Self {
        self.lang = Some(lang);
        self
    }
}

impl From<Error> for PageError {
    fn from(e: Error) -> Self {
        match e {
            Error::Invalid(_) | Error::Conflict(_) => Self::bad_request(),
            Error::Internal(cause) => {
                tracing::error!(
                    error = format!("{cause:#}"),
                    "internal error on a hosted page"
                );
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "error.internal")
            }
            Error::Unavailable(cause) => {
                tracing::warn!(
                    error = format!("{cause:#}"),
                    "database unavailable on a hosted page"
                );
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "error.unavailable")
            }
        }
    }
}

/// Seconds a client is asked to wait after a 503 (RFC 9110 §10.2.3): about
/// what a database restart or a failover takes, short enough that a retrying
/// customer is not kept waiting long after the database is back.
const RETRY_AFTER_SECS: u32 = 5;

/// The `Retry-After` value of every 503.
pub(crate) fn retry_after() -> HeaderValue {
    HeaderValue::from(RETRY_AFTER_SECS)
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after());
        }
        response.extensions_mut().insert(self);
        response
    }
}

/// Renders responses that carry a [`PageError`] into the error page.
pub async fn render_page_errors(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    // Known before the handler runs, for errors that come before the session
    // (and the customer's saved language) could be read: `?lang=`/`ui_locales`,
    // then `Accept-Language`.
    let asked = super::lang::query_lang(request.uri().query().unwrap_or_default())
        .or_else(|| super::lang::accept_lang(request.headers()));
    let mut response = next.run(request).await;
    let Some(error) = response.extensions_mut().remove::<PageError>() else {
        return response;
    };
    let lang = error.lang.or(asked).unwrap_or(Lang::Ja);
    let page = MessagePage {
        heading: error.heading,
        message: error.message,
        detail: None,
        link: Some(Link {
            href: paths::LOGIN,
            label_key: "nav.login",
        }),
    };
    let frame = Frame {
        csrf: "",
        lang_urls: Some(LangUrls {
            ja: "?lang=ja".to_owned(),
            en: "?lang=en".to_owned(),
        }),
        error: None,
        notice: None,
    };
    let ctx = framed(&frame, &page);
    match state.templates.render_page("message.html", lang, ctx) {
        Ok(html) => {
            let mut page = (error.status, Html(html)).into_response();
            for (name, value) in response.headers() {
                if name == header::SET_COOKIE || name == header::RETRY_AFTER {
                    page.headers_mut().append(name, value.clone());
                }
            }
            page.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            page
        }
        Err(e) => {
            tracing::error!(error = %e, "could not render the error page");
            (error.status, "Error\n").into_response()
        }
    }
}
