//! The only place that reads the wall clock.
//!
//! Everything else takes a [`Clock`], so tests step time forward instead of
//! sleeping to reach an expiry (STYLE rule 4).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// A source of the current time in unix seconds.
#[derive(Clone, Debug)]
pub struct Clock(Arc<Source>);

#[derive(Debug)]
enum Source {
    System,
    Manual(AtomicI64),
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self(Arc::new(Source::System))
    }

    /// A clock that stands still at `start` until [`Clock::advance`] moves it.
    pub fn manual(start: i64) -> Self {
        Self(Arc::new(Source::Manual(AtomicI64::new(start))))
    }

    /// A manual clock starting at the real current time.
    pub fn manual_at_now() -> Self {
        Self::manual(system_now())
    }

    /// Seconds since the unix epoch.
    pub fn now(&self) -> i64 {
        match &*self.0 {
            Source::System => system_now(),
            Source::Manual(t) => t.load(Ordering::SeqCst),
        }
    }

    /// Moves a manual clock forward; the system clock cannot be moved.
    pub fn advance(&self, seconds: i64) {
        if let Source::Manual(t) = &*self.0 {
            t.fetch_add(seconds, Ordering::SeqCst);
        }
    }
}

#[expect(clippy::disallowed_methods, reason = "this is the one wall-clock read")]
fn system_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Formats unix seconds as RFC 3339 for people (CLI output, pages).
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_advanced() {
        let clock = Clock::manual(1_000);
        assert_eq!(clock.now(), 1_000);
        clock.advance(61);
        assert_eq!(clock.now(), 1_061);
    }

    #[test]
    fn rfc3339_formats_the_epoch() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
