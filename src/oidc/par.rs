//! Pushed authorization requests (RFC 9126).
//!
//! The client authenticates as at the token endpoint and pushes the
//! authorization parameters; they are validated now (so errors come back as
//! JSON, §2.3) and again at `/authorize`, which uses the `request_uri` up
//! once. What is stored is the original `[name, value]` pairs, minus the
//! client's credentials.

use super::error::{Failure, ProtocolError};
use super::params::Params;
use super::request;
use crate::crypto::random;
use crate::model::Client;
use crate::state::AppState;
use crate::store::auth_requests::RequestRow;

/// The `request_uri` prefix of RFC 9126 §2.2.
pub const PAR_URN_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// Lifetime of a `request_uri` (RFC 9126 §2.2; `docs/security.md#r33`: under 600 s).
pub const PAR_TTL_SECS: i64 = 60;

/// Client credentials, which are never stored with the request.
const CREDENTIALS: [&str; 3] = ["client_secret", "client_assertion", "client_assertion_type"];

/// A stored pushed request, as the client is told of it (RFC 9126 §2.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pushed {
    /// The one-time reference for `/authorize`.
    pub request_uri: String,
    /// Seconds it stays valid.
    pub expires_in: i64,
}

/// Validates the parameters `client` pushed and stores them.
pub async fn push(state: &AppState, client: &Client, params: Params) -> Result<Pushed, Failure> {
    let params = checked(client, params)?;
    let handle = random::handle();
    let now = state.clock.now();
    let row = RequestRow {
        id: random::hash_secret(&handle),
        client_id: client.client_id.as_str().to_owned(),
        sid: None,
        params: serde_json::to_string(&params)
            .map_err(|e| crate::error::Error::Internal(e.into()))?,
        pushed: true,
        created_at: now,
        expires_at: now + PAR_TTL_SECS,
    };
    state.store.insert_request(&row).await?;
    Ok(Pushed {
        request_uri: format!("{PAR_URN_PREFIX}{handle}"),
        expires_in: PAR_TTL_SECS,
    })
}

/// The pushed parameters without credentials and with `client_id`, once they
/// pass the same checks as at `/authorize`; a failure is the code `/authorize`
/// would have redirected (RFC 9126 §2.3).
fn checked(client: &Client, params: Params) -> Result<Params, ProtocolError> {
    let mut params = params.without(&CREDENTIALS);
    if params.has("request_uri") {
        return Err(ProtocolError::invalid_request(
            "request_uri is not allowed in a pushed authorization request",
        ));
    }
    match params.get("client_id") {
        Some(id) if id != client.client_id.as_str() => {
            return Err(ProtocolError::invalid_request(
                "client_id does not match the authenticated client",
            ));
        }
        Some(_) => {}
        // Authenticated by HTTP Basic or an assertion: `/authorize` still needs the pair.
        None => params.push("client_id", client.client_id.as_str()),
    }
    let Some(redirect_uri) = request::trusted_redirect(Some(client), &params) else {
        return Err(ProtocolError::invalid_request(
            "redirect_uri is missing or not registered for this client",
        ));
    };
    request::parse(client, &redirect_uri, &params)?;
    Ok(params)
}

/// The handle of a `request_uri` this server issued, if it is one.
pub fn handle_of(request_uri: &str) -> Option<&str> {
    request_uri
        .starts_with(PAR_URN_PREFIX)
        .then(|| request_uri.trim_start_matches(PAR_URN_PREFIX))
}
