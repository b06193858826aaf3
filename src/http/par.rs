//! `POST /par`: pushed authorization requests (RFC 9126 §2).
//!
//! The client authenticates as at the token endpoint and pushes the
//! authorization parameters; they are validated now (so errors come back as
//! JSON, §2.3) and again at `/authorize`, which consumes the `request_uri`
//! once. What is stored is the original `[name, value]` pairs, minus the
//! client's credentials.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::authorize::PAR_URN_PREFIX;
use super::oauth_error::{OAuthError, no_store_json, read_request};
use super::token::authenticate;
use crate::crypto::random;
use crate::model::Client;
use crate::oidc::error::ErrorCode;
use crate::oidc::request::{self, param};
use crate::state::AppState;
use crate::store::requests::RequestRow;

/// Lifetime of a `request_uri` (RFC 9126 §2.2; `docs/security.md#r33`: under 600 s).
pub const PAR_TTL_SECS: i64 = 60;

/// Client credentials, which are never stored with the request.
const CREDENTIALS: [&str; 3] = ["client_secret", "client_assertion", "client_assertion_type"];

/// Stores a validated request and answers 201 with its `request_uri` (RFC 9126 §2.2).
pub async fn par(State(state): State<AppState>, request: Request) -> Result<Response, OAuthError> {
    let (headers, params) = read_request(request).await?;
    let client = authenticate(&state, &headers, &params).await?;
    let pairs = pushed_params(&client, params)?;
    let handle = random::handle();
    let now = state.clock.now();
    let row = RequestRow {
        id: random::hash_secret(&handle),
        client_id: client.client_id.as_str().to_owned(),
        sid: None,
        params: serde_json::to_string(&pairs)
            .map_err(|e| OAuthError::from(crate::error::Error::Internal(e.into())))?,
        pushed: true,
        created_at: now,
        expires_at: now + PAR_TTL_SECS,
    };
    state.store.insert_request(&row).await?;
    tracing::info!(client.id = %client.client_id, "authorization request pushed");
    let body = serde_json::json!({ "request_uri": format!("{PAR_URN_PREFIX}{handle}"), "expires_in": PAR_TTL_SECS });
    Ok((StatusCode::CREATED, no_store_json(body.to_string())).into_response())
}

/// The pushed pairs without credentials and with `client_id`, once they pass
/// the same checks as at `/authorize`; failures are 400 with the code
/// `/authorize` would have redirected (RFC 9126 §2.3).
fn pushed_params(
    client: &Client,
    params: Vec<(String, String)>,
) -> Result<Vec<(String, String)>, OAuthError> {
    let mut pairs: Vec<(String, String)> = params
        .into_iter()
        .filter(|(k, _)| !CREDENTIALS.contains(&k.as_str()))
        .collect();
    if param(&pairs, "request_uri").is_some() {
        return Err(OAuthError::bad(
            ErrorCode::InvalidRequest,
            "request_uri is not allowed in a pushed authorization request",
        ));
    }
    match param(&pairs, "client_id") {
        Some(id) if id != client.client_id.as_str() => {
            return Err(OAuthError::bad(
                ErrorCode::InvalidRequest,
                "client_id does not match the authenticated client",
            ));
        }
        Some(_) => {}
        // Authenticated by HTTP Basic or an assertion: `/authorize` still needs the pair.
        None => pairs.push(("client_id".to_owned(), client.client_id.as_str().to_owned())),
    }
    let Some(redirect_uri) = request::trusted_redirect(Some(client), &pairs) else {
        return Err(OAuthError::bad(
            ErrorCode::InvalidRequest,
            "redirect_uri is missing or not registered for this client",
        ));
    };
    request::parse(client, &redirect_uri, &pairs)?;
    Ok(pairs)
}
