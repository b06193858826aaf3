//! Registered passkeys.

use sqlx::Row as _;

use super::Store;
use crate::error::Result;

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

    /// Removes every passkey of a customer (lost device); returns how many.
    pub async fn delete_all_passkeys(&self, customer_id: &str) -> Result<u64> {
        let done = sqlx::query("DELETE FROM passkeys WHERE customer_id = $1")
            .bind(customer_id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
