//! Email one-time codes (`docs/product.md`, passkey registration step 3 and
//! logging in; `docs/security.md#r10`).
//!
//! Six digits from the OS CSPRNG, valid 10 minutes, single use, bound to the
//! attempt that asked for them, dead after 5 wrong entries; a resend
//! replaces the previous code.

use serde_json::json;

use crate::audit::{AuditEvent, AuditKind, Outcome};
use crate::crypto::{compare, random};
use crate::error::Result;
use crate::mail::OutgoingMail;
use crate::model::Customer;
use crate::state::AppState;
use crate::store::email_codes::EmailCodeRow;
use crate::store::login_attempts::AttemptRow;
use crate::store::unit::Unit;
use crate::templates::Lang;
use crate::templates::mails::EmailCodeMail;

/// How long a code may be entered.
pub const CODE_TTL_SECS: i64 = 10 * 60;
/// Wrong entries that kill a code.
pub const MAX_WRONG_TRIES: i64 = 5;
/// Codes one attempt may send (the first and four resends).
pub const SENDS_PER_ATTEMPT: i64 = 5;
/// Codes one customer may be sent per hour, across attempts (against mail bombing).
pub const SENDS_PER_CUSTOMER_HOUR: i64 = 10;

/// What happened to a send request.
#[derive(Debug, PartialEq, Eq)]
pub enum SendOutcome {
    /// Sent to the masked address.
    Sent {
        /// The address, masked.
        masked: String,
    },
    /// Too many codes lately.
    Limited,
    /// The chosen address does not exist.
    NoSuchAddress,
}

/// What happened to an entered code.
#[derive(Debug, PartialEq, Eq)]
pub enum CodeOutcome {
    /// Right, and now spent.
    Accepted,
    /// Wrong; the code lives on.
    Wrong,
    /// Wrong for the fifth time; the code is dead.
    Dead,
    /// No usable code: expired, replaced, spent or never sent.
    Expired,
}

/// Codes are stored as SHA-256 over the attempt id and the code, so a stored
/// hash is useless for any other attempt.
fn code_hash(attempt_id: &str, code: &str) -> String {
    random::hash_secret(&format!("{attempt_id}:{code}"))
}

/// Sends a new code to address `email_index` of the attempt's customer.
pub async fn send(
    state: &AppState,
    attempt: &AttemptRow,
    customer: &Customer,
    email_index: usize,
    lang: Lang,
) -> Result<SendOutcome> {
    let Some(email) = customer.emails.get(email_index) else {
        return Ok(SendOutcome::NoSuchAddress);
    };
    let now = state.clock.now();
    let per_attempt = state
        .store
        .hit_rate_limit(&format!("email-code:{}", attempt.id), CODE_TTL_SECS, now)
        .await?;
    let per_customer = state
        .store
        .hit_rate_limit(&format!("email-code-customer:{}", customer.id), 3600, now)
        .await?;
    if per_attempt > SENDS_PER_ATTEMPT || per_customer > SENDS_PER_CUSTOMER_HOUR {
        return Ok(SendOutcome::Limited);
    }
    let code = random::digits(6);
    let row = EmailCodeRow {
        id: uuid::Uuid::new_v4().to_string(),
        code_hash: code_hash(&attempt.id, &code),
        email_position: email_index as i64,
        wrong_tries: 0,
        expires_at: now + CODE_TTL_SECS,
    };
    state
        .store
        .insert_email_code(&attempt.id, &row, now)
        .await?;
    let ctx = EmailCodeMail {
        name: &customer.name,
        code: &code,
        minutes: CODE_TTL_SECS / 60,
    };
    let (subject, body) = state.templates.render_mail("email_code", lang, ctx)?;
    state
        .mailer
        .send(&OutgoingMail {
            to: vec![email.clone()],
            subject,
            body,
        })
        .await?;
    let event = AuditEvent::new(AuditKind::EmailCodeSent, Outcome::Info)
        .with_customer(&customer.id, customer.customer_code.as_str())
        .with_detail(json!({ "purpose": attempt.purpose, "email_index": email_index }));
    state.audit(event).await;
    Ok(SendOutcome::Sent {
        masked: email.masked(),
    })
}

/// Checks an entered code against the attempt's live code.
///
/// The try is claimed before the comparison, so entries racing on one or
/// several nodes share the 5 tries instead of each seeing the count before
/// the others were recorded.
pub async fn verify(
    state: &AppState,
    unit: &mut Unit,
    attempt: &AttemptRow,
    entered: &str,
) -> Result<CodeOutcome> {
    let now = state.clock.now();
    let Some(live) = unit
        .claim_email_code_try(&attempt.id, MAX_WRONG_TRIES, now)
        .await?
    else {
        return Ok(CodeOutcome::Expired);
    };
    let entered = entered.trim();
    let well_formed = entered.len() == 6 && entered.bytes().all(|b| b.is_ascii_digit());
    if well_formed && compare::ct_eq_str(&code_hash(&attempt.id, entered), &live.code_hash) {
        // Two nodes may check the same right code at once; only one spends it.
        return Ok(if unit.take_email_code(&live.id, now).await? {
            CodeOutcome::Accepted
        } else {
            CodeOutcome::Expired
        });
    }
    if live.wrong_tries >= MAX_WRONG_TRIES {
        unit.kill_email_code(&live.id, now).await?;
        return Ok(CodeOutcome::Dead);
    }
    Ok(CodeOutcome::Wrong)
}
