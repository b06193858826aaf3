//! The OpenID Provider metadata document (OpenID Connect Discovery 1.0 §3,
//! RFC 8414). It lists only what this build implements. The document is
//! computed once at start and served from memory.

use super::authorization_details::SUPPORTED_TYPES;
use serde::Serialize;

use super::claims;
use crate::config::Config;
use crate::model::SigningAlg;
use crate::paths;

/// Client authentication at `/revoke`: as at the token endpoint, public clients included (RFC 7009 §2.1).
const REVOCATION_AUTH_METHODS: [&str; 4] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "none",
];
/// Client authentication at `/introspect`: confidential clients only (RFC 7662 §2.1).
const INTROSPECTION_AUTH_METHODS: [&str; 3] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
];

/// Provider metadata, serialised with absent fields omitted.
#[derive(Debug, Serialize)]
pub struct ProviderMetadata {
    /// `issuer`: exactly the `iss` of every token.
    pub issuer: String,
    /// `authorization_endpoint`.
    pub authorization_endpoint: String,
    /// `token_endpoint`.
    pub token_endpoint: String,
    /// `userinfo_endpoint`.
    pub userinfo_endpoint: String,
    /// `jwks_uri`.
    pub jwks_uri: String,
    /// `scopes_supported`.
    pub scopes_supported: Vec<&'static str>,
    /// `response_types_supported`: the code flow only (RFC 9700 §2.1.2).
    pub response_types_supported: Vec<&'static str>,
    /// `response_modes_supported`.
    pub response_modes_supported: Vec<&'static str>,
    /// `grant_types_supported`.
    pub grant_types_supported: Vec<&'static str>,
    /// `subject_types_supported`: `sub` is the same for every client.
    pub subject_types_supported: Vec<&'static str>,
    /// `id_token_signing_alg_values_supported`: one key per algorithm is kept.
    pub id_token_signing_alg_values_supported: Vec<&'static str>,
    /// `token_endpoint_auth_methods_supported`.
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    /// `token_endpoint_auth_signing_alg_values_supported` for `private_key_jwt`.
    pub token_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    /// `code_challenge_methods_supported`: S256 only (RFC 9700 §2.1.1).
    pub code_challenge_methods_supported: Vec<&'static str>,
    /// `acr_values_supported`: `phr` and the MFA value (`docs/product.md#assurance`).
    pub acr_values_supported: Vec<String>,
    /// `claims_supported`.
    pub claims_supported: Vec<&'static str>,
    /// `claims_parameter_supported`: the essential-`acr` request works through it.
    pub claims_parameter_supported: bool,
    /// `request_parameter_supported`: request objects are refused with `request_not_supported`.
    pub request_parameter_supported: bool,
    /// `request_uri_parameter_supported`: only PAR's own `request_uri` values are accepted.
    pub request_uri_parameter_supported: bool,
    /// `authorization_response_iss_parameter_supported` (RFC 9207).
    pub authorization_response_iss_parameter_supported: bool,
    /// `prompt_values_supported`.
    pub prompt_values_supported: Vec<&'static str>,
    /// `authorization_details_types_supported` (RFC 9396 §10).
    pub authorization_details_types_supported: Vec<&'static str>,
    /// `ui_locales_supported` for the hosted pages.
    pub ui_locales_supported: Vec<&'static str>,
    /// `claim_types_supported`.
    pub claim_types_supported: Vec<&'static str>,
    /// `pushed_authorization_request_endpoint` (RFC 9126 §5).
    pub pushed_authorization_request_endpoint: String,
    /// `require_pushed_authorization_requests`: false server-wide; clients
    /// may be held to PAR one by one (`--require-par`).
    pub require_pushed_authorization_requests: bool,
    /// `revocation_endpoint` (RFC 7009 §2, RFC 8414 §2).
    pub revocation_endpoint: String,
    /// `revocation_endpoint_auth_methods_supported`: public clients revoke with `none`.
    pub revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    /// `introspection_endpoint` (RFC 7662 §2, RFC 8414 §2).
    pub introspection_endpoint: String,
    /// `introspection_endpoint_auth_methods_supported`: confidential clients only.
    pub introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    /// `end_session_endpoint` (RP-Initiated Logout 1.0 §2.1).
    pub end_session_endpoint: String,
    /// `backchannel_logout_supported` (Back-Channel Logout 1.0 §2.1).
    pub backchannel_logout_supported: bool,
    /// `backchannel_logout_session_supported`: logout tokens always carry `sid`.
    pub backchannel_logout_session_supported: bool,
    /// `dpop_signing_alg_values_supported` (RFC 9449 §5.1).
    pub dpop_signing_alg_values_supported: Vec<&'static str>,
}

impl ProviderMetadata {
    /// The document for this configuration.
    pub fn new(config: &Config) -> Self {
        let algs: Vec<&'static str> = SigningAlg::ALL.iter().map(|a| a.as_str()).collect();
        Self {
            issuer: config.issuer_str(),
            authorization_endpoint: config.endpoint(paths::AUTHORIZE),
            token_endpoint: config.endpoint(paths::TOKEN),
            userinfo_endpoint: config.endpoint(paths::USERINFO),
            jwks_uri: config.endpoint(paths::JWKS),
            scopes_supported: vec!["openid", "profile", "email", "offline_access"],
            response_types_supported: vec!["code"],
            response_modes_supported: vec!["query", "form_post"],
            grant_types_supported: vec!["authorization_code", "refresh_token"],
            subject_types_supported: vec!["public"],
            id_token_signing_alg_values_supported: algs.clone(),
            token_endpoint_auth_methods_supported: vec![
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
                "none",
            ],
            token_endpoint_auth_signing_alg_values_supported: algs,
            code_challenge_methods_supported: vec!["S256"],
            acr_values_supported: vec![config.acr_phr.clone(), config.acr_mfa.clone()],
            claims_supported: claims::SUPPORTED.to_vec(),
            claims_parameter_supported: true,
            request_parameter_supported: false,
            request_uri_parameter_supported: false,
            authorization_response_iss_parameter_supported: true,
            prompt_values_supported: vec!["none", "login", "consent"],
            authorization_details_types_supported: SUPPORTED_TYPES.to_vec(),
            ui_locales_supported: vec!["ja", "en"],
            claim_types_supported: vec!["normal"],
            pushed_authorization_request_endpoint: config.endpoint(paths::PAR),
            require_pushed_authorization_requests: false,
            revocation_endpoint: config.endpoint(paths::REVOKE),
            revocation_endpoint_auth_methods_supported: REVOCATION_AUTH_METHODS.to_vec(),
            introspection_endpoint: config.endpoint(paths::INTROSPECT),
            introspection_endpoint_auth_methods_supported: INTROSPECTION_AUTH_METHODS.to_vec(),
            end_session_endpoint: config.endpoint(paths::END_SESSION),
            backchannel_logout_supported: true,
            backchannel_logout_session_supported: true,
            dpop_signing_alg_values_supported: super::dpop::ALGS.to_vec(),
        }
    }
}
