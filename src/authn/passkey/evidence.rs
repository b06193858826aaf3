//! The evidence of a transaction confirmation, and its offline check
//! (`docs/transactions.md#evidence`).
//!
//! What a WebAuthn authenticator signs is `authenticatorData ||
//! SHA-256(clientDataJSON)` (WebAuthn L3 §6.3.3), and the client data
//! carries the challenge. Kagi's challenge for a transaction is 16 random
//! bytes followed by the SHA-256 of the transaction's canonical JSON, so the
//! signature, the public key and the details are enough for anyone to check
//! that this passkey signed this transaction: no server state, no trust in
//! Kagi's word. [`verify`] is that check; `kagi audit --evidence` runs it.

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P384_SHA384_ASN1, ED25519, RSA_PKCS1_2048_8192_SHA256,
    RsaPublicKeyComponents, UnparsedPublicKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use webauthn_rs::prelude::{COSEKey, COSEKeyType, ECDSACurve, EDDSACurve};

/// Length of the random part of a transaction challenge.
pub const NONCE_BYTES: usize = 16;

/// Flags of the authenticator data (WebAuthn L3 §6.1).
const FLAG_UP: u8 = 0x01;
const FLAG_UV: u8 = 0x04;

/// The challenge for a transaction: `nonce || SHA-256(canonical details)`.
pub fn challenge(nonce: &[u8; NONCE_BYTES], details_digest: &[u8; 32]) -> Vec<u8> {
    let mut c = Vec::with_capacity(NONCE_BYTES + 32);
    c.extend_from_slice(nonce);
    c.extend_from_slice(details_digest);
    c
}

/// A passkey's public key as a JWK (RFC 7517), with the `alg` it signs with;
/// `None` for a key type Kagi cannot check offline.
pub fn public_key_jwk(key: &COSEKey) -> Option<Value> {
    let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    match &key.key {
        COSEKeyType::EC_EC2(ec) => {
            let (crv, alg) = match ec.curve {
                ECDSACurve::SECP256R1 => ("P-256", "ES256"),
                ECDSACurve::SECP384R1 => ("P-384", "ES384"),
                _ => return None,
            };
            Some(json!({ "kty": "EC", "crv": crv, "alg": alg, "x": b64(&ec.x), "y": b64(&ec.y) }))
        }
        COSEKeyType::EC_OKP(okp) if okp.curve == EDDSACurve::ED25519 => {
            Some(json!({ "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "x": b64(&okp.x) }))
        }
        COSEKeyType::RSA(rsa) => {
            Some(json!({ "kty": "RSA", "alg": "RS256", "n": b64(&rsa.n), "e": b64(&rsa.e) }))
        }
        _ => None,
    }
}

/// What is checked, as stored (base64url where binary).
#[derive(Clone, Debug)]
pub struct Evidence<'a> {
    /// The transaction's canonical JSON.
    pub canonical_details: &'a str,
    /// The challenge Kagi sent.
    pub challenge: &'a str,
    /// The public key (JWK JSON).
    pub public_key: &'a str,
    /// Authenticator data, as signed.
    pub authenticator_data: &'a str,
    /// Client data JSON, as signed.
    pub client_data_json: &'a str,
    /// The signature.
    pub signature: &'a str,
}

/// Each check and the verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// The signature verifies with the public key.
    pub signature_valid: bool,
    /// `clientDataJSON.type` is `webauthn.get`.
    pub assertion_type: bool,
    /// `clientDataJSON.challenge` is the stored challenge.
    pub challenge_matches: bool,
    /// The challenge ends with SHA-256 of the details.
    pub challenge_binds_details: bool,
    /// The authenticator data's rpIdHash is SHA-256 of the relying party id.
    pub rp_id_matches: bool,
    /// The UP and UV flags are set.
    pub user_verified: bool,
    /// The origin in the client data.
    pub origin: Option<String>,
    /// All of the above hold.
    pub valid: bool,
}

/// Checks `evidence` for relying party `rp_id`, offline.
pub fn verify(evidence: &Evidence<'_>, rp_id: &str) -> Verdict {
    let decode = |s: &str| URL_SAFE_NO_PAD.decode(s).unwrap_or_default();
    let auth_data = decode(evidence.authenticator_data);
    let client_data = decode(evidence.client_data_json);
    let signature = decode(evidence.signature);
    let parsed: Value = serde_json::from_slice(&client_data).unwrap_or(Value::Null);
    let sent = parsed.get("challenge").and_then(Value::as_str);
    let sent_bytes = sent.map(decode).unwrap_or_default();
    let digest: [u8; 32] = Sha256::digest(evidence.canonical_details.as_bytes()).into();

    let mut signed = auth_data.clone();
    signed.extend_from_slice(&Sha256::digest(&client_data));
    let signature_valid = serde_json::from_str::<Value>(evidence.public_key)
        .ok()
        .is_some_and(|jwk| signature_verifies(&jwk, &signed, &signature));
    let assertion_type = parsed.get("type").and_then(Value::as_str) == Some("webauthn.get");
    let challenge_matches = sent == Some(evidence.challenge);
    let challenge_binds_details =
        sent_bytes.len() == NONCE_BYTES + 32 && sent_bytes[NONCE_BYTES..] == digest;
    let rp_id_matches =
        auth_data.len() >= 37 && auth_data[..32] == Sha256::digest(rp_id.as_bytes())[..];
    let user_verified = auth_data
        .get(32)
        .is_some_and(|f| f & FLAG_UP != 0 && f & FLAG_UV != 0);
    let valid = signature_valid
        && assertion_type
        && challenge_matches
        && challenge_binds_details
        && rp_id_matches
        && user_verified;
    Verdict {
        signature_valid,
        assertion_type,
        challenge_matches,
        challenge_binds_details,
        rp_id_matches,
        user_verified,
        origin: parsed
            .get("origin")
            .and_then(Value::as_str)
            .map(str::to_owned),
        valid,
    }
}

fn signature_verifies(jwk: &Value, message: &[u8], signature: &[u8]) -> bool {
    let field = |name: &str| {
        jwk.get(name)
            .and_then(Value::as_str)
            .and_then(|s| URL_SAFE_NO_PAD.decode(s).ok())
    };
    match jwk.get("alg").and_then(Value::as_str) {
        Some(alg @ ("ES256" | "ES384")) => {
            let (Some(x), Some(y)) = (field("x"), field("y")) else {
                return false;
            };
            let mut point = vec![0x04];
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            let algorithm = if alg == "ES256" {
                &ECDSA_P256_SHA256_ASN1
            } else {
                &ECDSA_P384_SHA384_ASN1
            };
            UnparsedPublicKey::new(algorithm, point)
                .verify(message, signature)
                .is_ok()
        }
        Some("EdDSA") => field("x").is_some_and(|x| {
            UnparsedPublicKey::new(&ED25519, x)
                .verify(message, signature)
                .is_ok()
        }),
        Some("RS256") => match (field("n"), field("e")) {
            (Some(n), Some(e)) => RsaPublicKeyComponents { n, e }
                .verify(&RSA_PKCS1_2048_8192_SHA256, message, signature)
                .is_ok(),
            _ => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _};

    /// Signs like an authenticator would, with a fresh P-256 key.
    fn signed(details: &str, rp_id: &str, flags: u8) -> (String, String, String, String, String) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
        let point = pair.public_key().as_ref();
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "alg": "ES256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        });
        let digest: [u8; 32] = Sha256::digest(details.as_bytes()).into();
        let challenge = URL_SAFE_NO_PAD.encode(challenge(&[7; NONCE_BYTES], &digest));
        let client_data = json!({
            "type": "webauthn.get", "challenge": challenge, "origin": "https://id.example"
        })
        .to_string();
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(flags);
        auth_data.extend_from_slice(&[0, 0, 0, 1]);
        let mut message = auth_data.clone();
        message.extend_from_slice(&Sha256::digest(client_data.as_bytes()));
        let signature = pair.sign(&rng, &message).unwrap();
        (
            challenge,
            jwk.to_string(),
            URL_SAFE_NO_PAD.encode(&auth_data),
            URL_SAFE_NO_PAD.encode(client_data.as_bytes()),
            URL_SAFE_NO_PAD.encode(signature.as_ref()),
        )
    }

    #[test]
    fn a_genuine_confirmation_verifies_and_any_change_breaks_it() {
        let details = r#"[{"type":"withdrawal"}]"#;
        let (challenge, key, auth, client, sig) = signed(details, "id.example", FLAG_UP | FLAG_UV);
        let evidence = Evidence {
            canonical_details: details,
            challenge: &challenge,
            public_key: &key,
            authenticator_data: &auth,
            client_data_json: &client,
            signature: &sig,
        };
        let verdict = verify(&evidence, "id.example");
        assert!(verdict.valid, "{verdict:?}");
        assert_eq!(verdict.origin.as_deref(), Some("https://id.example"));

        let other_details = Evidence {
            canonical_details: r#"[{"type":"order"}]"#,
            ..evidence.clone()
        };
        let v = verify(&other_details, "id.example");
        assert!(!v.valid && !v.challenge_binds_details && v.signature_valid);
        assert!(!verify(&evidence, "other.example").valid);
        let (_, other_key, ..) = signed(details, "id.example", FLAG_UP | FLAG_UV);
        let v = verify(
            &Evidence {
                public_key: &other_key,
                ..evidence.clone()
            },
            "id.example",
        );
        assert!(!v.valid && !v.signature_valid);
        let (c2, k2, a2, cd2, s2) = signed(details, "id.example", FLAG_UP);
        let no_uv = Evidence {
            canonical_details: details,
            challenge: &c2,
            public_key: &k2,
            authenticator_data: &a2,
            client_data_json: &cd2,
            signature: &s2,
        };
        let v = verify(&no_uv, "id.example");
        assert!(v.signature_valid && !v.user_verified && !v.valid);
    }
}
