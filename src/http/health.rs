//! Liveness and readiness probes.

use axum::extract::State;
use axum::http::StatusCode;

use crate::paths;
use crate::state::AppState;

/// `GET /healthz`: the process answers.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz`: the database answers too; 503 otherwise, so a load balancer
/// takes this node out instead of letting it fail logins.
///
/// The probe has its own short deadline (`readiness_timeout_secs`), not the
/// pool's acquire timeout: a stalled database must make the node unready at
/// once, and a probe that hangs is read by most balancers as a failure anyway.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    let deadline = state.config.readiness_timeout;
    match tokio::time::timeout(deadline, state.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready\n"),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n")
        }
        Err(_) => {
            tracing::warn!(
                timeout_ms = deadline.as_millis(),
                "readiness check failed: the database did not answer in time"
            );
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
        .route(paths::HEALTHZ, get(healthz))
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
