//! The authorization endpoint (OIDC Core §3.1.2): `GET`/`POST /authorize`,
//! `GET /authorize/continue` after a login or step-up, and the consent and
//! passkey-offer answers.
//!
//! An unknown client or redirect URI gets an error page and never a redirect
//! (RFC 6749 §4.1.2.1); every other error goes back to the client with
//! `error`, `state` and `iss` (RFC 9207).

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::error::PageError;
use super::extract::{Browser, CsrfForm, PageQuery};
use super::pages::{Messages, render, with_cookie};
use super::params::QueryOrForm;
use crate::audit::{AuditEvent, AuditKind, Outcome};
use crate::crypto::random;
use crate::model::Client;
use crate::oidc::authorize::{self, Next, REQUEST_TTL_SECS};
use crate::oidc::error::{ErrorCode, ProtocolError};
use crate::oidc::par::PAR_URN_PREFIX;
use crate::oidc::params::Params;
use crate::oidc::request::{self, AuthorizationRequest, ResponseMode};
use crate::state::AppState;
use crate::store::requests::RequestRow;

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
    let lang = browser.lang;
    let QueryOrForm(mut params) = params.map_err(|e| e.in_lang(lang))?;
    let mut pushed = false;
    if let Some(uri) = params
        .get("request_uri")
        .filter(|u| u.starts_with(PAR_URN_PREFIX))
    {
        params = pushed_params(&state, uri, params.get("client_id"))
            .await?
            .ok_or_else(|| bad_client(lang))?;
        pushed = true;
    }
    let client = match params.get("client_id") {
        Some(id) => state.store.find_client(id).await?,
        None => None,
    };
    let Some(redirect_uri) = request::trusted_redirect(client.as_ref(), &params) else {
        return Err(bad_client(lang));
    };
    let Some(client) = client else {
        return Err(bad_client(lang));
    };
    let mode = request::response_mode(&params);
    let state_param = params.string("state");
    if client.require_par && !pushed {
        let e = ProtocolError::new(
            ErrorCode::InvalidRequest,
            "this client must use pushed authorization requests",
        );
        return Ok(client_error(
            &state,
            &browser,
            &client,
            &redirect_uri,
            mode,
            state_param.as_deref(),
            e,
        ));
    }
    let req = match request::parse(&client, &redirect_uri, &params) {
        Ok(req) => req,
        Err(e) => {
            return Ok(client_error(
                &state,
                &browser,
                &client,
                &redirect_uri,
                mode,
                state_param.as_deref(),
                e,
            ));
        }
    };
    let now = state.clock.now();
    let row = RequestRow {
        id: random::handle(),
        client_id: client.client_id.as_str().to_owned(),
        sid: Some(browser.session.sid.clone()),
        params: serde_json::to_string(&req)
            .map_err(|e| PageError::from(crate::error::Error::Internal(e.into())))?,
        pushed: false,
        created_at: now,
        expires_at: now + REQUEST_TTL_SECS,
    };
    let next = authorize::decide(&state, &row, &req, &client, &browser.session, false).await?;
    // Stored only when the browser must come back for it: a session that
    // already satisfies the request gets its code without two writes.
    if matches!(next, Next::Interact(_) | Next::Consent | Next::OfferPasskey) {
        state.store.insert_request(&row).await?;
    }
    respond(&state, &browser, &client, &row, &req, next)
}

/// The parameters of a pushed request (single use, same client), if valid.
async fn pushed_params(
    state: &AppState,
    uri: &str,
    client_id: Option<&str>,
) -> Result<Option<Params>, PageError> {
    let handle = uri.trim_start_matches(PAR_URN_PREFIX);
    let id = random::hash_secret(handle);
    let now = state.clock.now();
    let Some(row) = state.store.find_request(&id, now).await? else {
        return Ok(None);
    };
    if !row.pushed
        || client_id != Some(row.client_id.as_str())
        || !state.store.take_request(&id, now).await?
    {
        return Ok(None);
    }
    Ok(serde_json::from_str(&row.params).ok())
}

/// Query of `GET /authorize/continue`.
#[derive(Debug, Deserialize)]
pub struct ContinueQuery {
    request: String,
}

/// Loads a stored request of this browser, with its client.
async fn stored(
    state: &AppState,
    browser: &Browser,
    id: &str,
) -> Result<Option<(RequestRow, AuthorizationRequest, Client)>, PageError> {
    let Some(row) = state.store.find_request(id, state.clock.now()).await? else {
        return Ok(None);
    };
    if row.pushed || row.sid.as_deref() != Some(browser.session.sid.as_str()) {
        return Ok(None);
    }
    let Ok(req) = serde_json::from_str::<AuthorizationRequest>(&row.params) else {
        return Ok(None);
    };
    let Some(client) = state.store.find_client(&row.client_id).await? else {
        return Ok(None);
    };
    Ok(Some((row, req, client)))
}

fn expired(state: &AppState, browser: &Browser) -> Result<Response, PageError> {
    super::pages::message(
        state,
        browser,
        StatusCode::BAD_REQUEST,
        "flow.expired.heading",
        "flow.expired",
        None,
    )
}

/// `GET /authorize/continue?request=…`: decides again after an interaction.
pub async fn resume(
    State(state): State<AppState>,
    browser: Browser,
    PageQuery(q): PageQuery<ContinueQuery>,
) -> Result<Response, PageError> {
    let Some((row, req, client)) = stored(&state, &browser, &q.request).await? else {
        return expired(&state, &browser);
    };
    let next = authorize::decide(&state, &row, &req, &client, &browser.session, false).await?;
    finish(&state, &browser, &client, &row, &req, next).await
}

/// Answers a stored request; a final answer (code or error) uses it up, so
/// a second tab or a replayed continue link finds it expired.
async fn finish(
    state: &AppState,
    browser: &Browser,
    client: &Client,
    row: &RequestRow,
    req: &AuthorizationRequest,
    next: Next,
) -> Result<Response, PageError> {
    let last = matches!(next, Next::Code(_) | Next::Error(_));
    if last && !state.store.take_request(&row.id, state.clock.now()).await? {
        return expired(state, browser);
    }
    respond(state, browser, client, row, req, next)
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
    let Some((row, req, client)) = stored(&state, &browser, &form.request).await? else {
        return expired(&state, &browser);
    };
    if form.decision != "accept" {
        let denied = ProtocolError::new(ErrorCode::AccessDenied, "the customer did not consent");
        return finish(&state, &browser, &client, &row, &req, Next::Error(denied)).await;
    }
    if let Some(customer_id) = &browser.session.customer_id {
        state
            .store
            .save_consent(
                customer_id,
                client.client_id.as_str(),
                &req.scope.join(" "),
                state.clock.now(),
            )
            .await?;
    }
    let next = authorize::decide(&state, &row, &req, &client, &browser.session, true).await?;
    finish(&state, &browser, &client, &row, &req, next).await
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
    let Some((row, req, client)) = stored(&state, &browser, &form.request).await? else {
        return expired(&state, &browser);
    };
    finish(
        &state,
        &browser,
        &client,
        &row,
        &req,
        Next::Error(authorize::unmet()),
    )
    .await
}

fn respond(
    state: &AppState,
    browser: &Browser,
    client: &Client,
    row: &RequestRow,
    req: &AuthorizationRequest,
    next: Next,
) -> Result<Response, PageError> {
    match next {
        Next::Code(code) => {
            let params = [
                ("code", Some(code.as_str())),
                ("state", req.state.as_deref()),
            ];
            Ok(to_client(
                state,
                browser,
                &req.redirect_uri,
                req.response_mode,
                &params,
            ))
        }
        Next::Error(e) => Ok(client_error(
            state,
            browser,
            client,
            &req.redirect_uri,
            req.response_mode,
            req.state.as_deref(),
            e,
        )),
        Next::Interact(path) => Ok(with_cookie(
            Redirect::to(&path).into_response(),
            browser.new_cookie.as_deref(),
        )),
        Next::Consent => {
            let ctx = minijinja::context! { client_name => &client.name, scopes => &req.scope, request_id => &row.id };
            render(
                state,
                browser,
                "consent.html",
                StatusCode::OK,
                ctx,
                Messages::default(),
            )
        }
        Next::OfferPasskey => {
            let ctx = minijinja::context! { client_name => &client.name, request_id => &row.id, return_to => authorize::continue_path(&row.id) };
            render(
                state,
                browser,
                "passkey_offer.html",
                StatusCode::OK,
                ctx,
                Messages::default(),
            )
        }
    }
}

fn client_error(
    state: &AppState,
    browser: &Browser,
    client: &Client,
    redirect_uri: &str,
    mode: ResponseMode,
    state_param: Option<&str>,
    e: ProtocolError,
) -> Response {
    let event = AuditEvent::new(AuditKind::AuthorizationDenied, Outcome::Failure)
        .with_client(client.client_id.as_str())
        .with_detail(serde_json::json!({ "error": e.code.as_str() }));
    let audit_state = state.clone();
    tokio::spawn(async move { audit_state.audit(event).await });
    let params = [
        ("error", Some(e.code.as_str())),
        ("error_description", Some(e.description)),
        ("state", state_param),
    ];
    to_client(state, browser, redirect_uri, mode, &params)
}

/// Sends the authorization response to the client: a 303 with the
/// parameters in the query, or a self-submitting form (`form_post`); `iss`
/// is always added (RFC 9207).
fn to_client(
    state: &AppState,
    browser: &Browser,
    redirect_uri: &str,
    mode: ResponseMode,
    params: &[(&str, Option<&str>)],
) -> Response {
    let issuer = state.config.issuer_str();
    let mut fields: Vec<(&str, &str)> = params
        .iter()
        .filter_map(|(k, v)| v.map(|v| (*k, v)))
        .collect();
    fields.push(("iss", &issuer));
    let response = match mode {
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
