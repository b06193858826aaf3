//! Kagi (鍵): an OpenID Connect provider for an online securities broker,
//! whose tokens say through `acr`/`amr` whether the customer used a passkey.
//!
//! `main` parses the CLI and calls [`cli::run`]; the server is [`build`] +
//! [`run`], which the integration tests call directly on a random port.

pub mod audit;
pub mod authn;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod error;
pub mod http;
pub mod mail;
pub mod metrics;
pub mod model;
pub mod oidc;
#[cfg(test)]
mod property_tests;
pub mod startup;
pub mod state;
pub mod store;
mod tasks;
pub mod templates;

use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;

use secrecy::SecretString;

use crate::authn::password::Hasher;
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::seal::DataKey;
use crate::mail::Mailer;
use crate::oidc::discovery::ProviderMetadata;
use crate::oidc::signing_keys::KeyRing;
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
    let dummy_hash = hasher
        .hash(SecretString::from(crate::crypto::random::handle()))
        .await?;
    let discovery_json = serde_json::to_string(&ProviderMetadata::new(&config))?;
    let webauthn = Arc::new(authn::passkey::build_webauthn(&config)?);
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
        client_jwks: oidc::client_jwks::ClientJwks::default(),
    }))
}

/// The router for `state`.
pub fn app(state: AppState) -> axum::Router {
    http::router(state)
}

/// Serves `state` on `listener` with the background tasks (purge, key reload)
/// until `shutdown` completes, then drains in-flight requests.
///
/// With `tls_cert`/`tls_key` configured the listener speaks HTTPS. Either way
/// connections get the configured header-read and keep-alive timeouts and
/// cap ([`http::server`]).
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
    let served = http::server::serve(listener, app(state), tls, limits, shutdown)
        .await
        .context("server failed");
    background.abort_all();
    served
}

/// `kagi serve`: checks, binds at once, builds, and serves until Ctrl-C or SIGTERM.
///
/// The folders are checked first; the configured address is bound before the
/// database is opened, and an unreachable PostgreSQL server is waited for
/// with backoff while `/healthz` answers and `/readyz` says 503.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let problems = startup::folder_problems(&config, true);
    if !problems.is_empty() {
        anyhow::bail!("configuration: {}", problems.join("\nconfiguration: "));
    }
    for warning in startup::warnings(&config) {
        tracing::warn!("configuration: {warning}");
    }
    let listen = config.listen;
    let bound = std::net::TcpListener::bind(listen)
        .with_context(|| format!("cannot listen on {listen} (`listen`, KAGI_LISTEN)"))?;
    bound.set_nonblocking(true)?;
    // The start-up server accepts on a second handle of the same socket; when
    // it stops, connections made meanwhile wait in the socket's queue for the
    // real server instead of being refused.
    let booting = startup::Booting::start(bound.try_clone()?, &config).await?;
    tracing::info!(listen = %listen, "listening; /readyz says 503 until the database is ready");
    let state = tokio::select! {
        state = startup::build_when_reachable(config) => state,
        () = shutdown_signal() => {
            booting.stop().await;
            return Ok(());
        }
    };
    booting.stop().await;
    let state = state?;
    let listener = TcpListener::from_std(bound)?;
    tracing::info!(listen = %listen, issuer = %state.config.issuer_str(), tls = state.config.tls.is_some(), "kagi is serving");
    run(listener, state, shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
