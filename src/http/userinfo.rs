//! `GET`/`POST /userinfo` (OIDC Core §5.3).
//!
//! The bearer token comes in the `Authorization` header (any case of the scheme) or, for POST, in the form
//! body (RFC 6750 §2.2). Errors carry `WWW-Authenticate: Bearer` (RFC 6750 §3);
//! a database failure is the token endpoint's JSON (503 `temporarily_unavailable`
//! when the database is out of reach).

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::oauth_error::{OAuthError, no_store_json};
use crate::oidc::params::Params;
use crate::oidc::{claims, grant_context::GrantContext, jwt};
use crate::state::AppState;

#[derive(Deserialize)]
struct AccessClaims {
    jti: String,
    exp: i64,
    scope: String,
}

fn challenge(status: StatusCode, error: Option<&str>) -> Response {
    let value = match error {
        Some(e) => format!("Bearer realm=\"kagi\", error=\"{e}\""),
        None => "Bearer realm=\"kagi\"".to_owned(),
    };
    let mut response = status.into_response();
    if let Ok(v) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    response
}

/// Finds the bearer token: header, or form body of a POST; `Err` for a malformed request.
async fn bearer(request: Request) -> Result<Option<String>, Response> {
    let (parts, body) = request.into_parts();
    let from_header = match parts.headers.get(header::AUTHORIZATION) {
        Some(value) => {
            let text = value
                .to_str()
                .map_err(|_| challenge(StatusCode::BAD_REQUEST, Some("invalid_request")))?;
            match text.split_once(' ') {
                Some((scheme, token))
                    if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
                {
                    Some(token.trim().to_owned())
                }
                _ => return Err(challenge(StatusCode::BAD_REQUEST, Some("invalid_request"))),
            }
        }
        None => None,
    };
    if parts.method != Method::POST {
        return Ok(from_header);
    }
    let bytes = axum::body::to_bytes(body, super::BODY_LIMIT_BYTES)
        .await
        .map_err(|_| challenge(StatusCode::BAD_REQUEST, Some("invalid_request")))?;
    // A body that is not a form carries no token (RFC 6750 §2.2 defines only the form).
    let from_body = Params::parse(&bytes)
        .ok()
        .and_then(|p| p.string("access_token"));
    match (from_header, from_body) {
        (Some(_), Some(_)) => Err(challenge(StatusCode::BAD_REQUEST, Some("invalid_request"))),
        (h, b) => Ok(h.or(b)),
    }
}

/// Answers the claims the access token's grant releases.
pub async fn userinfo(State(state): State<AppState>, request: Request) -> Response {
    let token = match bearer(request).await {
        Ok(Some(token)) => token,
        Ok(None) => return challenge(StatusCode::UNAUTHORIZED, None),
        Err(response) => return response,
    };
    let invalid = || challenge(StatusCode::UNAUTHORIZED, Some("invalid_token"));
    let now = state.clock.now();
    let Ok(claims) = jwt::verify_own::<AccessClaims>(
        &state.keys,
        &state.config.issuer_str(),
        &token,
        Some("at+jwt"),
        false,
    ) else {
        return invalid();
    };
    if claims.exp <= now {
        return invalid();
    }
    let family = match state.store.active_access_token(&claims.jti, now).await {
        Ok(Some(f)) => f,
        Ok(None) => return invalid(),
        Err(e) => return OAuthError::from(e).into_response(),
    };
    let mut grant: GrantContext = match serde_json::from_str(&family.grant_context) {
        Ok(g) => g,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    // The token's own scope, which a refresh may have narrowed (RFC 6749 §6), not the whole grant's.
    grant
        .scope
        .retain(|granted| claims.scope.split(' ').any(|s| s == granted));
    match state.store.find_customer(&family.customer_id).await {
        Ok(Some(customer)) => no_store_json(
            serde_json::Value::Object(claims::userinfo(&customer, &grant)).to_string(),
        ),
        Ok(None) => invalid(),
        Err(e) => OAuthError::from(e).into_response(),
    }
}
