//! A software WebAuthn authenticator, so the passkey ceremonies can be driven
//! over real HTTP without a browser.
//!
//! It makes P-256 (ES256) resident credentials with attestation `none`, and
//! signs assertions with ASN.1 DER ECDSA signatures, as platform
//! authenticators do. Flags (UV, BE, BS), the AAGUID and each credential's
//! signature counter can be set per test to play a misbehaving or cloned
//! authenticator.

use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_cbor_2::Value as Cbor;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// The AAGUID iCloud Keychain sends.
pub const ICLOUD_KEYCHAIN: &str = "fbfc3007-154e-4ecc-8c0b-6e020557d7bd";
/// An AAGUID of Windows Hello.
pub const WINDOWS_HELLO: &str = "08987058-cadc-4b81-b6e1-30de50dcbe96";

const FLAG_UP: u8 = 0x01;
const FLAG_UV: u8 = 0x04;
const FLAG_BE: u8 = 0x08;
const FLAG_BS: u8 = 0x10;
const FLAG_AT: u8 = 0x40;

/// One resident credential.
#[derive(Clone)]
pub struct Credential {
    /// Credential id.
    pub id: Vec<u8>,
    /// The user handle the RP gave at creation.
    pub user_handle: Vec<u8>,
    /// Signature counter (incremented before each assertion when `counting`).
    pub counter: u32,
    key: Arc<EcdsaKeyPair>,
}

impl Credential {
    /// The id as base64url, as Kagi stores and shows it.
    pub fn id_text(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.id)
    }
}

/// A software authenticator bound to one origin.
pub struct Authenticator {
    /// The origin put in client data (`http://localhost:PORT`).
    pub origin: String,
    /// Report user verification.
    pub uv: bool,
    /// Report backup eligibility.
    pub be: bool,
    /// Report backup state.
    pub bs: bool,
    /// The AAGUID put in attested credential data.
    pub aaguid: uuid::Uuid,
    /// Whether counters increase with each assertion (synced passkeys stay at 0).
    pub counting: bool,
    /// Resident credentials, oldest first.
    pub credentials: Vec<Credential>,
}

/// A WebAuthn call the authenticator refuses, as a browser would raise it.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `InvalidStateError`: a credential in `excludeCredentials` is here.
    Excluded,
    /// `NotAllowedError`: no usable credential.
    NoCredential,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(text)
        .expect("base64url from the server")
}

impl Authenticator {
    /// A device-bound (BE=0), user-verifying authenticator with the Windows Hello AAGUID.
    pub fn new(origin: &str) -> Self {
        Self {
            origin: origin.to_owned(),
            uv: true,
            be: false,
            bs: false,
            aaguid: uuid::Uuid::parse_str(WINDOWS_HELLO).unwrap(),
            counting: true,
            credentials: Vec::new(),
        }
    }

    /// A synced passkey provider (BE=1, BS=1, counter stays 0) with the iCloud Keychain AAGUID.
    pub fn synced(origin: &str) -> Self {
        Self {
            be: true,
            bs: true,
            counting: false,
            aaguid: uuid::Uuid::parse_str(ICLOUD_KEYCHAIN).unwrap(),
            ..Self::new(origin)
        }
    }

    fn flags(&self) -> u8 {
        let mut flags = FLAG_UP;
        if self.uv {
            flags |= FLAG_UV;
        }
        if self.be {
            flags |= FLAG_BE;
        }
        if self.bs {
            flags |= FLAG_BS;
        }
        flags
    }

    fn client_data(&self, kind: &str, challenge: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "type": kind,
            "challenge": challenge,
            "origin": self.origin,
            "crossOrigin": false,
        }))
        .unwrap()
    }

    fn rp_id_hash(rp_id: &str) -> Vec<u8> {
        Sha256::digest(rp_id.as_bytes()).to_vec()
    }

    /// `navigator.credentials.create({publicKey})`: a new resident credential.
    /// `public_key` is the server's `options.publicKey`.
    pub fn create(&mut self, public_key: &Value) -> Result<Value, Refusal> {
        let excluded: Vec<Vec<u8>> = public_key["excludeCredentials"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|c| unb64(c["id"].as_str().unwrap()))
                    .collect()
            })
            .unwrap_or_default();
        if self.credentials.iter().any(|c| excluded.contains(&c.id)) {
            return Err(Refusal::Excluded);
        }
        let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
        let credential = Credential {
            id: aws_lc_rs_random::<32>().to_vec(),
            user_handle: unb64(public_key["user"]["id"].as_str().unwrap()),
            counter: 0,
            key: Arc::new(key),
        };
        self.credentials.push(credential);
        Ok(self.attest(public_key, self.credentials.len() - 1))
    }

    /// Creation that hands back an existing credential (id and key) instead
    /// of a new one, as a cloned or malicious authenticator might.
    pub fn create_reusing(&mut self, public_key: &Value, index: usize) -> Value {
        self.credentials[index].user_handle = unb64(public_key["user"]["id"].as_str().unwrap());
        self.attest(public_key, index)
    }

    fn attest(&self, public_key: &Value, index: usize) -> Value {
        let credential = &self.credentials[index];
        let rp_id = public_key["rp"]["id"].as_str().unwrap();
        let challenge = public_key["challenge"].as_str().unwrap();
        let point = credential.key.public_key().as_ref();
        assert_eq!(point.len(), 65, "uncompressed P-256 point");
        let cose = Cbor::Map(
            [
                (Cbor::Integer(1), Cbor::Integer(2)),
                (Cbor::Integer(3), Cbor::Integer(-7)),
                (Cbor::Integer(-1), Cbor::Integer(1)),
                (Cbor::Integer(-2), Cbor::Bytes(point[1..33].to_vec())),
                (Cbor::Integer(-3), Cbor::Bytes(point[33..65].to_vec())),
            ]
            .into_iter()
            .collect(),
        );
        let mut auth_data = Self::rp_id_hash(rp_id);
        auth_data.push(self.flags() | FLAG_AT);
        auth_data.extend_from_slice(&credential.counter.to_be_bytes());
        auth_data.extend_from_slice(self.aaguid.as_bytes());
        auth_data.extend_from_slice(&u16::try_from(credential.id.len()).unwrap().to_be_bytes());
        auth_data.extend_from_slice(&credential.id);
        auth_data.extend_from_slice(&serde_cbor_2::to_vec(&cose).unwrap());
        let object = Cbor::Map(
            [
                (Cbor::Text("fmt".into()), Cbor::Text("none".into())),
                (Cbor::Text("attStmt".into()), Cbor::Map(Default::default())),
                (Cbor::Text("authData".into()), Cbor::Bytes(auth_data)),
            ]
            .into_iter()
            .collect(),
        );
        json!({
            "id": b64(&credential.id),
            "rawId": b64(&credential.id),
            "type": "public-key",
            "response": {
                "attestationObject": b64(&serde_cbor_2::to_vec(&object).unwrap()),
                "clientDataJSON": b64(&self.client_data("webauthn.create", challenge)),
                "transports": ["internal"],
            },
            "extensions": { "credProps": { "rk": true } },
        })
    }

    /// `navigator.credentials.get({publicKey})`: an assertion by the newest
    /// credential the request allows (any of ours when `allowCredentials` is
    /// empty, as in a discoverable login).
    pub fn get(&mut self, public_key: &Value) -> Result<Value, Refusal> {
        let allowed: Vec<Vec<u8>> = public_key["allowCredentials"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|c| unb64(c["id"].as_str().unwrap()))
                    .collect()
            })
            .unwrap_or_default();
        let index = self
            .credentials
            .iter()
            .rposition(|c| allowed.is_empty() || allowed.contains(&c.id))
            .ok_or(Refusal::NoCredential)?;
        Ok(self.get_with(public_key, index))
    }

    /// An assertion by credential `index`, whatever the request allows.
    pub fn get_with(&mut self, public_key: &Value, index: usize) -> Value {
        if self.counting {
            self.credentials[index].counter += 1;
        }
        let flags = self.flags();
        let credential = &self.credentials[index];
        let rp_id = public_key["rpId"].as_str().unwrap();
        let challenge = public_key["challenge"].as_str().unwrap();
        let client_data = self.client_data("webauthn.get", challenge);
        let mut auth_data = Self::rp_id_hash(rp_id);
        auth_data.push(flags);
        auth_data.extend_from_slice(&credential.counter.to_be_bytes());
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data));
        let signature = credential.key.sign(&SystemRandom::new(), &signed).unwrap();
        json!({
            "id": b64(&credential.id),
            "rawId": b64(&credential.id),
            "type": "public-key",
            "response": {
                "authenticatorData": b64(&auth_data),
                "clientDataJSON": b64(&client_data),
                "signature": b64(signature.as_ref()),
                "userHandle": b64(&credential.user_handle),
            },
            "extensions": {},
        })
    }

    /// The newest credential.
    pub fn last(&self) -> &Credential {
        self.credentials.last().expect("a credential was created")
    }
}

fn aws_lc_rs_random<const N: usize>() -> [u8; N] {
    use aws_lc_rs::rand::SecureRandom as _;
    let mut out = [0u8; N];
    SystemRandom::new().fill(&mut out).unwrap();
    out
}
