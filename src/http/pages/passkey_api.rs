//! The JSON endpoints the passkey script calls (WebAuthn L3 §5.1.3 create,
//! §5.1.4 get): each ceremony has a `start` (options for the browser) and a
//! `finish` (the authenticator's response).
//!
//! Requests are `application/json` from a page of the same session, which
//! sends the session's CSRF token in `X-CSRF-Token` (compared in constant
//! time). Every failure is a JSON object `{"error": "<code>"}` with a 4xx
//! status, never a framework's plain-text rejection.

use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use crate::authn::passkey::confirm::{self as passkey_confirm, ConfirmOutcome};
use crate::authn::passkey::login::{self as passkey_login, AssertionOutcome, Challenge};
use crate::authn::passkey::registration::{
    self as passkey_registration, FinishOutcome, StartOutcome,
};
use crate::authn::passkey::{passkey_step_up_url, step_up_url};
use crate::authn::return_to;
use crate::authn::session;
use crate::crypto::compare;
use crate::error::Error;
use crate::http::cookie;
use crate::http::extract::{Browser, client_ip};
use crate::model::Customer;
use crate::oidc::authorize::{self, Transaction};
use crate::paths;
use crate::state::AppState;
use crate::templates::Lang;

/// A JSON error answer: status and `{"error": code, ...}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: Value,
}

impl ApiError {
    fn new(status: StatusCode, code: &str) -> Self {
        Self {
            status,
            body: json!({ "error": code }),
        }
    }

    fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        if let Some(map) = self.body.as_object_mut() {
            map.insert(key.to_owned(), value.into());
        }
        self
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        if let Error::Internal(cause) = &e {
            tracing::error!(
                error = format!("{cause:#}"),
                "internal error on a passkey endpoint"
            );
        }
        match e {
            Error::Internal(_) => Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            Error::Unavailable(cause) => {
                tracing::warn!(
                    error = format!("{cause:#}"),
                    "database unavailable on a passkey endpoint"
                );
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            _ => Self::new(StatusCode::BAD_REQUEST, "bad_request"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.status, &self.body, None)
    }
}

fn json_response(status: StatusCode, body: &Value, cookie: Option<&str>) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    crate::http::cookie::with_cookie(response, cookie)
}

/// A JSON call from a page: the browser's live session, whose CSRF token the
/// `X-CSRF-Token` header carries, and the parsed body.
#[derive(Debug)]
pub struct JsonCall<T> {
    /// The calling browser (never a new session: a call without one is refused).
    pub browser: Browser,
    /// The body.
    pub body: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for JsonCall<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let is_json = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "bad_request",
            ));
        }
        let found = match cookie::session_value(&parts.headers) {
            Some(value) => session::load(state, &value).await?,
            None => None,
        };
        let Some(row) = found else {
            return Err(ApiError::new(StatusCode::FORBIDDEN, "csrf"));
        };
        let token = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !compare::ct_eq_str(token, &row.csrf_token) {
            return Err(ApiError::new(StatusCode::FORBIDDEN, "csrf"));
        }
        let bytes = axum::body::to_bytes(body, crate::http::BODY_LIMIT_BYTES)
            .await
            .map_err(|_| ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "bad_request"))?;
        let body = serde_json::from_slice(&bytes)
            .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "bad_request"))?;
        let lang = row
            .locale
            .as_deref()
            .and_then(Lang::parse)
            .unwrap_or_default();
        let browser = Browser {
            ip: client_ip(&parts, state),
            session: row,
            new_cookie: None,
            lang,
            lang_asked: false,
            path: parts.uri.path().to_owned(),
            query_without_lang: String::new(),
        };
        Ok(Self { browser, body })
    }
}

async fn customer_of(state: &AppState, browser: &Browser) -> Result<Customer, ApiError> {
    let customer = match &browser.session.customer_id {
        Some(id) => state.store.find_customer(id).await?,
        None => None,
    };
    customer.ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "not_logged_in"))
}

fn continuation(state: &AppState, raw: Option<&str>) -> String {
    return_to::continuation(&state.config.issuer, raw, paths::ACCOUNT)
}

fn challenge(c: &Challenge) -> Response {
    json_response(
        StatusCode::OK,
        &json!({ "ceremony": c.ceremony, "options": c.options }),
        None,
    )
}

/// Body of every `start` call.
#[derive(Debug, Default, Deserialize)]
pub struct StartBody {
    /// Autofill (conditional mediation) instead of the button.
    #[serde(default)]
    conditional: bool,
    /// Where to continue (registration only; a local path).
    #[serde(default)]
    return_to: Option<String>,
}

/// Body of a registration `finish`.
#[derive(Debug, Deserialize)]
pub struct RegisterFinishBody {
    ceremony: String,
    credential: RegisterPublicKeyCredential,
    #[serde(default)]
    return_to: Option<String>,
}

/// Body of a login or step-up `finish`.
#[derive(Debug, Deserialize)]
pub struct AssertionFinishBody {
    ceremony: String,
    credential: PublicKeyCredential,
    #[serde(default)]
    return_to: Option<String>,
}

/// `POST /account/passkeys/register/start`: creation options (`docs/product.md`, passkey registration step 4).
pub async fn register_start(
    State(state): State<AppState>,
    call: JsonCall<StartBody>,
) -> Result<Response, ApiError> {
    let customer = customer_of(&state, &call.browser).await?;
    let back = continuation(&state, call.body.return_to.as_deref());
    let out =
        passkey_registration::start(&state, &call.browser.session, &customer, &call.browser.ip)
            .await?;
    match out {
        StartOutcome::Options { ceremony, options } => Ok(json_response(
            StatusCode::OK,
            &json!({ "ceremony": ceremony, "options": options }),
            None,
        )),
        StartOutcome::StepUpRequired { passkey_only } => Err(step_up_required(passkey_only, &back)),
        StartOutcome::Limit => Err(ApiError::new(StatusCode::CONFLICT, "limit")),
    }
}

fn step_up_required(passkey_only: bool, return_to: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "step_up_required").with(
        "step_up",
        step_up_url(passkey_only, &confirm_path(return_to)),
    )
}

/// The confirmation page, carrying where to continue after the registration.
pub(super) fn confirm_path(return_to: &str) -> String {
    if return_to == paths::ACCOUNT {
        return paths::ACCOUNT_PASSKEYS_CONFIRM.to_owned();
    }
    format!(
        "{}?{}",
        paths::ACCOUNT_PASSKEYS_CONFIRM,
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("return_to", return_to)
            .finish()
    )
}

/// `POST /account/passkeys/register/finish`: verifies and stores the new passkey (`docs/product.md`, passkey registration steps 5 and 6).
pub async fn register_finish(
    State(state): State<AppState>,
    call: JsonCall<RegisterFinishBody>,
) -> Result<Response, ApiError> {
    let JsonCall { browser, body } = call;
    let customer = customer_of(&state, &browser).await?;
    let back = continuation(&state, body.return_to.as_deref());
    let out = passkey_registration::finish(
        &state,
        &browser.session,
        &customer,
        &body.ceremony,
        &body.credential,
        &browser.ip,
        browser.lang,
    )
    .await?;
    let done = |to: String| json_response(StatusCode::OK, &json!({ "redirect": to }), None);
    match out {
        FinishOutcome::Registered if back == paths::ACCOUNT => {
            Ok(done(paths::account_notice("passkey_registered")))
        }
        FinishOutcome::Registered => Ok(done(back)),
        FinishOutcome::StepUpRequired { passkey_only } => {
            Err(step_up_required(passkey_only, &back))
        }
        FinishOutcome::Limit => Err(ApiError::new(StatusCode::CONFLICT, "limit")),
        FinishOutcome::Duplicate => Err(ApiError::new(StatusCode::CONFLICT, "already_registered")),
        FinishOutcome::Expired => Err(ApiError::new(StatusCode::BAD_REQUEST, "expired")),
        FinishOutcome::Failed => Err(ApiError::new(StatusCode::BAD_REQUEST, "failed")),
    }
}

/// `POST /passkey/login/start`: discoverable request options (button or autofill).
pub async fn login_start(
    State(state): State<AppState>,
    call: JsonCall<StartBody>,
) -> Result<Response, ApiError> {
    let c = passkey_login::start_login(&state, &call.browser.session.sid, call.body.conditional)
        .await?;
    Ok(challenge(&c))
}

/// `POST /passkey/login/finish`: verifies the assertion and logs the owner in.
pub async fn login_finish(
    State(state): State<AppState>,
    call: JsonCall<AssertionFinishBody>,
) -> Result<Response, ApiError> {
    let JsonCall { browser, body } = call;
    let back = continuation(&state, body.return_to.as_deref());
    let out = passkey_login::finish_login(
        &state,
        &browser.session,
        &body.ceremony,
        &body.credential,
        &browser.ip,
        browser.lang,
    )
    .await?;
    assertion_answer(&state, out, &back)
}

/// `POST /passkey/stepup/start`: request options limited to the customer's passkeys.
pub async fn step_up_start(
    State(state): State<AppState>,
    call: JsonCall<StartBody>,
) -> Result<Response, ApiError> {
    let customer = customer_of(&state, &call.browser).await?;
    match passkey_login::start_step_up(&state, &call.browser.session.sid, &customer).await? {
        Some(c) => Ok(challenge(&c)),
        None => Err(ApiError::new(StatusCode::CONFLICT, "no_passkey")),
    }
}

/// `POST /passkey/stepup/finish`: verifies the assertion inside the session (same `sub`, new cookie).
pub async fn step_up_finish(
    State(state): State<AppState>,
    call: JsonCall<AssertionFinishBody>,
) -> Result<Response, ApiError> {
    let JsonCall { browser, body } = call;
    let customer = customer_of(&state, &browser).await?;
    let back = continuation(&state, body.return_to.as_deref());
    let out = passkey_login::finish_step_up(
        &state,
        &browser.session,
        &customer,
        &body.ceremony,
        &body.credential,
        &browser.ip,
        browser.lang,
    )
    .await?;
    if matches!(out, AssertionOutcome::Expired) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "expired")
            .with("step_up", passkey_step_up_url(&back)));
    }
    assertion_answer(&state, out, &back)
}

/// The answer to a finished assertion. Every refusal looks the same to the
/// page ("failed", 401), except that an unknown credential also names itself
/// so the page can tell the browser to forget it (WebAuthn L3 §5.1.10).
fn assertion_answer(
    state: &AppState,
    out: AssertionOutcome,
    back: &str,
) -> Result<Response, ApiError> {
    match out {
        AssertionOutcome::Authenticated { handle } => Ok(json_response(
            StatusCode::OK,
            &json!({ "redirect": back }),
            Some(&handle),
        )),
        AssertionOutcome::UnknownCredential { credential_id } => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unknown_credential",
        )
        .with("credential_id", credential_id)
        .with("rp_id", state.config.webauthn_rp_id.clone())),
        AssertionOutcome::Refused => Err(ApiError::new(StatusCode::UNAUTHORIZED, "failed")),
        AssertionOutcome::Expired => Err(ApiError::new(StatusCode::BAD_REQUEST, "expired")),
    }
}

/// Body of a confirmation `start`.
#[derive(Debug, Deserialize)]
pub struct ConfirmStartBody {
    request: String,
}

/// Body of a confirmation `finish`.
#[derive(Debug, Deserialize)]
pub struct ConfirmFinishBody {
    request: String,
    ceremony: String,
    credential: PublicKeyCredential,
}

/// The live transaction `request` of this session, with the customer.
async fn transaction_of(
    state: &AppState,
    browser: &Browser,
    request: &str,
) -> Result<(Customer, Transaction), ApiError> {
    let customer = customer_of(state, browser).await?;
    match authorize::transaction(state, &browser.session, request).await? {
        Some(t) => Ok((customer, t)),
        None => Err(ApiError::new(StatusCode::BAD_REQUEST, "expired")),
    }
}

fn confirming(t: &Transaction) -> passkey_confirm::Transaction<'_> {
    passkey_confirm::Transaction {
        request_id: &t.request_id,
        client_id: &t.client_id,
        canonical_details: t.details.canonical(),
        digest: t.details.digest(),
    }
}

/// `POST /passkey/confirm/start`: request options whose challenge ends with
/// the transaction's hash (`docs/transactions.md#binding`).
pub async fn confirm_start(
    State(state): State<AppState>,
    call: JsonCall<ConfirmStartBody>,
) -> Result<Response, ApiError> {
    let (customer, t) = transaction_of(&state, &call.browser, &call.body.request).await?;
    let started = passkey_confirm::start(
        &state,
        &call.browser.session.sid,
        &customer,
        &confirming(&t),
    )
    .await?;
    match started {
        Some(c) => Ok(challenge(&c)),
        None => Err(ApiError::new(StatusCode::CONFLICT, "no_passkey")),
    }
}

/// `POST /passkey/confirm/finish`: verifies the assertion for the
/// transaction and sends the browser back to the authorization.
pub async fn confirm_finish(
    State(state): State<AppState>,
    call: JsonCall<ConfirmFinishBody>,
) -> Result<Response, ApiError> {
    let JsonCall { browser, body } = call;
    let (customer, t) = transaction_of(&state, &browser, &body.request).await?;
    let out = passkey_confirm::finish(
        &state,
        &browser.session,
        &customer,
        &body.ceremony,
        &body.credential,
        &confirming(&t),
        &browser.ip,
    )
    .await?;
    match out {
        ConfirmOutcome::Confirmed { .. } => Ok(json_response(
            StatusCode::OK,
            &json!({ "redirect": paths::authorize_continue(&t.request_id) }),
            None,
        )),
        ConfirmOutcome::Refused => Err(ApiError::new(StatusCode::UNAUTHORIZED, "failed")),
        ConfirmOutcome::Expired => Err(ApiError::new(StatusCode::BAD_REQUEST, "expired")),
    }
}
