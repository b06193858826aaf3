//! `POST /token` (OIDC Core §3.1.3, RFC 6749 §4.1.3 and §6).

use axum::extract::State;
use axum::response::Response;

use super::client_auth::authenticate;
use super::oauth_error::{OAuthError, no_store_json};
use super::params::BackChannel;
use crate::oidc::grants::{self, TokenRequest};
use crate::state::AppState;

/// Authenticates the client, then runs the grant.
pub async fn token(
    State(state): State<AppState>,
    BackChannel { headers, params }: BackChannel,
) -> Result<Response, OAuthError> {
    let client = authenticate(&state, &headers, &params).await?;
    let req = TokenRequest::parse(&params)?;
    let issued = grants::grant(&state, &client, &req).await?;
    let mut body = serde_json::json!({
        "access_token": issued.access_token,
        "token_type": "Bearer",
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
    Ok(no_store_json(body.to_string()))
}
