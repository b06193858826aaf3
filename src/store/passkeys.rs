//! Registered passkeys.
//!
//! The per-customer cap is a constraint, not a count: a new passkey takes the
//! first free `slot` below the cap and `UNIQUE (customer_id, slot)` refuses
//! the second of two racing inserts, so a fourth never appears. Adding and
//! deleting spend the session's step-up in the same transaction, so a refused
//! action keeps its step-up and a step-up allows one action.

use sqlx::Row as _;

use super::sessions::{StepUpSpend, spend_step_up};
use super::unit::Unit;
use super::{Store, flag, unique_violation};
use crate::error::Result;

/// The columns of [`StoredPasskey`], as a `SELECT` without its `WHERE`.
macro_rules! select_stored {
    () => {
        "SELECT credential_id, customer_id, passkey, aaguid, provider, nickname, backup_eligible, \
         backup_state, sign_count FROM passkeys"
    };
}

/// A passkey as listed to the customer and the operator.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PasskeySummary {
    /// Credential id, base64url.
    pub credential_id: String,
    /// Provider name from the AAGUID.
    pub provider: String,
    /// The customer's nickname for it.
    pub nickname: String,
    /// Whether it may be synced (backup eligible).
    pub backup_eligible: bool,
    /// Whether it is synced now.
    pub backup_state: bool,
    /// Registration time.
    pub created_at: i64,
    /// Last successful login.
    pub last_used_at: Option<i64>,
}

impl Store {
    /// A customer's passkeys, oldest first.
    pub async fn list_passkeys(&self, customer_id: &str) -> Result<Vec<PasskeySummary>> {
        let rows = sqlx::query(
            "SELECT credential_id, provider, nickname, backup_eligible, backup_state, created_at, last_used_at \
             FROM passkeys WHERE customer_id = $1 ORDER BY created_at, slot",
        )
        .bind(customer_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(PasskeySummary {
                    credential_id: row.try_get("credential_id")?,
                    provider: row.try_get("provider")?,
                    nickname: row.try_get("nickname")?,
                    backup_eligible: row.try_get::<i64, _>("backup_eligible")? != 0,
                    backup_state: row.try_get::<i64, _>("backup_state")? != 0,
                    created_at: row.try_get("created_at")?,
                    last_used_at: row.try_get("last_used_at")?,
                })
            })
            .collect()
    }

    /// Every passkey of a customer with its stored credential, oldest first.
    pub async fn customer_passkeys(&self, customer_id: &str) -> Result<Vec<StoredPasskey>> {
        let rows = sqlx::query(concat!(
            select_stored!(),
            " WHERE customer_id = $1 ORDER BY created_at, slot"
        ))
        .bind(customer_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(stored_from_row).collect()
    }

    /// The passkey with this credential id, whoever it belongs to.
    pub async fn find_passkey(&self, credential_id: &str) -> Result<Option<StoredPasskey>> {
        let row = sqlx::query(concat!(select_stored!(), " WHERE credential_id = $1"))
            .bind(credential_id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(stored_from_row).transpose()
    }

    /// Stores a new passkey in the customer's first free slot below `max`,
    /// spending the session's step-up, all in one transaction.
    pub async fn insert_passkey(
        &self,
        new: &NewPasskey<'_>,
        step_up: &StepUpSpend<'_>,
        max: u32,
        now: i64,
    ) -> Result<InsertOutcome> {
        let mut tx = self.begin_write().await?;
        // A write first: on SQLite it takes the write lock, so racing
        // registrations queue here instead of failing on a stale snapshot.
        if !spend_step_up(&mut tx, step_up, now).await? {
            return Ok(InsertOutcome::NoStepUp);
        }
        let taken: Option<String> =
            sqlx::query_scalar("SELECT customer_id FROM passkeys WHERE credential_id = $1")
                .bind(new.credential_id)
                .fetch_optional(&mut *tx)
                .await?;
        if taken.is_some() {
            return Ok(InsertOutcome::Duplicate);
        }
        let slots: Vec<i64> =
            sqlx::query_scalar("SELECT slot FROM passkeys WHERE customer_id = $1")
                .bind(new.customer_id)
                .fetch_all(&mut *tx)
                .await?;
        let Some(slot) = (0..i64::from(max)).find(|s| !slots.contains(s)) else {
            return Ok(InsertOutcome::Limit);
        };
        let inserted = sqlx::query(
            "INSERT INTO passkeys (credential_id, customer_id, slot, passkey, aaguid, provider, nickname, \
             backup_eligible, backup_state, sign_count, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, '', $7, $8, $9, $10)",
        )
        .bind(new.credential_id)
        .bind(new.customer_id)
        .bind(slot)
        .bind(new.passkey)
        .bind(new.aaguid)
        .bind(new.provider)
        .bind(flag(new.backup_eligible))
        .bind(flag(new.backup_state))
        .bind(new.sign_count)
        .bind(now)
        .execute(&mut *tx)
        .await;
        if let Err(e) = inserted {
            // The transaction rolls back when dropped, giving the step-up back.
            return match unique_violation(&e) {
                Some(c) if c.contains("slot") => Ok(InsertOutcome::Limit),
                Some(_) => Ok(InsertOutcome::Duplicate),
                None => Err(e.into()),
            };
        }
        self.commit(tx).await?;
        Ok(InsertOutcome::Inserted)
    }

    /// Sets the customer's nickname of one of their passkeys; false if they have no such passkey.
    pub async fn rename_passkey(
        &self,
        customer_id: &str,
        credential_id: &str,
        nickname: &str,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE passkeys SET nickname = $3 WHERE customer_id = $1 AND credential_id = $2",
        )
        .bind(customer_id)
        .bind(credential_id)
        .bind(nickname)
        .execute(self.autocommit())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes one of the customer's passkeys, spending the session's step-up
    /// in the same transaction. Returns what was deleted.
    pub async fn delete_passkey(
        &self,
        customer_id: &str,
        credential_id: &str,
        step_up: &StepUpSpend<'_>,
        now: i64,
    ) -> Result<DeleteOutcome> {
        let mut tx = self.begin_write().await?;
        if !spend_step_up(&mut tx, step_up, now).await? {
            return Ok(DeleteOutcome::NoStepUp);
        }
        let row = sqlx::query(
            "DELETE FROM passkeys WHERE customer_id = $1 AND credential_id = $2 RETURNING provider, nickname",
        )
        .bind(customer_id)
        .bind(credential_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(DeleteOutcome::NotFound);
        };
        let provider: String = row.try_get("provider")?;
        self.commit(tx).await?;
        Ok(DeleteOutcome::Deleted { provider })
    }

    /// Removes every passkey of a customer (lost device); returns how many.
    pub async fn delete_all_passkeys(&self, customer_id: &str) -> Result<u64> {
        let done = sqlx::query("DELETE FROM passkeys WHERE customer_id = $1")
            .bind(customer_id)
            .execute(self.autocommit())
            .await?;
        Ok(done.rows_affected())
    }
}

impl Unit {
    /// Records a successful assertion: the updated credential, its counter and
    /// backup state and the time, in one statement that only applies while the
    /// stored counter is below the new one (or both are zero), so two racing
    /// logins with the same counter cannot both pass. False if it did not apply.
    pub async fn record_passkey_use(&mut self, used: &PasskeyUse<'_>, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE passkeys SET passkey = $2, backup_state = $3, sign_count = $4, last_used_at = $5 \
             WHERE credential_id = $1 AND (sign_count < $4 OR (sign_count = 0 AND $4 = 0))",
        )
        .bind(used.credential_id)
        .bind(used.passkey)
        .bind(flag(used.backup_state))
        .bind(used.sign_count)
        .bind(now)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

fn stored_from_row(row: &sqlx::any::AnyRow) -> Result<StoredPasskey> {
    Ok(StoredPasskey {
        credential_id: row.try_get("credential_id")?,
        customer_id: row.try_get("customer_id")?,
        passkey: row.try_get("passkey")?,
        aaguid: row.try_get("aaguid")?,
        provider: row.try_get("provider")?,
        nickname: row.try_get("nickname")?,
        backup_eligible: row.try_get::<i64, _>("backup_eligible")? != 0,
        backup_state: row.try_get::<i64, _>("backup_state")? != 0,
        sign_count: row.try_get("sign_count")?,
    })
}

/// A passkey with the credential the ceremonies need.
#[derive(Clone, Debug)]
pub struct StoredPasskey {
    /// Credential id, base64url.
    pub credential_id: String,
    /// Owner.
    pub customer_id: String,
    /// JSON of webauthn-rs's `Passkey` (public key, counter, flags).
    pub passkey: String,
    /// Authenticator model (UUID text).
    pub aaguid: String,
    /// Provider name from the AAGUID, empty when unknown.
    pub provider: String,
    /// The customer's nickname.
    pub nickname: String,
    /// Backup-eligible flag at registration; it must never change.
    pub backup_eligible: bool,
    /// Backup state at the last use.
    pub backup_state: bool,
    /// Signature counter at the last use.
    pub sign_count: i64,
}

/// A passkey to store (see [`Store::insert_passkey`]).
#[derive(Debug)]
pub struct NewPasskey<'a> {
    /// Credential id, base64url.
    pub credential_id: &'a str,
    /// Owner.
    pub customer_id: &'a str,
    /// JSON of webauthn-rs's `Passkey`.
    pub passkey: &'a str,
    /// Authenticator model (UUID text).
    pub aaguid: &'a str,
    /// Provider name, empty when unknown.
    pub provider: &'a str,
    /// Backup-eligible flag.
    pub backup_eligible: bool,
    /// Backup state.
    pub backup_state: bool,
    /// Signature counter.
    pub sign_count: i64,
}

/// How [`Store::insert_passkey`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InsertOutcome {
    /// Stored; the step-up is spent.
    Inserted,
    /// No unspent step-up to allow it.
    NoStepUp,
    /// The customer already has the most passkeys allowed.
    Limit,
    /// The credential id is already registered (to anyone).
    Duplicate,
}

/// What a successful assertion changes (see [`Store::record_passkey_use`]).
#[derive(Debug)]
pub struct PasskeyUse<'a> {
    /// Credential id, base64url.
    pub credential_id: &'a str,
    /// Updated JSON of webauthn-rs's `Passkey`.
    pub passkey: &'a str,
    /// Backup state now.
    pub backup_state: bool,
    /// Signature counter now.
    pub sign_count: i64,
}

/// How [`Store::delete_passkey`] ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// Deleted; the step-up is spent.
    Deleted {
        /// Provider name of the deleted passkey.
        provider: String,
    },
    /// No unspent step-up to allow it.
    NoStepUp,
    /// The customer has no such passkey (the step-up is kept).
    NotFound,
}
