//! Token families (one per grant), their refresh tokens and access tokens.
//! Revoking a family revokes every token issued from the grant.

use sqlx::Row as _;

use super::Store;
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

impl Store {
    /// Stores an issued refresh token.
    pub async fn insert_refresh_token(&self, r: &RefreshRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, family_id, parent_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&r.token_hash)
        .bind(&r.family_id)
        .bind(r.parent_hash.as_deref())
        .bind(r.created_at)
        .bind(r.expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Stores an issued access token's `jti`.
    pub async fn insert_access_token(
        &self,
        jti: &str,
        family_id: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query("INSERT INTO access_tokens (jti, family_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(jti)
            .bind(family_id)
            .bind(now)
            .bind(expires_at)
            .execute(self.pool())
            .await?;
        Ok(())
    }

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

    /// Marks a refresh token exchanged; true for the one caller that did.
    pub async fn use_refresh_token(&self, token_hash: &str, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL",
        )
        .bind(token_hash)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Whether any successor of this refresh token has been exchanged already.
    pub async fn successor_used(&self, token_hash: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM refresh_tokens WHERE parent_hash = $1 AND used_at IS NOT NULL",
        )
        .bind(token_hash)
        .fetch_one(self.pool())
        .await?;
        Ok(n > 0)
    }

    /// Retires the unused successors of a token (a retry within the grace window replaces them).
    pub async fn retire_successors(&self, token_hash: &str, now: i64) -> Result<()> {
        // Expired as well as used, so a retired token is simply invalid and
        // cannot itself claim the retry grace.
        sqlx::query("UPDATE refresh_tokens SET used_at = $2, expires_at = 0 WHERE parent_hash = $1 AND used_at IS NULL")
            .bind(token_hash)
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Revokes a family; true if it was live.
    pub async fn revoke_family(&self, family_id: &str, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE token_families SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(family_id)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Revokes every family issued from a code (a replayed code, RFC 6749 §4.1.2).
    pub async fn revoke_families_of_code(&self, code_hash: &str, now: i64) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE token_families SET revoked_at = $2 WHERE code_hash = $1 AND revoked_at IS NULL",
        )
        .bind(code_hash)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// Revokes every family of a browser session (logout).
    pub async fn revoke_families_of_session(&self, sid: &str, now: i64) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE token_families SET revoked_at = $2 WHERE sid = $1 AND revoked_at IS NULL",
        )
        .bind(sid)
        .bind(now)
        .execute(self.pool())
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
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
