//! Token families (one per grant), their refresh tokens and access tokens.
//! Revoking a family revokes every token issued from the grant.

use sqlx::Row as _;

use super::Store;
use super::audit::insert_event;
use super::dpop_jtis::{DpopJti, insert_jti};
use crate::audit::AuditEvent;
use crate::error::Result;

/// A grant and its lifetime.
#[derive(Clone, Debug)]
pub struct FamilyRow {
    /// Family id.
    pub id: String,
    /// Client.
    pub client_id: String,
    /// Customer.
    pub customer_id: String,
    /// Browser session.
    pub sid: Option<String>,
    /// The code it came from.
    pub code_hash: Option<String>,
    /// JSON of the grant context.
    pub grant_context: String,
    /// Creation.
    pub created_at: i64,
    /// Absolute end of the refresh chain.
    pub expires_at: i64,
    /// Revocation time.
    pub revoked_at: Option<i64>,
}

/// A refresh token as stored.
#[derive(Clone, Debug)]
pub struct RefreshRow {
    /// SHA-256 of the token.
    pub token_hash: String,
    /// Its family.
    pub family_id: String,
    /// The token it replaced.
    pub parent_hash: Option<String>,
    /// Issue time.
    pub created_at: i64,
    /// When it was exchanged.
    pub used_at: Option<i64>,
    /// Expiry.
    pub expires_at: i64,
}

const FAMILY_COLUMNS: &str = "f.id, f.client_id, f.customer_id, f.sid, f.code_hash, f.grant_context, f.created_at, f.expires_at, f.revoked_at";

fn family(row: &sqlx::any::AnyRow) -> Result<FamilyRow> {
    Ok(FamilyRow {
        id: row.try_get("id")?,
        client_id: row.try_get("client_id")?,
        customer_id: row.try_get("customer_id")?,
        sid: row.try_get("sid")?,
        code_hash: row.try_get("code_hash")?,
        grant_context: row.try_get("grant_context")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

/// Inserts a new family inside an open transaction (see `Store::take_code`).
pub(super) async fn insert_family(conn: &mut sqlx::AnyConnection, f: &FamilyRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO token_families (id, client_id, customer_id, sid, code_hash, grant_context, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&f.id)
    .bind(&f.client_id)
    .bind(&f.customer_id)
    .bind(f.sid.as_deref())
    .bind(f.code_hash.as_deref())
    .bind(&f.grant_context)
    .bind(f.created_at)
    .bind(f.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The rows one token response adds: its access token's `jti` and, when it
/// carries one, its refresh token.
#[derive(Clone, Debug)]
pub struct IssuedRows {
    /// The access token's `jti`.
    pub access_jti: String,
    /// The access token's expiry.
    pub access_expires_at: i64,
    /// The new refresh token, if any.
    pub refresh: Option<RefreshRow>,
}

/// How a refresh token exchange ended (RFC 6749 §6, RFC 9700 §4.14.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rotation {
    /// The token was spent (or its lost answer retried) and the new rows stored.
    Rotated,
    /// The token had expired or been retired meanwhile; nothing was written.
    Invalid,
    /// A used token came back: its family is revoked.
    Reused,
    /// The request's DPoP proof was used before; nothing was written.
    ProofReplayed,
}

/// One refresh token exchange, written by [`Store::rotate_refresh_token`].
#[derive(Debug)]
pub struct Rotate<'a> {
    /// SHA-256 of the presented token.
    pub token_hash: &'a str,
    /// Its family.
    pub family_id: &'a str,
    /// Now.
    pub now: i64,
    /// A used token presented again within this many seconds of its first
    /// use, while no successor was exchanged, is a retry of a lost answer.
    pub retry_grace: i64,
    /// The rows of the new tokens.
    pub issued: &'a IssuedRows,
    /// Recorded with the new tokens.
    pub issued_event: &'a AuditEvent,
    /// Recorded instead when the token was reused.
    pub reuse_event: &'a AuditEvent,
    /// The request's DPoP proof, claimed first (`store::dpop_jtis`).
    pub dpop: Option<&'a DpopJti>,
}

/// Stores the rows of one token response inside an open transaction.
pub(super) async fn insert_issued(
    conn: &mut sqlx::AnyConnection,
    family_id: &str,
    now: i64,
    rows: &IssuedRows,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO access_tokens (jti, family_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&rows.access_jti)
    .bind(family_id)
    .bind(now)
    .bind(rows.access_expires_at)
    .execute(&mut *conn)
    .await?;
    if let Some(r) = &rows.refresh {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, family_id, parent_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&r.token_hash)
        .bind(&r.family_id)
        .bind(r.parent_hash.as_deref())
        .bind(r.created_at)
        .bind(r.expires_at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

impl Store {
    /// A refresh token with its family.
    pub async fn find_refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<(RefreshRow, FamilyRow)>> {
        let sql = format!(
            "SELECT r.token_hash, r.family_id, r.parent_hash, r.created_at AS r_created_at, r.used_at, r.expires_at AS r_expires_at, \
             {FAMILY_COLUMNS} FROM refresh_tokens r JOIN token_families f ON f.id = r.family_id WHERE r.token_hash = $1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(token_hash)
            .fetch_optional(self.pool())
            .await?;
        row.map(|row| {
            let refresh = RefreshRow {
                token_hash: row.try_get("token_hash")?,
                family_id: row.try_get("family_id")?,
                parent_hash: row.try_get("parent_hash")?,
                created_at: row.try_get("r_created_at")?,
                used_at: row.try_get("used_at")?,
                expires_at: row.try_get("r_expires_at")?,
            };
            Ok((refresh, family(&row)?))
        })
        .transpose()
    }

    /// Exchanges a refresh token in one write transaction: spends it, decides
    /// between rotation, retry and reuse, and stores the outcome with its audit event.
    ///
    /// The first statement writes the presented token's row
    /// (`used_at = COALESCE(used_at, now)`), so concurrent exchanges of one
    /// token queue on that row lock (PostgreSQL) or on the one writer
    /// (SQLite) and run as if one after the other: the first spends it, each
    /// later one within the grace retires the unused successors and adds
    /// its own, so one live successor remains however many raced.
    pub async fn rotate_refresh_token(&self, r: Rotate<'_>) -> Result<Rotation> {
        let mut tx = self.begin_write().await?;
        if let Some(proof) = r.dpop
            && !insert_jti(&mut tx, proof).await?
        {
            tx.rollback().await?;
            return Ok(Rotation::ProofReplayed);
        }
        let row = sqlx::query(
            "UPDATE refresh_tokens SET used_at = COALESCE(used_at, $2) WHERE token_hash = $1 \
             RETURNING used_at, expires_at",
        )
        .bind(r.token_hash)
        .bind(r.now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(Rotation::Invalid);
        };
        let first_used: i64 = row.try_get("used_at")?;
        let expires_at: i64 = row.try_get("expires_at")?;
        if expires_at <= r.now {
            // Retired by a retry of its parent since it was read.
            tx.rollback().await?;
            return Ok(Rotation::Invalid);
        }
        // A retired successor (expires_at = 0) was never exchanged: it does
        // not stop a further retry.
        let exchanged: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM refresh_tokens WHERE parent_hash = $1 AND used_at IS NOT NULL AND expires_at > 0",
        )
        .bind(r.token_hash)
        .fetch_one(&mut *tx)
        .await?;
        if r.now - first_used > r.retry_grace || exchanged > 0 {
            sqlx::query(
                "UPDATE token_families SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
            )
            .bind(r.family_id)
            .bind(r.now)
            .execute(&mut *tx)
            .await?;
            insert_event(&mut tx, r.reuse_event, r.now).await?;
            self.commit(tx).await?;
            return Ok(Rotation::Reused);
        }
        // Expired as well as used, so a retired token is simply invalid and
        // cannot itself claim the retry grace.
        sqlx::query(
            "UPDATE refresh_tokens SET used_at = $2, expires_at = 0 WHERE parent_hash = $1 AND used_at IS NULL",
        )
        .bind(r.token_hash)
        .bind(r.now)
        .execute(&mut *tx)
        .await?;
        insert_issued(&mut tx, r.family_id, r.now, r.issued).await?;
        insert_event(&mut tx, r.issued_event, r.now).await?;
        self.commit(tx).await?;
        Ok(Rotation::Rotated)
    }

    /// Revokes a family; true if it was live.
    pub async fn revoke_family(&self, family_id: &str, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE token_families SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(family_id)
        .bind(now)
        .execute(self.autocommit())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Revokes every family issued from a code (a replayed code, RFC 6749
    /// §4.1.2) and records `event(families revoked)`, in one transaction.
    pub async fn revoke_families_of_code(
        &self,
        code_hash: &str,
        now: i64,
        event: impl FnOnce(u64) -> AuditEvent,
    ) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE token_families SET revoked_at = $2 WHERE code_hash = $1 AND revoked_at IS NULL",
        )
        .bind(code_hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        insert_event(&mut tx, &event(done.rows_affected()), now).await?;
        self.commit(tx).await?;
        Ok(done.rows_affected())
    }

    /// Revokes every family of a browser session (logout).
    pub async fn revoke_families_of_session(&self, sid: &str, now: i64) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE token_families SET revoked_at = $2 WHERE sid = $1 AND revoked_at IS NULL",
        )
        .bind(sid)
        .bind(now)
        .execute(self.autocommit())
        .await?;
        Ok(done.rows_affected())
    }

    /// The family of a live access token: known `jti`, not revoked, family not revoked, not expired.
    pub async fn active_access_token(&self, jti: &str, now: i64) -> Result<Option<FamilyRow>> {
        let sql = format!(
            "SELECT {FAMILY_COLUMNS} FROM access_tokens a JOIN token_families f ON f.id = a.family_id \
             WHERE a.jti = $1 AND a.revoked_at IS NULL AND f.revoked_at IS NULL AND a.expires_at > $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(jti)
            .bind(now)
            .fetch_optional(self.pool())
            .await?;
        row.map(|row| family(&row)).transpose()
    }

    /// Revokes one access token.
    pub async fn revoke_access_token(&self, jti: &str, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE access_tokens SET revoked_at = $2 WHERE jti = $1 AND revoked_at IS NULL",
        )
        .bind(jti)
        .bind(now)
        .execute(self.autocommit())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
