//! `GET /.well-known/openid-configuration` (OpenID Connect Discovery 1.0 §4).

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::state::AppState;

/// Serves the provider metadata computed at start.
pub async fn openid_configuration(State(state): State<AppState>) -> impl IntoResponse {
    let cache = format!("public, max-age={}", state.config.jwks_max_age_secs);
    (
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::CACHE_CONTROL, cache),
        ],
        state.discovery_json.to_string(),
    )
}
