//! The session cookie: its name and attributes, setting it on a response and
//! reading it from a request. Its value is opaque here; `authn::session`
//! maps it to a session row.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use axum_extra::extract::CookieJar;

/// The session cookie. `__Host-` makes browsers insist on `Secure`, `Path=/`
/// and no `Domain`, so no sibling host can set or read it.
pub const SESSION_COOKIE: &str = "__Host-kagi_session";

/// `Set-Cookie` for a session cookie value.
///
/// `__Host-` prefix, `Secure`,
/// `HttpOnly`, `SameSite=Lax`, `Path=/`, no `Domain`, and no `Max-Age` (it
/// ends with the browser; the server ends it sooner by idle and absolute limits).
pub fn session_cookie(handle: &str) -> String {
    format!("{SESSION_COOKIE}={handle}; Path=/; Secure; HttpOnly; SameSite=Lax")
}

/// `Set-Cookie` that deletes the session cookie.
pub fn clear_session_cookie() -> String {
    format!("{SESSION_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0")
}

/// Adds the session cookie to `response` when a new value must be set.
pub fn with_cookie(mut response: Response, handle: Option<&str>) -> Response {
    if let Some(value) = handle.and_then(|h| HeaderValue::from_str(&session_cookie(h)).ok()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// The session cookie value the browser sent, if any.
pub fn session_value(headers: &HeaderMap) -> Option<String> {
    CookieJar::from_headers(headers)
        .get(SESSION_COOKIE)
        .map(|cookie| cookie.value().to_owned())
}
