//! A customer's authenticator-app (TOTP) seed, last accepted step and failure count.
//!
//! Seeds arrive and leave sealed (`crypto::seal`); this module never sees
//! one in the clear. Replay protection and the failure lock live in single
//! `UPDATE` statements, so nodes sharing the database cannot both accept
//! one code or both miss a failure.

use sqlx::Row as _;

use super::Store;
use super::sessions::{StepUpSpend, spend_step_up};
use super::unit::Unit;
use crate::error::Result;

/// What checking a TOTP code needs to know about an enrolled customer.
#[derive(Clone)]
pub struct TotpState {
    /// The seed, sealed with the data key and the customer id as associated data.
    pub sealed_secret: String,
    /// The highest step accepted so far; `None` until the first code after enrolment.
    pub last_step: Option<i64>,
    /// Consecutive wrong codes since the last accepted one.
    pub failures: i64,
}

impl std::fmt::Debug for TotpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Sealed, but still the seed: keep it out of logs all the same.
        f.debug_struct("TotpState")
            .field("last_step", &self.last_step)
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

/// What confirming a pending seed did.
#[derive(Debug, PartialEq, Eq)]
pub enum TotpConfirmation {
    /// The pending seed is now the enrolled one.
    Enrolled,
    /// No seed was pending; nothing changed.
    NothingPending,
    /// No step-up allowed it; nothing changed.
    NoStepUp,
}

/// Reads the TOTP columns of a `customers` row.
fn totp_state_row(row: &sqlx::any::AnyRow) -> Result<TotpState> {
    Ok(TotpState {
        sealed_secret: row.try_get("totp_secret")?,
        last_step: row.try_get("totp_last_step")?,
        failures: row.try_get("totp_failures")?,
    })
}

impl Store {
    /// Stores a sealed seed shown on the enrolment page, awaiting its first code.
    ///
    /// A second call replaces the first: only the seed last shown can be confirmed.
    pub async fn set_pending_totp(&self, customer_id: &str, sealed: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE customers SET totp_pending_secret = $2, updated_at = $3 WHERE id = $1")
            .bind(customer_id)
            .bind(sealed)
            .bind(now)
            .execute(self.autocommit())
            .await?;
        Ok(())
    }

    /// The sealed seed awaiting confirmation, if any.
    pub async fn pending_totp(&self, customer_id: &str) -> Result<Option<String>> {
        let pending: Option<Option<String>> =
            sqlx::query_scalar("SELECT totp_pending_secret FROM customers WHERE id = $1")
                .bind(customer_id)
                .fetch_optional(self.pool())
                .await?;
        Ok(pending.flatten())
    }

    /// Makes the pending seed the enrolled one, recording `step` as used, and
    /// spends the step-up that allows it, in one transaction.
    ///
    /// The step of the confirming code counts as used, so the code typed to
    /// confirm cannot log in a second time.
    pub async fn confirm_totp(
        &self,
        customer_id: &str,
        step: i64,
        step_up: &StepUpSpend<'_>,
        now: i64,
    ) -> Result<TotpConfirmation> {
        let mut tx = self.begin_write().await?;
        if !spend_step_up(&mut tx, step_up, now).await? {
            return Ok(TotpConfirmation::NoStepUp);
        }
        let done = sqlx::query(
            "UPDATE customers SET totp_secret = totp_pending_secret, totp_pending_secret = NULL, \
             totp_enrolled_at = $3, totp_last_step = $2, totp_failures = 0, updated_at = $3 \
             WHERE id = $1 AND totp_pending_secret IS NOT NULL",
        )
        .bind(customer_id)
        .bind(step)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(TotpConfirmation::NothingPending);
        }
        self.commit(tx).await?;
        Ok(TotpConfirmation::Enrolled)
    }

    /// Enrols a sealed seed directly (operator CLI), replacing any previous one and clearing the lock.
    pub async fn enroll_totp(&self, customer_id: &str, sealed: &str, now: i64) -> Result<()> {
        sqlx::query(
            "UPDATE customers SET totp_secret = $2, totp_pending_secret = NULL, \
             totp_enrolled_at = $3, totp_last_step = NULL, totp_failures = 0, updated_at = $3 \
             WHERE id = $1",
        )
        .bind(customer_id)
        .bind(sealed)
        .bind(now)
        .execute(self.autocommit())
        .await?;
        Ok(())
    }

    /// The enrolled seed with its replay and failure state; `None` when not enrolled.
    pub async fn totp_state(&self, customer_id: &str) -> Result<Option<TotpState>> {
        let row = select_totp_state(customer_id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(totp_state_row).transpose()
    }

    /// Claims one try of the factor before a code is checked, counting it as
    /// wrong until [`Store::accept_totp_step`] says otherwise; `None` when the
    /// factor is locked (`max` wrong codes in a row) or not enrolled.
    ///
    /// One conditional `UPDATE`: N codes at once get at most `max` tries
    /// between them, on one node or many. The returned state's `failures`
    /// includes this try.
    pub async fn claim_totp_try(
        &self,
        customer_id: &str,
        max: i64,
        now: i64,
    ) -> Result<Option<TotpState>> {
        let mut unit = self.unit().await?;
        let done = unit.claim_totp_try(customer_id, max, now).await?;
        unit.commit().await?;
        Ok(done)
    }

    /// Records `step` as used and undoes the try claimed for it, atomically;
    /// false when the step is not after the last accepted one (a replay).
    ///
    /// Being one `UPDATE` with the condition in its `WHERE`, two nodes racing
    /// with the same code change the row once: one wins. The failure count
    /// goes back to the tries claimed after this one (`claimed` is this try's
    /// count), as if this code had come first.
    pub async fn accept_totp_step(
        &self,
        customer_id: &str,
        step: i64,
        claimed: i64,
        now: i64,
    ) -> Result<bool> {
        let mut unit = self.unit().await?;
        let done = unit
            .accept_totp_step(customer_id, step, claimed, now)
            .await?;
        unit.commit().await?;
        Ok(done)
    }
}

impl Unit {
    /// [`Store::totp_state`] read inside the unit.
    pub async fn totp_state(&mut self, customer_id: &str) -> Result<Option<TotpState>> {
        let row = select_totp_state(customer_id)
            .fetch_optional(self.conn())
            .await?;
        row.as_ref().map(totp_state_row).transpose()
    }

    /// Records `step` as used and undoes the try claimed for it, atomically;
    /// false when the step is not after the last accepted one (a replay).
    ///
    /// Being one `UPDATE` with the condition in its `WHERE`, two nodes racing
    /// with the same code change the row once: one wins. The failure count
    /// goes back to the tries claimed after this one (`claimed` is this try's
    /// count), as if this code had come first.
    pub async fn accept_totp_step(
        &mut self,
        customer_id: &str,
        step: i64,
        claimed: i64,
        now: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE customers SET totp_last_step = $2, \
               totp_failures = CASE WHEN totp_failures > $4 THEN totp_failures - $4 ELSE 0 END, \
               updated_at = $3 \
             WHERE id = $1 AND totp_secret IS NOT NULL \
             AND (totp_last_step IS NULL OR totp_last_step < $2)",
        )
        .bind(customer_id)
        .bind(step)
        .bind(now)
        .bind(claimed)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Claims one try of the factor before a code is checked, counting it as
    /// wrong until [`Store::accept_totp_step`] says otherwise; `None` when the
    /// factor is locked (`max` wrong codes in a row) or not enrolled.
    ///
    /// One conditional `UPDATE`: N codes at once get at most `max` tries
    /// between them, on one node or many. The returned state's `failures`
    /// includes this try.
    pub async fn claim_totp_try(
        &mut self,
        customer_id: &str,
        max: i64,
        now: i64,
    ) -> Result<Option<TotpState>> {
        let row = sqlx::query(
            "UPDATE customers SET totp_failures = totp_failures + 1, updated_at = $2 \
             WHERE id = $1 AND totp_secret IS NOT NULL AND totp_failures < $3 \
             RETURNING totp_secret, totp_last_step, totp_failures",
        )
        .bind(customer_id)
        .bind(now)
        .bind(max)
        .fetch_optional(self.conn())
        .await?;
        row.as_ref().map(totp_state_row).transpose()
    }
}

fn select_totp_state(customer_id: &str) -> super::Query<'_> {
    sqlx::query(
        "SELECT totp_secret, totp_last_step, totp_failures FROM customers \
         WHERE id = $1 AND totp_secret IS NOT NULL",
    )
    .bind(customer_id)
}
