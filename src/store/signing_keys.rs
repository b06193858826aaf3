//! Signing key metadata; the key files themselves live in the keys folder.

use sqlx::Row as _;

use super::Store;
use crate::error::Result;
use crate::model::SigningAlg;

/// One row of `signing_keys`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningKeyRow {
    /// Key id (RFC 7638 thumbprint).
    pub kid: String,
    /// Algorithm.
    pub alg: SigningAlg,
    /// When it was generated (and first published).
    pub created_at: i64,
    /// When it starts signing.
    pub activates_at: i64,
}

impl Store {
    /// Every signing key row, oldest activation first.
    pub async fn list_signing_keys(&self) -> Result<Vec<SigningKeyRow>> {
        let rows = sqlx::query("SELECT kid, alg, created_at, activates_at FROM signing_keys ORDER BY activates_at, kid")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|row| {
                Ok(SigningKeyRow {
                    kid: row.try_get("kid")?,
                    alg: SigningAlg::parse(&row.try_get::<String, _>("alg")?)?,
                    created_at: row.try_get("created_at")?,
                    activates_at: row.try_get("activates_at")?,
                })
            })
            .collect()
    }

    /// Records a key whose file has been written.
    pub async fn insert_signing_key(&self, row: &SigningKeyRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, created_at, activates_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&row.kid)
        .bind(row.alg.as_str())
        .bind(row.created_at)
        .bind(row.activates_at)
        .execute(self.autocommit())
        .await?;
        Ok(())
    }

    /// Forgets a key that is no longer published.
    pub async fn delete_signing_key(&self, kid: &str) -> Result<()> {
        sqlx::query("DELETE FROM signing_keys WHERE kid = $1")
            .bind(kid)
            .execute(self.autocommit())
            .await?;
        Ok(())
    }
}
