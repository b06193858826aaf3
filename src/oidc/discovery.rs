//! The OpenID Provider metadata document (OpenID Connect Discovery 1.0 §3).
//!
//! It lists only what this build implements; each feature that lands adds its
//! fields here. The document is computed once at start and served from memory.

use serde::Serialize;

use crate::config::Config;
use crate::model::SigningAlg;

/// Provider metadata, serialised with absent fields omitted.
#[derive(Debug, Serialize)]
pub struct ProviderMetadata {
    /// Discovery §3 `issuer`: exactly the `iss` of every token.
    pub issuer: String,
    /// Discovery §3 `jwks_uri`.
    pub jwks_uri: String,
    /// Discovery §3 `subject_types_supported`: `sub` is the same for every client.
    pub subject_types_supported: Vec<&'static str>,
    /// Discovery §3 `id_token_signing_alg_values_supported`: one key per algorithm is kept.
    pub id_token_signing_alg_values_supported: Vec<&'static str>,
    /// Discovery §3 `acr_values_supported`: `phr` and the MFA value (PRODUCT §2).
    pub acr_values_supported: Vec<String>,
    /// Discovery §3 `ui_locales_supported` for the hosted pages.
    pub ui_locales_supported: Vec<&'static str>,
}

impl ProviderMetadata {
    /// The document for this configuration.
    pub fn new(config: &Config) -> Self {
        Self {
            issuer: config.issuer_str(),
            jwks_uri: config.endpoint("/jwks"),
            subject_types_supported: vec!["public"],
            id_token_signing_alg_values_supported: SigningAlg::ALL
                .iter()
                .map(|a| a.as_str())
                .collect(),
            acr_values_supported: vec![config.acr_phr.clone(), config.acr_mfa.clone()],
            ui_locales_supported: vec!["ja", "en"],
        }
    }
}
