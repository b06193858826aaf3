//! The second step of a password login or step-up: an emailed code or an
//! authenticator-app code, checked and, when right, completing the attempt
//! in one write (`docs/write-path.md`).
//!
//! The try is claimed first inside the unit, so concurrent entries queue on
//! the row (PostgreSQL) or the writer (SQLite) and share the tries as if
//! they came one after the other; the comparison that follows is a hash or
//! an HMAC, short enough to run while the unit is open.

use super::Method;
use super::email_code::{self, CodeOutcome};
use super::session::{self, Completed, Pending};
use super::totp::login::{self as totp_login, TotpOutcome};
use crate::error::Result;
use crate::state::AppState;

/// How a checked code ended.
#[derive(Debug)]
pub enum Checked<O> {
    /// Right: the session is bound to the customer.
    Completed(Completed),
    /// Not accepted, and why (the claimed try is committed).
    Refused(O),
    /// Right, but a concurrent request completed the attempt first.
    Raced,
}

/// Checks an emailed code for the attempt (`docs/security.md#r12`).
pub async fn check_email_code(
    state: &AppState,
    pending: Pending<'_>,
    code: &str,
) -> Result<Checked<CodeOutcome>> {
    let mut unit = state.store.unit().await?;
    match email_code::verify(state, &mut unit, pending.attempt, code).await? {
        CodeOutcome::Accepted => finish(state, unit, pending, Method::PasswordEmail).await,
        refused => {
            unit.commit().await?;
            Ok(Checked::Refused(refused))
        }
    }
}

/// Checks an authenticator-app code of the attempt's customer.
pub async fn check_totp(
    state: &AppState,
    pending: Pending<'_>,
    code: &str,
) -> Result<Checked<TotpOutcome>> {
    let mut unit = state.store.unit().await?;
    match totp_login::verify(state, &mut unit, pending.customer, code).await? {
        TotpOutcome::Accepted => finish(state, unit, pending, Method::PasswordTotp).await,
        refused => {
            unit.commit().await?;
            Ok(Checked::Refused(refused))
        }
    }
}

async fn finish<O>(
    state: &AppState,
    unit: crate::store::unit::Unit,
    pending: Pending<'_>,
    method: Method,
) -> Result<Checked<O>> {
    let done = session::complete(state, unit, pending, method).await?;
    Ok(done.map_or(Checked::Raced, Checked::Completed))
}
