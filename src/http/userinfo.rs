//! `GET`/`POST /userinfo` (OIDC Core §5.3), for bearer and DPoP-bound tokens.
//!
//! A bearer token comes in the `Authorization` header (any case of the
//! scheme) or, for POST, in the form body (RFC 6750 §2.2); errors carry
//! `WWW-Authenticate: Bearer` (RFC 6750 §3). A DPoP-bound token (one with
//! `cnf.jkt`) is taken only under the `DPoP` scheme with a proof of its key
//! for this request (`ath` included, RFC 9449 §7.1); presented as a bearer
//! token, with another key's proof or with none, it is refused with
//! `WWW-Authenticate: DPoP error=...` (`http::dpop::challenge`). A database
//! failure is the token endpoint's JSON (503 `temporarily_unavailable` when
//! the database is out of reach).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::dpop;
use super::oauth_error::{OAuthError, no_store_json};
use crate::oidc::error::{ErrorCode, Failure, ProtocolError};
use crate::oidc::introspection::Confirmation;
use crate::oidc::params::Params;
use crate::oidc::{claims, dpop as oidc_dpop, grant_context::GrantContext, jwt};
use crate::paths;
use crate::state::AppState;

#[derive(Deserialize)]
struct AccessClaims {
    jti: String,
    exp: i64,
    scope: String,
    #[serde(default)]
    cnf: Option<Confirmation>,
}

/// The access token as presented.
struct Presented {
    token: String,
    /// Under the `DPoP` scheme (RFC 9449 §7.1) rather than `Bearer`.
    dpop: bool,
    method: Method,
    headers: HeaderMap,
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

fn invalid_token(description: &'static str) -> ProtocolError {
    ProtocolError::new(ErrorCode::InvalidToken, description)
}

/// Finds the token: header (`Bearer` or `DPoP`), or form body of a POST
/// (bearer only); `Err` for a malformed request.
async fn presented(request: Request) -> Result<Option<Presented>, Response> {
    let (parts, body) = request.into_parts();
    let malformed = || challenge(StatusCode::BAD_REQUEST, Some("invalid_request"));
    let from_header = match parts.headers.get(header::AUTHORIZATION) {
        Some(value) => {
            let text = value.to_str().map_err(|_| malformed())?;
            match text.split_once(' ') {
                Some((scheme, token)) if !token.trim().is_empty() => {
                    let dpop = scheme.eq_ignore_ascii_case("dpop");
                    if !dpop && !scheme.eq_ignore_ascii_case("bearer") {
                        return Err(malformed());
                    }
                    Some((token.trim().to_owned(), dpop))
                }
                _ => return Err(malformed()),
            }
        }
        None => None,
    };
    let from_body = if parts.method == Method::POST {
        let bytes = axum::body::to_bytes(body, super::BODY_LIMIT_BYTES)
            .await
            .map_err(|_| malformed())?;
        // A body that is not a form carries no token (RFC 6750 §2.2 defines only the form).
        Params::parse(&bytes)
            .ok()
            .and_then(|p| p.string("access_token"))
    } else {
        None
    };
    let (token, dpop) = match (from_header, from_body) {
        (Some(_), Some(_)) => return Err(malformed()),
        (Some(pair), None) => pair,
        (None, Some(token)) => (token, false),
        (None, None) => return Ok(None),
    };
    Ok(Some(Presented {
        token,
        dpop,
        method: parts.method,
        headers: parts.headers,
    }))
}

/// Holds a DPoP-bound token to its key: the `DPoP` scheme, one proof for
/// this request and this token, of the key `jkt`, never seen before.
async fn check_binding(state: &AppState, presented: &Presented, jkt: &str) -> Result<(), Failure> {
    if !presented.dpop {
        return Err(Failure::Refused(invalid_token(
            "the access token is DPoP-bound; present it with the DPoP scheme and a proof",
        )));
    }
    let url = state.config.endpoint(paths::USERINFO);
    let proof = match dpop::proof_header(&presented.headers) {
        Ok(Some(proof)) => oidc_dpop::verify(
            state,
            proof,
            presented.method.as_str(),
            &url,
            Some(&presented.token),
        ),
        Ok(None) => Err(oidc_dpop::Refusal::Invalid("a DPoP proof is required")),
        Err(refusal) => Err(refusal),
    }
    .map_err(|refusal| Failure::Refused(refusal.error()))?;
    if proof.jkt != jkt {
        return Err(Failure::Refused(invalid_token(
            "the DPoP proof is signed by another key than the token is bound to",
        )));
    }
    oidc_dpop::claim(state, &proof).await
}

/// Answers the claims the access token's grant releases.
pub async fn userinfo(State(state): State<AppState>, request: Request) -> Response {
    let presented = match presented(request).await {
        Ok(Some(p)) => p,
        Ok(None) => return challenge(StatusCode::UNAUTHORIZED, None),
        Err(response) => return response,
    };
    let scheme_dpop = presented.dpop;
    let invalid = || {
        if scheme_dpop {
            dpop::challenge(&state, &invalid_token("the access token is invalid"))
        } else {
            challenge(StatusCode::UNAUTHORIZED, Some("invalid_token"))
        }
    };
    let now = state.clock.now();
    let Ok(claims) = jwt::verify_own::<AccessClaims>(
        &state.keys,
        &state.config.issuer_str(),
        &presented.token,
        Some("at+jwt"),
        false,
    ) else {
        return invalid();
    };
    if claims.exp <= now {
        return invalid();
    }
    match &claims.cnf {
        Some(cnf) => match check_binding(&state, &presented, &cnf.jkt).await {
            Ok(()) => {}
            Err(Failure::Refused(e)) => return dpop::challenge(&state, &e),
            Err(Failure::Internal(e)) => return OAuthError::from(e).into_response(),
        },
        // The DPoP scheme with a bearer token (RFC 9449 §7.1).
        None if scheme_dpop => {
            return dpop::challenge(&state, &invalid_token("the access token is not DPoP-bound"));
        }
        None => {}
    }
    let answer = answer(&state, &claims, now).await;
    match (answer, scheme_dpop) {
        (Ok(Some(body)), true) => dpop::with_nonce(&state, no_store_json(body)),
        (Ok(Some(body)), false) => no_store_json(body),
        (Ok(None), _) => invalid(),
        (Err(e), _) => OAuthError::from(e).into_response(),
    }
}

/// The userinfo JSON for a live token, `None` when it was revoked.
async fn answer(
    state: &AppState,
    claims: &AccessClaims,
    now: i64,
) -> crate::error::Result<Option<String>> {
    let Some(family) = state.store.active_access_token(&claims.jti, now).await? else {
        return Ok(None);
    };
    let mut grant: GrantContext = serde_json::from_str(&family.grant_context)
        .map_err(|e| crate::error::Error::Internal(e.into()))?;
    // The token's own scope, which a refresh may have narrowed (RFC 6749 §6), not the whole grant's.
    grant
        .scope
        .retain(|granted| claims.scope.split(' ').any(|s| s == granted));
    let Some(customer) = state.store.find_customer(&family.customer_id).await? else {
        return Ok(None);
    };
    Ok(Some(
        serde_json::Value::Object(claims::userinfo(&customer, &grant)).to_string(),
    ))
}
