//! Kagi (鍵): an OpenID Connect provider for an online securities broker,
//! whose tokens say through `acr`/`amr` whether the customer used a passkey.
//!
//! `main` parses the CLI and calls [`cli::run`]; the server is [`build`] +
//! [`run`], which the integration tests call directly on a random port and
//! `kagi serve` (`cli/serve.rs`) calls after its start-up checks.

pub mod audit;
pub mod authn;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod error;
pub(crate) mod http;
pub mod mail;
pub(crate) mod metrics;
pub mod model;
pub mod oidc;
pub(crate) mod outbound;
pub mod paths;
#[cfg(test)]
mod property_tests;
pub(crate) mod startup;
pub mod state;
pub mod store;
mod tasks;
pub mod templates;

use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::password::Hasher;
use crate::crypto::seal::DataKey;
use crate::crypto::signing_keys::KeyRing;
use crate::mail::Mailer;
use crate::oidc::discovery::ProviderMetadata;
use crate::state::AppState;
use crate::store::Store;
use crate::templates::Templates;

/// Opens the database (migrating it), loads or generates the signing keys and
/// assembles the shared state. Nothing listens yet.
pub async fn build(config: Config, clock: Clock) -> anyhow::Result<AppState> {
    let store = Store::connect(&config).await?;
    store.migrate().await?;
    let max_token_ttl = config.id_token_ttl_secs.max(config.access_token_ttl_secs);
    let keys = KeyRing::open(
        store.clone(),
        config.keys_dir.clone(),
        clock.clone(),
        max_token_ttl,
        config.key_publish_lead_secs,
    )
    .await
    .context("cannot load the signing keys")?;
    let data_key = DataKey::load_or_create(&config.keys_dir).context("cannot load the data key")?;
    let templates = Templates::load().context("cannot load the page templates")?;
    let mailer = Mailer::from_config(&config)?.with_clock(clock.clone());
    let hasher = Hasher::new(config.password_hash_concurrency);
    let dummy_hash = crate::crypto::password::dummy_hash();
    let discovery_json = serde_json::to_string(&ProviderMetadata::new(&config))?;
    let webauthn = Arc::new(authn::passkey::build_webauthn(&config)?);
    // The nonce key is derived once here, not per DPoP request.
    let dpop_nonces = config
        .dpop_nonce_required
        .then(|| crypto::dpop_nonce::Nonces::new(&data_key, config.dpop_nonce_lifetime_secs));
    Ok(AppState::new(state::Services {
        config: Arc::new(config),
        store,
        keys,
        data_key,
        clock,
        templates: Arc::new(templates),
        mailer,
        hasher,
        dummy_hash: Arc::from(dummy_hash),
        metrics: Arc::default(),
        discovery_json: Arc::from(discovery_json),
        webauthn,
        client_jwks: crypto::client_jwks::ClientJwks::default(),
        dpop_nonces,
    }))
}

/// Serves `state` on `listener` with the background tasks (purge, key reload)
/// until `shutdown` completes, then drains in-flight requests.
///
/// With `tls_cert`/`tls_key` configured the listener speaks HTTPS. Either way
/// connections get the configured header-read and keep-alive timeouts and
/// cap (`http/server/`).
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let tls = match &state.config.tls {
        Some((cert, key)) => Some(http::server::load_tls(cert, key).await?),
        None => None,
    };
    let limits = http::server::Limits::from_config(&state.config);
    tracing::debug!(
        max_connections = limits.max_connections,
        header_read_timeout_secs = limits.timeouts.header_read.as_secs(),
        keep_alive_timeout_secs = limits.timeouts.keep_alive.as_secs(),
        "connection limits"
    );
    let mut background = tasks::spawn(&state);
    let served = http::server::serve(listener, http::router(state), tls, limits, shutdown)
        .await
        .context("server failed");
    background.abort_all();
    served
}
