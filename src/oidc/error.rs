//! The one protocol error of every endpoint: a registered code and a description.
//!
//! `http/oauth_error.rs` turns it into each endpoint's wire format (a JSON
//! body, or a redirect to the client).
//!
//! A protocol step that can be refused returns [`Failure`]: either the
//! refusal the client is told about, or an internal error that is logged and
//! answered with a 500 or 503. One `Result` with one error type, so `?`
//! works for both and no caller has to unwrap a `Result` inside a `Result`.

use crate::error::Error;

/// The error codes Kagi answers with, as registered in the IANA "OAuth
/// Extensions Error Registry" (RFC 6749 §4.1.2.1, §5.2, §11.4; OIDC Core
/// §3.1.2.6; RFC 7009 §2.2.1; OpenID Connect UAR 1.0; RFC 6750 §3.1; RFC 9449
/// §12.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// `invalid_request`.
    InvalidRequest,
    /// `invalid_client`.
    InvalidClient,
    /// `invalid_grant`.
    InvalidGrant,
    /// `unauthorized_client`.
    UnauthorizedClient,
    /// `unsupported_grant_type`.
    UnsupportedGrantType,
    /// `unsupported_response_type`.
    UnsupportedResponseType,
    /// `invalid_scope`.
    InvalidScope,
    /// `access_denied`.
    AccessDenied,
    /// `server_error`.
    ServerError,
    /// `temporarily_unavailable`.
    TemporarilyUnavailable,
    /// `login_required` (OIDC Core §3.1.2.6).
    LoginRequired,
    /// `consent_required` (OIDC Core §3.1.2.6).
    ConsentRequired,
    /// `interaction_required` (OIDC Core §3.1.2.6).
    InteractionRequired,
    /// `request_not_supported` (OIDC Core §3.1.2.6).
    RequestNotSupported,
    /// `request_uri_not_supported` (OIDC Core §3.1.2.6).
    RequestUriNotSupported,
    /// `unmet_authentication_requirements` (OpenID Connect UAR 1.0).
    UnmetAuthenticationRequirements,
    /// `invalid_authorization_details` (RFC 9396 §5).
    InvalidAuthorizationDetails,
    /// `invalid_token` (RFC 6750 §3.1), at a resource.
    InvalidToken,
    /// `invalid_dpop_proof` (RFC 9449 §5, §7.1).
    InvalidDpopProof,
    /// `use_dpop_nonce` (RFC 9449 §8, §9).
    UseDpopNonce,
}

impl ErrorCode {
    /// The code as it is sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::InteractionRequired => "interaction_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::UnmetAuthenticationRequirements => "unmet_authentication_requirements",
            Self::InvalidAuthorizationDetails => "invalid_authorization_details",
            Self::InvalidToken => "invalid_token",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refusal the client is told about: a code and an ASCII English
/// description without quotes or backslashes (RFC 6749 §5.2 restricts its characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProtocolError {
    /// The registered code.
    pub code: ErrorCode,
    /// What was wrong, for the client's developer.
    pub description: &'static str,
}

impl ProtocolError {
    /// An error with this code and description.
    pub const fn new(code: ErrorCode, description: &'static str) -> Self {
        Self { code, description }
    }

    /// `invalid_request` with this description.
    pub const fn invalid_request(description: &'static str) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }
}

/// Why a protocol step did not succeed: refused with `E` (by default a
/// [`ProtocolError`]), or an internal error.
#[derive(Debug)]
pub enum Failure<E = ProtocolError> {
    /// The request is refused; the client (or the browser) is told.
    Refused(E),
    /// Something broke; logged once at the boundary, never shown.
    Internal(Error),
}

impl<E> From<Error> for Failure<E> {
    fn from(e: Error) -> Self {
        Self::Internal(e)
    }
}

impl From<ProtocolError> for Failure {
    fn from(e: ProtocolError) -> Self {
        Self::Refused(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_spelled_as_registered() {
        let all = [
            ErrorCode::InvalidRequest,
            ErrorCode::InvalidClient,
            ErrorCode::InvalidGrant,
            ErrorCode::UnauthorizedClient,
            ErrorCode::UnsupportedGrantType,
            ErrorCode::UnsupportedResponseType,
            ErrorCode::InvalidScope,
            ErrorCode::AccessDenied,
            ErrorCode::ServerError,
            ErrorCode::TemporarilyUnavailable,
            ErrorCode::LoginRequired,
            ErrorCode::ConsentRequired,
            ErrorCode::InteractionRequired,
            ErrorCode::RequestNotSupported,
            ErrorCode::RequestUriNotSupported,
            ErrorCode::UnmetAuthenticationRequirements,
            ErrorCode::InvalidToken,
            ErrorCode::InvalidDpopProof,
            ErrorCode::UseDpopNonce,
        ];
        for code in all {
            let s = code.as_str();
            assert!(
                s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{s}"
            );
            assert_eq!(format!("{code:?}").to_lowercase(), s.replace('_', ""));
        }
    }
}
