//! `POST /par`: pushed authorization requests (RFC 9126 §2).
//!
//! The client authenticates as at the token endpoint; the rules of what is
//! pushed and stored are `oidc::par`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::client_auth::authenticate;
use super::dpop;
use super::oauth_error::{OAuthError, no_store_json};
use super::params::BackChannel;
use crate::oidc::dpop as oidc_dpop;
use crate::oidc::{dpop_binding, par};
use crate::paths;
use crate::state::AppState;

/// Stores a validated request and answers 201 with its `request_uri` (RFC 9126 §2.2).
pub async fn par(
    State(state): State<AppState>,
    BackChannel { headers, params }: BackChannel,
) -> Result<Response, OAuthError> {
    let client = authenticate(&state, &headers, &params).await?;
    // RFC 9449 §10.1: a proof here binds the code to its key.
    let proof = match dpop::back_channel(&state, &headers, paths::PAR) {
        Ok(proof) => proof,
        Err(refused) => return Ok(*refused),
    };
    let params = dpop_binding::pushed(params, proof.as_ref())?;
    if let Some(proof) = &proof {
        oidc_dpop::claim(&state, proof).await?;
    }
    let pushed = par::push(&state, &client, params).await?;
    tracing::info!(client.id = %client.client_id, "authorization request pushed");
    let body =
        serde_json::json!({ "request_uri": pushed.request_uri, "expires_in": pushed.expires_in });
    let response = (StatusCode::CREATED, no_store_json(body.to_string())).into_response();
    Ok(match proof {
        Some(_) => dpop::with_nonce(&state, response),
        None => response,
    })
}
