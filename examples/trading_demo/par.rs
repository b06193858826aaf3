//! The pushed authorization request (RFC 9126), which `openidconnect` does
//! not offer: the parameters the crate put in the authorization URL are
//! posted to Kagi's PAR endpoint with `client_secret_basic`, and the browser
//! gets only `client_id` and the `request_uri` back. The details therefore
//! never travel through the browser, where a page or extension could alter
//! them.

use serde::Deserialize;
use url::Url;
use url::form_urlencoded::byte_serialize;

use super::app::Demo;

/// Kagi's answer to a pushed request (RFC 9126 §2.2, §2.3).
#[derive(Deserialize)]
struct Answer {
    request_uri: Option<String>,
    error: Option<String>,
}

/// Why a push failed.
pub(super) enum PushError {
    /// Kagi refused the request with this OAuth error code.
    Refused(String),
    /// Kagi could not be reached or answered something else.
    Failed(String),
}

/// Pushes the query of `authorize_url` (the crate's authorization URL) and
/// returns the URL to send the browser to.
pub(super) async fn push(demo: &Demo, authorize_url: &Url) -> Result<Url, PushError> {
    let endpoint = demo
        .par_endpoint
        .as_deref()
        .ok_or_else(|| PushError::Failed("Kagi announces no PAR endpoint".to_owned()))?;
    let client_id = demo.client.client_id().as_str();
    let form: Vec<(String, String)> = authorize_url.query_pairs().into_owned().collect();
    // RFC 6749 §2.3.1: both halves are form-urlencoded before the Basic encoding.
    let encode = |s: &str| byte_serialize(s.as_bytes()).collect::<String>();
    let response = demo
        .http
        .post(endpoint)
        .basic_auth(encode(client_id), Some(encode(demo.client_secret.secret())))
        .form(&form)
        .send()
        .await
        .map_err(|e| PushError::Failed(format!("PAR request failed: {e}")))?;
    let body = response
        .bytes()
        .await
        .map_err(|e| PushError::Failed(format!("PAR answer unreadable: {e}")))?;
    let answer: Answer = serde_json::from_slice(&body)
        .map_err(|e| PushError::Failed(format!("PAR answer unreadable: {e}")))?;
    match (answer.request_uri, answer.error) {
        (Some(request_uri), None) => {
            let mut url = demo.client.auth_uri().url().clone();
            url.query_pairs_mut()
                .append_pair("client_id", client_id)
                .append_pair("request_uri", &request_uri);
            Ok(url)
        }
        (_, Some(error)) => Err(PushError::Refused(error)),
        (None, None) => Err(PushError::Failed(
            "PAR answer without request_uri".to_owned(),
        )),
    }
}
