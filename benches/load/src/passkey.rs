//! A software WebAuthn authenticator: one P-256 (ES256) resident credential
//! with attestation `none`, as a synced passkey (BE=BS=1, counter 0) so that
//! several workers may sign with it at once. Modelled on Kagi's test helper
//! `tests/it/helpers/authenticator.rs`, with a hand-written CBOR encoder.

use anyhow::{Result, anyhow};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom as _, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _};
use serde_json::{Value, json};

const FLAGS: u8 = 0x01 | 0x04 | 0x08 | 0x10; // UP, UV, BE, BS
const FLAG_AT: u8 = 0x40;

pub struct Passkey {
    origin: String,
    id: Vec<u8>,
    user_handle: Vec<u8>,
    key: EcdsaKeyPair,
    rng: SystemRandom,
}

fn text(v: &Value, what: &str) -> Result<String> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("no {what} in the options"))
}

impl Passkey {
    /// `navigator.credentials.create({publicKey})`: returns the credential and the client's JSON.
    pub fn create(origin: &str, public_key: &Value) -> Result<(Self, Value)> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            .map_err(|_| anyhow!("key generation"))?;
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .map_err(|_| anyhow!("key parse"))?;
        let mut id = vec![0u8; 32];
        rng.fill(&mut id).map_err(|_| anyhow!("rng"))?;
        let user_handle = B64.decode(text(&public_key["user"]["id"], "user.id")?)?;
        let me = Self {
            origin: origin.to_owned(),
            id,
            user_handle,
            key,
            rng,
        };
        let rp_id = text(&public_key["rp"]["id"], "rp.id")?;
        let challenge = text(&public_key["challenge"], "challenge")?;
        let point = me.key.public_key().as_ref();
        let mut cose = Vec::new();
        cbor_head(&mut cose, 5, 5);
        for (k, v) in [(1, 2), (3, -7), (-1, 1)] {
            cbor_int(&mut cose, k);
            cbor_int(&mut cose, v);
        }
        cbor_int(&mut cose, -2);
        cbor_bytes(&mut cose, &point[1..33]);
        cbor_int(&mut cose, -3);
        cbor_bytes(&mut cose, &point[33..65]);
        let mut auth_data = digest(&SHA256, rp_id.as_bytes()).as_ref().to_vec();
        auth_data.push(FLAGS | FLAG_AT);
        auth_data.extend_from_slice(&0u32.to_be_bytes());
        auth_data.extend_from_slice(&[0u8; 16]); // AAGUID: none
        auth_data.extend_from_slice(&(me.id.len() as u16).to_be_bytes());
        auth_data.extend_from_slice(&me.id);
        auth_data.extend_from_slice(&cose);
        let mut object = Vec::new();
        cbor_head(&mut object, 5, 3);
        cbor_text(&mut object, "fmt");
        cbor_text(&mut object, "none");
        cbor_text(&mut object, "attStmt");
        cbor_head(&mut object, 5, 0);
        cbor_text(&mut object, "authData");
        cbor_bytes(&mut object, &auth_data);
        let client_data = me.client_data("webauthn.create", &challenge);
        let credential = json!({
            "id": B64.encode(&me.id),
            "rawId": B64.encode(&me.id),
            "type": "public-key",
            "response": {
                "attestationObject": B64.encode(&object),
                "clientDataJSON": B64.encode(&client_data),
                "transports": ["internal"],
            },
            "extensions": { "credProps": { "rk": true } },
        });
        Ok((me, credential))
    }

    fn client_data(&self, kind: &str, challenge: &str) -> Vec<u8> {
        json!({ "type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": false })
            .to_string()
            .into_bytes()
    }

    /// `navigator.credentials.get({publicKey})`.
    pub fn get(&self, public_key: &Value) -> Result<Value> {
        let rp_id = text(&public_key["rpId"], "rpId")?;
        let challenge = text(&public_key["challenge"], "challenge")?;
        let client_data = self.client_data("webauthn.get", &challenge);
        let mut auth_data = digest(&SHA256, rp_id.as_bytes()).as_ref().to_vec();
        auth_data.push(FLAGS);
        auth_data.extend_from_slice(&0u32.to_be_bytes());
        let mut signed = auth_data.clone();
        signed.extend_from_slice(digest(&SHA256, &client_data).as_ref());
        let signature = self
            .key
            .sign(&self.rng, &signed)
            .map_err(|_| anyhow!("signing"))?;
        Ok(json!({
            "id": B64.encode(&self.id),
            "rawId": B64.encode(&self.id),
            "type": "public-key",
            "response": {
                "authenticatorData": B64.encode(&auth_data),
                "clientDataJSON": B64.encode(&client_data),
                "signature": B64.encode(signature.as_ref()),
                "userHandle": B64.encode(&self.user_handle),
            },
            "extensions": {},
        }))
    }
}

fn cbor_head(out: &mut Vec<u8>, major: u8, len: u64) {
    let m = major << 5;
    match len {
        0..=23 => out.push(m | len as u8),
        24..=0xff => out.extend_from_slice(&[m | 24, len as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(m | 26);
            out.extend_from_slice(&(len as u32).to_be_bytes());
        }
    }
}

fn cbor_int(out: &mut Vec<u8>, v: i64) {
    if v >= 0 {
        cbor_head(out, 0, v as u64);
    } else {
        cbor_head(out, 1, (-1 - v) as u64);
    }
}

fn cbor_bytes(out: &mut Vec<u8>, b: &[u8]) {
    cbor_head(out, 2, b.len() as u64);
    out.extend_from_slice(b);
}

fn cbor_text(out: &mut Vec<u8>, t: &str) {
    cbor_head(out, 3, t.len() as u64);
    out.extend_from_slice(t.as_bytes());
}
