//! Request metrics of this node and their Prometheus text format; the
//! middleware and `GET /metrics` that feed and serve them are in
//! `http/metrics.rs`.
//!
//! Requests are counted by route template (never the raw path, which would
//! let a scanner grow the series without bound), method and status, with a
//! latency histogram per route. Pool occupancy is read at scrape time.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Debug, Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Counters and histograms of the requests served by this node.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<HashMap<(&'static str, String, u16), u64>>,
    latency: Mutex<HashMap<&'static str, Histogram>>,
    routes: Mutex<HashMap<String, &'static str>>,
}

impl Metrics {
    /// Records one finished request.
    pub fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let route = self.intern(route);
        *lock(&self.requests)
            .entry((route, method.to_owned(), status))
            .or_default() += 1;
        let mut latency = lock(&self.latency);
        let h = latency.entry(route).or_default();
        h.count += 1;
        h.sum += seconds;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                h.buckets[i] += 1;
            }
        }
    }

    /// Route templates are few and fixed, so each is leaked once and shared.
    fn intern(&self, route: &str) -> &'static str {
        let mut routes = lock(&self.routes);
        if let Some(r) = routes.get(route) {
            return r;
        }
        let leaked: &'static str = Box::leak(route.to_owned().into_boxed_str());
        routes.insert(route.to_owned(), leaked);
        leaked
    }

    /// Renders every series in the Prometheus text exposition format.
    pub fn render(&self, pool: crate::store::PoolStats) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP kagi_http_requests_total HTTP requests served, by route, method and status.\n",
        );
        out.push_str("# TYPE kagi_http_requests_total counter\n");
        let mut requests: Vec<_> = lock(&self.requests)
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        requests.sort();
        for ((route, method, status), n) in requests {
            let _ = writeln!(
                out,
                "kagi_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str(
            "# HELP kagi_http_request_duration_seconds Time to answer a request, by route.\n",
        );
        out.push_str("# TYPE kagi_http_request_duration_seconds histogram\n");
        let latency = lock(&self.latency);
        let mut routes: Vec<_> = latency.keys().copied().collect();
        routes.sort_unstable();
        for route in routes {
            let h = &latency[route];
            for (bound, n) in BUCKETS.iter().zip(h.buckets) {
                let _ = writeln!(
                    out,
                    "kagi_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "kagi_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "kagi_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "kagi_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count
            );
        }
        let gauges = [
            (
                "kagi_db_pool_connections",
                "Open database connections.",
                pool.size,
            ),
            (
                "kagi_db_pool_idle_connections",
                "Open database connections not in use.",
                pool.idle,
            ),
            (
                "kagi_db_pool_max_connections",
                "Configured maximum of database connections.",
                pool.max,
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        out
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves counters that are still valid numbers.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.observe("/jwks", "GET", 200, 0.002);
        m.observe("/jwks", "GET", 200, 0.3);
        let text = m.render(crate::store::PoolStats {
            size: 2,
            idle: 1,
            max: 16,
        });
        assert!(
            text.contains(
                "kagi_http_requests_total{route=\"/jwks\",method=\"GET\",status=\"200\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "kagi_http_request_duration_seconds_bucket{route=\"/jwks\",le=\"0.0025\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "kagi_http_request_duration_seconds_bucket{route=\"/jwks\",le=\"0.5\"} 2"
            ),
            "{text}"
        );
        assert!(text.contains("kagi_db_pool_max_connections 16"), "{text}");
    }
}
