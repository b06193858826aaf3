//! RFC 9449 §4.3, one refusal at a time: each test changes one thing in a
//! good proof and expects the reason it names.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::EncodingKey;
use serde_json::{Value, json};

use super::*;
use crate::crypto::keys::{from_pem, generate_pem};
use crate::model::SigningAlg;

const URL: &str = "https://id.example/token";
const NOW: i64 = 1_800_000_000;

struct Key {
    alg: SigningAlg,
    encoding: EncodingKey,
    jwk: Value,
}

fn key(alg: SigningAlg) -> Key {
    let material = from_pem(alg, &generate_pem(alg).unwrap()).unwrap();
    let mut jwk = serde_json::to_value(&material.jwk).unwrap();
    // A client's proof key carries no kid or use; only the key members matter.
    if let Value::Object(map) = &mut jwk {
        map.remove("kid");
        map.remove("use");
        map.remove("alg");
    }
    Key {
        alg,
        encoding: material.encoding,
        jwk,
    }
}

/// A compact JWS of `header` and `claims`, signed with `key` as `alg`.
fn jws(header: &Value, claims: &Value, key: &Key) -> String {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature =
        jsonwebtoken::crypto::sign(message.as_bytes(), &key.encoding, key.alg.jws()).unwrap();
    format!("{message}.{signature}")
}

fn header(key: &Key) -> Value {
    json!({ "typ": "dpop+jwt", "alg": key.alg.as_str(), "jwk": key.jwk })
}

fn claims() -> Value {
    json!({ "jti": "proof-1", "htm": "POST", "htu": URL, "iat": NOW })
}

fn expected() -> Expected<'static> {
    Expected {
        method: "POST",
        url: URL,
        access_token: None,
        now: NOW,
        window: 60,
        nonces: None,
    }
}

fn refusal(proof: &str, want: &Expected<'_>) -> &'static str {
    match check(proof, want) {
        Err(Refusal::Invalid(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_good_proof_passes_with_each_supported_algorithm() {
    for alg in [SigningAlg::Es256, SigningAlg::Ps256, SigningAlg::EdDsa] {
        let k = key(alg);
        let proof = check(&jws(&header(&k), &claims(), &k), &expected()).unwrap();
        assert_eq!(proof.jti, "proof-1");
        assert_eq!(proof.iat, NOW);
        assert_eq!(Some(proof.jkt.clone()), thumbprint(&k.jwk), "{alg:?}");
        assert_eq!(proof.jkt.len(), 43);
        assert_eq!(proof.claim(60).expires_at, NOW + 61);
    }
}

#[test]
fn the_thumbprint_is_rfc_7638_as_jsonwebtoken_computes_it() {
    for alg in [SigningAlg::Es256, SigningAlg::Ps256] {
        let k = key(alg);
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(k.jwk.clone()).unwrap();
        let theirs = jwk
            .thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
            .unwrap();
        assert_eq!(thumbprint(&k.jwk).unwrap(), theirs, "{alg:?}");
    }
    // Extra members and their order change nothing.
    let k = key(SigningAlg::Es256);
    let mut noisy = k.jwk.clone();
    noisy["kid"] = json!("anything");
    assert_eq!(thumbprint(&noisy), thumbprint(&k.jwk));
    assert_eq!(thumbprint(&json!({ "kty": "oct", "k": "c2VjcmV0" })), None);
}

#[test]
fn the_header_must_say_dpop_jwt_an_asymmetric_alg_and_a_public_jwk() {
    let k = key(SigningAlg::Es256);
    let want = expected();
    let mut h = header(&k);
    h["typ"] = json!("JWT");
    assert!(refusal(&jws(&h, &claims(), &k), &want).contains("typ"));
    let mut h = header(&k);
    h.as_object_mut().unwrap().remove("typ");
    assert!(refusal(&jws(&h, &claims(), &k), &want).contains("typ"));
    let mut h = header(&k);
    h.as_object_mut().unwrap().remove("jwk");
    assert!(refusal(&jws(&h, &claims(), &k), &want).contains("jwk"));
    let mut h = header(&k);
    h["jwk"]["d"] = json!("c2VjcmV0");
    assert!(refusal(&jws(&h, &claims(), &k), &want).contains("public"));
    // alg none: no signature at all.
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD
            .encode(json!({ "typ": "dpop+jwt", "alg": "none", "jwk": k.jwk }).to_string()),
        URL_SAFE_NO_PAD.encode(claims().to_string())
    );
    assert!(refusal(&unsigned, &want).contains("alg"));
    // HS256 with a symmetric key anyone could hold.
    let hmac = Key {
        alg: SigningAlg::Es256,
        encoding: EncodingKey::from_secret(b"secret"),
        jwk: json!({ "kty": "oct", "k": "c2VjcmV0" }),
    };
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD
            .encode(json!({ "typ": "dpop+jwt", "alg": "HS256", "jwk": hmac.jwk }).to_string()),
        URL_SAFE_NO_PAD.encode(claims().to_string())
    );
    let sig = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &hmac.encoding,
        jsonwebtoken::Algorithm::HS256,
    )
    .unwrap();
    assert!(refusal(&format!("{message}.{sig}"), &want).contains("alg"));
    // RS256, even with a good RSA key.
    let rsa = key(SigningAlg::Rs256);
    let h = json!({ "typ": "dpop+jwt", "alg": "RS256", "jwk": rsa.jwk });
    assert!(refusal(&jws(&h, &claims(), &rsa), &want).contains("alg"));
    // An EC key under PS256.
    let mut h = header(&k);
    h["alg"] = json!("PS256");
    assert!(refusal(&jws(&h, &claims(), &k), &want).contains("fit"));
}

#[test]
fn the_signature_must_be_by_the_key_in_the_header() {
    let k = key(SigningAlg::Es256);
    let other = key(SigningAlg::Es256);
    let proof = jws(&header(&k), &claims(), &other);
    assert!(refusal(&proof, &expected()).contains("signature"));
    let good = jws(&header(&k), &claims(), &k);
    let mut tampered = good.clone();
    tampered.insert(good.find('.').unwrap() + 3, 'A');
    assert!(check(&tampered, &expected()).is_err());
    for malformed in ["", "a.b", "a.b.c.d", "not a jwt"] {
        assert!(check(malformed, &expected()).is_err(), "{malformed:?}");
    }
    assert!(refusal(&"a".repeat(9000), &expected()).contains("large"));
}

#[test]
fn the_claims_must_name_this_request_now() {
    let k = key(SigningAlg::Es256);
    let want = expected();
    let with = |name: &str, value: Value| {
        let mut c = claims();
        c[name] = value;
        jws(&header(&k), &c, &k)
    };
    let without = |name: &str| {
        let mut c = claims();
        c.as_object_mut().unwrap().remove(name);
        jws(&header(&k), &c, &k)
    };
    assert!(refusal(&with("htm", json!("GET")), &want).contains("htm"));
    assert!(refusal(&with("htu", json!("https://id.example/userinfo")), &want).contains("htu"));
    assert!(refusal(&with("htu", json!("https://evil.example/token")), &want).contains("htu"));
    assert!(refusal(&with("iat", json!(NOW - 61)), &want).contains("iat"));
    assert!(refusal(&with("iat", json!(NOW + 61)), &want).contains("iat"));
    assert!(refusal(&with("iat", json!("now")), &want).contains("iat"));
    assert!(refusal(&with("jti", json!("")), &want).contains("jti"));
    assert!(refusal(&with("jti", json!("j".repeat(257))), &want).contains("jti"));
    for name in ["jti", "htm", "htu", "iat"] {
        assert!(check(&without(name), &want).is_err(), "without {name}");
    }
    // Within the window either way, and extra claims (nbf, exp) change nothing.
    assert!(check(&with("iat", json!(NOW - 60)), &want).is_ok());
    assert!(check(&with("iat", json!(NOW + 10)), &want).is_ok());
    assert!(check(&with("exp", json!(NOW + 300)), &want).is_ok());
}

#[test]
fn at_a_resource_the_proof_must_carry_the_access_tokens_hash() {
    let k = key(SigningAlg::Es256);
    let want = Expected {
        access_token: Some("the-token"),
        ..expected()
    };
    assert!(refusal(&jws(&header(&k), &claims(), &k), &want).contains("ath"));
    let mut c = claims();
    c["ath"] = json!(ath("another-token"));
    assert!(refusal(&jws(&header(&k), &c, &k), &want).contains("ath"));
    c["ath"] = json!(ath("the-token"));
    assert!(check(&jws(&header(&k), &c, &k), &want).is_ok());
}

#[test]
fn htu_is_compared_without_query_or_fragment_after_normalisation() {
    assert!(same_target("https://id.example/token", URL));
    assert!(same_target("https://id.example/token?x=1#f", URL));
    assert!(same_target("HTTPS://ID.EXAMPLE:443/token", URL));
    assert!(!same_target("https://id.example/Token", URL));
    assert!(!same_target("https://id.example:8443/token", URL));
    assert!(!same_target("http://id.example/token", URL));
    assert!(!same_target("/token", URL));
}

#[test]
fn with_nonces_on_a_proof_needs_a_current_one() {
    let dir = tempfile::tempdir().unwrap();
    let data_key = crate::crypto::seal::DataKey::load_or_create(dir.path()).unwrap();
    let nonces = Nonces::new(&data_key, 300);
    let want = Expected {
        nonces: Some(&nonces),
        ..expected()
    };
    let k = key(SigningAlg::Es256);
    assert_eq!(
        check(&jws(&header(&k), &claims(), &k), &want),
        Err(Refusal::UseNonce)
    );
    let mut c = claims();
    c["nonce"] = json!("made-up");
    assert_eq!(
        check(&jws(&header(&k), &c, &k), &want),
        Err(Refusal::UseNonce)
    );
    c["nonce"] = json!(nonces.issue(NOW));
    assert!(check(&jws(&header(&k), &c, &k), &want).is_ok());
    c["nonce"] = json!(nonces.issue(NOW - 600));
    assert_eq!(
        check(&jws(&header(&k), &c, &k), &want),
        Err(Refusal::UseNonce)
    );
}
