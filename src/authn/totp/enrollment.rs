//! Self-service authenticator-app enrolment on the account page.
//!
//! A fresh secret is shown (QR code and text) and becomes the customer's second
//! factor once the app shows a right code. Adding or replacing a factor is as
//! sensitive as adding a passkey: it needs a fresh, single-use step-up of this
//! session, made with a passkey when the customer has one, and with the
//! current app when one is being replaced, so that one phished login cannot
//! leave the attacker a lasting second factor. Every address is told.

use serde_json::json;

use crate::audit::{AuditEvent, AuditKind, Outcome};
use crate::authn::passkey::{STEP_UP_TTL_SECS, passkey_step_up_url, step_up_url};
use crate::authn::{Method, notice, totp};
use crate::error::Result;
use crate::model::Customer;
use crate::paths;
use crate::state::AppState;
use crate::store::sessions::StepUpSpend;
use crate::store::totp::TotpConfirmation;
use crate::templates::Lang;
use crate::templates::mails::TotpEnrolledMail;

/// What the enrolment page shows.
#[derive(Debug)]
pub struct Shown {
    /// QR code of the `otpauth://` URI.
    pub qr_data_uri: String,
    /// The secret in base32 groups, for typing in.
    pub secret: String,
}

/// The result of confirming with a first code.
#[derive(Debug)]
pub enum Confirmation {
    /// The app is now the customer's second factor.
    Enrolled,
    /// The code was wrong; the same secret is shown again.
    Wrong(Shown),
    /// No enrolment was started.
    NothingPending,
    /// The step-up that allowed it is gone (spent or too old).
    StepUpRequired,
}

/// The step-up that allows this session to enrol an app for `customer`.
///
/// It is younger than [`STEP_UP_TTL_SECS`] and made by passkey when the
/// customer has one, else by the enrolled app when it is being replaced,
/// else by either second factor.
pub async fn step_up_spend<'a>(
    state: &AppState,
    sid: &'a str,
    customer: &Customer,
) -> Result<StepUpSpend<'a>> {
    let has_passkeys = !state.store.list_passkeys(&customer.id).await?.is_empty();
    Ok(StepUpSpend {
        sid,
        not_before: state.clock.now() - STEP_UP_TTL_SECS,
        passkey_only: has_passkeys,
        method: (!has_passkeys && customer.totp_enrolled).then_some(Method::PasswordTotp.as_str()),
    })
}

/// Where a customer without the right step-up goes before enrolling; `None`
/// when this session has one.
pub async fn step_up_needed(
    state: &AppState,
    sid: &str,
    customer: &Customer,
) -> Result<Option<String>> {
    let spend = step_up_spend(state, sid, customer).await?;
    if state.store.has_step_up(&spend).await? {
        return Ok(None);
    }
    Ok(Some(if spend.passkey_only {
        passkey_step_up_url(paths::ACCOUNT_TOTP)
    } else {
        step_up_url(false, paths::ACCOUNT_TOTP)
    }))
}

/// Creates and stores (sealed) a new pending secret.
pub async fn start(state: &AppState, customer: &Customer) -> Result<()> {
    let secret = totp::new_secret();
    let sealed = state.data_key.seal(&secret, customer.id.as_bytes())?;
    state
        .store
        .set_pending_totp(&customer.id, &sealed, state.clock.now())
        .await
}

/// The pending secret as the page shows it.
pub async fn pending(state: &AppState, customer: &Customer) -> Result<Option<Shown>> {
    let Some(sealed) = state.store.pending_totp(&customer.id).await? else {
        return Ok(None);
    };
    let secret = state.data_key.open(&sealed, customer.id.as_bytes())?;
    Ok(Some(shown(&secret, customer)?))
}

fn shown(secret: &[u8], customer: &Customer) -> Result<Shown> {
    let uri = totp::otpauth_uri(secret, "Kagi", customer.customer_code.as_str());
    Ok(Shown {
        qr_data_uri: totp::qr_data_uri(&uri)?,
        secret: totp::secret_base32(secret),
    })
}

/// Enrols the pending secret if `code` is right for it, spending the step-up.
pub async fn confirm(
    state: &AppState,
    customer: &Customer,
    sid: &str,
    code: &str,
    context: (&str, Lang),
) -> Result<Confirmation> {
    let (ip, lang) = context;
    let Some(sealed) = state.store.pending_totp(&customer.id).await? else {
        return Ok(Confirmation::NothingPending);
    };
    let secret = state.data_key.open(&sealed, customer.id.as_bytes())?;
    let now = state.clock.now();
    let Some(step) = totp::verify(&secret, code.trim(), now, None) else {
        return Ok(Confirmation::Wrong(shown(&secret, customer)?));
    };
    let spend = step_up_spend(state, sid, customer).await?;
    match state
        .store
        .confirm_totp(&customer.id, step, &spend, now)
        .await?
    {
        TotpConfirmation::Enrolled => {}
        TotpConfirmation::NothingPending => return Ok(Confirmation::NothingPending),
        TotpConfirmation::NoStepUp => return Ok(Confirmation::StepUpRequired),
    }
    let event = AuditEvent::new(AuditKind::TotpEnrolled, Outcome::Success)
        .with_customer(&customer.id, customer.customer_code.as_str())
        .with_ip(ip)
        .with_detail(json!({ "by": "customer", "replaced": customer.totp_enrolled }));
    state.audit(event).await;
    let ctx = TotpEnrolledMail {
        name: &customer.name,
        at: crate::clock::rfc3339(now),
    };
    notice::spawn_to_all(state, customer, "totp_enrolled", lang, ctx);
    Ok(Confirmation::Enrolled)
}
