//! Extractors that read a request's parameters into [`Params`], once.
//!
//! [`QueryOrForm`] serves the endpoints a browser reaches by `GET` or `POST`
//! (`/authorize`, OIDC Core §3.1.2.1; `/session/end`, RP-Initiated Logout
//! §2), and answers a malformed request with a page. [`BackChannel`] serves
//! the endpoints a client posts to (token, PAR, revocation, introspection,
//! RFC 6749 §3.2), and answers with RFC 6749 §5.2 JSON; there a repeated
//! parameter is refused at once.

use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, Method, header};

use super::error::PageError;
use super::oauth_error::OAuthError;
use crate::oidc::error::ErrorCode;
use crate::oidc::params::Params;

/// Whether the body is declared `application/x-www-form-urlencoded`.
pub fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// The query of a `GET`, or the form body of a `POST`; repeated names are
/// kept for the endpoint to refuse where its rules say.
#[derive(Debug)]
pub struct QueryOrForm(pub Params);

impl<S: Send + Sync> FromRequest<S> for QueryOrForm {
    type Rejection = PageError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let raw = if parts.method == Method::POST {
            if !is_form(&parts.headers) {
                return Err(PageError::bad_request());
            }
            let bytes = axum::body::to_bytes(body, super::BODY_LIMIT_BYTES)
                .await
                .map_err(|_| PageError::bad_request())?;
            // A browser's form is UTF-8; other bytes are not a form at all.
            std::str::from_utf8(&bytes).map_err(|_| PageError::bad_request())?;
            bytes.to_vec()
        } else {
            parts.uri.query().unwrap_or_default().as_bytes().to_vec()
        };
        Params::parse(&raw)
            .map(Self)
            .map_err(|_| PageError::bad_request())
    }
}

/// A client's form post to a back-channel endpoint: its headers (for client
/// authentication) and its parameters, none of them repeated.
#[derive(Debug)]
pub struct BackChannel {
    /// The request headers.
    pub headers: HeaderMap,
    /// The form parameters.
    pub params: Params,
}

impl<S: Send + Sync> FromRequest<S> for BackChannel {
    type Rejection = OAuthError;

    /// An unreadable or oversized body, a wrong content type, a malformed
    /// form or a repeated parameter is `invalid_request` in JSON, never a
    /// framework's plain-text rejection.
    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let bad = |why| OAuthError::bad(ErrorCode::InvalidRequest, why);
        let (parts, body) = request.into_parts();
        let bytes = axum::body::to_bytes(body, super::BODY_LIMIT_BYTES)
            .await
            .map_err(|_| bad("the body is unreadable or too large"))?;
        if !is_form(&parts.headers) {
            return Err(bad("the body must be application/x-www-form-urlencoded"));
        }
        let params = Params::parse(&bytes)
            .map_err(|_| bad("the body is not a valid form"))?
            .unique()?;
        Ok(Self {
            headers: parts.headers,
            params,
        })
    }
}
