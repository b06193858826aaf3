//! `POST /introspect`: token introspection (RFC 7662 §2).
//!
//! Only confidential clients may introspect (§2.1 requires the caller to be
//! authorised, and a public client's `client_id` proves nothing), and only
//! their own tokens: anyone else's token is `{"active": false}` (§2.2, the
//! answer that reveals nothing).

use axum::extract::State;
use axum::response::Response;

use super::client_auth::authenticate;
use super::oauth_error::{OAuthError, no_store_json};
use super::params::BackChannel;
use crate::oidc::introspection::{self, TokenQuery};
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
    // `token_type_hint` is ignored (§2.1 allows it): both kinds are searched.
    let answer = match introspection::identify(&state, &raw).await? {
        Some(token) if token.client_id() == client.client_id.as_str() => {
            introspection::introspect(&state, &token).await?
        }
        _ => None,
    };
    let body = answer.unwrap_or_else(|| serde_json::json!({ "active": false }));
    Ok(no_store_json(body.to_string()))
}
