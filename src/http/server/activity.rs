//! What one connection is doing, for its timeouts and for choosing which
//! connection to shed at the cap.
//!
//! A connection is in one phase at a time, each with the instant it began:
//! just opened, idle between requests, reading the next request's header, or
//! busy answering. Its reads (through [`Watched`]) and its requests (through
//! [`RequestGuard`]) move it along; [`Activity::expired`] completes when the
//! phase has lasted too long. One timer per connection, instead of one in the
//! protocol code, covers the TLS handshake, HTTP/1.1 and HTTP/2 alike.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// The time limits of every connection.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// From opening (or from the first byte after an idle spell) to a whole request header.
    pub header_read: Duration,
    /// From the end of a response to the first byte of the next request.
    pub keep_alive: Duration,
}

#[derive(Clone, Copy, Debug)]
enum Phase {
    /// Accepted: the TLS handshake and the first request's header are due.
    Opened(Instant),
    /// Between requests, nothing received yet.
    Idle(Instant),
    /// The next request's first bytes came at this instant; its header is due.
    Reading(Instant),
    /// Answering this many requests (HTTP/2 runs several at once); the
    /// router's request timeout bounds them.
    Busy(usize),
}

/// Why a connection was closed by its watcher.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// No whole request header (or TLS handshake) in time.
    HeaderTimeout,
    /// Idle past the keep-alive timeout.
    Idle,
    /// Closed to make room for a new connection at the cap.
    Shed,
}

/// The shared state of one connection.
#[derive(Debug)]
pub struct Activity {
    phase: Mutex<Phase>,
    /// Set by the first HTTP/2 request. HTTP/2 peers send frames between
    /// requests (window updates, pings), so bytes do not mean a header is
    /// coming, and only the keep-alive timer applies between requests.
    multiplexed: AtomicBool,
    changed: Notify,
    shed: Notify,
}

impl Activity {
    /// A connection accepted now.
    pub fn accepted() -> Self {
        Self::opened_at(Instant::now())
    }

    fn opened_at(at: Instant) -> Self {
        Self {
            phase: Mutex::new(Phase::Opened(at)),
            multiplexed: AtomicBool::new(false),
            changed: Notify::new(),
            shed: Notify::new(),
        }
    }

    fn phase(&self) -> MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set(&self, phase: &mut Phase, next: Phase) {
        *phase = next;
        self.changed.notify_one();
    }

    /// Bytes arrived from the client at `at`.
    fn received_at(&self, at: Instant) {
        if self.multiplexed.load(Ordering::Relaxed) {
            return;
        }
        let mut phase = self.phase();
        if let Phase::Idle(_) = *phase {
            self.set(&mut phase, Phase::Reading(at));
        }
    }

    /// A request's header has been read; the guard marks the end of its answer.
    pub fn request_started(self: &Arc<Self>, http2: bool) -> RequestGuard {
        self.started(http2);
        RequestGuard(Arc::clone(self))
    }

    fn started(&self, http2: bool) {
        if http2 {
            self.multiplexed.store(true, Ordering::Relaxed);
        }
        let mut phase = self.phase();
        let next = match *phase {
            Phase::Busy(n) => Phase::Busy(n + 1),
            _ => Phase::Busy(1),
        };
        self.set(&mut phase, next);
    }

    fn finished_at(&self, at: Instant) {
        let mut phase = self.phase();
        let next = match *phase {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle(at),
        };
        self.set(&mut phase, next);
    }

    /// When the current phase runs out, and why; `None` while busy.
    fn deadline(&self, limits: Timeouts) -> Option<(Instant, Expiry)> {
        match *self.phase() {
            Phase::Opened(since) | Phase::Reading(since) => {
                Some((since + limits.header_read, Expiry::HeaderTimeout))
            }
            Phase::Idle(since) => Some((since + limits.keep_alive, Expiry::Idle)),
            Phase::Busy(_) => None,
        }
    }

    /// Since when the connection has been waiting on its client; `None` while busy.
    fn waiting_since(&self) -> Option<Instant> {
        match *self.phase() {
            Phase::Opened(since) | Phase::Idle(since) | Phase::Reading(since) => Some(since),
            Phase::Busy(_) => None,
        }
    }

    /// Completes when the connection should be closed: its phase lasted too
    /// long, or it was shed while waiting on its client.
    pub async fn expired(&self, limits: Timeouts) -> Expiry {
        loop {
            let deadline = self.deadline(limits);
            if let Some((at, why)) = deadline
                && at <= Instant::now()
            {
                return why;
            }
            let sleep = async {
                match deadline {
                    Some((at, _)) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = sleep => {}
                () = self.changed.notified() => {}
                // A request that came in since the connection was chosen is
                // answered: shedding is for connections that wait. (An
                // HTTP/1.1 handler runs inside this connection's task, so it
                // cannot have started unseen when this check passes.)
                () = self.shed.notified() => {
                    if self.waiting_since().is_some() {
                        return Expiry::Shed;
                    }
                }
            }
        }
    }
}

/// Marks one request as answered when dropped (also when its handler is cancelled).
#[derive(Debug)]
pub struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.finished_at(Instant::now());
    }
}

/// The client's side of a connection, reporting every read to its [`Activity`].
#[derive(Debug)]
pub struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Watched<S> {
    /// Watches `inner`.
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.received_at(Instant::now());
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The open connections, so that one can be shed when the cap is reached.
#[derive(Debug, Default)]
pub struct Registry {
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Activity>>>,
}

impl Registry {
    fn open(&self) -> MutexGuard<'_, HashMap<u64, Arc<Activity>>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Lists `activity` until the returned registration is dropped.
    pub fn register(self: &Arc<Self>, activity: Arc<Activity>) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.open().insert(id, activity);
        Registration {
            registry: Arc::clone(self),
            id,
        }
    }

    /// Tells the connection that has waited longest on its client (silent,
    /// idle or slow to send its header) to close, and unlists it; `false`
    /// when every connection is answering a request.
    ///
    /// A client that sends its request promptly is busy within moments of
    /// connecting, so under a flood of slow connections it is the flood
    /// that gives way, and an idle keep-alive client just reconnects
    /// (RFC 9112 §9.3 lets either side close an idle connection).
    pub fn shed_longest_waiting(&self) -> bool {
        let mut open = self.open();
        let longest = open
            .iter()
            .filter_map(|(id, activity)| activity.waiting_since().map(|since| (since, *id)))
            .min();
        let Some(activity) = longest.and_then(|(_, id)| open.remove(&id)) else {
            return false;
        };
        activity.shed.notify_one();
        true
    }
}

/// A connection's place in the [`Registry`], left when dropped.
#[derive(Debug)]
pub struct Registration {
    registry: Arc<Registry>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.open().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Timeouts = Timeouts {
        header_read: Duration::from_secs(10),
        keep_alive: Duration::from_secs(60),
    };

    #[test]
    fn each_phase_runs_out_on_its_own_timer() {
        let t0 = Instant::now();
        let at = |secs: u64| t0 + Duration::from_secs(secs);
        let activity = Activity::opened_at(t0);
        assert_eq!(
            activity.deadline(LIMITS),
            Some((at(10), Expiry::HeaderTimeout))
        );
        activity.started(false);
        activity.started(false);
        assert_eq!(activity.deadline(LIMITS), None, "no timer while answering");
        activity.received_at(at(1));
        activity.finished_at(at(2));
        assert_eq!(
            activity.deadline(LIMITS),
            None,
            "one request is still being answered"
        );
        activity.finished_at(at(3));
        assert_eq!(activity.deadline(LIMITS), Some((at(63), Expiry::Idle)));
        activity.received_at(at(20));
        activity.received_at(at(25));
        assert_eq!(
            activity.deadline(LIMITS),
            Some((at(30), Expiry::HeaderTimeout)),
            "the first byte after an idle spell starts the header timer"
        );
    }

    #[test]
    fn between_http2_requests_only_the_keep_alive_timer_runs() {
        let t0 = Instant::now();
        let activity = Activity::opened_at(t0);
        activity.started(true);
        activity.finished_at(t0);
        activity.received_at(t0 + Duration::from_secs(1));
        assert_eq!(
            activity.deadline(LIMITS),
            Some((t0 + LIMITS.keep_alive, Expiry::Idle))
        );
    }

    #[tokio::test]
    async fn a_phase_past_its_deadline_has_expired() {
        let activity = Activity::accepted();
        let none = Timeouts {
            header_read: Duration::ZERO,
            keep_alive: Duration::ZERO,
        };
        assert_eq!(activity.expired(none).await, Expiry::HeaderTimeout);
    }

    #[tokio::test]
    async fn the_connection_waiting_longest_is_shed_and_busy_ones_never() {
        let t0 = Instant::now();
        let registry = Arc::new(Registry::default());
        let busy = Arc::new(Activity::opened_at(t0));
        let _busy_place = registry.register(Arc::clone(&busy));
        busy.started(false);
        let older = Arc::new(Activity::opened_at(t0 + Duration::from_secs(1)));
        let _older_place = registry.register(Arc::clone(&older));
        let newer = Arc::new(Activity::opened_at(t0 + Duration::from_secs(2)));
        let _newer_place = registry.register(Arc::clone(&newer));

        assert!(registry.shed_longest_waiting());
        assert_eq!(older.expired(LIMITS).await, Expiry::Shed);
        busy.shed.notify_one();
        let answering = tokio::time::timeout(Duration::from_millis(50), busy.expired(LIMITS));
        assert!(
            answering.await.is_err(),
            "a busy connection ignores being shed"
        );
        assert!(registry.shed_longest_waiting());
        assert_eq!(newer.expired(LIMITS).await, Expiry::Shed);
        assert!(
            !registry.shed_longest_waiting(),
            "only a busy connection is left"
        );
    }
}
