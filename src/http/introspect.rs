//! `POST /introspect`: token introspection (RFC 7662 §2).
//!
//! Only confidential clients may introspect (§2.1 requires the caller to be
//! authorised, and a public client's `client_id` proves nothing), and only
//! their own tokens: anyone else's token is `{"active": false}` (§2.2, the
//! answer that reveals nothing).

use axum::extract::State;
use axum::response::Response;

use super::client_auth::authenticate;
use super::dpop;
use super::oauth_error::{OAuthError, no_store_json};
use super::params::BackChannel;
use crate::oidc::dpop::{self as oidc_dpop, Proof};
use crate::oidc::introspection::{self, Token, TokenQuery};
use crate::paths;
use crate::state::AppState;

/// Authenticates the client and describes the token.
pub async fn introspect(
    State(state): State<AppState>,
    BackChannel { headers, params }: BackChannel,
) -> Result<Response, OAuthError> {
    let client = authenticate(&state, &headers, &params).await?;
    if client.public {
        return Err(OAuthError::invalid_client(false));
    }
    let TokenQuery { token: raw } = TokenQuery::parse(&params)?;
    let proof = match dpop::back_channel(&state, &headers, paths::INTROSPECT) {
        Ok(proof) => proof,
        Err(refused) => return Ok(*refused),
    };
    if let Some(proof) = &proof {
        oidc_dpop::claim(&state, proof).await?;
    }
    // `token_type_hint` is ignored (§2.1 allows it): both kinds are searched.
    // A DPoP-bound token is described only to a caller proving its key
    // (`docs/security.md#r34`); to anyone else it is inactive.
    let answer = match introspection::identify(&state, &raw).await? {
        Some(token)
            if token.client_id() == client.client_id.as_str()
                && holds_key(&token, proof.as_ref()) =>
        {
            introspection::introspect(&state, &token).await?
        }
        _ => None,
    };
    let body = answer.unwrap_or_else(|| serde_json::json!({ "active": false }));
    Ok(no_store_json(body.to_string()))
}

/// Whether the caller proved the key `token` is bound to, if it is bound.
pub(super) fn holds_key(token: &Token, proof: Option<&Proof>) -> bool {
    match token.dpop_jkt() {
        None => true,
        Some(jkt) => proof.is_some_and(|p| p.jkt == jkt),
    }
}
