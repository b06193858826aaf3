//! Identity claims (OIDC Core §5.1, §5.4).
//!
//! Which of the customer's claims a grant releases. Scope claims go to userinfo; the ID token carries them only
//! when asked for through `claims.id_token` (`docs/protocol.md`, OIDC Core §5.5).

use serde_json::{Map, Value};

use super::grant_context::GrantContext;
use crate::model::Customer;

/// Every claim Kagi can release, for discovery's `claims_supported`.
pub const SUPPORTED: &[&str] = &[
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "sid",
    "at_hash",
    "name",
    "email",
    "email_verified",
];

/// The value of one identity claim, if the customer has it.
fn claim(customer: &Customer, name: &str) -> Option<Value> {
    match name {
        "name" => Some(Value::String(customer.name.clone())),
        // The broker registered and verified these addresses; codes are delivered to them.
        "email" => customer
            .emails
            .first()
            .map(|e| Value::String(e.as_str().to_owned())),
        "email_verified" => customer.emails.first().map(|_| Value::Bool(true)),
        _ => None,
    }
}

fn scope_claims(scope: &str) -> &'static [&'static str] {
    match scope {
        "profile" => &["name"],
        "email" => &["email", "email_verified"],
        _ => &[],
    }
}

/// Claims for the userinfo response: `sub`, the granted scopes' claims and those asked for in `claims.userinfo`.
pub fn userinfo(customer: &Customer, grant: &GrantContext) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("sub".into(), Value::String(customer.id.clone()));
    let names = grant
        .scope
        .iter()
        .flat_map(|s| scope_claims(s).iter().copied())
        .chain(grant.userinfo_claims.iter().map(String::as_str));
    for name in names {
        if let Some(v) = claim(customer, name) {
            out.insert(name.to_owned(), v);
        }
    }
    out
}

/// Identity claims asked for in the ID token through `claims.id_token`.
pub fn id_token(customer: &Customer, grant: &GrantContext) -> Map<String, Value> {
    grant
        .id_token_claims
        .iter()
        .filter_map(|name| claim(customer, name).map(|v| (name.clone(), v)))
        .collect()
}
