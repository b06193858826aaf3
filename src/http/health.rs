//! Liveness and readiness probes.

use axum::extract::State;
use axum::http::StatusCode;

use crate::store::Store;

/// `GET /healthz`: the process answers.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz`: the database answers too; 503 otherwise, so a load balancer
/// takes this node out instead of letting it fail logins.
pub async fn readyz(State(store): State<Store>) -> (StatusCode, &'static str) {
    match store.ping().await {
        Ok(()) => (StatusCode::OK, "ready\n"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n")
        }
    }
}

/// The routes a node answers while it waits for its database at start.
///
/// `/healthz` says the process is alive (so a supervisor does not restart it
/// into a crash loop); `/readyz` and every other path answer 503 with
/// `Retry-After`, so a load balancer sends no customer here yet.
pub fn booting_router() -> axum::Router {
    use axum::routing::get;
    axum::Router::new()
        .route("/healthz", get(healthz))
        .fallback(starting)
}

async fn starting() -> (
    StatusCode,
    [(axum::http::HeaderName, &'static str); 2],
    &'static str,
) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (axum::http::header::RETRY_AFTER, "5"),
            (axum::http::header::CACHE_CONTROL, "no-store"),
        ],
        "starting: waiting for the database\n",
    )
}
