//! The first step of a password login: customer code + password, with the
//! per-account lockout and the per-IP throttle, ending in a login attempt that
//! waits for the second factor.
//!
//! Unknown customer codes, wrong passwords and locked accounts all end in
//! [`PasswordOutcome::Failed`] after the same argon2id work, so neither the
//! page, the status nor the timing tells them apart (ASVS 6.3.8).

use secrecy::SecretString;
use serde_json::json;

use super::{Purpose, lockout, notice};
use crate::audit::{AuditEvent, AuditKind, Outcome};
use crate::error::Result;
use crate::model::{Customer, CustomerCode};
use crate::state::AppState;
use crate::store::flows::AttemptRow;
use crate::templates::Lang;

/// How long a customer has to enter the second factor after the password.
pub const ATTEMPT_TTL_SECS: i64 = 10 * 60;

/// The result of checking a customer code and password.
#[derive(Debug)]
pub enum PasswordOutcome {
    /// Password right: the second factor is next.
    SecondFactor {
        /// Whether the customer has an authenticator app.
        totp: bool,
    },
    /// Unknown code, wrong password or locked account: one answer for all.
    Failed,
    /// Too many failures from this address lately.
    Throttled,
}

/// The login form's input.
#[derive(Debug)]
pub struct PasswordLogin<'a> {
    /// Session the attempt belongs to.
    pub sid: &'a str,
    /// Customer code as typed.
    pub customer_code: &'a str,
    /// Where to continue afterwards (a [`super::return_to::ReturnTo`], normalised).
    pub return_to: &'a str,
    /// Client IP.
    pub ip: &'a str,
    /// Page language, for the lock notice.
    pub lang: Lang,
}

/// Checks a customer code and password (`docs/product.md#logging-in`;
/// `docs/security.md#r15`, lockout and throttle).
///
/// Both limits are claimed in the database before the argon2id work they
/// guard: the per-IP throttle takes a slot (given back when the password is
/// right) and the account counts the attempt as a failure (undone when it is
/// right). So N attempts at once cost at most as many hashes as the
/// throttle allows, lock the account once and send one lock mail, exactly
/// as N attempts in a row would.
pub async fn check_password(
    state: &AppState,
    login: PasswordLogin<'_>,
    password: SecretString,
) -> Result<PasswordOutcome> {
    let now = state.clock.now();
    let ip_key = format!("login-fail-ip:{}", login.ip);
    let ip_slot = state
        .store
        .claim_rate_limit(
            &ip_key,
            lockout::IP_FAILURES_PER_WINDOW,
            lockout::IP_WINDOW_SECS,
            now,
        )
        .await?;
    if ip_slot.is_none() {
        let event = AuditEvent::new(AuditKind::LoginFailed, Outcome::Failure)
            .with_ip(login.ip)
            .with_detail(json!({ "reason": "ip_throttled" }));
        state.audit(event).await;
        return Ok(PasswordOutcome::Throttled);
    }
    let customer = match CustomerCode::parse(login.customer_code) {
        Ok(code) => state.store.find_customer_by_code(&code).await?,
        Err(_) => None,
    };
    let claimed = match &customer {
        Some(c) => {
            state
                .store
                .claim_password_attempt(&c.id, now, lockout::schedule())
                .await?
        }
        None => None,
    };
    // Locked and unknown accounts are hashed too, against the dummy hash or
    // their own, so that timing tells nothing (ASVS 6.3.8).
    let phc = customer
        .as_ref()
        .map_or_else(|| state.dummy_hash.to_string(), |c| c.password_hash.clone());
    let verdict = state.hasher.verify(password, phc).await?;
    let Some(customer) = customer else {
        return fail(state, &login, None, "unknown_customer").await;
    };
    let Some(failures) = claimed else {
        return fail(state, &login, Some(&customer), "locked").await;
    };
    if !verdict.matches {
        if let Some(until) = lockout::lock_until(failures, now) {
            locked(state, &customer, until, failures, &login).await;
        }
        return fail(state, &login, Some(&customer), "wrong_password").await;
    }
    state.store.release_rate_limit(&ip_key, now).await?;
    state
        .store
        .settle_right_password(&customer.id, failures, now)
        .await?;
    if verdict.needs_rehash {
        rehash(state, &customer, verdict.password).await;
    }
    let attempt = AttemptRow {
        id: uuid::Uuid::new_v4().to_string(),
        sid: login.sid.to_owned(),
        customer_id: customer.id.clone(),
        purpose: Purpose::Login.as_str().to_owned(),
        return_to: login.return_to.to_owned(),
        expires_at: now + ATTEMPT_TTL_SECS,
    };
    state.store.insert_attempt(&attempt, now).await?;
    Ok(PasswordOutcome::SecondFactor {
        totp: customer.totp_enrolled,
    })
}

/// Audits a failed password; the failure is already counted by its claims.
async fn fail(
    state: &AppState,
    login: &PasswordLogin<'_>,
    customer: Option<&Customer>,
    reason: &str,
) -> Result<PasswordOutcome> {
    let mut event = AuditEvent::new(AuditKind::LoginFailed, Outcome::Failure)
        .with_ip(login.ip)
        .with_detail(json!({ "reason": reason, "step": "password" }));
    event = match customer {
        Some(c) => event.with_customer(&c.id, c.customer_code.as_str()),
        None => event.with_customer_code(login.customer_code.trim()),
    };
    state.audit(event).await;
    Ok(PasswordOutcome::Failed)
}

/// Audits and announces a lock that this attempt's claim set.
async fn locked(
    state: &AppState,
    customer: &Customer,
    until: i64,
    failures: i64,
    login: &PasswordLogin<'_>,
) {
    let event = AuditEvent::new(AuditKind::AccountLocked, Outcome::Info)
        .with_customer(&customer.id, customer.customer_code.as_str())
        .with_ip(login.ip)
        .with_detail(json!({ "failures": failures, "until": until }));
    state.audit(event).await;
    let ctx = minijinja::context! { name => &customer.name, until => crate::clock::rfc3339(until) };
    notice::spawn_to_all(state, customer, "account_locked", login.lang, ctx);
}

async fn rehash(state: &AppState, customer: &Customer, password: SecretString) {
    match state.hasher.hash(password).await {
        Ok(phc) => {
            if let Err(e) = state
                .store
                .update_password_hash(&customer.id, &phc, state.clock.now())
                .await
            {
                tracing::warn!(error = %e, "could not store a rehashed password");
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not rehash a password"),
    }
}

/// Starts a step-up for a logged-in customer.
///
/// It is an attempt of purpose `step_up` (passkey registration step 3 in
/// `docs/product.md`), replacing any other flow of the session, that the
/// email-code or authenticator-app pages then complete.
pub async fn start_step_up(
    state: &AppState,
    sid: &str,
    customer: &Customer,
    return_to: &str,
) -> Result<AttemptRow> {
    let now = state.clock.now();
    let attempt = AttemptRow {
        id: uuid::Uuid::new_v4().to_string(),
        sid: sid.to_owned(),
        customer_id: customer.id.clone(),
        purpose: Purpose::StepUp.as_str().to_owned(),
        return_to: return_to.to_owned(),
        expires_at: now + ATTEMPT_TTL_SECS,
    };
    state.store.insert_attempt(&attempt, now).await?;
    Ok(attempt)
}
