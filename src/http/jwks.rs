//! `GET /jwks`: the public signing keys (RFC 7517 §5), as published by the key ring.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::state::AppState;

/// Serves the JWK set; clients may cache it for `jwks_max_age_secs`, which is
/// why a rotated-in key is published at least that long before it signs.
pub async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    let cache = format!("public, max-age={}", state.config.jwks_max_age_secs);
    (
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::CACHE_CONTROL, cache),
        ],
        state.keys.jwks_json().to_string(),
    )
}
