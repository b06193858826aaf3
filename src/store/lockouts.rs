//! Password failure counters and rate-limit windows, held in the database so
//! every node enforces the same limits.

use super::Store;
use crate::error::Result;

impl Store {
    /// Counts a wrong password and returns the consecutive failures so far.
    pub async fn record_password_failure(&self, customer_id: &str, now: i64) -> Result<i64> {
        let n: i64 = sqlx::query_scalar(
            "UPDATE customers SET failed_logins = failed_logins + 1, updated_at = $2 WHERE id = $1 RETURNING failed_logins",
        )
        .bind(customer_id)
        .bind(now)
        .fetch_one(self.pool())
        .await?;
        Ok(n)
    }

    /// Locks the account until `until`.
    pub async fn lock_customer(&self, customer_id: &str, until: i64, now: i64) -> Result<()> {
        sqlx::query("UPDATE customers SET locked_until = $2, updated_at = $3 WHERE id = $1")
            .bind(customer_id)
            .bind(until)
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Resets the failure count after a correct password.
    pub async fn record_password_success(&self, customer_id: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE customers SET failed_logins = 0, updated_at = $2 WHERE id = $1 AND failed_logins <> 0")
            .bind(customer_id)
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Replaces a password hash (rehash with stronger parameters).
    pub async fn update_password_hash(&self, customer_id: &str, phc: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE customers SET password_hash = $2, updated_at = $3 WHERE id = $1")
            .bind(customer_id)
            .bind(phc)
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Counts one hit against `key` in a fixed window of `window_secs` and
    /// returns the hits in the current window (the first hit of a new window is 1).
    pub async fn hit_rate_limit(&self, key: &str, window_secs: i64, now: i64) -> Result<i64> {
        let hits: i64 = sqlx::query_scalar(
            "INSERT INTO rate_limits (key, window_start, hits, expires_at) VALUES ($1, $2, 1, $3) \
             ON CONFLICT (key) DO UPDATE SET \
               hits = CASE WHEN rate_limits.expires_at <= $2 THEN 1 ELSE rate_limits.hits + 1 END, \
               window_start = CASE WHEN rate_limits.expires_at <= $2 THEN $2 ELSE rate_limits.window_start END, \
               expires_at = CASE WHEN rate_limits.expires_at <= $2 THEN $3 ELSE rate_limits.expires_at END \
             RETURNING hits",
        )
        .bind(key)
        .bind(now)
        .bind(now + window_secs)
        .fetch_one(self.pool())
        .await?;
        Ok(hits)
    }

    /// Hits counted against `key` in its current window, without adding one.
    pub async fn rate_limit_hits(&self, key: &str, now: i64) -> Result<i64> {
        let hits: Option<i64> =
            sqlx::query_scalar("SELECT hits FROM rate_limits WHERE key = $1 AND expires_at > $2")
                .bind(key)
                .bind(now)
                .fetch_optional(self.pool())
                .await?;
        Ok(hits.unwrap_or(0))
    }
}
