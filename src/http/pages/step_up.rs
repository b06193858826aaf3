//! `GET /stepup` and `POST /stepup`: the email-code or app-code step-up.
//!
//! A logged-in customer proves again that it is them before a sensitive
//! action (passkey registration step 3 in `docs/product.md`), then continues at `return_to`.
//!
//! The GET only shows the form: GET must be safe (RFC 9110 §9.2.1), and any
//! site can make a browser send one with a link or an image. The POST, whose
//! CSRF token is checked like every form's, starts the step-up and at once
//! sends the code to the chosen address or checks the app's code, so the
//! customer answers the same fields as at login (`email_index` + `#otp-send`,
//! `code` + `#otp-submit`); the code entry and "Back" are then the login's
//! own pages (`super::otp`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{Messages, otp, redirect, render};
use crate::authn::{login, return_to};
use crate::http::error::PageError;
use crate::http::extract::{Browser, CsrfForm, LoggedIn, PageQuery};
use crate::model::Customer;
use crate::paths;
use crate::state::AppState;
use crate::templates::pages::{FactorEmailPage, FactorTotpPage, MaskedEmail, StepUp};

/// Query of `GET /stepup`.
#[derive(Debug, Default, Deserialize)]
pub struct StepUpQuery {
    /// Local path to continue at afterwards.
    #[serde(default)]
    return_to: Option<String>,
    /// `email` to use an email code although an authenticator app is enrolled.
    #[serde(default)]
    method: Option<String>,
}

fn continuation(state: &AppState, raw: Option<&str>) -> String {
    return_to::continuation(&state.config.issuer, raw, paths::ACCOUNT)
}

/// `GET /stepup?return_to=<local path>`: the authenticator-app code entry
/// when the customer has one, else the choice of address for an email code.
pub async fn show(
    State(state): State<AppState>,
    LoggedIn { browser, customer }: LoggedIn,
    PageQuery(q): PageQuery<StepUpQuery>,
) -> Result<Response, PageError> {
    let return_to = continuation(&state, q.return_to.as_deref());
    let totp = customer.totp_enrolled && q.method.as_deref() != Some("email");
    let switch_to = if totp { "email" } else { "totp" };
    let switch = format!(
        "{}?{}",
        paths::STEP_UP,
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("method", switch_to)
            .append_pair("return_to", &return_to)
            .finish()
    );
    let step_up = Some(StepUp {
        return_to: &return_to,
        switch,
    });
    let (ok, none) = (StatusCode::OK, Messages::default());
    if totp {
        let ctx = FactorTotpPage {
            purpose: "step_up",
            email_available: true,
            step_up,
        };
        render(&state, &browser, "factor_totp.html", ok, ctx, none)
    } else {
        let ctx = FactorEmailPage {
            purpose: "step_up",
            emails: masked(&customer),
            totp_available: customer.totp_enrolled,
            step_up,
        };
        render(&state, &browser, "factor_email.html", ok, ctx, none)
    }
}

fn masked(customer: &Customer) -> Vec<MaskedEmail> {
    customer
        .emails
        .iter()
        .enumerate()
        .map(|(index, e)| MaskedEmail {
            index,
            masked: e.masked(),
        })
        .collect()
}

/// The step-up form: where to continue, and either an address or an app code.
#[derive(Deserialize)]
pub struct StepUpForm {
    #[serde(default)]
    return_to: Option<String>,
    #[serde(default)]
    email_index: Option<String>,
    #[serde(default)]
    code: Option<String>,
}

/// `POST /stepup`: starts the step-up, then sends the email code (on to
/// `/login/code`) or checks the authenticator-app code (on to `return_to`).
pub async fn start(
    State(state): State<AppState>,
    CsrfForm { browser, form }: CsrfForm<StepUpForm>,
) -> Result<Response, PageError> {
    let Some(customer) = logged_in(&state, &browser).await? else {
        return Ok(redirect(&browser, paths::LOGIN));
    };
    let return_to = continuation(&state, form.return_to.as_deref());
    let answer = match (form.code, form.email_index) {
        (Some(code), _) => Answer::AppCode(code),
        (None, Some(index)) => Answer::Address(index),
        (None, None) => return Err(PageError::bad_request().in_lang(browser.lang)),
    };
    let sid = &browser.session.sid;
    let attempt = login::start_step_up(&state, sid, &customer, &return_to).await?;
    match answer {
        Answer::AppCode(code) => {
            otp::check_totp_and_answer(&state, &browser, &attempt, &customer, &code).await
        }
        Answer::Address(index) => {
            otp::send_and_answer(&state, &browser, &attempt, &customer, &index).await
        }
    }
}

/// What the step-up form answered.
enum Answer {
    /// An authenticator-app code (`code`).
    AppCode(String),
    /// The address to mail a code to (`email_index`).
    Address(String),
}

async fn logged_in(state: &AppState, browser: &Browser) -> Result<Option<Customer>, PageError> {
    match &browser.session.customer_id {
        Some(id) => Ok(state.store.find_customer(id).await?),
        None => Ok(None),
    }
}
