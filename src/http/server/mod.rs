//! Serving connections: Kagi's own accept loop around hyper, for plain HTTP
//! and built-in TLS alike.
//!
//! `axum::serve` gives a connection no header-read or keep-alive timeout and
//! accepts without limit, so a few hundred slow clients could hold every file
//! descriptor and stop the server answering. Here every connection:
//!
//! - needs a place under the connection cap (`max_connections`); at the cap
//!   the connection that has waited longest on its client is closed for the
//!   newcomer ([`activity::Registry::shed_longest_waiting`]);
//! - must deliver its TLS handshake and request header within
//!   `header_read_timeout_secs`, and is closed after `keep_alive_timeout_secs`
//!   idle between requests ([`activity::Activity::expired`]);
//! - is asked to finish at shutdown (HTTP/1.1 closes once idle, HTTP/2 sends
//!   GOAWAY) and dropped if still open after [`DRAIN`].
//!
//! An accept error (out of file descriptors, say) never ends the loop: it
//! sheds a waiting connection, backs off and tries again.

pub mod activity;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::ConnectInfo;
use axum_server::accept::Accept as _;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt as _;

use self::activity::{Activity, Registry, Timeouts, Watched};
use crate::config::Config;

/// How long in-flight requests may take to finish at shutdown (the router's
/// request timeout cuts them at 30 s anyway).
pub const DRAIN: Duration = Duration::from_secs(10);
/// How long a newcomer waits for the connection it displaced to let go.
const SHED_WAIT: Duration = Duration::from_secs(1);
/// The cap when the open-file limit does not call for a lower one.
const DEFAULT_MAX_CONNECTIONS: u64 = 1024;

/// The connection limits, from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Header-read and keep-alive timeouts.
    pub timeouts: Timeouts,
    /// Most connections open at once.
    pub max_connections: usize,
}

impl Limits {
    /// The configured limits, deriving the cap from the open-file limit when unset.
    pub fn from_config(config: &Config) -> Self {
        let max_connections = match config.max_connections {
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
            None => derived_cap(open_file_limit(), config.database_max_connections),
        };
        Self {
            timeouts: Timeouts {
                header_read: config.header_read_timeout,
                keep_alive: config.keep_alive_timeout,
            },
            max_connections,
        }
    }
}

/// 1024, or what the open-file limit leaves after a reserve for everything
/// else: 64 (listener, log, mail, outgoing HTTP, key files) plus 3 per
/// database connection (an SQLite connection holds the database, its WAL
/// and its shared-memory file).
fn derived_cap(file_limit: Option<u64>, database_connections: u32) -> usize {
    let reserve = 64 + 3 * u64::from(database_connections);
    let cap = file_limit.map_or(DEFAULT_MAX_CONNECTIONS, |limit| {
        limit
            .saturating_sub(reserve)
            .clamp(8, DEFAULT_MAX_CONNECTIONS)
    });
    usize::try_from(cap).unwrap_or(usize::MAX)
}

/// The soft limit on open files, `None` when unlimited or unknown.
#[cfg(unix)]
fn open_file_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

#[cfg(not(unix))]
fn open_file_limit() -> Option<u64> {
    None
}

/// What every connection task shares.
struct Shared {
    router: Router,
    tls: Option<RustlsAcceptor>,
    timeouts: Timeouts,
    registry: Arc<Registry>,
    protocols: auto::Builder<TokioExecutor>,
}

/// Serves `router` on `listener` (over TLS with `tls`) until `shutdown`
/// completes, then drains the open connections for up to [`DRAIN`].
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<RustlsConfig>,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let mut protocols = auto::Builder::new(TokioExecutor::new());
    // The watcher in `activity` times headers and idle spells for both
    // protocols; hyper's own header timer would also cut idle keep-alive
    // connections at the header timeout.
    protocols
        .http1()
        .keep_alive(true)
        .header_read_timeout(None::<Duration>);
    let shared = Arc::new(Shared {
        router,
        tls: tls.map(|c| RustlsAcceptor::new(c).handshake_timeout(limits.timeouts.header_read)),
        timeouts: limits.timeouts,
        registry: Arc::default(),
        protocols,
    });
    let places = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut backoff = Backoff::default();
    let mut full_warned: Option<tokio::time::Instant> = None;
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => {
                backoff.reset();
                pair
            }
            Err(e) if per_connection(&e) => continue,
            Err(e) => {
                // Most likely out of file descriptors: free one, wait, retry.
                let wait = backoff.next(&e);
                shared.registry.shed_longest_waiting();
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(wait) => continue,
                }
            }
        };
        let Some(place) = admit(&places, &shared.registry).await else {
            if full_warned.is_none_or(|at| at.elapsed() > Duration::from_secs(10)) {
                tracing::warn!(
                    max_connections = limits.max_connections,
                    "connection refused: every connection is answering a request"
                );
                full_warned = Some(tokio::time::Instant::now());
            }
            continue;
        };
        let task = connection(Arc::clone(&shared), stream, peer, place, stopping.clone());
        connections.spawn(task);
    }
    drop(listener);
    stop.send_replace(true);
    let drained = tokio::time::timeout(DRAIN, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            "closing connections still open after the shutdown drain"
        );
    }
    connections.shutdown().await;
    Ok(())
}

/// Accept errors that concern one connection only (it went away before
/// being accepted): nothing to wait for.
fn per_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionReset, Interrupted, WouldBlock};
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    )
}

/// Waits between failed accepts: 10 ms, doubling up to 1 s, logged once per run of failures.
#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
}

impl Backoff {
    fn next(&mut self, e: &std::io::Error) -> Duration {
        if self.failures == 0 {
            tracing::error!(error = %e, "cannot accept connections; retrying");
        }
        self.failures = self.failures.saturating_add(1);
        Duration::from_millis(10 << self.failures.min(7)).min(Duration::from_secs(1))
    }

    fn reset(&mut self) {
        if self.failures > 0 {
            tracing::info!(failures = self.failures, "accepting connections again");
            self.failures = 0;
        }
    }
}

/// A place for a new connection: a free one, or one made by shedding the
/// connection that has waited longest on its client; `None` when every
/// connection is answering a request.
async fn admit(places: &Arc<Semaphore>, registry: &Registry) -> Option<OwnedSemaphorePermit> {
    if let Ok(place) = Arc::clone(places).try_acquire_owned() {
        return Some(place);
    }
    if !registry.shed_longest_waiting() {
        return None;
    }
    tokio::time::timeout(SHED_WAIT, Arc::clone(places).acquire_owned())
        .await
        .ok()?
        .ok()
}

/// One connection, from accept to close, holding its `place` under the cap.
async fn connection(
    shared: Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    place: OwnedSemaphorePermit,
    stopping: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity::accepted());
    let _registration = shared.registry.register(Arc::clone(&activity));
    // Responses are written whole; Nagle would only delay their last segment.
    let _ = stream.set_nodelay(true);
    let io = Watched::new(stream, Arc::clone(&activity));
    tokio::select! {
        why = activity.expired(shared.timeouts) => {
            tracing::debug!(client.addr = %peer, reason = ?why, "connection closed by the server");
        }
        () = shared.serve(io, peer, &activity, stopping) => {}
    }
    drop(place);
}

impl Shared {
    async fn serve(
        &self,
        io: Watched<TcpStream>,
        peer: SocketAddr,
        activity: &Arc<Activity>,
        stopping: watch::Receiver<bool>,
    ) {
        let Some(tls) = &self.tls else {
            return self.http(io, peer, activity, stopping).await;
        };
        match tls.accept(io, ()).await {
            Ok((stream, _)) => self.http(stream, peer, activity, stopping).await,
            Err(e) => tracing::debug!(client.addr = %peer, error = %e, "TLS handshake failed"),
        }
    }

    /// Runs HTTP/1.1 or HTTP/2 (whichever the client speaks) on `io`.
    async fn http<I>(
        &self,
        io: I,
        peer: SocketAddr,
        activity: &Arc<Activity>,
        mut stopping: watch::Receiver<bool>,
    ) where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let router = self.router.clone();
        let activity = Arc::clone(activity);
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            let answering = activity.request_started(request.version() == hyper::Version::HTTP_2);
            // What `into_make_service_with_connect_info` would add.
            request.extensions_mut().insert(ConnectInfo(peer));
            let router = router.clone();
            async move {
                let response = router.oneshot(request).await;
                drop(answering);
                response
            }
        });
        let conn = self.protocols.serve_connection(TokioIo::new(io), service);
        tokio::pin!(conn);
        let served = tokio::select! {
            served = conn.as_mut() => served,
            () = async { let _ = stopping.wait_for(|stop| *stop).await; } => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = served {
            tracing::debug!(client.addr = %peer, error = %e, "connection ended with an error");
        }
    }
}

/// Loads the built-in TLS certificate chain and key (PEM files).
pub async fn load_tls(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> anyhow::Result<RustlsConfig> {
    RustlsConfig::from_pem_file(cert, key)
        .await
        .with_context(|| {
            format!(
                "cannot load TLS certificate {} and key {}",
                cert.display(),
                key.display()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_cap_leaves_room_under_the_open_file_limit() {
        assert_eq!(derived_cap(None, 16), 1024, "unlimited");
        assert_eq!(derived_cap(Some(1_048_576), 16), 1024);
        assert_eq!(derived_cap(Some(1024), 16), 1024 - 64 - 48);
        assert_eq!(derived_cap(Some(256), 16), 256 - 64 - 48);
        assert_eq!(derived_cap(Some(64), 16), 8, "never below 8");
    }
}
