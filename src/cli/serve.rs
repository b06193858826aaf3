//! `kagi serve`: the start-up checks, then [`crate::build`] and [`crate::run`]
//! until a signal.
//!
//! It lives here rather than in `lib.rs` because it drives `startup`, which
//! itself calls `crate::build`: the crate root stays below both.

use anyhow::Context as _;

use crate::config::Config;
use crate::startup;

/// `kagi serve`: checks, binds at once, builds, and serves until Ctrl-C or SIGTERM.
///
/// The folders are checked first; the configured address is bound before the
/// database is opened, and an unreachable PostgreSQL server is waited for
/// with backoff while `/healthz` answers and `/readyz` says 503.
pub(super) async fn run(config: Config) -> anyhow::Result<()> {
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
    let listener = tokio::net::TcpListener::from_std(bound)?;
    tracing::info!(listen = %listen, issuer = %state.config.issuer_str(), tls = state.config.tls.is_some(), "kagi is serving");
    crate::run(listener, state, shutdown_signal()).await
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
