//! The HTTP side of DPoP (RFC 9449): reading the `DPoP` header, the
//! answers that refuse a proof, and the `DPoP-Nonce` header.
//!
//! At the back-channel endpoints (token, PAR, revocation, introspection) a
//! refused proof is the RFC 6749 §5.2 JSON of the endpoint, 400
//! `invalid_dpop_proof` or `use_dpop_nonce` (RFC 9449 §5, §8); at userinfo,
//! a resource, it is 401 with `WWW-Authenticate: DPoP error=..., algs=...`
//! (§7.1, §9). When nonces are on, every answer to a DPoP request carries a
//! fresh `DPoP-Nonce` (§8.2), so a client can keep its nonce current.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::oauth_error::OAuthError;
use crate::oidc::dpop::{self, Proof, Refusal};
use crate::oidc::error::ProtocolError;
use crate::state::AppState;

/// The `DPoP` request header.
pub const DPOP: &str = "dpop";
/// The `DPoP-Nonce` response header.
pub const DPOP_NONCE: &str = "dpop-nonce";

/// The request's one `DPoP` header; several, or one that is not text, is an
/// invalid proof (RFC 9449 §4.3 step 1).
pub fn proof_header(headers: &HeaderMap) -> Result<Option<&str>, Refusal> {
    let mut values = headers.get_all(DPOP).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Refusal::Invalid("send exactly one DPoP header"));
    }
    first
        .to_str()
        .map(Some)
        .map_err(|_| Refusal::Invalid("the DPoP header is not a JWT"))
}

/// Checks the proof a back-channel request carries, if any, for a `POST` to
/// `path`; a refused proof is the endpoint's answer, ready to send.
pub fn back_channel(
    state: &AppState,
    headers: &HeaderMap,
    path: &str,
) -> Result<Option<Proof>, Box<Response>> {
    let url = state.config.endpoint(path);
    let checked = match proof_header(headers) {
        Ok(None) => return Ok(None),
        Ok(Some(proof)) => dpop::verify(state, proof, "POST", &url, None),
        Err(refusal) => Err(refusal),
    };
    checked
        .map(Some)
        .map_err(|refusal| Box::new(refused(state, refusal)))
}

/// A refused proof at a back-channel endpoint: 400 JSON, with a nonce for
/// `use_dpop_nonce`.
pub fn refused(state: &AppState, refusal: Refusal) -> Response {
    with_nonce(state, OAuthError::from(refusal.error()).into_response())
}

/// Adds a current `DPoP-Nonce` to `response` when nonces are on.
pub fn with_nonce(state: &AppState, mut response: Response) -> Response {
    if let Some(nonces) = dpop::nonces(state)
        && let Ok(value) = HeaderValue::from_str(&nonces.issue(state.clock.now()))
    {
        response.headers_mut().insert(DPOP_NONCE, value);
    }
    response
}

/// A resource's refusal (RFC 9449 §7.1): 401 with a `DPoP` challenge naming
/// the error and the algorithms Kagi accepts, and a nonce when nonces are on.
pub fn challenge(state: &AppState, error: &ProtocolError) -> Response {
    let value = format!(
        "DPoP error=\"{}\", error_description=\"{}\", algs=\"{}\"",
        error.code,
        error.description,
        dpop::ALGS.join(" ")
    );
    let mut response = StatusCode::UNAUTHORIZED.into_response();
    if let Ok(v) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    with_nonce(state, response)
}
