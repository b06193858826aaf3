//! Logins and step-ups in progress (`login_attempts`).

use sqlx::Row as _;

use super::Store;
use super::unit::Unit;
use crate::error::Result;

/// A login or step-up awaiting its second factor.
#[derive(Clone, Debug)]
pub struct AttemptRow {
    /// Attempt id.
    pub id: String,
    /// Session it belongs to.
    pub sid: String,
    /// The identified customer.
    pub customer_id: String,
    /// `login` or `step_up`.
    pub purpose: String,
    /// Local path to continue at.
    pub return_to: String,
    /// Expiry.
    pub expires_at: i64,
}

impl Store {
    /// Starts an attempt, replacing any earlier one of the same session (one flow at a time per browser).
    pub async fn insert_attempt(&self, row: &AttemptRow, now: i64) -> Result<()> {
        let mut unit = self.unit().await?;
        unit.insert_attempt(row, now).await?;
        unit.commit().await
    }

    /// The live attempt of a session.
    pub async fn find_attempt(&self, sid: &str, now: i64) -> Result<Option<AttemptRow>> {
        let row = sqlx::query(
            "SELECT id, sid, customer_id, purpose, return_to, expires_at FROM login_attempts \
             WHERE sid = $1 AND expires_at > $2",
        )
        .bind(sid)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| {
            Ok(AttemptRow {
                id: row.try_get("id")?,
                sid: row.try_get("sid")?,
                customer_id: row.try_get("customer_id")?,
                purpose: row.try_get("purpose")?,
                return_to: row.try_get("return_to")?,
                expires_at: row.try_get("expires_at")?,
            })
        })
        .transpose()
    }
}

impl Unit {
    /// [`Store::insert_attempt`] inside the unit.
    pub async fn insert_attempt(&mut self, row: &AttemptRow, now: i64) -> Result<()> {
        sqlx::query("DELETE FROM login_attempts WHERE sid = $1")
            .bind(&row.sid)
            .execute(self.conn())
            .await?;
        sqlx::query(
            "INSERT INTO login_attempts (id, sid, customer_id, purpose, return_to, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&row.id)
        .bind(&row.sid)
        .bind(&row.customer_id)
        .bind(&row.purpose)
        .bind(&row.return_to)
        .bind(now)
        .bind(row.expires_at)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Ends an attempt (finished or abandoned); true if this call removed it,
    /// so of two racing completions only one proceeds.
    pub async fn take_attempt(&mut self, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM login_attempts WHERE id = $1")
            .bind(id)
            .execute(self.conn())
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
