//! DPoP proofs (RFC 9449): checking one against the request it came with.
//!
//! A proof is a JWT the client signs with a key it keeps; its header carries
//! the public key. [`check`] follows RFC 9449 §4.3 step by step: one compact
//! JWS, `typ: dpop+jwt`, an asymmetric `alg` Kagi supports ([`ALGS`]; `none`
//! and the HMAC algorithms are refused, since anyone can make those), a `jwk`
//! holding a public key only, a signature by that key, `htm` and `htu` equal
//! to this request (the URL compared without query and fragment, after the
//! syntax- and scheme-based normalisation of RFC 3986 §6.2.2–6.2.3), an `iat`
//! within `dpop_proof_window_secs` of Kagi's clock either way, a `jti`, the
//! `ath` of the access token at a resource (§7.1), and a server nonce when
//! nonces are on (§8, §9; `crypto::dpop_nonce`).
//!
//! Nothing here writes: the `jti` is claimed afterwards ([`claim`], or inside
//! the grant's transaction at the token endpoint), so a proof that fails any
//! check never takes a database row.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::error::{ErrorCode, Failure, ProtocolError};
use crate::crypto::dpop_nonce::Nonces;
use crate::state::AppState;
use crate::store::dpop_jtis::DpopJti;

/// The proof algorithms Kagi accepts, as `dpop_signing_alg_values_supported`
/// says (asymmetric only, RFC 9449 §4.3 step 5; FAPI 2.0's set).
pub const ALGS: [&str; 3] = ["ES256", "PS256", "EdDSA"];

/// The `typ` header of a proof (RFC 9449 §4.2).
pub const TYP: &str = "dpop+jwt";

/// A proof longer than this is refused unread: a real one is well under 2 KiB
/// even with an RSA-4096 key.
const MAX_PROOF_BYTES: usize = 8192;

/// Longest `jti` accepted, so a claim row stays small.
const MAX_JTI_CHARS: usize = 256;

/// Members that only a private JWK has (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A proof that passed every check of RFC 9449 §4.3.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proof {
    /// RFC 7638 thumbprint (SHA-256, base64url) of the proof's key.
    pub jkt: String,
    /// The proof's `jti`.
    pub jti: String,
    /// The proof's `iat`.
    pub iat: i64,
}

impl Proof {
    /// The row that claims this proof until its `iat` leaves the `window`.
    pub fn claim(&self, window: i64) -> DpopJti {
        DpopJti {
            jkt: self.jkt.clone(),
            jti: self.jti.clone(),
            expires_at: self.iat.saturating_add(window).saturating_add(1),
        }
    }
}

/// Why a proof was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `invalid_dpop_proof`, with what was wrong.
    Invalid(&'static str),
    /// `use_dpop_nonce`: nonces are on and the proof has no current one.
    UseNonce,
}

impl Refusal {
    /// The protocol error the client is told.
    pub fn error(self) -> ProtocolError {
        match self {
            Refusal::Invalid(why) => ProtocolError::new(ErrorCode::InvalidDpopProof, why),
            Refusal::UseNonce => ProtocolError::new(
                ErrorCode::UseDpopNonce,
                "the DPoP proof must carry the nonce in the DPoP-Nonce header",
            ),
        }
    }
}

/// What the request a proof came with looks like.
#[derive(Clone, Copy, Debug)]
pub struct Expected<'a> {
    /// The request's method (`htm`).
    pub method: &'a str,
    /// The endpoint's URL (`htu`), derived from the issuer.
    pub url: &'a str,
    /// The access token presented with it, at a resource (`ath`).
    pub access_token: Option<&'a str>,
    /// Now.
    pub now: i64,
    /// How far `iat` may be from `now`, either way.
    pub window: i64,
    /// The server nonces, when they are required.
    pub nonces: Option<&'a Nonces>,
}

fn json_part(part: &str) -> Option<Value> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// RFC 7638 thumbprint of a public JWK: SHA-256 over its required members
/// in lexicographic order without whitespace, base64url without padding.
/// `None` for a key type DPoP does not use here.
pub fn thumbprint(jwk: &Value) -> Option<String> {
    let member = |name: &str| jwk.get(name).and_then(Value::as_str);
    // `json!` objects serialise their keys sorted; each is listed sorted anyway.
    let required = match member("kty")? {
        "EC" => json!({ "crv": member("crv")?, "kty": "EC", "x": member("x")?, "y": member("y")? }),
        "RSA" => json!({ "e": member("e")?, "kty": "RSA", "n": member("n")? }),
        "OKP" => json!({ "crv": member("crv")?, "kty": "OKP", "x": member("x")? }),
        _ => return None,
    };
    let text = serde_json::to_string(&required).ok()?;
    Some(URL_SAFE_NO_PAD.encode(Sha256::digest(text.as_bytes())))
}

/// `ath`: base64url of the SHA-256 of the access token (RFC 9449 §4.2).
pub fn ath(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))
}

/// Whether `claimed` names the same resource as `actual`, ignoring query and
/// fragment (RFC 9449 §4.3 step 9). The WHATWG parser lowercases scheme and
/// host and drops a default port, as RFC 3986 §6.2.2–6.2.3 normalise.
pub fn same_target(claimed: &str, actual: &str) -> bool {
    let (Ok(mut claimed), Ok(mut actual)) = (url::Url::parse(claimed), url::Url::parse(actual))
    else {
        return false;
    };
    for url in [&mut claimed, &mut actual] {
        url.set_query(None);
        url.set_fragment(None);
    }
    claimed == actual
}

/// The key type and curve an algorithm needs, and the jsonwebtoken algorithm.
fn algorithm(alg: &str, jwk: &Value) -> Result<Algorithm, Refusal> {
    let kty = jwk.get("kty").and_then(Value::as_str);
    let crv = jwk.get("crv").and_then(Value::as_str);
    let (algorithm, fits) = match alg {
        "ES256" => (Algorithm::ES256, kty == Some("EC") && crv == Some("P-256")),
        "PS256" => (Algorithm::PS256, kty == Some("RSA") && rsa_2048(jwk)),
        "EdDSA" => (
            Algorithm::EdDSA,
            kty == Some("OKP") && crv == Some("Ed25519"),
        ),
        _ => {
            return Err(Refusal::Invalid(
                "the DPoP proof alg must be one of ES256, PS256, EdDSA",
            ));
        }
    };
    if fits {
        Ok(algorithm)
    } else {
        Err(Refusal::Invalid(
            "the DPoP proof jwk does not fit its alg (RSA keys need 2048 bits)",
        ))
    }
}

/// An RSA modulus of at least 2048 bits, as for client keys (`docs/security.md#r35`).
fn rsa_2048(jwk: &Value) -> bool {
    jwk.get("n")
        .and_then(Value::as_str)
        .and_then(|n| URL_SAFE_NO_PAD.decode(n).ok())
        .is_some_and(|n| n.iter().skip_while(|b| **b == 0).count() >= 256)
}

/// Checks a proof against the request it came with (RFC 9449 §4.3).
pub fn check(proof: &str, want: &Expected<'_>) -> Result<Proof, Refusal> {
    let invalid = Refusal::Invalid;
    if proof.len() > MAX_PROOF_BYTES {
        return Err(invalid("the DPoP proof is too large"));
    }
    let parts: Vec<&str> = proof.split('.').collect();
    let [header, _, _] = parts.as_slice() else {
        return Err(invalid("the DPoP proof is not a compact JWS"));
    };
    let header = json_part(header).ok_or(invalid("the DPoP proof header is not JSON"))?;
    if header.get("typ").and_then(Value::as_str) != Some(TYP) {
        return Err(invalid("the DPoP proof typ must be dpop+jwt"));
    }
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !ALGS.contains(&alg) {
        return Err(invalid(
            "the DPoP proof alg must be one of ES256, PS256, EdDSA",
        ));
    }
    let Some(jwk) = header.get("jwk").filter(|j| j.is_object()) else {
        return Err(invalid("the DPoP proof header must carry a jwk"));
    };
    if PRIVATE_MEMBERS.iter().any(|m| jwk.get(m).is_some()) {
        return Err(invalid("the DPoP proof jwk must be a public key"));
    }
    let algorithm = algorithm(alg, jwk)?;
    let jkt = thumbprint(jwk).ok_or(invalid("the DPoP proof jwk is not a usable public key"))?;
    let key = serde_json::from_value::<jsonwebtoken::jwk::Jwk>(jwk.clone())
        .ok()
        .and_then(|k| DecodingKey::from_jwk(&k).ok())
        .ok_or(invalid("the DPoP proof jwk is not a usable public key"))?;
    let mut validation = Validation::new(algorithm);
    // Time is checked below against Kagi's clock; a proof has no `aud` or `iss`.
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Value>(proof, &key, &validation)
        .map_err(|_| invalid("the DPoP proof signature does not verify with its jwk"))?
        .claims;
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let jti = text("jti")
        .filter(|j| !j.is_empty() && j.chars().count() <= MAX_JTI_CHARS)
        .ok_or(invalid("the DPoP proof needs a jti of 1 to 256 characters"))?;
    if text("htm") != Some(want.method) {
        return Err(invalid(
            "the DPoP proof htm does not match the request method",
        ));
    }
    if !text("htu").is_some_and(|htu| same_target(htu, want.url)) {
        return Err(invalid("the DPoP proof htu does not match the request URL"));
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or(invalid("the DPoP proof needs a numeric iat"))?;
    if iat.abs_diff(want.now) > want.window.unsigned_abs() {
        return Err(invalid(
            "the DPoP proof iat is too far from the server time",
        ));
    }
    if let Some(token) = want.access_token
        && text("ath") != Some(ath(token).as_str())
    {
        return Err(invalid(
            "the DPoP proof ath does not match the access token",
        ));
    }
    if let Some(nonces) = want.nonces
        && !text("nonce").is_some_and(|n| nonces.accepts(n, want.now))
    {
        return Err(Refusal::UseNonce);
    }
    Ok(Proof {
        jkt,
        jti: jti.to_owned(),
        iat,
    })
}

/// The server nonces in force: `Some` when `dpop_nonce_required` is on.
pub fn nonces(state: &AppState) -> Option<&Nonces> {
    state.dpop_nonces.as_ref()
}

/// Checks a proof sent to one of Kagi's endpoints (`url`, by `method`),
/// with the access token it accompanies at a resource.
pub fn verify(
    state: &AppState,
    proof: &str,
    method: &str,
    url: &str,
    access_token: Option<&str>,
) -> Result<Proof, Refusal> {
    let nonces = nonces(state);
    check(
        proof,
        &Expected {
            method,
            url,
            access_token,
            now: state.clock.now(),
            window: state.config.dpop_proof_window_secs,
            nonces,
        },
    )
}

/// Claims a proof's `jti` in a write of its own, before the work it guards;
/// a proof seen before is refused with `invalid_dpop_proof`.
pub async fn claim(state: &AppState, proof: &Proof) -> Result<(), Failure> {
    let row = proof.claim(state.config.dpop_proof_window_secs);
    if state.store.claim_dpop_jti(&row).await? {
        Ok(())
    } else {
        Err(Failure::Refused(REPLAYED))
    }
}

/// The refusal of a proof whose `jti` was used before.
pub const REPLAYED: ProtocolError = ProtocolError::new(
    ErrorCode::InvalidDpopProof,
    "the DPoP proof was used before; make a new one for each request",
);

#[cfg(test)]
mod tests;
