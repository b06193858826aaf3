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
}
