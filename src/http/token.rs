//! `POST /token` (OIDC Core §3.1.3, RFC 6749 §4.1.3 and §6), with DPoP
//! (RFC 9449 §5).

use axum::extract::State;
use axum::response::Response;

use super::client_auth::authenticate;
use super::dpop;
use super::oauth_error::{OAuthError, no_store_json};
use super::params::BackChannel;
use crate::oidc::dpop::Refusal;
use crate::oidc::grants::{self, TokenRequest};
use crate::paths;
use crate::state::AppState;

/// Authenticates the client, checks its DPoP proof, then runs the grant.
pub async fn token(
    State(state): State<AppState>,
    BackChannel { headers, params }: BackChannel,
) -> Result<Response, OAuthError> {
    let client = authenticate(&state, &headers, &params).await?;
    let req = TokenRequest::parse(&params)?;
    let proof = match dpop::back_channel(&state, &headers, paths::TOKEN) {
        Ok(proof) => proof,
        Err(refused) => return Ok(*refused),
    };
    if proof.is_none() && client.require_dpop {
        let refusal = Refusal::Invalid("this client must send a DPoP proof");
        return Ok(dpop::refused(&state, refusal));
    }
    let issued = grants::grant(&state, &client, &req, proof.as_ref()).await?;
    // RFC 9449 §5: a token bound to the proof's key is of type DPoP.
    let token_type = if proof.is_some() { "DPoP" } else { "Bearer" };
    let mut body = serde_json::json!({
        "access_token": issued.access_token,
        "token_type": token_type,
        "expires_in": issued.expires_in,
        "id_token": issued.id_token,
        "scope": issued.scope,
    });
    if let Some(details) = issued.authorization_details {
        body["authorization_details"] = details;
    }
    if let Some(refresh) = issued.refresh_token {
        body["refresh_token"] = serde_json::Value::String(refresh);
    }
    let response = no_store_json(body.to_string());
    Ok(if proof.is_some() {
        dpop::with_nonce(&state, response)
    } else {
        response
    })
}
