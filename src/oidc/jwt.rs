//! Signing Kagi's JWTs (ID tokens, access tokens, logout tokens) with the
//! key ring, and verifying the ones it issued (ID token hints, access tokens).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Validation;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};

use crate::crypto::signing_keys::KeyRing;
use crate::error::{Error, Result};
use crate::model::SigningAlg;

/// Signs `claims` with the active key for `alg`, with `typ` and `kid` in the header.
pub fn sign(keys: &KeyRing, alg: SigningAlg, typ: &str, claims: &impl Serialize) -> Result<String> {
    let key = keys.signer(alg).ok_or_else(|| {
        Error::Internal(anyhow::anyhow!("no active {} signing key", alg.as_str()))
    })?;
    let header = serde_json::json!({ "alg": alg.as_str(), "kid": key.row.kid, "typ": typ });
    let encode = |value: &[u8]| URL_SAFE_NO_PAD.encode(value);
    let header = encode(&serde_json::to_vec(&header).map_err(|e| Error::Internal(e.into()))?);
    let payload = encode(&serde_json::to_vec(claims).map_err(|e| Error::Internal(e.into()))?);
    let input = format!("{header}.{payload}");
    let signature = key
        .material
        .sign(input.as_bytes())
        .map_err(Error::Internal)?;
    Ok(format!("{input}.{}", encode(&signature)))
}

/// Verifies a JWT that Kagi signed.
///
/// It needs a published key by `kid`, the header's `alg` equal to that key's, `typ` as expected (if given), `iss` = issuer.
/// `check_exp` is off for ID token hints, which may have expired (OIDC Core §3.1.2.1).
pub fn verify_own<T: DeserializeOwned>(
    keys: &KeyRing,
    issuer: &str,
    token: &str,
    typ: Option<&str>,
    check_exp: bool,
) -> Result<T> {
    let invalid = || Error::Invalid("not a token issued here".into());
    let header = jsonwebtoken::decode_header(token).map_err(|_| invalid())?;
    let key = header
        .kid
        .as_deref()
        .and_then(|kid| keys.published(kid))
        .ok_or_else(invalid)?;
    if header.alg != key.row.alg.jws()
        || typ.is_some_and(|t| {
            header.typ.as_deref().map(str::to_ascii_lowercase) != Some(t.to_ascii_lowercase())
        })
    {
        return Err(invalid());
    }
    let mut validation = Validation::new(key.row.alg.jws());
    validation.set_issuer(&[issuer]);
    validation.validate_aud = false;
    validation.validate_exp = check_exp;
    validation.leeway = 0;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<T>(token, &key.material.decoding, &validation)
        .map(|d| d.claims)
        .map_err(|_| invalid())
}

/// What a valid `id_token_hint` says: whom and which client it was issued to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdTokenHint {
    /// The customer.
    pub sub: String,
    /// The client it was issued to (its `aud`).
    pub client_id: String,
    /// The browser session it was issued in.
    pub sid: Option<String>,
}

#[derive(Deserialize)]
struct HintClaims {
    sub: String,
    aud: serde_json::Value,
    azp: Option<String>,
    sid: Option<String>,
    iat: i64,
    exp: i64,
    events: Option<serde_json::Value>,
    client_id: Option<serde_json::Value>,
}

/// Verifies an `id_token_hint` (OIDC Core §3.1.2.1, RP-Initiated Logout 1.0 §2).
///
/// It must be an ID token Kagi issued, not just any JWT Kagi signed. Kagi's
/// ID tokens carry `typ: JWT`, access tokens `typ: at+jwt` (RFC 9068 §2.1)
/// and logout tokens `typ: logout+jwt` (OpenID Back-Channel Logout 1.0
/// §2.4), so the header decides. The claims must agree: an ID token's `aud`
/// is a client, never the issuer (an access token's); it has `sub`, `iat` and
/// `exp`; it has no `events` (a logout token's) and no `client_id` (an access
/// token's). Expiry is not checked: a hint may have expired.
pub fn verify_id_token_hint(keys: &KeyRing, issuer: &str, token: &str) -> Result<IdTokenHint> {
    let invalid = || Error::Invalid("not an ID token issued here".into());
    let claims: HintClaims = verify_own(keys, issuer, token, Some("JWT"), false)?;
    if claims.events.is_some() || claims.client_id.is_some() || claims.sub.is_empty() {
        return Err(invalid());
    }
    if claims.iat <= 0 || claims.exp <= claims.iat {
        return Err(invalid());
    }
    let client_id = audience(&claims.aud, claims.azp.as_deref()).ok_or_else(invalid)?;
    if client_id.is_empty() || client_id == issuer {
        return Err(invalid());
    }
    Ok(IdTokenHint {
        sub: claims.sub,
        client_id,
        sid: claims.sid,
    })
}

/// The client an ID token was issued to: its single `aud`, or `azp` when it lists several.
fn audience(aud: &serde_json::Value, azp: Option<&str>) -> Option<String> {
    match aud {
        serde_json::Value::String(one) => Some(one.clone()),
        serde_json::Value::Array(many) => {
            let many: Vec<&str> = many.iter().filter_map(serde_json::Value::as_str).collect();
            match (many.as_slice(), azp) {
                ([one], _) => Some((*one).to_owned()),
                (_, Some(azp)) if many.contains(&azp) => Some(azp.to_owned()),
                _ => None,
            }
        }
        _ => None,
    }
}

/// `at_hash`/`c_hash` (OIDC Core §3.1.3.6): the left half of the hash the
/// JWS algorithm uses (SHA-512 for `EdDSA` with Ed25519), base64url.
pub fn half_hash(alg: SigningAlg, value: &str) -> String {
    let digest: Vec<u8> = match alg {
        SigningAlg::EdDsa => Sha512::digest(value.as_bytes()).to_vec(),
        _ => Sha256::digest(value.as_bytes()).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_of_a_hint_is_its_single_audience_or_its_azp() {
        use serde_json::json;
        assert_eq!(audience(&json!("c"), None).as_deref(), Some("c"));
        assert_eq!(audience(&json!(["c"]), None).as_deref(), Some("c"));
        assert_eq!(
            audience(&json!(["c", "d"]), Some("d")).as_deref(),
            Some("d")
        );
        assert_eq!(audience(&json!(["c", "d"]), Some("e")), None);
        assert_eq!(audience(&json!(["c", "d"]), None), None);
        assert_eq!(audience(&json!(7), None), None);
    }

    #[test]
    fn at_hash_matches_the_oidc_example() {
        // OIDC Core A.3: access token "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y" with RS256.
        assert_eq!(
            half_hash(
                SigningAlg::Rs256,
                "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
            ),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        assert_eq!(half_hash(SigningAlg::EdDsa, "x").len(), 43);
    }
}
