//! Which relying parties a browser session signed in to (`session_clients`),
//! read when the session ends to send back-channel logout tokens. Rows are
//! written with each authorization code (`store::authorization_codes`).

use super::Store;
use crate::error::Result;

impl Store {
    /// The clients session `sid` signed in to, oldest sign-in first.
    pub async fn list_session_clients(&self, sid: &str) -> Result<Vec<String>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT client_id FROM session_clients WHERE sid = $1 ORDER BY at, client_id",
        )
        .bind(sid)
        .fetch_all(self.pool())
        .await?;
        Ok(ids)
    }
}
