//! Encryption of the few secrets Kagi must read back, such as TOTP seeds.
//!
//! Everything else Kagi stores is hashed (handles, codes, client secrets,
//! passwords), but a TOTP seed has to be recovered to compute the expected
//! code, so it is sealed instead: AES-256-GCM under a data key kept in
//! `keys/data.key`, outside the database. A copy of the database alone
//! therefore reveals no seed (`docs/security.md#r12`). The caller passes
//! the owner's id as associated data, so a sealed value copied into another
//! row does not open.

use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, anyhow};
use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::crypto::keys::create_private_dir;
use crate::error::{Error, Result};

/// Length of the data key in bytes (AES-256).
const KEY_LEN: usize = 32;

/// Name of the data key file inside the keys folder.
const FILE_NAME: &str = "data.key";

/// The AES-256-GCM key that seals secrets Kagi must read back.
#[derive(Clone)]
pub struct DataKey {
    key: Arc<RandomizedNonceKey>,
    /// HMAC-SHA256 under the same 32 bytes, only to derive keys for other
    /// jobs (`DataKey::derive`), so no second secret file has to be shared
    /// between nodes.
    root: Arc<hmac::Key>,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKey")
            .field("algorithm", &"AES-256-GCM")
            .finish_non_exhaustive()
    }
}

impl DataKey {
    /// Reads `<dir>/data.key`, creating it with 32 random bytes when absent.
    ///
    /// Several nodes may share the folder and start at the same moment. The
    /// new key is written in full to a private temporary file and then
    /// hard-linked into place: the link fails if the name exists, so exactly
    /// one node's key wins, and nobody ever reads a half-written file (which
    /// a bare `create_new` followed by a write would allow). The losers read
    /// the winner's key.
    pub fn load_or_create(dir: &Path) -> anyhow::Result<DataKey> {
        create_private_dir(dir)?;
        let path = dir.join(FILE_NAME);
        match std::fs::read(&path) {
            Ok(bytes) => return Self::from_file_bytes(&path, &bytes),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read data key {}", path.display()));
            }
        }
        let fresh = crate::crypto::random::bytes::<KEY_LEN>();
        match create_exclusive(dir, &path, &fresh) {
            Ok(()) => Self::from_bytes(&fresh),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                let bytes = std::fs::read(&path)
                    .with_context(|| format!("cannot read data key {}", path.display()))?;
                Self::from_file_bytes(&path, &bytes)
            }
            Err(e) => Err(e).with_context(|| format!("cannot create data key {}", path.display())),
        }
    }

    fn from_file_bytes(path: &Path, bytes: &[u8]) -> anyhow::Result<DataKey> {
        if bytes.len() != KEY_LEN {
            return Err(anyhow!(
                "data key {} holds {} bytes, not {KEY_LEN}: restore the original file \
                 (sealed TOTP seeds cannot be opened without it)",
                path.display(),
                bytes.len()
            ));
        }
        Self::from_bytes(bytes)
    }

    fn from_bytes(bytes: &[u8]) -> anyhow::Result<DataKey> {
        let key = RandomizedNonceKey::new(&AES_256_GCM, bytes)
            .map_err(|_| anyhow!("the data key is not a valid AES-256 key"))?;
        Ok(DataKey {
            key: Arc::new(key),
            root: Arc::new(hmac::Key::new(hmac::HMAC_SHA256, bytes)),
        })
    }

    /// A 256-bit HMAC key for one job, named by `label`: HMAC-SHA256 of the
    /// label under the data key (a one-step KDF; the label separates the
    /// jobs). Every node holding `data.key` derives the same key, and a key
    /// derived for one label says nothing about another or about the data key.
    pub fn derive(&self, label: &str) -> hmac::Key {
        let derived = hmac::sign(&self.root, label.as_bytes());
        hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref())
    }

    /// Encrypts `plaintext` bound to `aad`, as base64url of `nonce || ciphertext || tag`.
    ///
    /// The 96-bit nonce is drawn at random for every call by aws-lc-rs; with
    /// one seal per TOTP enrolment, the 2^32-message bound for random GCM
    /// nonces is far out of reach.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<String> {
        let mut in_out = plaintext.to_vec();
        let nonce = self
            .key
            .seal_in_place_append_tag(Aad::from(aad), &mut in_out)
            .map_err(|_| Error::Internal(anyhow!("sealing with the data key failed")))?;
        let mut out = Vec::with_capacity(NONCE_LEN + in_out.len());
        out.extend_from_slice(nonce.as_ref());
        out.extend_from_slice(&in_out);
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    /// Decrypts a value made by [`DataKey::seal`] with the same `aad`.
    ///
    /// Any change to the value, a different `aad` or a different key gives
    /// `Error::Internal`: a sealed value is written only by Kagi, so failing
    /// to open one means corruption or tampering, never bad user input.
    pub fn open(&self, sealed: &str, aad: &[u8]) -> Result<Vec<u8>> {
        let unreadable =
            || Error::Internal(anyhow!("a sealed value does not open with the data key"));
        let mut bytes = URL_SAFE_NO_PAD.decode(sealed).map_err(|_| unreadable())?;
        if bytes.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(unreadable());
        }
        let mut in_out = bytes.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&bytes).map_err(|_| unreadable())?;
        let plaintext = self
            .key
            .open_in_place(nonce, Aad::from(aad), &mut in_out)
            .map_err(|_| unreadable())?;
        Ok(plaintext.to_vec())
    }
}

/// Creates `path` holding `bytes`, failing with `AlreadyExists` if it is there.
fn create_exclusive(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = temp_path(dir);
    let written = write_private(&tmp, bytes).and_then(|()| std::fs::hard_link(&tmp, path));
    // The temporary name is ours alone; whatever happened, it goes.
    let _ = std::fs::remove_file(&tmp);
    written
}

fn temp_path(dir: &Path) -> PathBuf {
    let tag = URL_SAFE_NO_PAD.encode(crate::crypto::random::bytes::<6>());
    dir.join(format!(".{FILE_NAME}.{}.{tag}.tmp", std::process::id()))
}

/// Writes a new file readable by the owner only, synced to disk.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> (tempfile::TempDir, DataKey) {
        let dir = tempfile::tempdir().unwrap();
        let key = DataKey::load_or_create(&dir.path().join("keys")).unwrap();
        (dir, key)
    }

    #[test]
    fn a_sealed_value_opens_with_the_same_aad() {
        let (_dir, key) = key();
        let sealed = key.seal(b"twenty bytes of seed", b"customer-1").unwrap();
        assert!(!sealed.contains('='), "base64url without padding");
        assert_eq!(
            URL_SAFE_NO_PAD.decode(&sealed).unwrap().len(),
            NONCE_LEN + 20 + 16
        );
        assert_eq!(
            key.open(&sealed, b"customer-1").unwrap(),
            b"twenty bytes of seed"
        );
    }

    #[test]
    fn sealing_twice_gives_different_values() {
        let (_dir, key) = key();
        assert_ne!(
            key.seal(b"seed", b"a").unwrap(),
            key.seal(b"seed", b"a").unwrap()
        );
    }

    #[test]
    fn a_sealed_value_does_not_open_with_another_aad() {
        let (_dir, key) = key();
        let sealed = key.seal(b"seed", b"customer-1").unwrap();
        assert!(matches!(
            key.open(&sealed, b"customer-2"),
            Err(Error::Internal(_))
        ));
    }

    #[test]
    fn any_changed_byte_makes_a_sealed_value_fail_to_open() {
        let (_dir, key) = key();
        let sealed = key.seal(b"seed", b"aad").unwrap();
        let bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        for i in 0..bytes.len() {
            let mut tampered = bytes.clone();
            tampered[i] ^= 0x01;
            let tampered = URL_SAFE_NO_PAD.encode(tampered);
            assert!(
                matches!(key.open(&tampered, b"aad"), Err(Error::Internal(_))),
                "byte {i}"
            );
        }
        for garbage in ["", "AAAA", "not base64!", &sealed[..sealed.len() - 2]] {
            assert!(key.open(garbage, b"aad").is_err(), "{garbage:?}");
        }
    }

    #[test]
    fn another_key_cannot_open_a_sealed_value() {
        let (_a, one) = key();
        let (_b, other) = key();
        let sealed = one.seal(b"seed", b"aad").unwrap();
        assert!(other.open(&sealed, b"aad").is_err());
    }

    #[test]
    fn two_nodes_sharing_the_folder_get_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        let first = DataKey::load_or_create(&keys).unwrap();
        let second = DataKey::load_or_create(&keys).unwrap();
        let sealed = first.seal(b"seed", b"aad").unwrap();
        assert_eq!(second.open(&sealed, b"aad").unwrap(), b"seed");
        let leftovers: Vec<_> = std::fs::read_dir(&keys)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, ["data.key"], "no temporary file is left behind");
    }

    #[test]
    fn nodes_starting_at_once_agree_on_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        let nodes: Vec<DataKey> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| DataKey::load_or_create(&keys).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let sealed = nodes[0].seal(b"seed", b"aad").unwrap();
        for node in &nodes {
            assert_eq!(node.open(&sealed, b"aad").unwrap(), b"seed");
        }
    }

    #[cfg(unix)]
    #[test]
    fn the_key_file_is_readable_by_the_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        DataKey::load_or_create(&keys).unwrap();
        let meta = std::fs::metadata(keys.join("data.key")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(meta.len(), 32);
    }

    #[test]
    fn a_key_file_of_the_wrong_length_is_refused_with_a_clear_message() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("data.key"), b"too short").unwrap();
        let err = DataKey::load_or_create(dir.path()).unwrap_err();
        let message = format!("{err:#}");
        assert!(message.contains("data.key"), "{message}");
        assert!(message.contains("9 bytes, not 32"), "{message}");
    }

    #[test]
    fn debug_output_shows_no_key_bytes() {
        let (_dir, key) = key();
        assert_eq!(
            format!("{key:?}"),
            r#"DataKey { algorithm: "AES-256-GCM", .. }"#
        );
    }
}
