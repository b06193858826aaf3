//! Client authentication at the back-channel endpoints (token, PAR,
//! revocation, introspection): the HTTP side of `oidc::client_auth`, turning
//! its refusals into RFC 6749 §5.2 errors and audit events.

use axum::http::{HeaderMap, header};

use super::oauth_error::OAuthError;
use crate::oidc::client_auth::{self, AuthFailure};
use crate::oidc::error::{ErrorCode, Failure};
use crate::oidc::params::Params;
use crate::paths;
use crate::state::AppState;

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
        config.endpoint(paths::TOKEN),
        config.endpoint(paths::PAR),
        config.endpoint(paths::INTROSPECT),
        config.endpoint(paths::REVOKE),
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
