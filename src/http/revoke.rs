//! `POST /revoke`: token revocation (RFC 7009 §2).
//!
//! A refresh token revokes its whole grant (every refresh and access token
//! of the family, §2.1 "SHOULD"); an access token revokes only itself.
//! Unknown, invalid or already revoked tokens still get 200 (§2.2): the
//! client's aim, that the token is unusable, is met. A token of another
//! client is refused (§2.1), and the token stays valid.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::client_auth::authenticate;
use super::dpop;
use super::oauth_error::OAuthError;
use super::params::BackChannel;
use crate::audit::{AuditEvent, AuditKind, Outcome};
use crate::oidc::dpop as oidc_dpop;
use crate::oidc::error::ErrorCode;
use crate::oidc::introspection::{self, Token, TokenQuery};
use crate::paths;
use crate::state::AppState;

/// Authenticates the client and revokes the token if it is the client's.
pub async fn revoke(
    State(state): State<AppState>,
    BackChannel { headers, params }: BackChannel,
) -> Result<Response, OAuthError> {
    let client = authenticate(&state, &headers, &params).await?;
    let TokenQuery { token: raw } = TokenQuery::parse(&params)?;
    let proof = match dpop::back_channel(&state, &headers, paths::REVOKE) {
        Ok(proof) => proof,
        Err(refused) => return Ok(*refused),
    };
    if let Some(proof) = &proof {
        oidc_dpop::claim(&state, proof).await?;
    }
    // `token_type_hint` is ignored, as §2.1 allows: both kinds are searched.
    let Some(token) = introspection::identify(&state, &raw).await? else {
        return Ok(revoked());
    };
    if token.client_id() != client.client_id.as_str() {
        return Err(OAuthError::bad(
            ErrorCode::UnauthorizedClient,
            "the token was not issued to this client",
        ));
    }
    // Whoever holds a bound token without its key cannot end the grant
    // either (`docs/security.md#r34`); the token stays valid.
    if !super::introspect::holds_key(&token, proof.as_ref()) {
        return Err(OAuthError::bad(
            ErrorCode::InvalidDpopProof,
            "the token is bound to a DPoP key; send a DPoP proof of it",
        ));
    }
    if introspection::revoke(&state, &token).await? {
        let kind = match token {
            Token::Access(_) => "access_token",
            Token::Refresh(..) => "refresh_token",
        };
        tracing::info!(client.id = %client.client_id, token.kind = kind, "token revoked");
        let event = AuditEvent::new(AuditKind::TokenRevoked, Outcome::Success)
            .with_client(client.client_id.as_str())
            .with_detail(serde_json::json!({ "token_type": kind }));
        state.audit(event).await;
    }
    Ok(revoked())
}

/// 200 with an empty body (§2.2), never cached.
fn revoked() -> Response {
    let mut response = StatusCode::OK.into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
