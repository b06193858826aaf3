//! The `jti` of every DPoP proof Kagi accepted, per key, kept until the
//! proof could no longer pass its `iat` check, so a replay is refused on
//! every node (RFC 9449 §11.1).
//!
//! A proof is claimed by one conditional insert (`ON CONFLICT DO NOTHING`,
//! then the rows affected): of concurrent requests carrying one proof,
//! exactly one inserts the row. At the token endpoint the claim is the first
//! statement of the grant's own write transaction (`docs/write-path.md`), so
//! a refused grant leaves the proof unclaimed and a replayed proof leaves the
//! grant untouched; elsewhere it is a statement of its own, committed before
//! the work it guards.

use super::Store;
use crate::error::Result;

/// One proof to claim: its key's thumbprint, its `jti`, and when the row may go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpopJti {
    /// RFC 7638 thumbprint of the proof's key.
    pub jkt: String,
    /// The proof's `jti`.
    pub jti: String,
    /// After this time the proof's `iat` is out of its window anyway.
    pub expires_at: i64,
}

/// Claims `proof` on `conn`; false when it was claimed before (a replay).
pub(super) async fn insert_jti(conn: &mut sqlx::AnyConnection, proof: &DpopJti) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO dpop_jtis (jkt, jti, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(&proof.jkt)
    .bind(&proof.jti)
    .bind(proof.expires_at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

impl Store {
    /// Claims a proof in a write of its own; false when it was claimed before (a replay).
    pub async fn claim_dpop_jti(&self, proof: &DpopJti) -> Result<bool> {
        let mut conn = self.autocommit().acquire().await?;
        insert_jti(&mut conn, proof).await
    }
}
