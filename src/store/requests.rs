//! Pending authorization requests (`auth_requests`): kept server-side while
//! the customer logs in, and pushed requests (RFC 9126).

use sqlx::Row as _;

use super::unit::Unit;
use super::{Store, flag};
use crate::error::Result;

/// A stored authorization request.
#[derive(Clone, Debug)]
pub struct RequestRow {
    /// Id (random for ordinary requests; SHA-256 of the handle for pushed ones).
    pub id: String,
    /// The client.
    pub client_id: String,
    /// The browser session it belongs to, once known.
    pub sid: Option<String>,
    /// JSON of the validated request.
    pub params: String,
    /// Whether it came through PAR.
    pub pushed: bool,
    /// Creation time.
    pub created_at: i64,
    /// Expiry.
    pub expires_at: i64,
}

impl Store {
    /// Stores a request.
    pub async fn insert_request(&self, row: &RequestRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO auth_requests (id, client_id, sid, params, pushed, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&row.id)
        .bind(&row.client_id)
        .bind(row.sid.as_deref())
        .bind(&row.params)
        .bind(flag(row.pushed))
        .bind(row.created_at)
        .bind(row.expires_at)
        .execute(self.autocommit())
        .await?;
        Ok(())
    }

    /// A live, unused request by id.
    pub async fn find_request(&self, id: &str, now: i64) -> Result<Option<RequestRow>> {
        let row = sqlx::query(
            "SELECT id, client_id, sid, params, pushed, created_at, expires_at FROM auth_requests \
             WHERE id = $1 AND expires_at > $2 AND used_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| {
            Ok(RequestRow {
                id: row.try_get("id")?,
                client_id: row.try_get("client_id")?,
                sid: row.try_get("sid")?,
                params: row.try_get("params")?,
                pushed: row.try_get::<i64, _>("pushed")? != 0,
                created_at: row.try_get("created_at")?,
                expires_at: row.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    /// Marks a request used; true for the one caller that did (single use).
    pub async fn take_request(&self, id: &str, now: i64) -> Result<bool> {
        let done = sqlx::query("UPDATE auth_requests SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND expires_at > $2")
            .bind(id)
            .bind(now)
            .execute(self.autocommit())
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

impl Unit {
    /// Moves a browser's pending requests to its new session (another customer logged in on it).
    pub async fn move_requests(&mut self, from_sid: &str, to_sid: &str) -> Result<()> {
        sqlx::query("UPDATE auth_requests SET sid = $2 WHERE sid = $1 AND used_at IS NULL")
            .bind(from_sid)
            .bind(to_sid)
            .execute(self.conn())
            .await?;
        Ok(())
    }
}
