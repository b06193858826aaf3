//! Email one-time codes.

use sqlx::Row as _;

use super::Store;
use super::unit::Unit;
use crate::error::Result;

/// The code of an attempt that can still be entered.
#[derive(Clone, Debug)]
pub struct EmailCodeRow {
    /// Code id.
    pub id: String,
    /// SHA-256 of the code, keyed by the attempt id.
    pub code_hash: String,
    /// Which registered address it went to.
    pub email_position: i64,
    /// Wrong entries so far.
    pub wrong_tries: i64,
    /// Expiry.
    pub expires_at: i64,
}

/// Reads a row of `email_codes` (columns as [`EmailCodeRow`] names them).
fn email_code_row(row: &sqlx::any::AnyRow) -> Result<EmailCodeRow> {
    Ok(EmailCodeRow {
        id: row.try_get("id")?,
        code_hash: row.try_get("code_hash")?,
        email_position: row.try_get("email_position")?,
        wrong_tries: row.try_get("wrong_tries")?,
        expires_at: row.try_get("expires_at")?,
    })
}

impl Store {
    /// Stores a newly sent code and spends every earlier code of the attempt
    /// (a resend invalidates the previous code).
    pub async fn insert_email_code(
        &self,
        attempt_id: &str,
        row: &EmailCodeRow,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        // Writing the attempt row first serialises two sends for one attempt
        // (a row lock on PostgreSQL, the single writer on SQLite), so the
        // second one sees and spends the first one's code: one live code.
        sqlx::query("UPDATE login_attempts SET expires_at = expires_at WHERE id = $1")
            .bind(attempt_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE email_codes SET spent_at = $2 WHERE attempt_id = $1 AND spent_at IS NULL",
        )
        .bind(attempt_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO email_codes (id, attempt_id, code_hash, email_position, wrong_tries, sent_at, expires_at) \
             VALUES ($1, $2, $3, $4, 0, $5, $6)",
        )
        .bind(&row.id)
        .bind(attempt_id)
        .bind(&row.code_hash)
        .bind(row.email_position)
        .bind(now)
        .bind(row.expires_at)
        .execute(&mut *tx)
        .await?;
        self.commit(tx).await?;
        Ok(())
    }

    /// The attempt's current code, if one is still usable.
    pub async fn live_email_code(
        &self,
        attempt_id: &str,
        now: i64,
    ) -> Result<Option<EmailCodeRow>> {
        let row = sqlx::query(
            "SELECT id, code_hash, email_position, wrong_tries, expires_at FROM email_codes \
             WHERE attempt_id = $1 AND spent_at IS NULL AND expires_at > $2 ORDER BY sent_at DESC LIMIT 1",
        )
        .bind(attempt_id)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(email_code_row).transpose()
    }

    /// Whether the attempt has any code sent (used or not), to tell "expired" from "never sent".
    pub async fn email_code_sent(&self, attempt_id: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM email_codes WHERE attempt_id = $1")
            .bind(attempt_id)
            .fetch_one(self.pool())
            .await?;
        Ok(n > 0)
    }
}

impl Unit {
    /// Kills a code whose last try was wrong.
    pub async fn kill_email_code(&mut self, id: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE email_codes SET spent_at = $2 WHERE id = $1 AND spent_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Spends a code on its correct entry, uncounting the try claimed for
    /// it; true only for the one caller that spent it.
    pub async fn take_email_code(&mut self, id: &str, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE email_codes SET spent_at = $2, wrong_tries = wrong_tries - 1 \
             WHERE id = $1 AND spent_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Claims one entry against the attempt's live code before it is
    /// compared, counting it as wrong until [`Store::take_email_code`] says
    /// otherwise; `None` when no code can be entered (expired, spent, dead).
    ///
    /// One conditional `UPDATE`: N entries at once get at most `max` tries
    /// between them, as N entries in a row would.
    pub async fn claim_email_code_try(
        &mut self,
        attempt_id: &str,
        max: i64,
        now: i64,
    ) -> Result<Option<EmailCodeRow>> {
        let row = sqlx::query(
            "UPDATE email_codes SET wrong_tries = wrong_tries + 1 \
             WHERE attempt_id = $1 AND spent_at IS NULL AND expires_at > $2 AND wrong_tries < $3 \
             RETURNING id, code_hash, email_position, wrong_tries, expires_at",
        )
        .bind(attempt_id)
        .bind(now)
        .bind(max)
        .fetch_optional(self.conn())
        .await?;
        row.as_ref().map(email_code_row).transpose()
    }
}
