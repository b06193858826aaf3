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
