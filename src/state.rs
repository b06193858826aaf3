//! The state every request handler shares.

use std::sync::Arc;

use axum::extract::FromRef;

use crate::clock::Clock;
use crate::config::Config;
use crate::http::metrics::Metrics;
use crate::oidc::signing_keys::KeyRing;
use crate::store::Store;

/// Shared application state; cloning is cheap (every field is a handle).
#[derive(Clone, Debug)]
pub struct AppState {
    /// Validated configuration.
    pub config: Arc<Config>,
    /// Database.
    pub store: Store,
    /// Signing keys.
    pub keys: KeyRing,
    /// Time source.
    pub clock: Clock,
    /// Request metrics.
    pub metrics: Arc<Metrics>,
    /// The discovery document, serialised once at start.
    pub discovery_json: Arc<str>,
}

impl FromRef<AppState> for Store {
    fn from_ref(state: &AppState) -> Self {
        state.store.clone()
    }
}
