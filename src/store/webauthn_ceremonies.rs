//! WebAuthn ceremony state between a `start` and its `finish` call.
//!
//! The state is serialised JSON of webauthn-rs's registration or
//! authentication state, kept in the database so any node can finish a
//! ceremony another node started (`docs/operations.md#several-nodes`). A row is bound to the browser
//! session that started it, lives for a few minutes and is deleted by the
//! first `finish` that names it, so a replayed response meets no state
//! (`docs/security.md#r21`).

use sqlx::Row as _;

use super::Store;
use super::unit::Unit;
use crate::error::Result;

/// Most ceremonies one session keeps at once (an autofill request, a button
/// press and a retry); older ones are dropped when a new one starts.
const PER_SESSION: i64 = 4;

/// A ceremony to store.
#[derive(Debug)]
pub struct NewCeremony<'a> {
    /// Random id the browser sends back with its response.
    pub id: &'a str,
    /// The session that started it.
    pub sid: &'a str,
    /// `registration`, `login` or `step_up`.
    pub kind: &'a str,
    /// The customer, when known at the start (registration, step-up).
    pub customer_id: Option<&'a str>,
    /// webauthn-rs state as JSON.
    pub state: &'a str,
    /// End of validity.
    pub expires_at: i64,
}

/// A ceremony taken out of the store by its `finish` call.
#[derive(Clone, Debug)]
pub struct CeremonyRow {
    /// The customer named at the start, if any.
    pub customer_id: Option<String>,
    /// webauthn-rs state as JSON.
    pub state: String,
}

impl Store {
    /// Stores a ceremony, first dropping this session's oldest ones beyond
    /// `PER_SESSION` so a script cannot pile up rows.
    pub async fn insert_ceremony(&self, new: &NewCeremony<'_>, now: i64) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "DELETE FROM webauthn_ceremonies WHERE sid = $1 AND id NOT IN \
             (SELECT id FROM webauthn_ceremonies WHERE sid = $1 ORDER BY created_at DESC, id LIMIT $2)",
        )
        .bind(new.sid)
        .bind(PER_SESSION - 1)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO webauthn_ceremonies (id, sid, kind, customer_id, state, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(new.id)
        .bind(new.sid)
        .bind(new.kind)
        .bind(new.customer_id)
        .bind(new.state)
        .bind(now)
        .bind(new.expires_at)
        .execute(&mut *tx)
        .await?;
        self.commit(tx).await?;
        Ok(())
    }
}

impl Unit {
    /// Deletes and returns the ceremony `id` of kind `kind` started by session
    /// `sid`. `None` when there is none (already finished, another session's,
    /// another kind) or it has expired: a ceremony is usable once, by its own
    /// session, before `expires_at`. Of concurrent takes one gets the row;
    /// the others wait for its commit and find nothing.
    pub async fn take_ceremony(
        &mut self,
        id: &str,
        sid: &str,
        kind: &str,
        now: i64,
    ) -> Result<Option<CeremonyRow>> {
        let row = sqlx::query(
            "DELETE FROM webauthn_ceremonies WHERE id = $1 AND sid = $2 AND kind = $3 \
             RETURNING customer_id, state, expires_at",
        )
        .bind(id)
        .bind(sid)
        .bind(kind)
        .fetch_optional(self.conn())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let expires_at: i64 = row.try_get("expires_at")?;
        if expires_at <= now {
            return Ok(None);
        }
        Ok(Some(CeremonyRow {
            customer_id: row.try_get("customer_id")?,
            state: row.try_get("state")?,
        }))
    }
}
