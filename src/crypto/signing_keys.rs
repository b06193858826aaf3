//! The key ring: which key signs for each algorithm, and which keys are published.
//!
//! The database lists keys (kid, alg, creation, activation); the keys folder
//! holds their private halves. Every node reads the same rows and the same
//! folder, so all nodes agree on the signing key without talking to each other.
//!
//! Lifecycle of a key of one algorithm, all derived from two timestamps:
//! - *next*: created by `kagi keys rotate`, published in the JWKS but not yet
//!   signing, for `key_publish_lead_secs` so relying parties have fetched it;
//! - *active*: the newest key whose `activates_at` has passed; it signs;
//! - *retired*: a newer key is active; still published until every token it
//!   signed has expired (the successor's activation + the longest token
//!   lifetime + a margin), then pruned by the next rotation.

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use anyhow::Context as _;
use jsonwebtoken::jwk::JwkSet;
use serde::Serialize;

use crate::audit::{AuditEvent, AuditKind, Outcome};
use crate::clock::Clock;
use crate::crypto::keys::{self, KeyMaterial};
use crate::model::SigningAlg;
use crate::store::Store;
use crate::store::signing_keys::SigningKeyRow;

/// Clock skew allowed to relying parties when deciding a retired key may go.
const RETENTION_MARGIN_SECS: i64 = 300;

/// How a key is used right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Published, not yet signing.
    Next,
    /// Signing.
    Active,
    /// Published for verification only.
    Retired,
    /// Past its publication window; removed at the next rotation.
    Expired,
}

/// A key and its state, for `kagi keys list`.
#[derive(Clone, Debug, Serialize)]
pub struct KeyStatus {
    /// Key id.
    pub kid: String,
    /// Algorithm name.
    pub alg: &'static str,
    /// State now.
    pub state: KeyState,
    /// Creation time (unix).
    pub created_at: i64,
    /// Activation time (unix).
    pub activates_at: i64,
    /// End of publication for retired keys (unix).
    pub published_until: Option<i64>,
}

/// One loaded key.
#[derive(Debug)]
pub struct LoadedKey {
    /// Its metadata.
    pub row: SigningKeyRow,
    /// Its key material.
    pub material: KeyMaterial,
}

/// A snapshot of the ring: the keys and the serialised JWKS.
#[derive(Debug)]
struct Snapshot {
    keys: Vec<Arc<LoadedKey>>,
    jwks_json: Arc<str>,
}

/// The shared key ring; cheap to clone.
#[derive(Clone, Debug)]
pub struct KeyRing {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    dir: PathBuf,
    clock: Clock,
    retention_secs: i64,
    publish_lead_secs: i64,
    snapshot: RwLock<Arc<Snapshot>>,
}

impl KeyRing {
    /// Opens the ring: generates a first key for every algorithm that has none, then loads all keys.
    ///
    /// `max_token_ttl_secs` is the longest lifetime of a token signed by these keys.
    pub async fn open(
        store: Store,
        dir: PathBuf,
        clock: Clock,
        max_token_ttl_secs: i64,
        publish_lead_secs: i64,
    ) -> anyhow::Result<Self> {
        let ring = Self {
            inner: Arc::new(Inner {
                store,
                dir,
                clock,
                retention_secs: max_token_ttl_secs + RETENTION_MARGIN_SECS,
                publish_lead_secs,
                snapshot: RwLock::new(Arc::new(Snapshot {
                    keys: Vec::new(),
                    jwks_json: Arc::from("{\"keys\":[]}"),
                })),
            }),
        };
        ring.generate_missing().await?;
        ring.reload().await?;
        Ok(ring)
    }

    /// Generates a first, immediately active key for each algorithm without one.
    ///
    /// Several nodes may start at once on a shared folder: an exclusive lock
    /// on `keys/.lock` makes exactly one of them generate.
    async fn generate_missing(&self) -> anyhow::Result<()> {
        let _lock = self.lock_folder()?;
        let rows = self.inner.store.list_signing_keys().await?;
        let now = self.inner.clock.now();
        let missing: Vec<SigningAlg> = SigningAlg::ALL
            .into_iter()
            .filter(|alg| !rows.iter().any(|r| r.alg == *alg))
            .collect();
        if !missing.is_empty() {
            let made = self.generate(&missing, now, now).await?;
            self.audit_generated(&made, "first start").await;
        }
        Ok(())
    }

    /// Creates a key per algorithm, publishes it now and has it sign from `activates_at`.
    async fn generate(
        &self,
        algs: &[SigningAlg],
        now: i64,
        activates_at: i64,
    ) -> anyhow::Result<Vec<SigningKeyRow>> {
        let mut made = Vec::new();
        for alg in algs {
            let pem = tokio::task::spawn_blocking({
                let alg = *alg;
                move || keys::generate_pem(alg)
            })
            .await??;
            let material = keys::from_pem(*alg, &pem)?;
            keys::write_private(&self.inner.dir, &material.kid, &pem)?;
            let row = SigningKeyRow {
                kid: material.kid,
                alg: *alg,
                created_at: now,
                activates_at,
            };
            self.inner.store.insert_signing_key(&row).await?;
            made.push(row);
        }
        Ok(made)
    }

    fn lock_folder(&self) -> anyhow::Result<File> {
        keys::create_private_dir(&self.inner.dir)?;
        let path = self.inner.dir.join(".lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        file.lock()
            .with_context(|| format!("cannot lock {}", path.display()))?;
        Ok(file)
    }

    /// Re-reads the key list and folder; keys already loaded are reused.
    pub async fn reload(&self) -> anyhow::Result<()> {
        let rows = self.inner.store.list_signing_keys().await?;
        let current: HashMap<String, Arc<LoadedKey>> = self
            .snapshot()
            .keys
            .iter()
            .map(|k| (k.row.kid.clone(), Arc::clone(k)))
            .collect();
        let mut loaded = Vec::with_capacity(rows.len());
        for row in rows {
            match current.get(&row.kid) {
                Some(key) => loaded.push(Arc::clone(key)),
                None => {
                    let material = keys::read_private(&self.inner.dir, &row.kid, row.alg)?;
                    loaded.push(Arc::new(LoadedKey { row, material }));
                }
            }
        }
        let now = self.inner.clock.now();
        let published: Vec<_> = loaded
            .iter()
            .filter(|k| self.state_of(&loaded, k, now).0 != KeyState::Expired)
            .map(|k| k.material.jwk.clone())
            .collect();
        let jwks_json = serde_json::to_string(&JwkSet { keys: published })?;
        let snapshot = Arc::new(Snapshot {
            keys: loaded,
            jwks_json: Arc::from(jwks_json),
        });
        *self
            .inner
            .snapshot
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = snapshot;
        Ok(())
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(
            &self
                .inner
                .snapshot
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    /// The key that signs for `alg` now: the newest one already activated.
    pub fn signer(&self, alg: SigningAlg) -> Option<Arc<LoadedKey>> {
        let now = self.inner.clock.now();
        self.snapshot()
            .keys
            .iter()
            .filter(|k| k.row.alg == alg && k.row.activates_at <= now)
            .max_by(|a, b| (a.row.activates_at, &a.row.kid).cmp(&(b.row.activates_at, &b.row.kid)))
            .cloned()
    }

    /// The published key with this `kid`, for verifying Kagi's own tokens.
    pub fn published(&self, kid: &str) -> Option<Arc<LoadedKey>> {
        let snapshot = self.snapshot();
        let now = self.inner.clock.now();
        snapshot
            .keys
            .iter()
            .find(|k| {
                k.row.kid == kid && self.state_of(&snapshot.keys, k, now).0 != KeyState::Expired
            })
            .cloned()
    }

    /// The published JWK set as JSON, computed at the last reload.
    pub fn jwks_json(&self) -> Arc<str> {
        Arc::clone(&self.snapshot().jwks_json)
    }

    /// Every key with its state now.
    pub fn status(&self) -> Vec<KeyStatus> {
        let snapshot = self.snapshot();
        let now = self.inner.clock.now();
        snapshot
            .keys
            .iter()
            .map(|k| {
                let (state, published_until) = self.state_of(&snapshot.keys, k, now);
                KeyStatus {
                    kid: k.row.kid.clone(),
                    alg: k.row.alg.as_str(),
                    state,
                    created_at: k.row.created_at,
                    activates_at: k.row.activates_at,
                    published_until,
                }
            })
            .collect()
    }

    /// Derives a key's state from its successor: the next key of the same
    /// algorithm that has already activated (a key that is still *next* does not retire anything).
    fn state_of(
        &self,
        all: &[Arc<LoadedKey>],
        key: &LoadedKey,
        now: i64,
    ) -> (KeyState, Option<i64>) {
        if key.row.activates_at > now {
            return (KeyState::Next, None);
        }
        let successor = all
            .iter()
            .filter(|o| o.row.alg == key.row.alg && o.row.activates_at <= now)
            .filter(|o| (o.row.activates_at, &o.row.kid) > (key.row.activates_at, &key.row.kid))
            .map(|o| o.row.activates_at)
            .min();
        match successor {
            None => (KeyState::Active, None),
            Some(at) => {
                let until = at + self.inner.retention_secs;
                (
                    if now < until {
                        KeyState::Retired
                    } else {
                        KeyState::Expired
                    },
                    Some(until),
                )
            }
        }
    }

    /// Rotates every algorithm: new keys are published now and sign after the
    /// publish lead; keys whose publication has ended are deleted (row and file).
    pub async fn rotate(&self) -> anyhow::Result<Vec<SigningKeyRow>> {
        let _lock = self.lock_folder()?;
        self.reload().await?;
        let now = self.inner.clock.now();
        let expired: Vec<String> = self
            .status()
            .into_iter()
            .filter(|s| s.state == KeyState::Expired)
            .map(|s| s.kid)
            .collect();
        for kid in &expired {
            self.inner.store.delete_signing_key(kid).await?;
            let path = keys::key_path(&self.inner.dir, kid);
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!(key.kid = %kid, error = %e, "could not delete a pruned key file");
            }
        }
        if !expired.is_empty() {
            let event = AuditEvent::new(AuditKind::SigningKeysPruned, Outcome::Info)
                .with_detail(serde_json::json!({ "kids": expired }));
            self.record(event).await;
        }
        let made = self
            .generate(&SigningAlg::ALL, now, now + self.inner.publish_lead_secs)
            .await?;
        self.audit_generated(&made, "rotation").await;
        self.reload().await?;
        Ok(made)
    }

    async fn audit_generated(&self, made: &[SigningKeyRow], reason: &str) {
        let kids: Vec<_> = made
            .iter()
            .map(|r| serde_json::json!({ "kid": r.kid, "alg": r.alg.as_str() }))
            .collect();
        let event = AuditEvent::new(AuditKind::SigningKeysGenerated, Outcome::Info)
            .with_detail(serde_json::json!({ "reason": reason, "keys": kids }));
        self.record(event).await;
    }

    async fn record(&self, event: AuditEvent) {
        if let Err(e) = self
            .inner
            .store
            .insert_audit_event(&event, self.inner.clock.now())
            .await
        {
            tracing::error!(error = %e, "could not write an audit event");
        }
    }
}
