//! Client authentication at the back-channel endpoints.
//!
//! Token, PAR, revocation and introspection (OIDC Core §9, RFC 6749 §2.3,
//! RFC 7523) accept `client_secret_basic`,
//! `client_secret_post`, `private_key_jwt` and `none` for public clients.
//!
//! A client must use the method it registered; any failure is
//! `invalid_client` without saying which part was wrong.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use serde::Deserialize;

use super::error::Failure;
use super::params::Params;
use crate::crypto::{compare, random};
use crate::error::Result;
use crate::model::{AuthMethod, Client, SigningAlg};
use crate::state::AppState;

/// `client_assertion_type` of RFC 7523 §2.2.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Longest lifetime accepted for a client assertion.
const MAX_ASSERTION_LIFETIME_SECS: i64 = 300;
/// How far in the future an assertion's `iat` or `nbf` may be: FAPI 2.0
/// §5.3.2.1 requires accepting up to 10 s (clock skew) and refusing beyond 60 s;
/// Kagi accepts exactly the 10 s.
const SKEW_SECS: i64 = 10;
/// How old an assertion's `iat` may be. FAPI 2.0 bounds only the future side;
/// Kagi also wants assertions made for this request, not kept for a minute or
/// more (together with the single-use `jti`, see `docs/security.md`).
const MAX_IAT_AGE_SECS: i64 = 60;

/// Why authentication failed; every variant answers `invalid_client` except `Malformed`.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthFailure {
    /// The request is malformed (several methods at once, garbled header): `invalid_request`.
    Malformed(&'static str),
    /// Unknown client, wrong secret, bad assertion, wrong method: `invalid_client`.
    Invalid {
        /// Whether HTTP Basic was tried (the 401 then carries `WWW-Authenticate: Basic`).
        basic: bool,
    },
}

#[derive(Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
    aud: serde_json::Value,
    jti: Option<String>,
    exp: i64,
    iat: Option<i64>,
    nbf: Option<i64>,
}

/// Decodes an HTTP Basic header into (`client_id`, secret), both form-urldecoded (RFC 6749 §2.3.1).
fn basic(header: &str) -> Option<(String, String)> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(rest.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(&format!("i={id}&s={secret}")).ok()?;
    Some((pairs.first()?.1.clone(), pairs.get(1)?.1.clone()))
}

/// Authenticates the client of a back-channel request from its `Authorization`
/// header and form parameters. `audiences` are the accepted `aud` values of a client assertion.
pub async fn authenticate(
    state: &AppState,
    authorization: Option<&str>,
    params: &Params,
    audiences: &[String],
) -> std::result::Result<Client, Failure<AuthFailure>> {
    let from_header = match authorization {
        Some(h) => match basic(h) {
            Some(pair) => Some(pair),
            None => {
                return Err(Failure::Refused(AuthFailure::Malformed(
                    "the Authorization header is not valid HTTP Basic",
                )));
            }
        },
        None => None,
    };
    let body_secret = params.get("client_secret");
    let assertion = params.get("client_assertion");
    let methods = [
        from_header.is_some(),
        body_secret.is_some(),
        assertion.is_some(),
    ]
    .iter()
    .filter(|m| **m)
    .count();
    if methods > 1 {
        return Err(Failure::Refused(AuthFailure::Malformed(
            "use exactly one client authentication method",
        )));
    }
    let basic_used = from_header.is_some();
    let invalid = Err(Failure::Refused(AuthFailure::Invalid { basic: basic_used }));
    let (client_id, method) = match (&from_header, body_secret, assertion) {
        (Some((id, _)), _, _) => (id.clone(), AuthMethod::ClientSecretBasic),
        (None, Some(_), _) => (
            params.get("client_id").unwrap_or_default().to_owned(),
            AuthMethod::ClientSecretPost,
        ),
        (None, None, Some(a)) => {
            if params.get("client_assertion_type") != Some(JWT_BEARER) {
                return Err(Failure::Refused(AuthFailure::Malformed(
                    "client_assertion_type must be jwt-bearer",
                )));
            }
            (
                assertion_subject(a).unwrap_or_default(),
                AuthMethod::PrivateKeyJwt,
            )
        }
        (None, None, None) => (
            params.get("client_id").unwrap_or_default().to_owned(),
            AuthMethod::None,
        ),
    };
    if let Some(body_id) = params.get("client_id")
        && body_id != client_id
    {
        return invalid;
    }
    let Some(client) = state.store.find_client(&client_id).await? else {
        return invalid;
    };
    if client.auth_method != method {
        return invalid;
    }
    let ok = match method {
        AuthMethod::ClientSecretBasic => {
            secret_matches(&client, from_header.as_ref().map(|(_, s)| s.as_str()))
        }
        AuthMethod::ClientSecretPost => secret_matches(&client, body_secret),
        AuthMethod::PrivateKeyJwt => {
            check_assertion(state, &client, assertion.unwrap_or_default(), audiences).await?
        }
        AuthMethod::None => client.public,
    };
    if ok { Ok(client) } else { invalid }
}

fn secret_matches(client: &Client, secret: Option<&str>) -> bool {
    match (&client.secret_hash, secret) {
        (Some(hash), Some(secret)) => compare::ct_eq_str(&random::hash_secret(secret), hash),
        _ => false,
    }
}

/// The still unverified payload of an assertion.
fn payload<T: serde::de::DeserializeOwned>(assertion: &str) -> Option<T> {
    let payload = assertion.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The `sub` of an assertion, read before verification only to find the client.
fn assertion_subject(assertion: &str) -> Option<String> {
    let claims: serde_json::Value = payload(assertion)?;
    claims.get("sub")?.as_str().map(str::to_owned)
}

/// Whether an assertion's claims could pass (RFC 7523 §3): `iss` = `sub` =
/// the client, an accepted `aud`, a `jti`, a bounded `exp` in the future,
/// an `iat` neither in the future (beyond the skew) nor older than 60 s, and
/// an `nbf`, if any, not in the future.
fn acceptable(claims: &AssertionClaims, client_id: &str, audiences: &[String], now: i64) -> bool {
    let aud_ok = match &claims.aud {
        serde_json::Value::String(one) => audiences.contains(one),
        serde_json::Value::Array(many) => many
            .iter()
            .filter_map(serde_json::Value::as_str)
            .any(|a| audiences.iter().any(|accepted| accepted == a)),
        _ => false,
    };
    aud_ok
        && claims.iss == client_id
        && claims.sub == client_id
        && claims.jti.as_deref().is_some_and(|j| !j.is_empty())
        && claims.exp > now
        && claims.exp <= now + MAX_ASSERTION_LIFETIME_SECS + SKEW_SECS
        && claims
            .iat
            .is_some_and(|iat| iat <= now + SKEW_SECS && iat >= now - MAX_IAT_AGE_SECS)
        && claims.nbf.is_none_or(|nbf| nbf <= now + SKEW_SECS)
}

/// The client's keys: registered inline, or from its `jwks_uri` through the cache.
async fn client_keys(
    state: &AppState,
    client: &Client,
    kid: Option<&str>,
    now: i64,
) -> Option<Arc<JwkSet>> {
    if let Some(jwks) = &client.jwks {
        return serde_json::from_str(jwks).ok().map(Arc::new);
    }
    let uri = client.jwks_uri.as_deref()?;
    state
        .client_jwks
        .keys(&state.config, now, client.client_id.as_str(), uri, kid)
        .await
}

/// RSA client keys must have at least 2048 bits (`docs/security.md#r35`).
fn strong_enough(jwk: &jsonwebtoken::jwk::Jwk) -> bool {
    match &jwk.algorithm {
        jsonwebtoken::jwk::AlgorithmParameters::RSA(rsa) => {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(rsa.n.trim_end_matches('='))
                .is_ok_and(|n| n.iter().skip_while(|b| **b == 0).count() >= 256)
        }
        jsonwebtoken::jwk::AlgorithmParameters::OctetKey(_) => false,
        _ => true,
    }
}

/// Verifies a `private_key_jwt` assertion (RFC 7523 §3) and records its `jti`.
///
/// The header and claims are read and checked before any key is looked up,
/// so an assertion that could never pass costs no fetch of a `jwks_uri`.
async fn check_assertion(
    state: &AppState,
    client: &Client,
    assertion: &str,
    audiences: &[String],
) -> Result<bool> {
    let now = state.clock.now();
    let Ok(header) = jsonwebtoken::decode_header(assertion) else {
        return Ok(false);
    };
    let Some(claims) = payload::<AssertionClaims>(assertion) else {
        return Ok(false);
    };
    if !SigningAlg::ALL.iter().any(|a| a.jws() == header.alg)
        || !acceptable(&claims, client.client_id.as_str(), audiences, now)
        || !super::fapi::assertion_allowed(
            client,
            header.alg,
            &claims.aud,
            &state.config.issuer_str(),
        )
    {
        return Ok(false);
    }
    let Some(keys) = client_keys(state, client, header.kid.as_deref(), now).await else {
        return Ok(false);
    };
    let mut validation = Validation::new(header.alg);
    validation.set_audience(audiences);
    validation.set_issuer(&[client.client_id.as_str()]);
    validation.validate_exp = false; // checked above against Kagi's clock
    validation.required_spec_claims.clear();
    let verified = keys
        .keys
        .iter()
        .filter(|k| header.kid.is_none() || k.common.key_id == header.kid)
        .filter(|k| strong_enough(k))
        .filter_map(|jwk| DecodingKey::from_jwk(jwk).ok())
        .any(|key| jsonwebtoken::decode::<serde_json::Value>(assertion, &key, &validation).is_ok());
    let (true, Some(jti)) = (verified, claims.jti) else {
        return Ok(false);
    };
    state
        .store
        .remember_assertion_jti(client.client_id.as_str(), &jti, claims.exp)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_client_keys_need_2048_bits_and_symmetric_keys_never_pass() {
        let pem = crate::crypto::keys::generate_pem(SigningAlg::Rs256).unwrap();
        let strong = crate::crypto::keys::from_pem(SigningAlg::Rs256, &pem)
            .unwrap()
            .jwk;
        assert!(strong_enough(&strong));
        let weak: jsonwebtoken::jwk::Jwk = serde_json::from_value(serde_json::json!({
            "kty": "RSA", "n": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0xC5u8; 128]), "e": "AQAB"
        }))
        .unwrap();
        assert!(!strong_enough(&weak), "RSA-1024");
        let oct: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(serde_json::json!({ "kty": "oct", "k": "c2VjcmV0" })).unwrap();
        assert!(!strong_enough(&oct));
    }

    #[test]
    fn basic_credentials_are_form_urldecoded() {
        // RFC 6749 §2.3.1: id and secret are form-urlencoded before base64.
        let header = format!("Basic {}", STANDARD.encode("my%20client:p%40ss%2Bword"));
        assert_eq!(
            basic(&header),
            Some(("my client".into(), "p@ss+word".into()))
        );
        assert_eq!(basic("Basic !!!"), None);
        assert_eq!(basic("Bearer abc"), None);
        assert_eq!(
            basic(&format!("basic {}", STANDARD.encode("a:b"))),
            Some(("a".into(), "b".into()))
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn encode_pair(id: &str, secret: &str) -> String {
            let form =
                |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
            format!(
                "Basic {}",
                STANDARD.encode(format!("{}:{}", form(id), form(secret)))
            )
        }

        proptest! {
            #[test]
            fn basic_credentials_round_trip_and_garbage_is_refused_without_a_panic(
                id in any::<String>(), secret in any::<String>(), garbage in any::<String>()
            ) {
                prop_assert_eq!(basic(&encode_pair(&id, &secret)), Some((id, secret)));
                let _ = basic(&garbage);
                let _ = basic(&format!("Basic {garbage}"));
            }

            #[test]
            fn an_assertion_is_read_without_a_panic_whatever_it_holds(
                header in "[A-Za-z0-9_-]{0,40}", body in any::<Vec<u8>>(), tail in any::<String>()
            ) {
                let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&body);
                let assertion = format!("{header}.{b64}.{tail}");
                let _ = assertion_subject(&assertion);
                let _ = payload::<AssertionClaims>(&assertion);
                let _ = assertion_subject(&tail);
            }

            #[test]
            fn only_a_fresh_assertion_for_this_client_and_audience_is_acceptable(
                iat_offset in -200_i64..200, exp_offset in -100_i64..400, nbf in proptest::option::of(-100_i64..100),
                iss in prop_oneof![Just("c".to_owned()), "[a-z]{1,3}"], aud in prop_oneof![Just("https://op".to_owned()), "[a-z:/]{1,12}"],
            ) {
                let now = 1_000_000;
                let claims = AssertionClaims {
                    iss: iss.clone(),
                    sub: "c".into(),
                    aud: serde_json::Value::String(aud.clone()),
                    jti: Some("j".into()),
                    exp: now + exp_offset,
                    iat: Some(now + iat_offset),
                    nbf: nbf.map(|n| now + n),
                };
                let ok = acceptable(&claims, "c", &["https://op".to_owned()], now);
                let expected = iss == "c"
                    && aud == "https://op"
                    && (1..=MAX_ASSERTION_LIFETIME_SECS + SKEW_SECS).contains(&exp_offset)
                    && (-MAX_IAT_AGE_SECS..=SKEW_SECS).contains(&iat_offset)
                    && nbf.is_none_or(|n| n <= SKEW_SECS);
                prop_assert_eq!(ok, expected);
            }
        }
    }
}
