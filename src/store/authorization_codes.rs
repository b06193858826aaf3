//! Authorization codes, stored by hash, single use (RFC 6749 §4.1.2).

use sqlx::Row as _;

use super::Store;
use super::audit::insert_event;
use super::dpop_jtis::{DpopJti, insert_jti};
use super::token_families::{FamilyRow, IssuedRows, insert_family, insert_issued};
use crate::audit::AuditEvent;
use crate::error::Result;

/// A stored authorization code.
#[derive(Clone, Debug)]
pub struct CodeRow {
    /// SHA-256 of the code.
    pub code_hash: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The customer.
    pub customer_id: String,
    /// The browser session.
    pub sid: String,
    /// The redirect URI of the authorization request.
    pub redirect_uri: String,
    /// JSON of the grant context.
    pub grant_context: String,
    /// PKCE challenge, if any.
    pub code_challenge: Option<String>,
    /// Expiry.
    pub expires_at: i64,
}

/// A stored code and whether it was spent.
#[derive(Debug)]
pub struct FoundCode {
    /// The code.
    pub code: CodeRow,
    /// When it was redeemed, if it was.
    pub used_at: Option<i64>,
}

/// How a redemption ended ([`Store::take_code`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Redemption {
    /// This caller spent the code; the grant is stored.
    Taken,
    /// The code was spent before (or by a concurrent caller).
    AlreadySpent,
    /// The request's DPoP proof was used before; the code is left as it was.
    ProofReplayed,
}

/// Stores a new code inside an open transaction and records that the
/// session signed in to the client (for back-channel logout).
pub(super) async fn insert_code(
    conn: &mut sqlx::AnyConnection,
    row: &CodeRow,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO authorization_codes (code_hash, client_id, customer_id, sid, redirect_uri, grant_context, \
         code_challenge, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&row.code_hash)
    .bind(&row.client_id)
    .bind(&row.customer_id)
    .bind(&row.sid)
    .bind(&row.redirect_uri)
    .bind(&row.grant_context)
    .bind(row.code_challenge.as_deref())
    .bind(now)
    .bind(row.expires_at)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO session_clients (sid, client_id, at) VALUES ($1, $2, $3) \
         ON CONFLICT (sid, client_id) DO UPDATE SET at = $3",
    )
    .bind(&row.sid)
    .bind(&row.client_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

impl Store {
    /// The code with this hash, spent or not; reading it changes nothing, so
    /// a request that fails the code's bindings leaves it for its client.
    pub async fn find_code(&self, code_hash: &str) -> Result<Option<FoundCode>> {
        let row = sqlx::query(
            "SELECT code_hash, client_id, customer_id, sid, redirect_uri, grant_context, code_challenge, expires_at, used_at \
             FROM authorization_codes WHERE code_hash = $1",
        )
        .bind(code_hash)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(FoundCode {
            code: CodeRow {
                code_hash: row.try_get("code_hash")?,
                client_id: row.try_get("client_id")?,
                customer_id: row.try_get("customer_id")?,
                sid: row.try_get("sid")?,
                redirect_uri: row.try_get("redirect_uri")?,
                grant_context: row.try_get("grant_context")?,
                code_challenge: row.try_get("code_challenge")?,
                expires_at: row.try_get("expires_at")?,
            },
            used_at: row.try_get("used_at")?,
        }))
    }

    /// Redeems a code in one write transaction: claims the request's DPoP
    /// proof, if any, spends the code for `client_id`, stores the family it
    /// grants, the `issued` token rows and `event`.
    ///
    /// One conditional `UPDATE` decides the race, and everything else is
    /// written in the same transaction: a concurrent loser's update waits for
    /// the winner's commit, so when the loser revokes the code's families as a
    /// replay (RFC 6749 §4.1.2) the winner's family is already there to
    /// revoke; and a crash leaves either all of it or none.
    pub async fn take_code(
        &self,
        code_hash: &str,
        client_id: &str,
        now: i64,
        granted: (&FamilyRow, &IssuedRows),
        event: &AuditEvent,
        dpop: Option<&DpopJti>,
    ) -> Result<Redemption> {
        let (family, issued) = granted;
        let mut tx = self.begin_write().await?;
        if let Some(proof) = dpop
            && !insert_jti(&mut tx, proof).await?
        {
            tx.rollback().await?;
            return Ok(Redemption::ProofReplayed);
        }
        let spent = sqlx::query(
            "UPDATE authorization_codes SET used_at = $3 \
             WHERE code_hash = $1 AND client_id = $2 AND used_at IS NULL",
        )
        .bind(code_hash)
        .bind(client_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if spent.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(Redemption::AlreadySpent);
        }
        insert_family(&mut tx, family).await?;
        insert_issued(&mut tx, &family.id, now, issued).await?;
        insert_event(&mut tx, event, now).await?;
        self.commit(tx).await?;
        Ok(Redemption::Taken)
    }
}
