//! Deletion of expired rows, run by a background task on every node.
//!
//! Deletes are idempotent, so several nodes purging at once only repeat work.

use super::Store;
use crate::error::Result;

/// How long spent authorization codes are kept past their expiry.
///
/// A code replayed within this window is still recognised, so the tokens
/// issued from it are revoked (RFC 6749 §4.1.2) rather than the replay being
/// a plain miss. The SQL below spells the number; a unit test keeps the two equal.
#[cfg_attr(
    not(test),
    expect(dead_code, reason = "only the unit test reads it; the SQL spells it")
)]
const CODE_GRACE_SECS: i64 = 600;

/// Each table with an expiry and the condition that makes a row disposable.
const PURGES: &[(&str, &str)] = &[
    // Anonymous sessions end 30 minutes after their last use
    // (`authn::session::ANONYMOUS_IDLE_SECS`), so they go soon too.
    (
        "sessions",
        "DELETE FROM sessions WHERE expires_at < $1 OR ended_at < $1",
    ),
    // Kept 30 minutes past expiry (`oidc::authorize::REQUEST_TTL_SECS`): a
    // pushed request opened while live is used up by the answer of the flow
    // it started, which may come that much later (`store::auth_requests`).
    (
        "auth_requests",
        "DELETE FROM auth_requests WHERE expires_at < $1 - 1800",
    ),
    (
        "login_attempts",
        "DELETE FROM login_attempts WHERE expires_at < $1",
    ),
    (
        "email_codes",
        "DELETE FROM email_codes WHERE expires_at < $1",
    ),
    (
        "authorization_codes",
        "DELETE FROM authorization_codes WHERE expires_at < $1 - 600",
    ),
    (
        "token_families",
        "DELETE FROM token_families WHERE expires_at < $1",
    ),
    (
        "refresh_tokens",
        "DELETE FROM refresh_tokens WHERE expires_at < $1",
    ),
    (
        "access_tokens",
        "DELETE FROM access_tokens WHERE expires_at < $1",
    ),
    (
        "client_assertion_jtis",
        "DELETE FROM client_assertion_jtis WHERE expires_at < $1",
    ),
    ("dpop_jtis", "DELETE FROM dpop_jtis WHERE expires_at < $1"),
    (
        "webauthn_ceremonies",
        "DELETE FROM webauthn_ceremonies WHERE expires_at < $1",
    ),
    (
        "rate_limits",
        "DELETE FROM rate_limits WHERE expires_at < $1",
    ),
];

impl Store {
    /// Deletes every expired row; returns (table, rows deleted) for tables that had some.
    pub async fn purge_expired(&self, now: i64) -> Result<Vec<(&'static str, u64)>> {
        let mut purged = Vec::new();
        for (table, sql) in PURGES {
            let done = sqlx::query(*sql)
                .bind(now)
                .execute(self.autocommit())
                .await?;
            if done.rows_affected() > 0 {
                purged.push((*table, done.rows_affected()));
            }
        }
        Ok(purged)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_request_grace_in_sql_is_the_life_of_a_kept_request() {
        let sql = super::PURGES
            .iter()
            .find(|(t, _)| *t == "auth_requests")
            .map(|(_, s)| *s)
            .unwrap_or("");
        assert!(sql.ends_with(&format!("- {}", 30 * 60)), "{sql}");
    }

    #[test]
    fn the_code_grace_in_sql_matches_the_constant() {
        let sql = super::PURGES
            .iter()
            .find(|(t, _)| *t == "authorization_codes")
            .map(|(_, s)| *s)
            .unwrap_or("");
        assert!(
            sql.ends_with(&format!("- {}", super::CODE_GRACE_SECS)),
            "{sql}"
        );
    }
}
