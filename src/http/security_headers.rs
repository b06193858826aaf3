//! Security headers on every response.
//!
//! The CSP allows scripts and styles only from Kagi itself (no inline script,
//! no CDN) and no framing. A handler that needs another policy (the
//! `form_post` response page) sets its own header first; these are added only
//! when absent.
//!
//! There is deliberately no `form-action`: Chrome and Safari apply it to every
//! redirect that follows a form submission, and a login form's answer ends,
//! through `/authorize/continue`, in a redirect to the client (any https
//! origin, a loopback port or a private-use scheme), which `form-action
//! 'self'` would block. Form injection is prevented at the source instead:
//! every template autoescapes and no page renders customer-supplied HTML.

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// The default Content-Security-Policy.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the security headers a response does not already carry.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let defaults = [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"),
    ];
    for (name, value) in defaults {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    response
}
