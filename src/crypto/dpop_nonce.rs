//! Server-provided DPoP nonces (RFC 9449 §8 at the token endpoint, §9 at a
//! resource), stateless and the same on every node.
//!
//! A nonce is `base64url(w || HMAC-SHA256(K, w)[..16])`, where `w` is the
//! number of the current time window (`now / dpop_nonce_lifetime_secs`, 8
//! bytes big-endian) and `K` is derived from the data key that already
//! seals TOTP seeds (`crypto::seal::DataKey::derive`). Every node sharing
//! `keys/data.key` issues and accepts the same nonces without storing them,
//! and the nonce changes each window. A nonce is accepted in its own window
//! and the next one, so one issued just before a rollover still works: its
//! life is one to two windows. The nonce only proves the proof was made
//! recently (it bounds pre-computed proofs); single use is the `jti`'s job.
//!
//! The text is base64url, so it stays within RFC 9449's NQCHAR set.

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::crypto::compare;
use crate::crypto::seal::DataKey;

/// The label the nonce key is derived under.
const KEY_LABEL: &str = "kagi dpop nonce v1";

/// Bytes of the HMAC kept in a nonce: 128 bits, beyond guessing.
const TAG_BYTES: usize = 16;

/// The nonces of one configuration.
#[derive(Clone)]
pub struct Nonces {
    key: hmac::Key,
    window: i64,
}

impl std::fmt::Debug for Nonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nonces")
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl Nonces {
    /// Nonces under `data_key`, changing every `window` seconds.
    pub fn new(data_key: &DataKey, window: i64) -> Self {
        Self {
            key: data_key.derive(KEY_LABEL),
            window: window.max(1),
        }
    }

    fn for_window(&self, w: i64) -> String {
        let counter = w.to_be_bytes();
        let tag = hmac::sign(&self.key, &counter);
        let mut bytes = counter.to_vec();
        bytes.extend_from_slice(&tag.as_ref()[..TAG_BYTES]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The nonce to hand out at `now`.
    pub fn issue(&self, now: i64) -> String {
        self.for_window(now.div_euclid(self.window))
    }

    /// Whether `nonce` was issued in this window or the one before.
    pub fn accepts(&self, nonce: &str, now: i64) -> bool {
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(nonce) else {
            return false;
        };
        let Some(counter) = bytes
            .get(..8)
            .and_then(|c| <[u8; 8]>::try_from(c).ok())
            .filter(|_| bytes.len() == 8 + TAG_BYTES)
        else {
            return false;
        };
        let w = i64::from_be_bytes(counter);
        let current = now.div_euclid(self.window);
        (w == current || w == current - 1) && compare::ct_eq_str(&self.for_window(w), nonce)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nonces(window: i64) -> (tempfile::TempDir, Nonces) {
        let dir = tempfile::tempdir().unwrap();
        let key = DataKey::load_or_create(dir.path()).unwrap();
        let nonces = Nonces::new(&key, window);
        (dir, nonces)
    }

    #[test]
    fn a_nonce_lives_through_its_window_and_the_next_then_dies() {
        let (_dir, n) = nonces(300);
        let now = 1_800_000_000;
        let nonce = n.issue(now);
        assert!(
            nonce
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert!(n.accepts(&nonce, now));
        assert!(n.accepts(&nonce, now + 300));
        assert!(!n.accepts(&nonce, now + 600));
        assert!(!n.accepts(&nonce, now - 300), "not before it was issued");
        assert_ne!(n.issue(now), n.issue(now + 300), "it rotates");
    }

    #[test]
    fn every_node_with_the_data_key_agrees_and_others_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let one = Nonces::new(&DataKey::load_or_create(dir.path()).unwrap(), 60);
        let two = Nonces::new(&DataKey::load_or_create(dir.path()).unwrap(), 60);
        let (_other_dir, stranger) = nonces(60);
        let nonce = one.issue(1000);
        assert!(two.accepts(&nonce, 1000));
        assert!(!stranger.accepts(&nonce, 1000));
    }

    #[test]
    fn a_tampered_or_malformed_nonce_is_refused() {
        let (_dir, n) = nonces(60);
        let nonce = n.issue(1000);
        let mut bytes = URL_SAFE_NO_PAD.decode(&nonce).unwrap();
        for i in 0..bytes.len() {
            bytes[i] ^= 1;
            assert!(
                !n.accepts(&URL_SAFE_NO_PAD.encode(&bytes), 1000),
                "byte {i}"
            );
            bytes[i] ^= 1;
        }
        for bad in ["", "abc", "!!!!", &nonce[..nonce.len() - 1]] {
            assert!(!n.accepts(bad, 1000), "{bad:?}");
        }
    }
}
