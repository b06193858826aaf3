//! Pending authorization requests (`auth_requests`): kept server-side while
//! the customer logs in, and pushed requests (RFC 9126).

use sqlx::Row as _;

use super::audit::insert_event;
use super::authorization_codes::{CodeRow, insert_code};
use super::unit::Unit;
use super::{Store, flag};
use crate::audit::AuditEvent;
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

/// What one answer of the authorization endpoint writes, all in one
/// transaction (`docs/write-path.md`).
#[derive(Clone, Copy, Debug, Default)]
pub struct AuthorizationWrite<'a> {
    /// A stored or pushed request this answer uses up (single use).
    pub take: Option<&'a str>,
    /// The pushed request behind a stored one, used up with it: a pushed
    /// request lives until the flow it started is answered.
    pub also_take: Option<&'a str>,
    /// A request kept for the browser's return after an interaction.
    pub keep: Option<&'a RequestRow>,
    /// The code issued, with the session's sign-in to the client.
    pub code: Option<&'a CodeRow>,
    /// The audit event of the answer.
    pub event: Option<&'a AuditEvent>,
}

fn insert(row: &RequestRow) -> super::Query<'_> {
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
}

impl Store {
    /// Stores a request.
    pub async fn insert_request(&self, row: &RequestRow) -> Result<()> {
        insert(row).execute(self.autocommit()).await?;
        Ok(())
    }

    /// Writes one authorization answer in one write transaction; false, with
    /// nothing written, when the request to use up was already used or has
    /// expired (a second tab, a replayed link), so no code is issued for it.
    pub async fn write_authorization(
        &self,
        write: AuthorizationWrite<'_>,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        // The pushed request behind a stored one may have expired since the
        // browser opened it (its 60 s are for reaching Kagi, not for logging
        // in); it must only be unused, so one flow at most completes from it.
        let takes = [
            (
                write.take,
                "UPDATE auth_requests SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND expires_at > $2",
            ),
            (
                write.also_take,
                "UPDATE auth_requests SET used_at = $2 WHERE id = $1 AND used_at IS NULL",
            ),
        ];
        for (id, sql) in takes.into_iter().filter_map(|(id, sql)| Some((id?, sql))) {
            let done = sqlx::query(sql)
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() != 1 {
                tx.rollback().await?;
                return Ok(false);
            }
        }
        if let Some(row) = write.keep {
            insert(row).execute(&mut *tx).await?;
        }
        if let Some(code) = write.code {
            insert_code(&mut tx, code, now).await?;
        }
        if let Some(event) = write.event {
            insert_event(&mut tx, event, now).await?;
        }
        self.commit(tx).await?;
        Ok(true)
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
