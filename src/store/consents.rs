//! Scopes customers granted to third-party clients.

use super::Store;
use crate::error::Result;

impl Store {
    /// The scope (space-separated) the customer granted the client, if any.
    pub async fn find_consent(&self, customer_id: &str, client_id: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT scope FROM consents WHERE customer_id = $1 AND client_id = $2",
        )
        .bind(customer_id)
        .bind(client_id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Records (or replaces) a grant of `scope`.
    pub async fn save_consent(
        &self,
        customer_id: &str,
        client_id: &str,
        scope: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO consents (customer_id, client_id, scope, granted_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (customer_id, client_id) DO UPDATE SET scope = $3, granted_at = $4",
        )
        .bind(customer_id)
        .bind(client_id)
        .bind(scope)
        .bind(now)
        .execute(self.autocommit())
        .await?;
        Ok(())
    }

    /// Records a `private_key_jwt` assertion's `jti`; false when it was seen before (a replay).
    pub async fn remember_assertion_jti(
        &self,
        client_id: &str,
        jti: &str,
        expires_at: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO client_assertion_jtis (client_id, jti, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(client_id)
        .bind(jti)
        .bind(expires_at)
        .execute(self.autocommit())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
