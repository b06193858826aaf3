//! OAuth error responses of the back-channel endpoints (RFC 6749 §5.2).
//!
//! Always a JSON object with an ASCII `error` and `error_description`, never a
//! framework's plain-text rejection; 401 only for `invalid_client`. When the
//! database is out of reach the answer is 503 `temporarily_unavailable` with
//! `Retry-After` (the code RFC 6749 §4.1.2.1 defines for the authorization
//! endpoint, used at every endpoint so a client can tell an outage from a
//! refusal and retry).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::oidc::error::{ErrorCode, Failure, ProtocolError};

/// An error of the token, PAR, revocation or introspection endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthError {
    /// HTTP status.
    pub status: StatusCode,
    /// RFC 6749 §5.2 code.
    pub error: ErrorCode,
    /// ASCII English description.
    pub description: &'static str,
    /// Add `WWW-Authenticate: Basic` (the client tried HTTP Basic).
    pub basic_challenge: bool,
}

impl OAuthError {
    /// A 400 error.
    pub fn bad(error: ErrorCode, description: &'static str) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error,
            description,
            basic_challenge: false,
        }
    }

    /// `invalid_client` (401).
    pub fn invalid_client(basic_challenge: bool) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            error: ErrorCode::InvalidClient,
            description: "client authentication failed",
            basic_challenge,
        }
    }

    /// `server_error` (500); the cause was logged.
    pub fn internal() -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: ErrorCode::ServerError,
            description: "internal error",
            basic_challenge: false,
        }
    }

    /// `temporarily_unavailable` (503, with `Retry-After`); the cause was logged.
    pub fn unavailable() -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error: ErrorCode::TemporarilyUnavailable,
            description: "the service is temporarily unavailable; retry later",
            basic_challenge: false,
        }
    }
}

impl From<crate::error::Error> for OAuthError {
    fn from(e: crate::error::Error) -> Self {
        match e {
            crate::error::Error::Internal(cause) => {
                tracing::error!(
                    error = format!("{cause:#}"),
                    "internal error at an OAuth endpoint"
                );
                Self::internal()
            }
            crate::error::Error::Unavailable(cause) => {
                tracing::warn!(
                    error = format!("{cause:#}"),
                    "database unavailable at an OAuth endpoint"
                );
                Self::unavailable()
            }
            _ => Self::bad(ErrorCode::InvalidRequest, "the request is invalid"),
        }
    }
}

/// A refusal at a back-channel endpoint is a 400 (RFC 6749 §5.2); the
/// endpoints that answer 401 build [`OAuthError::invalid_client`] themselves.
impl From<ProtocolError> for OAuthError {
    fn from(e: ProtocolError) -> Self {
        Self::bad(e.code, e.description)
    }
}

impl From<Failure> for OAuthError {
    fn from(e: Failure) -> Self {
        match e {
            Failure::Refused(e) => e.into(),
            Failure::Internal(e) => e.into(),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.error.as_str(), "error_description": self.description });
        let mut response = (self.status, no_store_json(body.to_string())).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, super::error::retry_after());
        }
        if self.basic_challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"kagi\""),
            );
        }
        response
    }
}

/// A JSON body with `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1).
pub fn no_store_json(body: String) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
