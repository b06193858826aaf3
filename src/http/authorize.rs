//! The authorization endpoint (OIDC Core §3.1.2): `GET`/`POST /authorize`,
//! `GET /authorize/continue` after a login or step-up, and the consent and
//! passkey-offer answers.
//!
//! The flow is `oidc::authorize`; each handler here extracts, makes one call
//! and renders the [`Next`] it returns. An unknown client or redirect URI
//! gets an error page and never a redirect (RFC 6749 §4.1.2.1); every other
//! error goes back to the client with `error`, `state` and `iss` (RFC 9207).

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use super::cookie::with_cookie;
use super::error::PageError;
use super::extract::{Browser, CsrfForm, PageQuery};
use super::pages::{Messages, render};
use super::params::QueryOrForm;
use crate::oidc::authorization_details::Shown;
use crate::oidc::authorize::{self, Next, Reply};
use crate::oidc::request::ResponseMode;
use crate::paths;
use crate::state::AppState;
use crate::templates::Lang;
use minijinja::value::Serde;

fn bad_client(lang: crate::templates::Lang) -> PageError {
    PageError {
        status: StatusCode::BAD_REQUEST,
        heading: "oauth.bad_client.heading",
        message: "oauth.bad_client",
        lang: Some(lang),
    }
}

/// `GET`/`POST /authorize`.
pub async fn authorize(
    State(state): State<AppState>,
    browser: Browser,
    params: Result<QueryOrForm, PageError>,
) -> Result<Response, PageError> {
    let QueryOrForm(params) = params.map_err(|e| e.in_lang(browser.lang))?;
    let next = authorize::begin(&state, &browser.session, params).await?;
    show(&state, &browser, next)
}

/// Query of `GET /authorize/continue`.
#[derive(Debug, Deserialize)]
pub struct ContinueQuery {
    request: String,
}

/// `GET /authorize/continue?request=…`: decides again after an interaction.
pub async fn resume(
    State(state): State<AppState>,
    browser: Browser,
    PageQuery(q): PageQuery<ContinueQuery>,
) -> Result<Response, PageError> {
    let next = authorize::resume(&state, &browser.session, &q.request).await?;
    show(&state, &browser, next)
}

/// The consent form.
#[derive(Deserialize)]
pub struct ConsentForm {
    #[serde(default)]
    request: String,
    #[serde(default)]
    decision: String,
}

/// `POST /authorize/consent`.
pub async fn consent(
    State(state): State<AppState>,
    CsrfForm { browser, form }: CsrfForm<ConsentForm>,
) -> Result<Response, PageError> {
    let accepted = form.decision == "accept";
    let next = authorize::consent(&state, &browser.session, &form.request, accepted).await?;
    show(&state, &browser, next)
}

/// The passkey offer's "not now".
#[derive(Deserialize)]
pub struct DeclineForm {
    #[serde(default)]
    request: String,
}

/// `POST /authorize/decline`: the customer declines to register a passkey (`docs/product.md#assurance`).
pub async fn decline(
    State(state): State<AppState>,
    CsrfForm { browser, form }: CsrfForm<DeclineForm>,
) -> Result<Response, PageError> {
    let next = authorize::decline(&state, &browser.session, &form.request).await?;
    show(&state, &browser, next)
}

/// `POST /authorize/cancel`: the customer cancels the transaction shown (`docs/transactions.md`).
pub async fn cancel(
    State(state): State<AppState>,
    CsrfForm { browser, form }: CsrfForm<DeclineForm>,
) -> Result<Response, PageError> {
    let next = authorize::cancel(&state, &browser.session, &form.request).await?;
    show(&state, &browser, next)
}

/// What `transaction_confirm.html` shows.
#[derive(Serialize)]
struct TransactionPage<'a> {
    client_name: &'a str,
    request_id: &'a str,
    shown: Shown,
}

/// What `consent.html` shows.
#[derive(Serialize)]
struct ConsentPage<'a> {
    client_name: &'a str,
    scopes: &'a [String],
    request_id: &'a str,
}

/// What `passkey_offer.html` shows.
#[derive(Serialize)]
struct PasskeyOfferPage<'a> {
    client_name: &'a str,
    request_id: &'a str,
    return_to: String,
}

/// Renders what the flow decided.
fn show(state: &AppState, browser: &Browser, next: Next) -> Result<Response, PageError> {
    match next {
        Next::BadClient => Err(bad_client(browser.lang)),
        Next::Expired => super::pages::message(
            state,
            browser,
            StatusCode::BAD_REQUEST,
            "flow.expired.heading",
            "flow.expired",
            None,
        ),
        Next::Reply(reply) => Ok(to_client(state, browser, &reply)),
        Next::Interact(path) => Ok(with_cookie(
            Redirect::to(&path).into_response(),
            browser.new_cookie.as_deref(),
        )),
        Next::Consent(p) => {
            let browser = &for_request(browser, &p.request_id, p.ui_locales.as_deref());
            let ctx = ConsentPage {
                client_name: &p.client_name,
                scopes: &p.scope,
                request_id: &p.request_id,
            };
            page(state, browser, "consent.html", &ctx)
        }
        Next::OfferPasskey(p) => {
            let browser = &for_request(browser, &p.request_id, p.ui_locales.as_deref());
            let ctx = PasskeyOfferPage {
                client_name: &p.client_name,
                request_id: &p.request_id,
                return_to: paths::authorize_continue(&p.request_id),
            };
            page(state, browser, "passkey_offer.html", &ctx)
        }
        Next::Confirm(t) => {
            let browser = &for_request(browser, &t.request_id, t.ui_locales.as_deref());
            let ctx = TransactionPage {
                client_name: &t.client_name,
                request_id: &t.request_id,
                shown: t.details.shown(browser.lang),
            };
            page(state, browser, "transaction_confirm.html", &ctx)
        }
    }
}

/// The browser as the page of a stored request sees it: in the client's
/// `ui_locales` unless the URL itself asked for a language (a pushed
/// request carries it inside, where the page's URL does not show it), and
/// with language links that decide the stored request again, since
/// `/authorize` with a pushed `request_uri` cannot be reloaded.
fn for_request(browser: &Browser, request_id: &str, ui_locales: Option<&str>) -> Browser {
    let mut seen = browser.clone();
    if let (false, Some(lang)) = (
        browser.lang_asked,
        ui_locales.and_then(Lang::from_ui_locales),
    ) {
        seen.lang = lang;
    }
    seen.path = paths::AUTHORIZE_CONTINUE.to_owned();
    seen.query_without_lang = format!("request={request_id}");
    seen
}

fn page<T: Serialize>(
    state: &AppState,
    browser: &Browser,
    template: &str,
    ctx: &T,
) -> Result<Response, PageError> {
    let ctx = minijinja::Value::from(Serde(ctx));
    render(
        state,
        browser,
        template,
        StatusCode::OK,
        ctx,
        Messages::default(),
    )
}

/// Sends the authorization response to the client: a 303 with the
/// parameters in the query, or a self-submitting form (`form_post`); `iss`
/// is always added (RFC 9207).
fn to_client(state: &AppState, browser: &Browser, reply: &Reply) -> Response {
    let issuer = state.config.issuer_str();
    let mut fields: Vec<(&str, &str)> = match &reply.result {
        Ok(code) => vec![("code", code.as_str())],
        Err(e) => vec![
            ("error", e.code.as_str()),
            ("error_description", e.description),
        ],
    };
    if let Some(value) = &reply.state {
        fields.push(("state", value));
    }
    fields.push(("iss", &issuer));
    let redirect_uri = reply.redirect_uri.as_str();
    let response = match reply.response_mode {
        ResponseMode::Query => {
            let mut url = match url::Url::parse(redirect_uri) {
                Ok(u) => u,
                Err(_) => return bad_client(browser.lang).into_response(),
            };
            url.query_pairs_mut().extend_pairs(fields.iter());
            Redirect::to(url.as_str()).into_response()
        }
        ResponseMode::FormPost => form_post(state, browser, redirect_uri, &fields),
    };
    with_cookie(response, browser.new_cookie.as_deref())
}

fn form_post(
    state: &AppState,
    browser: &Browser,
    action: &str,
    fields: &[(&str, &str)],
) -> Response {
    let fields: Vec<_> = fields
        .iter()
        .map(|(name, value)| minijinja::context! { name => *name, value => *value })
        .collect();
    let ctx = minijinja::context! { action => action, fields => fields };
    match state
        .templates
        .render_page("form_post.html", browser.lang, ctx)
    {
        Ok(html) => {
            let mut response = axum::response::Html(html).into_response();
            // The page posts to the client, so its form-action must allow the redirect URI.
            let csp = format!(
                "default-src 'none'; script-src 'self'; style-src 'self'; form-action {action}; frame-ancestors 'none'; base-uri 'none'"
            );
            if let Ok(v) = HeaderValue::from_str(&csp) {
                response
                    .headers_mut()
                    .insert(header::CONTENT_SECURITY_POLICY, v);
            }
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => PageError::from(e).into_response(),
    }
}
