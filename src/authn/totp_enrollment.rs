//! Self-service authenticator-app enrolment on the account page.
//!
//! A fresh secret is shown (QR code and text) and becomes the customer's second
//! factor once the app shows a right code. Only a session that authenticated
//! within the last few minutes may start it; others step up first.

use serde_json::json;

use super::totp;
use crate::audit::{AuditEvent, AuditKind, Outcome};
use crate::error::Result;
use crate::model::Customer;
use crate::state::AppState;

/// How recent the session's last authentication must be to change factors.
pub const FRESH_AUTH_SECS: i64 = 10 * 60;

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
}

/// Whether the session authenticated (login or step-up) within [`FRESH_AUTH_SECS`].
pub async fn recently_authenticated(state: &AppState, sid: &str) -> Result<bool> {
    let now = state.clock.now();
    let events = state.store.session_auth_events(sid).await?;
    Ok(events.iter().any(|e| now - e.at <= FRESH_AUTH_SECS))
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

/// Enrols the pending secret if `code` is right for it.
pub async fn confirm(
    state: &AppState,
    customer: &Customer,
    code: &str,
    ip: &str,
) -> Result<Confirmation> {
    let Some(sealed) = state.store.pending_totp(&customer.id).await? else {
        return Ok(Confirmation::NothingPending);
    };
    let secret = state.data_key.open(&sealed, customer.id.as_bytes())?;
    let now = state.clock.now();
    let Some(step) = totp::verify(&secret, code.trim(), now, None) else {
        return Ok(Confirmation::Wrong(shown(&secret, customer)?));
    };
    if !state.store.confirm_totp(&customer.id, step, now).await? {
        return Ok(Confirmation::NothingPending);
    }
    let event = AuditEvent::new(AuditKind::TotpEnrolled, Outcome::Success)
        .with_customer(&customer.id, customer.customer_code.as_str())
        .with_ip(ip)
        .with_detail(json!({ "by": "customer" }));
    state.audit(event).await;
    Ok(Confirmation::Enrolled)
}
