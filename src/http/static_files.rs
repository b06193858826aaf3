//! `GET /static/{file}`: the stylesheet and script compiled into the binary
//! (no CDN, no folder to deploy).

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::error::PageError;

/// Serves one embedded asset.
pub async fn asset(Path(file): Path<String>) -> Response {
    match crate::templates::static_asset(&file) {
        Some((content_type, body)) => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            body,
        )
            .into_response(),
        None => PageError::not_found().into_response(),
    }
}
