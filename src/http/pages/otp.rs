//! The second factor of a login or step-up (`docs/product.md`, passkey registration step 3).
//!
//! Choose a masked address and send a code, enter it (with "Back" to resend), or enter an
//! authenticator-app code instead. A step-up (`super::step_up`) starts on
//! the same forms and continues on these pages.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{Messages, message, redirect, render};
use crate::authn::email_code::{self, CodeOutcome, SendOutcome};
use crate::authn::second_factor::{self, Checked};
use crate::authn::session::Pending;
use crate::authn::totp::login::TotpOutcome;
use crate::http::error::PageError;
use crate::http::extract::{Browser, CsrfForm};
use crate::model::Customer;
use crate::paths;
use crate::state::AppState;
use crate::store::login_attempts::AttemptRow;
use crate::templates::pages::{FactorCodePage, FactorEmailPage, FactorTotpPage, MaskedEmail};

/// What a second-factor page finds for the browser.
enum Flow {
    /// The browser's login attempt, with its customer.
    Open(AttemptRow, Customer),
    /// No attempt (it expired) or no customer: the page saying so, to answer with.
    Expired(Response),
}

/// The flow this browser is in, with its customer; a page saying the flow
/// expired when there is none.
async fn current(state: &AppState, browser: &Browser) -> Result<Flow, PageError> {
    let now = state.clock.now();
    let attempt = state.store.find_attempt(&browser.session.sid, now).await?;
    let customer = match &attempt {
        Some(a) => state.store.find_customer(&a.customer_id).await?,
        None => None,
    };
    match (attempt, customer) {
        (Some(a), Some(c)) => Ok(Flow::Open(a, c)),
        _ => Ok(Flow::Expired(message(
            state,
            browser,
            StatusCode::BAD_REQUEST,
            "flow.expired.heading",
            "flow.expired",
            Some((paths::LOGIN, "nav.login")),
        )?)),
    }
}

fn email_page(
    state: &AppState,
    browser: &Browser,
    attempt: &AttemptRow,
    customer: &Customer,
    status: StatusCode,
    messages: Messages,
) -> Result<Response, PageError> {
    let emails = customer
        .emails
        .iter()
        .enumerate()
        .map(|(index, e)| MaskedEmail {
            index,
            masked: e.masked(),
        })
        .collect();
    let ctx = FactorEmailPage {
        purpose: &attempt.purpose,
        emails,
        totp_available: customer.totp_enrolled,
        step_up: None,
    };
    render(state, browser, "factor_email.html", status, ctx, messages)
}

/// `GET /login/email`: the masked addresses to send a code to.
pub async fn choose_email(
    State(state): State<AppState>,
    browser: Browser,
) -> Result<Response, PageError> {
    let (attempt, customer) = match current(&state, &browser).await? {
        Flow::Open(attempt, customer) => (attempt, customer),
        Flow::Expired(page) => return Ok(page),
    };
    email_page(
        &state,
        &browser,
        &attempt,
        &customer,
        StatusCode::OK,
        Messages::default(),
    )
}

/// The address choice.
#[derive(Deserialize)]
pub struct SendForm {
    #[serde(default)]
    email_index: String,
}

/// `POST /login/email`: sends a code to the chosen address.
pub async fn send_code(
    State(state): State<AppState>,
    CsrfForm { browser, form }: CsrfForm<SendForm>,
) -> Result<Response, PageError> {
    let (attempt, customer) = match current(&state, &browser).await? {
        Flow::Open(attempt, customer) => (attempt, customer),
        Flow::Expired(page) => return Ok(page),
    };
    send_and_answer(&state, &browser, &attempt, &customer, &form.email_index).await
}

/// Sends a code for `attempt` to address number `index` (as typed): on to the
/// code entry, or the choice again with the reason.
pub(super) async fn send_and_answer(
    state: &AppState,
    browser: &Browser,
    attempt: &AttemptRow,
    customer: &Customer,
    index: &str,
) -> Result<Response, PageError> {
    let index = index.trim().parse::<usize>().unwrap_or(usize::MAX);
    let (status, error) =
        match email_code::send(state, attempt, customer, index, browser.lang).await? {
            SendOutcome::Sent { .. } => return Ok(redirect(browser, paths::LOGIN_CODE)),
            SendOutcome::Limited => (StatusCode::TOO_MANY_REQUESTS, "code.resend_limited"),
            SendOutcome::NoSuchAddress => (StatusCode::BAD_REQUEST, "error.bad_request"),
        };
    email_page(
        state,
        browser,
        attempt,
        customer,
        status,
        Messages::error(error),
    )
}

async fn code_page(
    state: &AppState,
    browser: &Browser,
    attempt: &AttemptRow,
    customer: &Customer,
    messages: Messages,
) -> Result<Response, PageError> {
    let live = state
        .store
        .live_email_code(&attempt.id, state.clock.now())
        .await?;
    let masked = live
        .and_then(|c| {
            customer
                .emails
                .get(usize::try_from(c.email_position).unwrap_or(usize::MAX))
                .map(|e| e.masked())
        })
        .unwrap_or_default();
    let ctx = FactorCodePage {
        purpose: &attempt.purpose,
        masked,
    };
    render(
        state,
        browser,
        "factor_code.html",
        StatusCode::OK,
        ctx,
        messages,
    )
}

/// `GET /login/code`: the code entry, once a code was sent.
pub async fn enter_code(
    State(state): State<AppState>,
    browser: Browser,
) -> Result<Response, PageError> {
    let (attempt, customer) = match current(&state, &browser).await? {
        Flow::Open(attempt, customer) => (attempt, customer),
        Flow::Expired(page) => return Ok(page),
    };
    if !state.store.email_code_sent(&attempt.id).await? {
        return Ok(redirect(&browser, paths::LOGIN_EMAIL));
    }
    code_page(&state, &browser, &attempt, &customer, Messages::default()).await
}

/// An entered one-time code.
#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

/// `POST /login/code`: checks the emailed code.
pub async fn check_code(
    State(state): State<AppState>,
    CsrfForm { browser, form }: CsrfForm<CodeForm>,
) -> Result<Response, PageError> {
    let (attempt, customer) = match current(&state, &browser).await? {
        Flow::Open(attempt, customer) => (attempt, customer),
        Flow::Expired(page) => return Ok(page),
    };
    let pending = pending(&browser, &attempt, &customer);
    let error = match second_factor::check_email_code(&state, pending, &form.code).await? {
        Checked::Refused(CodeOutcome::Wrong) => "code.wrong",
        Checked::Refused(CodeOutcome::Dead) => "code.dead",
        // An accepted code is never refused; the safe page if it were.
        Checked::Refused(CodeOutcome::Expired | CodeOutcome::Accepted) => "code.expired",
        done => return answer(&state, &browser, done),
    };
    code_page(
        &state,
        &browser,
        &attempt,
        &customer,
        Messages::error(error),
    )
    .await
}

fn totp_page(
    state: &AppState,
    browser: &Browser,
    attempt: &AttemptRow,
    messages: Messages,
) -> Result<Response, PageError> {
    let ctx = FactorTotpPage {
        purpose: &attempt.purpose,
        email_available: true,
        step_up: None,
    };
    render(
        state,
        browser,
        "factor_totp.html",
        StatusCode::OK,
        ctx,
        messages,
    )
}

/// `GET /login/totp`: the authenticator-app code entry.
pub async fn enter_totp(
    State(state): State<AppState>,
    browser: Browser,
) -> Result<Response, PageError> {
    let (attempt, customer) = match current(&state, &browser).await? {
        Flow::Open(attempt, customer) => (attempt, customer),
        Flow::Expired(page) => return Ok(page),
    };
    if !customer.totp_enrolled {
        return Ok(redirect(&browser, paths::LOGIN_EMAIL));
    }
    totp_page(&state, &browser, &attempt, Messages::default())
}

/// `POST /login/totp`: checks the authenticator-app code.
pub async fn check_totp(
    State(state): State<AppState>,
    CsrfForm { browser, form }: CsrfForm<CodeForm>,
) -> Result<Response, PageError> {
    let (attempt, customer) = match current(&state, &browser).await? {
        Flow::Open(attempt, customer) => (attempt, customer),
        Flow::Expired(page) => return Ok(page),
    };
    check_totp_and_answer(&state, &browser, &attempt, &customer, &form.code).await
}

/// Checks an authenticator-app code for `attempt`: on to where the attempt
/// continues, or the code entry again with the reason.
pub(super) async fn check_totp_and_answer(
    state: &AppState,
    browser: &Browser,
    attempt: &AttemptRow,
    customer: &Customer,
    code: &str,
) -> Result<Response, PageError> {
    let pending = pending(browser, attempt, customer);
    let error = match second_factor::check_totp(state, pending, code).await? {
        Checked::Refused(TotpOutcome::NotEnrolled) => {
            return Ok(redirect(browser, paths::LOGIN_EMAIL));
        }
        // An accepted code is never refused; the safe answer if it were.
        Checked::Refused(TotpOutcome::Wrong | TotpOutcome::Accepted) => "totp.wrong",
        Checked::Refused(TotpOutcome::Locked) => "totp.locked",
        done => return answer(state, browser, done),
    };
    totp_page(state, browser, attempt, Messages::error(error))
}

fn pending<'a>(
    browser: &'a Browser,
    attempt: &'a AttemptRow,
    customer: &'a Customer,
) -> Pending<'a> {
    Pending {
        session: &browser.session,
        attempt,
        customer,
        ip: &browser.ip,
        lang: browser.lang,
    }
}

/// Where a right code leads: on with the new cookie, or the expired-flow
/// page when a concurrent request completed the attempt first.
fn answer<O>(
    state: &AppState,
    browser: &Browser,
    checked: Checked<O>,
) -> Result<Response, PageError> {
    match checked {
        Checked::Completed(done) => Ok(crate::http::cookie::with_cookie(
            axum::response::Redirect::to(&done.return_to).into_response(),
            Some(&done.handle),
        )),
        Checked::Raced | Checked::Refused(_) => Ok(message(
            state,
            browser,
            StatusCode::CONFLICT,
            "flow.expired.heading",
            "flow.expired",
            Some((paths::LOGIN, "nav.login")),
        )?),
    }
}
