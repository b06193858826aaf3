//! The authenticator-app factor of a login or step-up: a code from the
//! enrolled app, ±1 step, each step accepted once, the factor locked after
//! 5 wrong codes in a row (`docs/security.md#r12`).

use serde_json::json;

use crate::audit::{AuditEvent, AuditKind, Outcome};
use crate::authn::totp;
use crate::error::Result;
use crate::model::Customer;
use crate::state::AppState;
use crate::store::unit::Unit;

/// What happened to an entered TOTP code.
#[derive(Debug, PartialEq, Eq)]
pub enum TotpOutcome {
    /// Right, and its step is now used.
    Accepted,
    /// Wrong, or a step already used.
    Wrong,
    /// The factor is locked (now or already).
    Locked,
    /// The customer has no authenticator app.
    NotEnrolled,
}

/// Checks `entered` for `customer`.
///
/// The try is claimed before the code is checked, so codes racing on one or
/// several nodes share the 5 tries (docs/security.md, TOTP).
pub async fn verify(
    state: &AppState,
    unit: &mut Unit,
    customer: &Customer,
    entered: &str,
) -> Result<TotpOutcome> {
    let now = state.clock.now();
    let Some(current) = unit
        .claim_totp_try(&customer.id, totp::MAX_FAILURES, now)
        .await?
    else {
        return Ok(match unit.totp_state(&customer.id).await? {
            None => TotpOutcome::NotEnrolled,
            Some(_) => TotpOutcome::Locked,
        });
    };
    let secret = state
        .data_key
        .open(&current.sealed_secret, customer.id.as_bytes())?;
    if let Some(step) = totp::verify(&secret, entered.trim(), now, current.last_step)
        && unit
            .accept_totp_step(&customer.id, step, current.failures, now)
            .await?
    {
        return Ok(TotpOutcome::Accepted);
    }
    if current.failures >= totp::MAX_FAILURES {
        let event = AuditEvent::new(AuditKind::TotpLocked, Outcome::Info)
            .with_customer(&customer.id, customer.customer_code.as_str())
            .with_detail(json!({ "failures": current.failures }));
        unit.audit(&event, now).await?;
        return Ok(TotpOutcome::Locked);
    }
    Ok(TotpOutcome::Wrong)
}
