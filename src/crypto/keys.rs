//! Signing key material: generation, PEM files, and public JWKs.
//!
//! Keys are generated with aws-lc-rs (constant-time RSA, and 8 to 10 times
//! faster signing than the pure-Rust backend, `docs/architecture.md#crate-choices`) and stored as
//! PKCS#8 v1 PEM files readable by the owner only. Which key signs when is
//! decided by `crypto::signing_keys` from the database; this module only deals
//! with one key at a time.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow};
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};

use crate::model::SigningAlg;

/// One private signing key with its public JWK.
pub struct KeyMaterial {
    /// RFC 7638 thumbprint of the public key: unique per key and stable across nodes.
    pub kid: String,
    /// The JWS algorithm this key signs with (one algorithm per key).
    pub alg: SigningAlg,
    /// The private key, ready for jsonwebtoken.
    pub encoding: EncodingKey,
    /// The public key with `kid`, `use=sig` and `alg` set.
    pub jwk: Jwk,
    /// The public key, ready to verify tokens Kagi issued (ID token hints, access tokens).
    pub decoding: DecodingKey,
    /// The private key parsed once for signing: jsonwebtoken's encoder
    /// re-parses the DER at every signature, which cost ~0.12 ms per RSA
    /// token on the hot path (benches/run).
    signer: Signer,
}

/// A parsed aws-lc-rs key pair of one algorithm.
enum Signer {
    Rsa(
        aws_lc_rs::rsa::KeyPair,
        &'static dyn aws_lc_rs::signature::RsaEncoding,
    ),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl KeyMaterial {
    /// The JWS signature of `message` (RFC 7515 §5.1 step 5) in this key's algorithm.
    pub fn sign(&self, message: &[u8]) -> anyhow::Result<Vec<u8>> {
        let rng = SystemRandom::new();
        match &self.signer {
            Signer::Rsa(pair, encoding) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(*encoding, &rng, message, &mut signature)
                    .map_err(|_| anyhow!("RSA signing failed"))?;
                Ok(signature)
            }
            Signer::Ecdsa(pair) => Ok(pair
                .sign(&rng, message)
                .map_err(|_| anyhow!("ECDSA signing failed"))?
                .as_ref()
                .to_vec()),
            Signer::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }
}

fn parse_signer(alg: SigningAlg, pem: &str) -> anyhow::Result<Signer> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = STANDARD
        .decode(body.trim())
        .context("the key file is not PEM")?;
    let rejected = |_| anyhow!("not a {} private key", alg.as_str());
    Ok(match alg {
        SigningAlg::Rs256 => Signer::Rsa(
            aws_lc_rs::rsa::KeyPair::from_pkcs8(&der).map_err(rejected)?,
            &aws_lc_rs::signature::RSA_PKCS1_SHA256,
        ),
        SigningAlg::Ps256 => Signer::Rsa(
            aws_lc_rs::rsa::KeyPair::from_pkcs8(&der).map_err(rejected)?,
            &aws_lc_rs::signature::RSA_PSS_SHA256,
        ),
        SigningAlg::Es256 => Signer::Ecdsa(
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der).map_err(rejected)?,
        ),
        SigningAlg::EdDsa => Signer::Ed25519(Ed25519KeyPair::from_pkcs8(&der).map_err(rejected)?),
    })
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// Generates a fresh private key for `alg` as a PKCS#8 v1 PEM document.
pub fn generate_pem(alg: SigningAlg) -> anyhow::Result<String> {
    let der: Vec<u8> = match alg {
        SigningAlg::Rs256 | SigningAlg::Ps256 => {
            let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .map_err(|_| anyhow!("RSA key generation failed"))?;
            let der: Pkcs8V1Der<'static> = pair
                .as_der()
                .map_err(|_| anyhow!("RSA key export failed"))?;
            der.as_ref().to_vec()
        }
        SigningAlg::Es256 => {
            let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                .map_err(|_| anyhow!("P-256 key generation failed"))?;
            pair.to_pkcs8v1()
                .map_err(|_| anyhow!("P-256 key export failed"))?
                .as_ref()
                .to_vec()
        }
        SigningAlg::EdDsa => {
            // jsonwebtoken reads only PKCS#8 v1 Ed25519 keys (`docs/architecture.md#crate-choices`).
            Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new())
                .map_err(|_| anyhow!("Ed25519 key generation failed"))?
                .as_ref()
                .to_vec()
        }
    };
    Ok(pem_encode("PRIVATE KEY", &der))
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Builds the key material (encoding key, JWK, kid) from a PEM document.
pub fn from_pem(alg: SigningAlg, pem: &str) -> anyhow::Result<KeyMaterial> {
    let algorithm = alg.jws();
    let encoding = match alg {
        SigningAlg::Rs256 | SigningAlg::Ps256 => EncodingKey::from_rsa_pem(pem.as_bytes()),
        SigningAlg::Es256 => EncodingKey::from_ec_pem(pem.as_bytes()),
        SigningAlg::EdDsa => EncodingKey::from_ed_pem(pem.as_bytes()),
    }
    .with_context(|| format!("not a {} private key", alg.as_str()))?;
    let mut jwk =
        Jwk::from_encoding_key(&encoding, algorithm).context("cannot derive the public key")?;
    let kid = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .context("cannot compute the JWK thumbprint")?;
    jwk.common.key_id = Some(kid.clone());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    let decoding = DecodingKey::from_jwk(&jwk).context("cannot build the verification key")?;
    let signer = parse_signer(alg, pem)?;
    Ok(KeyMaterial {
        kid,
        alg,
        encoding,
        jwk,
        decoding,
        signer,
    })
}

/// The file that holds key `kid` inside `dir`.
pub fn key_path(dir: &Path, kid: &str) -> PathBuf {
    dir.join(format!("{kid}.pem"))
}

/// Writes a private key file readable by the owner only, atomically (a
/// temporary file renamed into place), so a node reading the shared folder
/// never sees half a key.
pub fn write_private(dir: &Path, kid: &str, pem: &str) -> anyhow::Result<PathBuf> {
    create_private_dir(dir)?;
    let path = key_path(dir, kid);
    let tmp = dir.join(format!(".{kid}.{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    file.write_all(pem.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, &path)
        .with_context(|| format!("cannot move key into {}", path.display()))?;
    Ok(path)
}

/// Creates the keys folder, accessible to the owner only.
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("cannot create keys folder {}", dir.display()))
}

/// Reads and parses key `kid` from `dir`.
pub fn read_private(dir: &Path, kid: &str, alg: SigningAlg) -> anyhow::Result<KeyMaterial> {
    let path = key_path(dir, kid);
    let pem = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "signing key {kid} is listed in the database but {} cannot be read",
            path.display()
        )
    })?;
    let material = from_pem(alg, &pem).with_context(|| format!("{}", path.display()))?;
    if material.kid != kid {
        return Err(anyhow!(
            "{} holds key {}, not {kid}",
            path.display(),
            material.kid
        ));
    }
    Ok(material)
}

impl SigningAlg {
    /// The jsonwebtoken algorithm.
    pub fn jws(self) -> Algorithm {
        match self {
            SigningAlg::Rs256 => Algorithm::RS256,
            SigningAlg::Ps256 => Algorithm::PS256,
            SigningAlg::Es256 => Algorithm::ES256,
            SigningAlg::EdDsa => Algorithm::EdDSA,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_round_trips_through_a_pem_file_with_owner_only_permissions() {
        let dir = tempfile::tempdir().unwrap();
        for alg in SigningAlg::ALL {
            let pem = generate_pem(alg).unwrap();
            let material = from_pem(alg, &pem).unwrap();
            let path = write_private(dir.path(), &material.kid, &pem).unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                assert_eq!(
                    std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                    0o600
                );
            }
            let again = read_private(dir.path(), &material.kid, alg).unwrap();
            assert_eq!(again.kid, material.kid);
            let json = serde_json::to_value(&again.jwk).unwrap();
            assert_eq!(json["alg"], alg.as_str());
            assert_eq!(json["use"], "sig");
            for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
                assert!(json.get(private).is_none(), "{alg:?} JWK leaks {private}");
            }
        }
    }

    #[test]
    fn every_algorithm_signs_a_jws_that_its_public_key_verifies() {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        for alg in SigningAlg::ALL {
            let material = from_pem(alg, &generate_pem(alg).unwrap()).unwrap();
            let header =
                URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{}","typ":"JWT"}}"#, alg.as_str()));
            let payload = URL_SAFE_NO_PAD.encode(r#"{"sub":"s"}"#);
            let input = format!("{header}.{payload}");
            let token = format!(
                "{input}.{}",
                URL_SAFE_NO_PAD.encode(material.sign(input.as_bytes()).unwrap())
            );
            let mut validation = jsonwebtoken::Validation::new(alg.jws());
            validation.required_spec_claims.clear();
            validation.validate_exp = false;
            let claims =
                jsonwebtoken::decode::<serde_json::Value>(&token, &material.decoding, &validation)
                    .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
            assert_eq!(claims.claims["sub"], "s");
            let forged = format!("{input}x.{}", token.rsplit('.').next().unwrap());
            assert!(
                jsonwebtoken::decode::<serde_json::Value>(&forged, &material.decoding, &validation)
                    .is_err()
            );
        }
    }

    #[test]
    fn a_key_file_that_holds_another_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let pem = generate_pem(SigningAlg::Es256).unwrap();
        write_private(dir.path(), "someone-else", &pem).unwrap();
        let err = read_private(dir.path(), "someone-else", SigningAlg::Es256).unwrap_err();
        assert!(err.to_string().contains("not someone-else"), "{err}");
    }
}
