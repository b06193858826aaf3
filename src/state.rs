//! The state every request handler and domain operation shares.

use crate::crypto::dpop_nonce::Nonces;
use std::sync::Arc;

use crate::audit::AuditEvent;
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::client_jwks::ClientJwks;
use crate::crypto::password::Hasher;
use crate::crypto::seal::DataKey;
use crate::crypto::signing_keys::KeyRing;
use crate::mail::Mailer;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::templates::Templates;

/// Shared application state: one `Arc`, so the clones that every request
/// makes (middleware, extractors, handler) cost a reference count, not a copy
/// of every handle. Fields are reached through `Deref`.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Services>);

impl AppState {
    /// Wraps the services.
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// Everything a request may need.
#[derive(Debug)]
pub struct Services {
    /// Validated configuration.
    pub config: Arc<Config>,
    /// Database.
    pub store: Store,
    /// Signing keys.
    pub keys: KeyRing,
    /// Key that seals TOTP seeds.
    pub data_key: DataKey,
    /// Time source.
    pub clock: Clock,
    /// Pages and mails.
    pub templates: Arc<Templates>,
    /// Outgoing mail.
    pub mailer: Mailer,
    /// Password hashing off the async runtime.
    pub hasher: Hasher,
    /// A hash of a random password, verified against when a customer code is
    /// unknown, so unknown codes cost the same time as wrong passwords.
    pub dummy_hash: Arc<str>,
    /// Request metrics.
    pub metrics: Arc<Metrics>,
    /// The discovery document, serialised once at start.
    pub discovery_json: Arc<str>,
    /// The WebAuthn relying party (RP ID and allowed origins from the config).
    pub webauthn: Arc<webauthn_rs::Webauthn>,
    /// Key sets fetched from clients' `jwks_uri`, cached on this node.
    pub client_jwks: ClientJwks,
    /// The DPoP server nonces, when `dpop_nonce_required` is on.
    pub dpop_nonces: Option<Nonces>,
}

impl AppState {
    /// Appends a security event to the audit trail; a failure to write is
    /// logged, not raised, so auditing never breaks a login.
    pub async fn audit(&self, event: AuditEvent) {
        if let Err(e) = self
            .store
            .insert_audit_event(&event, self.clock.now())
            .await
        {
            tracing::error!(error = %e, audit.kind = event.kind.as_str(), "could not write an audit event");
        }
    }
}
