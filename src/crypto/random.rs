//! Unguessable values from the operating system's CSPRNG.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// A 256-bit random handle, base64url without padding (43 characters).
///
/// Used for codes, tokens, session cookies and request handles: the
/// conformance suite's entropy rule and `docs/protocol.md` ask for at least 256 bits.
pub fn handle() -> String {
    URL_SAFE_NO_PAD.encode(bytes::<32>())
}

/// `N` random bytes.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    rand::fill(&mut buf);
    buf
}

/// A random decimal code of `digits` digits, uniform (no modulo bias).
pub fn digits(digits: u32) -> String {
    let bound = 10u64.pow(digits);
    // Reject samples from the top partial range so every code is equally likely.
    let zone = u64::MAX - (u64::MAX % bound);
    loop {
        let n = u64::from_le_bytes(bytes::<8>());
        if n < zone {
            return format!("{:0width$}", n % bound, width = digits as usize);
        }
    }
}

/// The SHA-256 of a high-entropy secret, base64url: how handles, codes and
/// client secrets are stored, so a copy of the database grants nothing.
///
/// A fast hash is enough for 256-bit random values (nobody can guess through
/// it); passwords, which are low-entropy, use argon2id instead.
pub fn hash_secret(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_carry_256_bits_and_do_not_repeat() {
        let a = handle();
        assert_eq!(a.len(), 43);
        assert_ne!(a, handle());
    }

    #[test]
    fn digit_codes_have_the_asked_length_and_only_digits() {
        for _ in 0..200 {
            let code = digits(6);
            assert_eq!(code.len(), 6);
            assert!(code.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn digit_codes_use_every_leading_digit() {
        let mut seen = [false; 10];
        for _ in 0..2000 {
            let first = digits(6).as_bytes()[0] - b'0';
            seen[first as usize] = true;
        }
        assert!(seen.iter().all(|s| *s), "{seen:?}");
    }
}
