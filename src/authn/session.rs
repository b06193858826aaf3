//! Browser sessions: an opaque 256-bit cookie value whose SHA-256 names a
//! database row, so any node serves any request and a copy of the database
//! holds no usable cookie.
//!
//! Every visitor who sees a form gets an anonymous session (it carries the
//! CSRF token and the pending login). Authenticating binds it to the customer
//! and replaces both the cookie value and the CSRF token (session fixation).
//!
//! Anonymous sessions live briefly. A row is needed before the login, not
//! after it: the login form's CSRF token must be bound to something the
//! browser holds (a login CSRF would otherwise log the victim into the
//! attacker's account), and the pending login attempt, WebAuthn challenge and
//! authorization request are keyed by it. But crawlers, health checks and
//! abandoned tabs also fetch the login page, and at the full lifetime each
//! would keep a row for 12 hours. So an anonymous row expires
//! [`ANONYMOUS_IDLE_SECS`] after its last use (each use pushes the end
//! back, as the idle timeout does for a logged-in session), a login promotes
//! it to `session_lifetime_secs` from then, and the purge task deletes it
//! once expired. Endpoints that render no form (discovery, JWKS, health,
//! metrics, static files) never open a session at all.

use serde_json::json;

use super::{AuthEvent, Method, Purpose, notice};
use crate::audit::{AuditEvent, AuditKind, Outcome};
use crate::crypto::random;
use crate::error::Result;
use crate::model::Customer;
use crate::state::AppState;
use crate::store::login_attempts::AttemptRow;
use crate::store::sessions::{NewSession, SessionAuthentication, SessionRow};
use crate::store::unit::Unit;
use crate::templates::Lang;
use crate::templates::mails::LoginNoticeMail;

/// Activity is written back at most this often, not on every request.
const TOUCH_EVERY_SECS: i64 = 60;
/// How long an anonymous session lives after its last use (see the module
/// documentation); longer than a login takes (its attempt lasts 10 minutes).
pub const ANONYMOUS_IDLE_SECS: i64 = 30 * 60;

/// The end of an anonymous session used at `now`: [`ANONYMOUS_IDLE_SECS`]
/// later, or sooner when the configured idle timeout or lifetime is shorter.
fn anonymous_end(state: &AppState, now: i64) -> i64 {
    let config = &state.config;
    now + ANONYMOUS_IDLE_SECS
        .min(config.session_idle_timeout_secs)
        .min(config.session_lifetime_secs)
}

/// Creates an anonymous (short-lived) session and returns it with its cookie value.
pub async fn start(
    state: &AppState,
    lang: Lang,
    user_agent: Option<&str>,
    ip: &str,
) -> Result<(SessionRow, String)> {
    let fresh = Fresh::new(state, lang, user_agent);
    state
        .store
        .insert_session(&fresh.row(ip), fresh.now)
        .await?;
    Ok(fresh.into_parts())
}

/// A new anonymous session before it is stored.
struct Fresh {
    row: SessionRow,
    handle: String,
    handle_hash: String,
    user_agent: Option<String>,
    now: i64,
}

impl Fresh {
    fn new(state: &AppState, lang: Lang, user_agent: Option<&str>) -> Self {
        let now = state.clock.now();
        let handle = random::handle();
        let row = SessionRow {
            sid: uuid::Uuid::new_v4().to_string(),
            customer_id: None,
            csrf_token: random::handle(),
            locale: Some(lang.as_str().to_owned()),
            created_at: now,
            last_seen_at: now,
            expires_at: anonymous_end(state, now),
        };
        Self {
            row,
            handle_hash: random::hash_secret(&handle),
            handle,
            user_agent: user_agent.map(|ua| ua.chars().take(256).collect()),
            now,
        }
    }

    fn row<'a>(&'a self, ip: &'a str) -> NewSession<'a> {
        NewSession {
            sid: &self.row.sid,
            handle_hash: &self.handle_hash,
            csrf_token: &self.row.csrf_token,
            locale: self.row.locale.as_deref(),
            user_agent: self.user_agent.as_deref(),
            ip: Some(ip),
            expires_at: self.row.expires_at,
        }
    }

    fn into_parts(self) -> (SessionRow, String) {
        (self.row, self.handle)
    }
}

/// The live session named by a cookie value, recording the activity (which
/// also moves an anonymous session's end back).
pub async fn load(state: &AppState, handle: &str) -> Result<Option<SessionRow>> {
    let now = state.clock.now();
    let found = state
        .store
        .find_session(
            &random::hash_secret(handle),
            now,
            state.config.session_idle_timeout_secs,
        )
        .await?;
    if let Some(session) = &found
        && now - session.last_seen_at >= TOUCH_EVERY_SECS
    {
        state
            .store
            .touch_session(&session.sid, now, anonymous_end(state, now))
            .await?;
    }
    Ok(found)
}

/// A finished login or step-up.
#[derive(Debug)]
pub struct Completed {
    /// The session's new cookie value.
    pub handle: String,
    /// Where to continue.
    pub return_to: String,
}

/// The attempt being completed, in which browser session.
#[derive(Clone, Copy, Debug)]
pub struct Pending<'a> {
    /// The browser's session.
    pub session: &'a SessionRow,
    /// The attempt waiting for its second factor.
    pub attempt: &'a AttemptRow,
    /// Its customer.
    pub customer: &'a Customer,
    /// Client IP, for the audit trail.
    pub ip: &'a str,
    /// Page language, for the login notice.
    pub lang: Lang,
}

/// Records a successful second factor in the unit that checked it, and commits.
///
/// Ends the attempt, binds the session to the customer with a new cookie
/// value, and audits it (`docs/write-path.md`). `None` (nothing committed)
/// when the attempt was already completed by a concurrent request or the
/// session cannot be bound.
pub async fn complete(
    state: &AppState,
    mut unit: Unit,
    pending: Pending<'_>,
    method: Method,
) -> Result<Option<Completed>> {
    let Pending {
        session,
        attempt,
        customer,
        ip,
        lang,
    } = pending;
    if !unit.take_attempt(&attempt.id).await? {
        return Ok(None);
    }
    let now = state.clock.now();
    let purpose = Purpose::parse(&attempt.purpose).unwrap_or(Purpose::Login);
    let event = AuthEvent::password_and_code(method, purpose, &state.config, now);
    let detail =
        json!({ "method": method.as_str(), "purpose": purpose.as_str(), "acr": event.acr });
    let binding = Binding {
        session,
        customer,
        event: &event,
        ip,
        lang,
    };
    let Bound::Done(handle) = bind(state, unit, &binding, detail).await? else {
        return Ok(None);
    };
    Ok(Some(Completed {
        handle,
        return_to: attempt.return_to.clone(),
    }))
}

/// Records a verified passkey assertion (login or step-up) in the session,
/// inside the unit that spent its ceremony and saved its counter.
///
/// Binds the session to the customer with a new cookie value and CSRF token
/// (`docs/security.md#r9`), adds an [`AuthEvent::passkey`] and audits it,
/// then commits. [`Bound::NotBindable`] hands the unit back when the session
/// is gone or belongs to another customer.
pub async fn complete_passkey(
    state: &AppState,
    unit: Unit,
    session: &SessionRow,
    customer: &Customer,
    assertion: &PasskeyAssertion<'_>,
    ip: &str,
    lang: Lang,
) -> Result<Bound> {
    let now = state.clock.now();
    let event = AuthEvent::passkey(
        assertion.backup_eligible,
        assertion.purpose,
        &state.config,
        now,
    );
    let detail = json!({
        "method": Method::Passkey.as_str(),
        "purpose": assertion.purpose.as_str(),
        "acr": event.acr,
        "amr": event.amr,
        "credential_id": assertion.credential_id,
    });
    let binding = Binding {
        session,
        customer,
        event: &event,
        ip,
        lang,
    };
    bind(state, unit, &binding, detail).await
}

/// A verified passkey assertion, as [`complete_passkey`] records it.
#[derive(Clone, Copy, Debug)]
pub struct PasskeyAssertion<'a> {
    /// Login or step-up.
    pub purpose: Purpose,
    /// The credential's backup-eligible flag (`hwk` or `swk`).
    pub backup_eligible: bool,
    /// The credential used, for the audit trail.
    pub credential_id: &'a str,
}

/// How binding a session to a customer ended.
#[derive(Debug)]
pub enum Bound {
    /// Committed; the session's new cookie value.
    Done(String),
    /// The session could not be bound (gone, or another customer's in a
    /// race); nothing of the binding was written and the unit is the caller's.
    NotBindable(Unit),
}

/// Who authenticated how, in which session.
struct Binding<'a> {
    session: &'a SessionRow,
    customer: &'a Customer,
    event: &'a AuthEvent,
    ip: &'a str,
    lang: Lang,
}

/// Binds the event to the session with a new cookie value and audits it in
/// `unit`, commits, then sends the optional login notice.
async fn bind(
    state: &AppState,
    mut unit: Unit,
    binding: &Binding<'_>,
    detail: serde_json::Value,
) -> Result<Bound> {
    let Binding {
        session,
        customer,
        event,
        ip,
        lang,
    } = *binding;
    let now = state.clock.now();
    let handle = random::handle();
    let sid = session_for(state, &mut unit, session, customer, ip, lang).await?;
    let bound = unit
        .authenticate_session(
            &SessionAuthentication {
                sid: &sid,
                customer_id: &customer.id,
                new_handle_hash: &random::hash_secret(&handle),
                new_csrf_token: &random::handle(),
                expires_at: now + state.config.session_lifetime_secs,
                event: &event.row(),
            },
            now,
        )
        .await?;
    if !bound {
        return Ok(Bound::NotBindable(unit));
    }
    let audit = AuditEvent::new(AuditKind::LoginSucceeded, Outcome::Success)
        .with_customer(&customer.id, customer.customer_code.as_str())
        .with_ip(ip)
        .with_detail(detail);
    unit.audit(&audit, now).await?;
    unit.commit().await?;
    if state.config.login_notification && event.purpose == Purpose::Login {
        let ctx = LoginNoticeMail {
            name: &customer.name,
            at: crate::clock::rfc3339(now),
            method: format!("method.{}", event.method.as_str()),
            ip,
        };
        notice::spawn_to_all(state, customer, "login_notice", lang, ctx);
    }
    Ok(Bound::Done(handle))
}

/// The session to bind a login of `customer` to: this one, unless it belongs
/// to another customer; then that customer's session ends and a new one
/// takes over this browser's pending authorization requests.
async fn session_for(
    state: &AppState,
    unit: &mut Unit,
    session: &SessionRow,
    customer: &Customer,
    ip: &str,
    lang: Lang,
) -> Result<String> {
    match &session.customer_id {
        Some(other) if *other != customer.id => {
            unit.end_session(&session.sid, state.clock.now()).await?;
            let fresh = Fresh::new(state, lang, None);
            unit.insert_session(&fresh.row(ip), fresh.now).await?;
            unit.move_requests(&session.sid, &fresh.row.sid).await?;
            Ok(fresh.row.sid)
        }
        _ => Ok(session.sid.clone()),
    }
}

/// Ends a session (logout, or "end this session" on the account page).
pub async fn end(
    state: &AppState,
    sid: &str,
    customer: &Customer,
    ip: &str,
    reason: &str,
) -> Result<bool> {
    let ended = state
        .store
        .end_session(sid, Some(&customer.id), state.clock.now())
        .await?;
    if ended {
        let event = AuditEvent::new(AuditKind::SessionEnded, Outcome::Info)
            .with_customer(&customer.id, customer.customer_code.as_str())
            .with_ip(ip)
            .with_detail(json!({ "reason": reason }));
        state.audit(event).await;
    }
    Ok(ended)
}
