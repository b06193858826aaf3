//! `GET /static/{file}`: the stylesheet and script compiled into the binary
//! (no CDN, no folder to deploy).

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::error::PageError;

/// `GET /favicon.ico`: there is none; 204 keeps browser consoles and 404 counts clean.
pub async fn no_favicon() -> Response {
    (
        axum::http::StatusCode::NO_CONTENT,
        [(header::CACHE_CONTROL, "public, max-age=86400")],
    )
        .into_response()
}

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
