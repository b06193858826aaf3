//! A DPoP key as a client holds it (RFC 9449), proofs built with
//! `jsonwebtoken`, and the requests of a client that uses them.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::EncodingKey;
use kagi::model::SigningAlg;
use serde_json::{Value, json};

use super::TestApp;
use super::rp::{Rp, TokenAnswer, token_answer};

/// A client's DPoP key pair.
pub struct DpopKey {
    /// The algorithm it signs with.
    pub alg: SigningAlg,
    encoding: EncodingKey,
    /// The public JWK that goes in each proof's header.
    pub jwk: Value,
}

impl DpopKey {
    /// A fresh ES256 key.
    pub fn new() -> Self {
        Self::with(SigningAlg::Es256)
    }

    /// A fresh key for `alg`.
    pub fn with(alg: SigningAlg) -> Self {
        let pem = kagi::crypto::keys::generate_pem(alg).unwrap();
        let material = kagi::crypto::keys::from_pem(alg, &pem).unwrap();
        let full = serde_json::to_value(&material.jwk).unwrap();
        let keep = ["kty", "crv", "x", "y", "n", "e"];
        let jwk: serde_json::Map<String, Value> = full
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| keep.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Self {
            alg,
            encoding: material.encoding,
            jwk: Value::Object(jwk),
        }
    }

    /// RFC 7638 thumbprint, computed here independently of Kagi.
    pub fn jkt(&self) -> String {
        use sha2::Digest as _;
        let members: &[&str] = match self.jwk["kty"].as_str().unwrap() {
            "EC" => &["crv", "kty", "x", "y"],
            "RSA" => &["e", "kty", "n"],
            _ => &["crv", "kty", "x"],
        };
        let parts: Vec<String> = members
            .iter()
            .map(|m| format!("\"{m}\":\"{}\"", self.jwk[m].as_str().unwrap()))
            .collect();
        let canonical = format!("{{{}}}", parts.join(","));
        URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(canonical.as_bytes()))
    }

    /// A compact JWS of any `header` and `claims`, signed with this key.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig =
            jsonwebtoken::crypto::sign(message.as_bytes(), &self.encoding, self.alg.jws()).unwrap();
        format!("{message}.{sig}")
    }

    /// The standard header of this key's proofs.
    pub fn header(&self) -> Value {
        json!({ "typ": "dpop+jwt", "alg": self.alg.as_str(), "jwk": self.jwk })
    }

    /// The claims of a good proof for `method` on `url` at `now`.
    pub fn claims(method: &str, url: &str, now: i64) -> Value {
        json!({ "jti": uuid::Uuid::new_v4().to_string(), "htm": method, "htu": url, "iat": now })
    }

    /// A good proof for `method` on `url` at `now`, with `ath` for `token`.
    pub fn proof(&self, method: &str, url: &str, now: i64, token: Option<&str>) -> String {
        let mut claims = Self::claims(method, url, now);
        if let Some(token) = token {
            claims["ath"] = json!(ath(token));
        }
        self.sign(&self.header(), &claims)
    }
}

/// `ath` of an access token.
pub fn ath(token: &str) -> String {
    use sha2::Digest as _;
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(token.as_bytes()))
}

/// A resource answer: status, `WWW-Authenticate`, `DPoP-Nonce`, JSON body.
#[derive(Debug)]
pub struct ResourceAnswer {
    /// Status.
    pub status: u16,
    /// `WWW-Authenticate`.
    pub challenge: Option<String>,
    /// `DPoP-Nonce`.
    pub nonce: Option<String>,
    /// Body, if JSON.
    pub json: Value,
}

impl TestApp {
    /// `POST /token` as [`TestApp::token`], with `DPoP: proof` when given.
    pub async fn token_with_proof(
        &self,
        rp: &Rp,
        form: &[(&str, &str)],
        proofs: &[&str],
    ) -> (TokenAnswer, Option<String>) {
        let mut request = reqwest::Client::new().post(self.url("/token"));
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        match &rp.secret {
            Some(secret) => request = request.basic_auth(&rp.client_id, Some(secret)),
            None => fields.push(("client_id", &rp.client_id)),
        }
        for proof in proofs {
            request = request.header("DPoP", *proof);
        }
        let response = request.form(&fields).send().await.unwrap();
        let nonce = response
            .headers()
            .get("dpop-nonce")
            .map(|v| v.to_str().unwrap().to_owned());
        (token_answer(response).await, nonce)
    }

    /// `GET /userinfo` with `Authorization: <scheme> <token>` and these `DPoP` headers.
    pub async fn userinfo_with(
        &self,
        scheme: &str,
        token: &str,
        proofs: &[&str],
    ) -> ResourceAnswer {
        let mut request = reqwest::Client::new()
            .get(self.url("/userinfo"))
            .header("Authorization", format!("{scheme} {token}"));
        for proof in proofs {
            request = request.header("DPoP", *proof);
        }
        let response = request.send().await.unwrap();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let (challenge, nonce) = (header("www-authenticate"), header("dpop-nonce"));
        let status = response.status().as_u16();
        let json = response.json().await.unwrap_or(Value::Null);
        ResourceAnswer {
            status,
            challenge,
            nonce,
            json,
        }
    }

    /// `GET /userinfo` under the DPoP scheme with a fresh proof of `key`.
    pub async fn userinfo_dpop(&self, key: &DpopKey, token: &str) -> ResourceAnswer {
        let proof = key.proof("GET", &self.url("/userinfo"), self.clock.now(), Some(token));
        self.userinfo_with("DPoP", token, &[&proof]).await
    }

    /// A fresh proof of `key` for `POST /token`.
    pub fn token_proof(&self, key: &DpopKey) -> String {
        key.proof("POST", &self.url("/token"), self.clock.now(), None)
    }
}
