//! `POST /token` (OIDC Core §3.1.3, RFC 6749 §4.1.3 and §6).

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::Response;

use super::oauth_error::{OAuthError, no_store_json};
use super::params::BackChannel;
use crate::oidc::client_auth::{self, AuthFailure};
use crate::oidc::error::{ErrorCode, Failure};
use crate::oidc::params::Params;
use crate::oidc::token::{self, TokenRequest};
use crate::state::AppState;

/// Authenticates the client, then runs the grant.
pub async fn token(
    State(state): State<AppState>,
    BackChannel { headers, params }: BackChannel,
) -> Result<Response, OAuthError> {
    let client = authenticate(&state, &headers, &params).await?;
    let req = TokenRequest::parse(&params)?;
    let issued = token::grant(&state, &client, &req).await?;
    let mut body = serde_json::json!({
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "id_token": issued.id_token,
        "scope": issued.scope,
    });
    if let Some(refresh) = issued.refresh_token {
        body["refresh_token"] = serde_json::Value::String(refresh);
    }
    Ok(no_store_json(body.to_string()))
}

/// Client authentication shared by the back-channel endpoints; assertions may
/// name the endpoint's URL, the token endpoint or the issuer as `aud`.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    params: &Params,
) -> Result<crate::model::Client, OAuthError> {
    let authorization = match headers.get(header::AUTHORIZATION) {
        Some(v) => Some(v.to_str().map_err(|_| {
            OAuthError::bad(
                ErrorCode::InvalidRequest,
                "the Authorization header is not valid",
            )
        })?),
        None => None,
    };
    let config = &state.config;
    let audiences = [
        config.issuer_str(),
        config.endpoint("/token"),
        config.endpoint("/par"),
        config.endpoint("/introspect"),
        config.endpoint("/revoke"),
    ];
    match client_auth::authenticate(state, authorization, params, &audiences).await {
        Ok(client) => Ok(client),
        Err(Failure::Internal(e)) => Err(e.into()),
        Err(Failure::Refused(AuthFailure::Malformed(why))) => {
            Err(OAuthError::bad(ErrorCode::InvalidRequest, why))
        }
        Err(Failure::Refused(AuthFailure::Invalid { basic })) => {
            let mut event = crate::audit::AuditEvent::new(
                crate::audit::AuditKind::ClientAuthFailed,
                crate::audit::Outcome::Failure,
            );
            event.client_id = params
                .get("client_id")
                .map(|c| c.chars().take(128).collect());
            state.audit(event).await;
            Err(OAuthError::invalid_client(basic))
        }
    }
}
