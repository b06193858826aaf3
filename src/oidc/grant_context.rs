//! What a grant carries from the authorization to every token issued from it.
//!
//! It is kept with the code and the token family, so refreshed tokens keep the
//! original `acr`, `amr` and `auth_time` (OIDC Core §12.2, RFC 9470 §6.1).

use serde::{Deserialize, Serialize};

/// The context of one authorization.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantContext {
    /// Granted scope values.
    pub scope: Vec<String>,
    /// `nonce` of the authorization request, echoed in the first ID token.
    pub nonce: Option<String>,
    /// Assurance reached.
    pub acr: String,
    /// Methods used.
    pub amr: Vec<String>,
    /// When the customer authenticated.
    pub auth_time: i64,
    /// The browser session (`sid`).
    pub sid: String,
    /// Claims asked for in the ID token through the `claims` parameter.
    pub id_token_claims: Vec<String>,
    /// Claims asked for at userinfo through the `claims` parameter.
    pub userinfo_claims: Vec<String>,
    /// The confirmed transaction (RFC 9396), granted as requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_details: Option<serde_json::Value>,
    /// The confirmation's id (`txn`), with the transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub txn: Option<String>,
    /// RFC 7638 thumbprint of the DPoP key the grant is bound to: the
    /// authorization request's `dpop_jkt` (RFC 9449 §10) on a code, the key of
    /// a public client's first token request on its refresh tokens (§5).
    /// Absent in grants stored before DPoP, which are unbound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
}

impl GrantContext {
    /// Whether this grant is one confirmed transaction: short-lived access,
    /// no refresh (`docs/transactions.md#tokens`).
    pub fn is_transaction(&self) -> bool {
        self.authorization_details.is_some()
    }

    /// Whether `value` was granted.
    pub fn has_scope(&self, value: &str) -> bool {
        self.scope.iter().any(|s| s == value)
    }

    /// The scope as one space-separated string.
    pub fn scope_string(&self) -> String {
        self.scope.join(" ")
    }
}
