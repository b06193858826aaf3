//! Browser sessions and the authentication events they record.

use sqlx::Row as _;

use super::Store;
use super::unit::Unit;
use crate::error::Result;

/// A browser session as stored.
#[derive(Clone, Debug)]
pub struct SessionRow {
    /// Stable session id (the OIDC `sid`).
    pub sid: String,
    /// The logged-in customer, if any.
    pub customer_id: Option<String>,
    /// Anti-CSRF token for this session's forms.
    pub csrf_token: String,
    /// Chosen page language.
    pub locale: Option<String>,
    /// Creation time (the login time once logged in).
    pub created_at: i64,
    /// Last request seen.
    pub last_seen_at: i64,
    /// Absolute end.
    pub expires_at: i64,
}

/// A session listed on the account page.
#[derive(Clone, Debug)]
pub struct SessionSummary {
    /// Session id.
    pub sid: String,
    /// Creation (login) time.
    pub created_at: i64,
    /// Last request.
    pub last_seen_at: i64,
    /// Browser's User-Agent, as given.
    pub user_agent: Option<String>,
    /// Client IP at creation.
    pub ip: Option<String>,
}

/// One authentication a session went through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthEventRow {
    /// Method name (`passkey`, `password_totp`, `password_email`).
    pub method: String,
    /// `acr` reached.
    pub acr: String,
    /// `amr` values.
    pub amr: Vec<String>,
    /// `login` or `step_up`.
    pub purpose: String,
    /// When.
    pub at: i64,
}

/// What a new session row holds.
#[derive(Debug)]
pub struct NewSession<'a> {
    /// Session id.
    pub sid: &'a str,
    /// SHA-256 of the cookie value.
    pub handle_hash: &'a str,
    /// CSRF token.
    pub csrf_token: &'a str,
    /// Page language.
    pub locale: Option<&'a str>,
    /// User-Agent.
    pub user_agent: Option<&'a str>,
    /// Client IP.
    pub ip: Option<&'a str>,
    /// Absolute end.
    pub expires_at: i64,
}

impl Store {
    /// Stores a new anonymous session (its `expires_at` is the short anonymous end).
    pub async fn insert_session(&self, new: &NewSession<'_>, now: i64) -> Result<()> {
        insert_session(new, now).execute(self.autocommit()).await?;
        Ok(())
    }

    /// The live session whose cookie hashes to `handle_hash`: not ended, not
    /// past its absolute end, and used within `idle_secs`.
    pub async fn find_session(
        &self,
        handle_hash: &str,
        now: i64,
        idle_secs: i64,
    ) -> Result<Option<SessionRow>> {
        let row = sqlx::query(
            "SELECT sid, customer_id, csrf_token, locale, created_at, last_seen_at, expires_at FROM sessions \
             WHERE handle_hash = $1 AND ended_at IS NULL AND expires_at > $2 AND last_seen_at > $3",
        )
        .bind(handle_hash)
        .bind(now)
        .bind(now - idle_secs)
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| {
            Ok(SessionRow {
                sid: row.try_get("sid")?,
                customer_id: row.try_get("customer_id")?,
                csrf_token: row.try_get("csrf_token")?,
                locale: row.try_get("locale")?,
                created_at: row.try_get("created_at")?,
                last_seen_at: row.try_get("last_seen_at")?,
                expires_at: row.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    /// Records activity, and moves an anonymous session's end to
    /// `anonymous_expires_at` (a logged-in session keeps its absolute end);
    /// callers skip this when the last write was recent, to spare the
    /// database a write per request.
    pub async fn touch_session(
        &self,
        sid: &str,
        now: i64,
        anonymous_expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE sessions SET last_seen_at = $2, \
             expires_at = CASE WHEN customer_id IS NULL THEN $3 ELSE expires_at END WHERE sid = $1",
        )
        .bind(sid)
        .bind(now)
        .bind(anonymous_expires_at)
        .execute(self.autocommit())
        .await?;
        Ok(())
    }

    /// Sets the page language of a session.
    pub async fn set_session_locale(&self, sid: &str, locale: &str) -> Result<()> {
        sqlx::query("UPDATE sessions SET locale = $2 WHERE sid = $1")
            .bind(sid)
            .bind(locale)
            .execute(self.autocommit())
            .await?;
        Ok(())
    }

    /// Every authentication event of a session, oldest first.
    pub async fn session_auth_events(&self, sid: &str) -> Result<Vec<AuthEventRow>> {
        let rows = sqlx::query(
            "SELECT method, acr, amr, purpose, at FROM session_auth_events WHERE sid = $1 ORDER BY at, id",
        )
        .bind(sid)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let amr: String = row.try_get("amr")?;
                Ok(AuthEventRow {
                    method: row.try_get("method")?,
                    acr: row.try_get("acr")?,
                    amr: serde_json::from_str(&amr).map_err(anyhow::Error::from)?,
                    purpose: row.try_get("purpose")?,
                    at: row.try_get("at")?,
                })
            })
            .collect()
    }

    /// Whether the session has a step-up it could spend (see [`StepUpSpend`]),
    /// without spending it.
    pub async fn has_step_up(&self, spend: &StepUpSpend<'_>) -> Result<bool> {
        let found: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM session_auth_events WHERE sid = $1 AND purpose = 'step_up' \
             AND consumed_at IS NULL AND at >= $2 AND ($3 = 0 OR method = 'passkey') \
             AND ($4 = '' OR method = $4)",
        )
        .bind(spend.sid)
        .bind(spend.not_before)
        .bind(super::flag(spend.passkey_only))
        .bind(spend.method.unwrap_or_default())
        .fetch_one(self.pool())
        .await?;
        Ok(found > 0)
    }

    /// A customer's live sessions, newest first.
    pub async fn list_customer_sessions(
        &self,
        customer_id: &str,
        now: i64,
        idle_secs: i64,
    ) -> Result<Vec<SessionSummary>> {
        let rows = sqlx::query(
            "SELECT sid, created_at, last_seen_at, user_agent, ip FROM sessions \
             WHERE customer_id = $1 AND ended_at IS NULL AND expires_at > $2 AND last_seen_at > $3 \
             ORDER BY created_at DESC, sid",
        )
        .bind(customer_id)
        .bind(now)
        .bind(now - idle_secs)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SessionSummary {
                    sid: row.try_get("sid")?,
                    created_at: row.try_get("created_at")?,
                    last_seen_at: row.try_get("last_seen_at")?,
                    user_agent: row.try_get("user_agent")?,
                    ip: row.try_get("ip")?,
                })
            })
            .collect()
    }

    /// Ends a session; with `customer_id`, only if it is that customer's. True if one ended.
    pub async fn end_session(
        &self,
        sid: &str,
        customer_id: Option<&str>,
        now: i64,
    ) -> Result<bool> {
        let done = end_session(sid, customer_id, now)
            .execute(self.autocommit())
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

impl Unit {
    /// [`Store::insert_session`] inside the unit.
    pub async fn insert_session(&mut self, new: &NewSession<'_>, now: i64) -> Result<()> {
        insert_session(new, now).execute(self.conn()).await?;
        Ok(())
    }

    /// [`Store::end_session`] inside the unit.
    pub async fn end_session(&mut self, sid: &str, now: i64) -> Result<bool> {
        let done = end_session(sid, None, now).execute(self.conn()).await?;
        Ok(done.rows_affected() == 1)
    }

    /// Binds the session to a customer after an authentication and gives it a
    /// new cookie handle and CSRF token (so a cookie planted or read before
    /// the login is worthless after it). A first login restarts the session's
    /// lifetime; a step-up keeps it. Returns false if the session is gone or
    /// belongs to someone else.
    pub async fn authenticate_session(
        &mut self,
        auth: &SessionAuthentication<'_>,
        now: i64,
    ) -> Result<bool> {
        let updated = sqlx::query(
            "UPDATE sessions SET customer_id = $2, handle_hash = $3, csrf_token = $4, last_seen_at = $5, \
             created_at = CASE WHEN customer_id IS NULL THEN $5 ELSE created_at END, \
             expires_at = CASE WHEN customer_id IS NULL THEN $6 ELSE expires_at END \
             WHERE sid = $1 AND ended_at IS NULL AND (customer_id IS NULL OR customer_id = $2)",
        )
        .bind(auth.sid)
        .bind(auth.customer_id)
        .bind(auth.new_handle_hash)
        .bind(auth.new_csrf_token)
        .bind(now)
        .bind(auth.expires_at)
        .execute(self.conn())
        .await?;
        if updated.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO session_auth_events (id, sid, method, acr, amr, purpose, at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(auth.sid)
        .bind(auth.event.method.as_str())
        .bind(auth.event.acr.as_str())
        .bind(serde_json::to_string(&auth.event.amr).map_err(anyhow::Error::from)?)
        .bind(auth.event.purpose.as_str())
        .bind(auth.event.at)
        .execute(self.conn())
        .await?;
        Ok(true)
    }
}

/// Which step-up may allow a sensitive action (adding or deleting a passkey):
/// one of this session's unspent step-up events since `not_before`, made with
/// a passkey when `passkey_only`.
#[derive(Clone, Copy, Debug)]
pub struct StepUpSpend<'a> {
    /// The session.
    pub sid: &'a str,
    /// Oldest acceptable event time.
    pub not_before: i64,
    /// Only a passkey step-up counts (policy `strongest`).
    pub passkey_only: bool,
    /// Only a step-up by this method counts (an `authn::Method` name), if set.
    pub method: Option<&'static str>,
}

/// The one statement that spends a step-up: it marks the newest matching
/// event consumed, and only if nobody consumed it first, so one step-up
/// allows one action even when two requests race.
const SPEND_STEP_UP: &str = "UPDATE session_auth_events SET consumed_at = $4 WHERE consumed_at IS NULL AND id = \
     (SELECT id FROM session_auth_events WHERE sid = $1 AND purpose = 'step_up' AND consumed_at IS NULL \
      AND at >= $2 AND ($3 = 0 OR method = 'passkey') AND ($5 = '' OR method = $5) \
      ORDER BY at DESC, id LIMIT 1)";

/// Spends a step-up inside the caller's transaction (see [`StepUpSpend`]);
/// false when there is none to spend.
pub(crate) async fn spend_step_up(
    conn: &mut sqlx::AnyConnection,
    spend: &StepUpSpend<'_>,
    now: i64,
) -> Result<bool> {
    let done = sqlx::query(SPEND_STEP_UP)
        .bind(spend.sid)
        .bind(spend.not_before)
        .bind(super::flag(spend.passkey_only))
        .bind(now)
        .bind(spend.method.unwrap_or_default())
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// An authentication to bind to a session (see `Unit::authenticate_session`).
#[derive(Debug)]
pub struct SessionAuthentication<'a> {
    /// Session id.
    pub sid: &'a str,
    /// The customer who authenticated.
    pub customer_id: &'a str,
    /// Hash of the new cookie value.
    pub new_handle_hash: &'a str,
    /// New CSRF token.
    pub new_csrf_token: &'a str,
    /// Absolute end for a session that was anonymous until now.
    pub expires_at: i64,
    /// What happened.
    pub event: &'a AuthEventRow,
}

fn insert_session<'q>(new: &NewSession<'q>, now: i64) -> super::Query<'q> {
    sqlx::query(
        "INSERT INTO sessions (sid, handle_hash, csrf_token, locale, user_agent, ip, created_at, last_seen_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)",
    )
    .bind(new.sid)
    .bind(new.handle_hash)
    .bind(new.csrf_token)
    .bind(new.locale)
    .bind(new.user_agent)
    .bind(new.ip)
    .bind(now)
    .bind(new.expires_at)
}

fn end_session<'q>(sid: &'q str, customer_id: Option<&'q str>, now: i64) -> super::Query<'q> {
    sqlx::query(
        "UPDATE sessions SET ended_at = $3 WHERE sid = $1 AND ended_at IS NULL AND ($2 IS NULL OR customer_id = $2)",
    )
    .bind(sid)
    .bind(customer_id)
    .bind(now)
}
