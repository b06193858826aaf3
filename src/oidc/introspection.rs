//! Finding a token a client presents at the revocation (RFC 7009) and
//! introspection (RFC 7662) endpoints, and what each endpoint does with it.
//!
//! Access tokens are JWTs (RFC 9068) recognised by Kagi's signature and
//! looked up by `jti`; refresh tokens are opaque handles looked up by hash.
//! `token_type_hint` is not needed: the two kinds cannot be mistaken for each
//! other, and RFC 7009 §2.1 / RFC 7662 §2.1 let the server search every kind.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::ProtocolError;
use super::grant_context::GrantContext;
use super::jwt;
use super::params::Params;
use crate::crypto::random;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::token_families::{FamilyRow, RefreshRow};

/// A revocation or introspection request (RFC 7009 §2.1, RFC 7662 §2.1).
/// `token_type_hint` is not read: both kinds are searched, as both allow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenQuery {
    /// The token the client presents.
    pub token: String,
}

impl TokenQuery {
    /// Reads `token`, which is required.
    pub fn parse(params: &Params) -> std::result::Result<Self, ProtocolError> {
        let token = params
            .string("token")
            .ok_or(ProtocolError::invalid_request("token is required"))?;
        Ok(Self { token })
    }
}

/// The claims of a Kagi access token (`oidc::issue`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// Customer.
    pub sub: String,
    /// Audience (the issuer: userinfo is the resource).
    pub aud: Value,
    /// Client it was issued to.
    pub client_id: String,
    /// Issue time.
    pub iat: i64,
    /// Expiry.
    pub exp: i64,
    /// Token id, the key of its revocation state.
    pub jti: String,
    /// Granted scope.
    pub scope: String,
    /// Assurance of the authentication.
    pub acr: Option<String>,
    /// Methods used.
    pub amr: Option<Vec<String>>,
    /// When the customer authenticated.
    pub auth_time: Option<i64>,
    /// Browser session.
    pub sid: Option<String>,
    /// The confirmed transaction (RFC 9396 §9.2), if the grant was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_details: Option<Value>,
    /// The transaction confirmation's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub txn: Option<String>,
    /// The DPoP key the token is bound to (RFC 9449 §6.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

/// The `cnf` claim of a DPoP-bound access token (RFC 9449 §6.1).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Confirmation {
    /// RFC 7638 thumbprint of the key.
    pub jkt: String,
}

/// A token Kagi issued, whatever its state.
#[derive(Clone, Debug)]
pub enum Token {
    /// A signature-checked access token.
    Access(AccessClaims),
    /// A stored refresh token with its family.
    Refresh(RefreshRow, FamilyRow),
}

impl Token {
    /// The client the token was issued to.
    pub fn client_id(&self) -> &str {
        match self {
            Token::Access(claims) => &claims.client_id,
            Token::Refresh(_, family) => &family.client_id,
        }
    }

    /// The DPoP key the token is bound to: an access token's `cnf.jkt`, a
    /// public client's refresh token's family key (`oidc::dpop_binding`).
    pub fn dpop_jkt(&self) -> Option<String> {
        match self {
            Token::Access(claims) => claims.cnf.as_ref().map(|c| c.jkt.clone()),
            Token::Refresh(_, family) => {
                serde_json::from_str::<GrantContext>(&family.grant_context)
                    .ok()
                    .and_then(|g| g.dpop_jkt)
            }
        }
    }
}

/// Recognises `raw` as one of Kagi's tokens; `None` for anything else.
pub async fn identify(state: &AppState, raw: &str) -> Result<Option<Token>> {
    if raw.contains('.') {
        // Expired access tokens are still recognised: revoking one is a no-op, introspecting it says inactive.
        let claims = jwt::verify_own::<AccessClaims>(
            &state.keys,
            &state.config.issuer_str(),
            raw,
            Some("at+jwt"),
            false,
        );
        return Ok(claims.ok().map(Token::Access));
    }
    let found = state
        .store
        .find_refresh_token(&random::hash_secret(raw))
        .await?;
    Ok(found.map(|(refresh, family)| Token::Refresh(refresh, family)))
}

/// Revokes a token (RFC 7009 §2.1): a refresh token takes its whole family
/// (and so every access token of the grant) with it; an access token only
/// itself. True when something live was revoked.
pub async fn revoke(state: &AppState, token: &Token) -> Result<bool> {
    let now = state.clock.now();
    match token {
        Token::Access(claims) => state.store.revoke_access_token(&claims.jti, now).await,
        Token::Refresh(_, family) => state.store.revoke_family(&family.id, now).await,
    }
}

/// The RFC 7662 §2.2 answer for an active token, `None` when it is not active.
///
/// `acr` and `auth_time` are included for step-up decisions (RFC 9470 §6.2).
pub async fn introspect(state: &AppState, token: &Token) -> Result<Option<Value>> {
    let now = state.clock.now();
    match token {
        Token::Access(claims) => {
            if claims.exp <= now
                || state
                    .store
                    .active_access_token(&claims.jti, now)
                    .await?
                    .is_none()
            {
                return Ok(None);
            }
            let mut body = serde_json::to_value(claims).map_err(|e| Error::Internal(e.into()))?;
            body["active"] = Value::Bool(true);
            // RFC 9449 §6.2: a bound token says so, and `cnf` names its key.
            let token_type = if claims.cnf.is_some() {
                "DPoP"
            } else {
                "Bearer"
            };
            body["token_type"] = json!(token_type);
            Ok(Some(body))
        }
        Token::Refresh(refresh, family) => {
            // A rotated (used) refresh token is no longer usable, so it is not active.
            let live = refresh.used_at.is_none()
                && refresh.expires_at > now
                && family.revoked_at.is_none()
                && family.expires_at > now;
            if !live {
                return Ok(None);
            }
            let grant: GrantContext = serde_json::from_str(&family.grant_context)
                .map_err(|e| Error::Internal(e.into()))?;
            Ok(Some(json!({
                "active": true,
                "token_type": "refresh_token",
                "iss": state.config.issuer_str(),
                "sub": family.customer_id,
                "client_id": family.client_id,
                "scope": grant.scope_string(),
                "iat": refresh.created_at,
                "exp": refresh.expires_at,
                "acr": grant.acr,
                "amr": grant.amr,
                "auth_time": grant.auth_time,
                "sid": grant.sid,
            })))
        }
    }
}
