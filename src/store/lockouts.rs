//! Password failure counters and rate-limit windows, held in the database so
//! every node enforces the same limits.

use super::Store;
use super::unit::Unit;
use crate::error::Result;

impl Store {
    /// Replaces a password hash (rehash with stronger parameters).
    pub async fn update_password_hash(&self, customer_id: &str, phc: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE customers SET password_hash = $2, updated_at = $3 WHERE id = $1")
            .bind(customer_id)
            .bind(phc)
            .bind(now)
            .execute(self.autocommit())
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
        .fetch_one(self.autocommit())
        .await?;
        Ok(hits)
    }
}

impl Unit {
    /// Claims one password attempt against the account before its hash is
    /// checked, counting it as a failure until [`Unit::settle_right_password`]
    /// says otherwise; `None` when the account is locked.
    ///
    /// One conditional `UPDATE` claims the attempt and, when it is the one
    /// that reaches a lock, sets the lock in the same write: N attempts at
    /// once are counted as N attempts in a row, at most one of them locks,
    /// and none gets past a lock another has set. Returns the consecutive
    /// failures including this one.
    pub async fn claim_password_attempt(
        &mut self,
        customer_id: &str,
        now: i64,
        schedule: &LockSchedule,
    ) -> Result<Option<i64>> {
        // Audited: the only text spliced in is integers of the schedule (`LockSchedule::new`).
        let sql = sqlx::AssertSqlSafe(schedule.claim_sql.as_str());
        let n: Option<i64> = sqlx::query_scalar(sql)
            .bind(customer_id)
            .bind(now)
            .fetch_optional(self.conn())
            .await?;
        Ok(n)
    }

    /// Undoes the failure counted by a claimed attempt whose password was right.
    ///
    /// The attempt ends the run of failures it was claimed in: the count
    /// goes back to the failures claimed after it (zero when none was), as if
    /// it had come first, and a lock its own claim set is lifted. A lock set
    /// by a later claim stays.
    pub async fn settle_right_password(
        &mut self,
        customer_id: &str,
        claimed: i64,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE customers SET \
               locked_until = CASE WHEN failed_logins > $2 THEN locked_until ELSE NULL END, \
               failed_logins = CASE WHEN failed_logins > $2 THEN failed_logins - $2 ELSE 0 END, \
               updated_at = $3 \
             WHERE id = $1 AND failed_logins > 0",
        )
        .bind(customer_id)
        .bind(claimed)
        .bind(now)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Counts one hit against `key` only while its window holds fewer than
    /// `limit`; `None` when the limit is reached (nothing is counted then).
    ///
    /// The condition and the increment are one upsert, so N callers at once
    /// get at most `limit` slots between them, on one node or many.
    pub async fn claim_rate_limit(
        &mut self,
        key: &str,
        limit: i64,
        window_secs: i64,
        now: i64,
    ) -> Result<Option<i64>> {
        let hits: Option<i64> = sqlx::query_scalar(
            "INSERT INTO rate_limits (key, window_start, hits, expires_at) VALUES ($1, $2, 1, $3) \
             ON CONFLICT (key) DO UPDATE SET \
               hits = CASE WHEN rate_limits.expires_at <= $2 THEN 1 ELSE rate_limits.hits + 1 END, \
               window_start = CASE WHEN rate_limits.expires_at <= $2 THEN $2 ELSE rate_limits.window_start END, \
               expires_at = CASE WHEN rate_limits.expires_at <= $2 THEN $3 ELSE rate_limits.expires_at END \
             WHERE rate_limits.expires_at <= $2 OR rate_limits.hits < $4 \
             RETURNING hits",
        )
        .bind(key)
        .bind(now)
        .bind(now + window_secs)
        .bind(limit)
        .fetch_optional(self.conn())
        .await?;
        Ok(hits)
    }

    /// Gives back a hit claimed with [`Store::claim_rate_limit`] that turned
    /// out not to count (a right password does not count against the throttle).
    pub async fn release_rate_limit(&mut self, key: &str, now: i64) -> Result<()> {
        sqlx::query(
            "UPDATE rate_limits SET hits = hits - 1 WHERE key = $1 AND expires_at > $2 AND hits > 0",
        )
        .bind(key)
        .bind(now)
        .execute(self.conn())
        .await?;
        Ok(())
    }
}

/// The lock schedule as the store applies it: which consecutive failure
/// locks the account, and for how long.
///
/// The rule itself belongs to `authn::lockout`; the store only needs it as
/// data so that the lock can be set in the same write that counts a failure.
#[derive(Clone, Debug)]
pub struct LockSchedule {
    /// Every `every`-th consecutive failure locks.
    pub every: i64,
    /// Lock lengths in seconds for the 1st, 2nd, ... lock; the last repeats.
    pub lengths: Vec<i64>,
    /// At this many failures the account is disabled.
    pub ceiling: i64,
    /// `locked_until` of a disabled account.
    pub disabled_until: i64,
    /// The claiming `UPDATE`, written once from the fields above.
    claim_sql: String,
}

impl LockSchedule {
    /// A schedule, with the statement that applies it written once here
    /// rather than at every login attempt.
    pub fn new(every: i64, lengths: Vec<i64>, ceiling: i64, disabled_until: i64) -> Self {
        let mut schedule = Self {
            every,
            lengths,
            ceiling,
            disabled_until,
            claim_sql: String::new(),
        };
        schedule.claim_sql = format!(
            "UPDATE customers SET failed_logins = failed_logins + 1, locked_until = {}, updated_at = $2 \
             WHERE id = $1 AND (locked_until IS NULL OR locked_until <= $2) RETURNING failed_logins",
            schedule.locked_until_sql("failed_logins + 1", "$2")
        );
        schedule
    }

    /// A SQL expression for `locked_until` after `count` failures at `now`
    /// (both SQL expressions); only integers from the schedule are spelled
    /// into it, never input.
    fn locked_until_sql(&self, count: &str, now: &str) -> String {
        let every = self.every.max(1);
        let mut sql = format!(
            "CASE WHEN {count} >= {ceiling} THEN {disabled} WHEN ({count}) % {every} <> 0 THEN locked_until",
            ceiling = self.ceiling,
            disabled = self.disabled_until,
        );
        let last = self.lengths.len().saturating_sub(1);
        for (i, secs) in self.lengths.iter().enumerate().take(last) {
            let nth = i64::try_from(i).unwrap_or(i64::MAX).saturating_add(1);
            sql.push_str(&format!(
                " WHEN {count} = {} THEN {now} + {secs}",
                nth.saturating_mul(every)
            ));
        }
        let longest = self.lengths.last().copied().unwrap_or(0);
        sql.push_str(&format!(" ELSE {now} + {longest} END"));
        sql
    }
}
