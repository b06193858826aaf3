//! Login passwords: policy and argon2id hashing.
//!
//! Hashing is CPU-bound (about 30 ms per hash), so it runs on the blocking
//! thread pool behind a semaphore sized to the cores: a flood of password
//! logins queues there instead of starving the async workers that serve
//! tokens and pages.

use std::sync::Arc;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret as _, SecretString};
use tokio::sync::Semaphore;

use crate::error::{Error, Result};

/// Memory cost in KiB: the OWASP minimum for argon2id (19 MiB).
pub const MEMORY_KIB: u32 = 19_456;
/// Iterations.
pub const ITERATIONS: u32 = 2;
/// Lanes.
pub const LANES: u32 = 1;
/// Shortest accepted password, in code points.
pub const MIN_CHARS: usize = 8;
/// Longest accepted password, in code points (argon2 takes any length; this bounds the work).
pub const MAX_CHARS: usize = 256;

fn argon2() -> Argon2<'static> {
    // Params::new only fails on out-of-range values; these are constants within range.
    let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, Some(32)).unwrap_or(Params::DEFAULT);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks a new password against the policy: 8 to 256 characters, no composition rules.
pub fn check_policy(password: &SecretString) -> Result<()> {
    let chars = password.expose_secret().chars().count();
    if chars < MIN_CHARS {
        return Err(Error::Invalid(format!(
            "a password has at least {MIN_CHARS} characters"
        )));
    }
    if chars > MAX_CHARS {
        return Err(Error::Invalid(format!(
            "a password has at most {MAX_CHARS} characters"
        )));
    }
    Ok(())
}

/// Hashes a password with argon2id and a random 16-byte salt, returning the PHC string.
pub fn hash(password: &SecretString) -> Result<String> {
    argon2()
        .hash_password(password.expose_secret().as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(anyhow::anyhow!("argon2 hashing failed: {e}")))
}

/// Verifies a password against a PHC string, in constant time with respect to the password.
pub fn verify(password: &SecretString, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => argon2()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Whether the PHC string was made with weaker parameters than today's, so
/// it should be recomputed now that the password is known.
pub fn needs_rehash(phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let value = |name: &str| parsed.params.get_decimal(name).unwrap_or(0);
    parsed.algorithm.as_str() != "argon2id"
        || value("m") < MEMORY_KIB
        || value("t") < ITERATIONS
        || value("p") < LANES
}

/// The result of checking a password with [`Hasher::verify`].
#[derive(Debug)]
pub struct Verdict {
    /// The password matches the hash.
    pub matches: bool,
    /// It matches, but the hash uses weaker parameters than today's.
    pub needs_rehash: bool,
    /// The password, handed back for a rehash.
    pub password: SecretString,
}

/// Runs password hashing off the async runtime with bounded concurrency.
#[derive(Clone, Debug)]
pub struct Hasher {
    permits: Arc<Semaphore>,
}

impl Hasher {
    /// A hasher that computes at most `concurrency` hashes at once.
    pub fn new(concurrency: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
        }
    }

    /// [`hash`] on the blocking pool.
    pub async fn hash(&self, password: SecretString) -> Result<String> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| Error::Internal(e.into()))?;
        tokio::task::spawn_blocking(move || hash(&password))
            .await
            .map_err(|e| Error::Internal(e.into()))?
    }

    /// [`verify`] on the blocking pool, also telling whether to rehash.
    pub async fn verify(&self, password: SecretString, phc: String) -> Result<Verdict> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| Error::Internal(e.into()))?;
        tokio::task::spawn_blocking(move || {
            let matches = verify(&password, &phc);
            Verdict {
                matches,
                needs_rehash: matches && needs_rehash(&phc),
                password,
            }
        })
        .await
        .map_err(|e| Error::Internal(e.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_and_no_other() {
        let phc = hash(&SecretString::from("correct horse")).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify(&SecretString::from("correct horse"), &phc));
        assert!(!verify(&SecretString::from("correct horsf"), &phc));
        assert!(!verify(&SecretString::from("x"), "not a phc string"));
    }

    #[test]
    fn hashes_with_weaker_parameters_are_marked_for_rehash() {
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 1, 1, None).unwrap(),
        )
        .hash_password(b"pw")
        .unwrap()
        .to_string();
        assert!(needs_rehash(&weak));
        let strong = hash(&SecretString::from("pw")).unwrap();
        assert!(!needs_rehash(&strong));
    }

    #[test]
    fn the_policy_counts_code_points_not_bytes() {
        assert!(check_policy(&SecretString::from("パスワード安全")).is_err()); // 7 characters
        assert!(check_policy(&SecretString::from("パスワード安全だ")).is_ok()); // 8 characters
        assert!(check_policy(&SecretString::from("short")).is_err());
        assert!(check_policy(&SecretString::from("x".repeat(257))).is_err());
    }
}
