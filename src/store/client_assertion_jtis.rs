//! The `jti` of every `private_key_jwt` assertion a client used, kept until
//! the assertion expires so a replay is refused (RFC 7523 §3).

use super::Store;
use crate::error::Result;

impl Store {
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
