//! Passkey assertions made to confirm one transaction (`docs/transactions.md`).
//!
//! A row is written by the confirmation's `finish`, in the same unit that
//! spends the ceremony and saves the passkey's counter, and is read twice:
//! by the authorization decision (is this request confirmed?) and by `kagi
//! audit --evidence` (re-verify it offline). `request_id` is unique and the
//! insert is conditional, so of two assertions racing for one request only
//! the first counts, on both databases.

use sqlx::Row as _;
use sqlx::any::AnyRow;

use super::Store;
use super::unit::Unit;
use crate::error::Result;

/// One confirmation, with the evidence to re-verify it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfirmationRow {
    /// The `txn` claim of the tokens issued from it.
    pub txn: String,
    /// The authorization request it confirms.
    pub request_id: String,
    /// The browser session it was made in.
    pub sid: String,
    /// The customer whose passkey signed.
    pub customer_id: String,
    /// The client the transaction is for.
    pub client_id: String,
    /// RFC 8785 canonical JSON of the `authorization_details`.
    pub authorization_details: String,
    /// base64url of the WebAuthn challenge (16 random bytes || SHA-256 of the details).
    pub challenge: String,
    /// The passkey's credential id (base64url).
    pub credential_id: String,
    /// The passkey's public key as a JWK (JSON).
    pub public_key: String,
    /// base64url of the signed authenticator data.
    pub authenticator_data: String,
    /// base64url of the signed client data JSON.
    pub client_data_json: String,
    /// base64url of the signature.
    pub signature: String,
    /// `amr` of the assertion (JSON array).
    pub amr: String,
    /// When the assertion was verified.
    pub confirmed_at: i64,
}

const COLUMNS: &str = "txn, request_id, sid, customer_id, client_id, authorization_details, \
     challenge, credential_id, public_key, authenticator_data, client_data_json, signature, amr, \
     confirmed_at";

fn read(row: &AnyRow) -> Result<ConfirmationRow> {
    Ok(ConfirmationRow {
        txn: row.try_get("txn")?,
        request_id: row.try_get("request_id")?,
        sid: row.try_get("sid")?,
        customer_id: row.try_get("customer_id")?,
        client_id: row.try_get("client_id")?,
        authorization_details: row.try_get("authorization_details")?,
        challenge: row.try_get("challenge")?,
        credential_id: row.try_get("credential_id")?,
        public_key: row.try_get("public_key")?,
        authenticator_data: row.try_get("authenticator_data")?,
        client_data_json: row.try_get("client_data_json")?,
        signature: row.try_get("signature")?,
        amr: row.try_get("amr")?,
        confirmed_at: row.try_get("confirmed_at")?,
    })
}

impl Store {
    /// The confirmation of authorization request `request_id`, if one was made.
    pub async fn confirmation_for_request(
        &self,
        request_id: &str,
    ) -> Result<Option<ConfirmationRow>> {
        let sql = format!("SELECT {COLUMNS} FROM transaction_confirmations WHERE request_id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(request_id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(read).transpose()
    }

    /// The confirmation whose `txn` this is.
    pub async fn confirmation(&self, txn: &str) -> Result<Option<ConfirmationRow>> {
        let sql = format!("SELECT {COLUMNS} FROM transaction_confirmations WHERE txn = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(txn)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(read).transpose()
    }
}

impl Unit {
    /// Records a confirmation; `false` when its request already has one.
    pub async fn insert_confirmation(&mut self, row: &ConfirmationRow) -> Result<bool> {
        let sql = format!(
            "INSERT INTO transaction_confirmations ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (request_id) DO NOTHING"
        );
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&row.txn)
            .bind(&row.request_id)
            .bind(&row.sid)
            .bind(&row.customer_id)
            .bind(&row.client_id)
            .bind(&row.authorization_details)
            .bind(&row.challenge)
            .bind(&row.credential_id)
            .bind(&row.public_key)
            .bind(&row.authenticator_data)
            .bind(&row.client_data_json)
            .bind(&row.signature)
            .bind(&row.amr)
            .bind(row.confirmed_at)
            .execute(self.conn())
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
