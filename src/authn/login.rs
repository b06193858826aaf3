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
use crate::store::login_attempts::AttemptRow;
use crate::templates::Lang;
use crate::templates::mails::AccountLockedMail;

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
///
/// Two writes, by design (`docs/write-path.md`): the claims commit before
/// the hash, so concurrent attempts see them, and the verdict (audit, or
/// the settled counters and the new attempt) commits after it. Holding one
/// transaction across the ~50 ms hash would hold SQLite's only writer.
pub async fn check_password(
    state: &AppState,
    login: PasswordLogin<'_>,
    password: SecretString,
) -> Result<PasswordOutcome> {
    let customer = match CustomerCode::parse(login.customer_code) {
        Ok(code) => state.store.find_customer_by_code(&code).await?,
        Err(_) => None,
    };
    let Some(claims) = claim(state, &login, customer.as_ref()).await? else {
        return Ok(PasswordOutcome::Throttled);
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
    let Some(failures) = claims.failures else {
        return fail(state, &login, Some(&customer), "locked").await;
    };
    if !verdict.matches {
        let lock = lockout::lock_until(failures, claims.now)
            .map(|until| locked(state, &customer, until, failures, &login));
        return fail_with(state, &login, Some(&customer), "wrong_password", lock).await;
    }
    let attempt = AttemptRow {
        id: uuid::Uuid::new_v4().to_string(),
        sid: login.sid.to_owned(),
        customer_id: customer.id.clone(),
        purpose: Purpose::Login.as_str().to_owned(),
        return_to: login.return_to.to_owned(),
        expires_at: claims.now + ATTEMPT_TTL_SECS,
    };
    let mut unit = state.store.unit().await?;
    unit.release_rate_limit(&claims.ip_key, claims.now).await?;
    unit.settle_right_password(&customer.id, failures, claims.now)
        .await?;
    unit.insert_attempt(&attempt, claims.now).await?;
    unit.commit().await?;
    if verdict.needs_rehash {
        rehash(state, &customer, verdict.password).await;
    }
    Ok(PasswordOutcome::SecondFactor {
        totp: customer.totp_enrolled,
    })
}

/// What an attempt claimed before its hash.
struct Claims {
    /// The per-IP throttle's key, whose slot a right password gives back.
    ip_key: String,
    /// The account's failures counting this attempt; `None` when the
    /// account is locked or unknown.
    failures: Option<i64>,
    /// When the claims were made.
    now: i64,
}

/// Claims the per-IP slot and the account's failure in one commit; `None`
/// (audited) when the address is throttled.
async fn claim(
    state: &AppState,
    login: &PasswordLogin<'_>,
    customer: Option<&Customer>,
) -> Result<Option<Claims>> {
    let now = state.clock.now();
    let ip_key = format!("login-fail-ip:{}", login.ip);
    let mut unit = state.store.unit().await?;
    let ip_slot = unit
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
        unit.audit(&event, now).await?;
        unit.commit().await?;
        return Ok(None);
    }
    let failures = match customer {
        Some(c) => {
            unit.claim_password_attempt(&c.id, now, lockout::schedule())
                .await?
        }
        None => None,
    };
    unit.commit().await?;
    Ok(Some(Claims {
        ip_key,
        failures,
        now,
    }))
}

/// Audits a failed password; the failure is already counted by its claims.
async fn fail(
    state: &AppState,
    login: &PasswordLogin<'_>,
    customer: Option<&Customer>,
    reason: &str,
) -> Result<PasswordOutcome> {
    fail_with(state, login, customer, reason, None).await
}

/// [`fail`], with the lock event this failure's claim set, in one write.
async fn fail_with(
    state: &AppState,
    login: &PasswordLogin<'_>,
    customer: Option<&Customer>,
    reason: &str,
    lock: Option<AuditEvent>,
) -> Result<PasswordOutcome> {
    let mut event = AuditEvent::new(AuditKind::LoginFailed, Outcome::Failure)
        .with_ip(login.ip)
        .with_detail(json!({ "reason": reason, "step": "password" }));
    event = match customer {
        Some(c) => event.with_customer(&c.id, c.customer_code.as_str()),
        None => event.with_customer_code(login.customer_code.trim()),
    };
    let now = state.clock.now();
    let mut unit = state.store.unit().await?;
    for event in lock.iter().chain([&event]) {
        unit.audit(event, now).await?;
    }
    unit.commit().await?;
    Ok(PasswordOutcome::Failed)
}

/// Announces a lock that this attempt's claim set; the event to audit.
fn locked(
    state: &AppState,
    customer: &Customer,
    until: i64,
    failures: i64,
    login: &PasswordLogin<'_>,
) -> AuditEvent {
    let ctx = AccountLockedMail {
        name: &customer.name,
        until: crate::clock::rfc3339(until),
    };
    notice::spawn_to_all(state, customer, "account_locked", login.lang, ctx);
    AuditEvent::new(AuditKind::AccountLocked, Outcome::Info)
        .with_customer(&customer.id, customer.customer_code.as_str())
        .with_ip(login.ip)
        .with_detail(json!({ "failures": failures, "until": until }))
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
