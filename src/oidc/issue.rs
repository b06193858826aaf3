//! Issuing tokens for a grant: a JWT access token (RFC 9068), an ID token
//! (OIDC Core §2) and, where the grant allows, a rotating refresh token.

use serde_json::{Value, json};

use super::grant_context::GrantContext;
use super::{claims, jwt};
use crate::crypto::random;
use crate::error::Result;
use crate::model::{Client, Customer};
use crate::state::AppState;
use crate::store::token_families::{FamilyRow, IssuedRows, RefreshRow};

/// A token response's contents.
#[derive(Debug)]
pub struct Issued {
    /// JWT access token.
    pub access_token: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// ID token.
    pub id_token: String,
    /// New refresh token, if any.
    pub refresh_token: Option<String>,
    /// Granted scope.
    pub scope: String,
    /// The confirmed transaction, for the token response (RFC 9396 §7).
    pub authorization_details: Option<Value>,
}

/// What to issue for a family.
#[derive(Debug)]
pub struct IssueFor<'a> {
    /// The client.
    pub client: &'a Client,
    /// The customer.
    pub customer: &'a Customer,
    /// The grant.
    pub grant: &'a GrantContext,
    /// The family the tokens belong to.
    pub family: &'a FamilyRow,
    /// Put the request's `nonce` in the ID token (only at the code exchange).
    pub with_nonce: bool,
    /// Issue a refresh token, replacing `parent` if given.
    pub refresh: Option<Option<&'a str>>,
    /// The DPoP key the access token is bound to (`cnf.jkt`, RFC 9449 §6.1).
    pub dpop_jkt: Option<&'a str>,
}

/// Whether a grant gets refresh tokens: confidential clients always, public
/// (native) clients only when they asked for `offline_access`.
///
/// A confirmed transaction never does: its consent covers one withdrawal or
/// order, not a session to keep (`docs/transactions.md#tokens`).
pub fn gets_refresh_token(client: &Client, grant: &GrantContext) -> bool {
    !grant.is_transaction() && (!client.public || grant.has_scope("offline_access"))
}

/// Signs the tokens of one token response, with the rows that record them.
///
/// Nothing is written here: the caller stores the rows in the same
/// transaction as the grant they come from (docs/write-path.md).
pub fn sign(state: &AppState, what: IssueFor<'_>) -> Result<(Issued, IssuedRows)> {
    let now = state.clock.now();
    let config = &state.config;
    let issuer = config.issuer_str();
    let alg = what.client.id_token_alg;
    let jti = random::handle();
    let at_ttl = if what.grant.is_transaction() {
        config
            .access_token_ttl_secs
            .min(config.transaction_token_ttl_secs)
    } else {
        config.access_token_ttl_secs
    };
    let at_exp = now + at_ttl;
    let mut access_claims = json!({
        "iss": issuer,
        "sub": what.customer.id,
        "aud": issuer,
        "client_id": what.client.client_id.as_str(),
        "iat": now,
        "exp": at_exp,
        "jti": jti,
        "scope": what.grant.scope_string(),
        "acr": what.grant.acr,
        "amr": what.grant.amr,
        "auth_time": what.grant.auth_time,
        "sid": what.grant.sid,
    });
    transaction_claims(&mut access_claims, what.grant);
    if let Some(jkt) = what.dpop_jkt {
        access_claims["cnf"] = json!({ "jkt": jkt });
    }
    let access_token = jwt::sign(&state.keys, alg, "at+jwt", &access_claims)?;

    let mut id_claims = claims::id_token(what.customer, what.grant);
    let standard = json!({
        "iss": issuer,
        "sub": what.customer.id,
        "aud": what.client.client_id.as_str(),
        "azp": what.client.client_id.as_str(),
        "iat": now,
        "exp": now + config.id_token_ttl_secs,
        "auth_time": what.grant.auth_time,
        "acr": what.grant.acr,
        "amr": what.grant.amr,
        "sid": what.grant.sid,
        "at_hash": jwt::half_hash(alg, &access_token),
    });
    if let Value::Object(map) = standard {
        id_claims.extend(map);
    }
    if let Some(txn) = &what.grant.txn {
        id_claims.insert("txn".into(), Value::String(txn.clone()));
    }
    if let (true, Some(nonce)) = (what.with_nonce, &what.grant.nonce) {
        id_claims.insert("nonce".into(), Value::String(nonce.clone()));
    }
    let id_token = jwt::sign(&state.keys, alg, "JWT", &Value::Object(id_claims))?;

    let (refresh_token, refresh_row) = match what.refresh {
        Some(parent) => {
            let token = random::handle();
            let row = RefreshRow {
                token_hash: random::hash_secret(&token),
                family_id: what.family.id.clone(),
                parent_hash: parent.map(str::to_owned),
                created_at: now,
                used_at: None,
                expires_at: what.family.expires_at,
            };
            (Some(token), Some(row))
        }
        None => (None, None),
    };
    let issued = Issued {
        access_token,
        expires_in: at_ttl,
        id_token,
        refresh_token,
        scope: what.grant.scope_string(),
        authorization_details: what.grant.authorization_details.clone(),
    };
    let rows = IssuedRows {
        access_jti: jti,
        access_expires_at: at_exp,
        refresh: refresh_row,
    };
    Ok((issued, rows))
}

/// Adds a confirmed transaction's `authorization_details` (RFC 9396 §9.1)
/// and `txn` to a token's claims.
fn transaction_claims(claims: &mut Value, grant: &GrantContext) {
    if let Some(details) = &grant.authorization_details {
        claims["authorization_details"] = details.clone();
    }
    if let Some(txn) = &grant.txn {
        claims["txn"] = Value::String(txn.clone());
    }
}
