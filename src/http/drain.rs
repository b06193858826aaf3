//! `Connection: close` on an HTTP/1.1 response sent before its request body
//! was read to the end.
//!
//! The rest of such a body is still on its way, so the connection cannot
//! carry another request: hyper closes it after the response. Saying so in
//! the response (RFC 9112 §9.6) stops a keep-alive client from sending its
//! next request into a closing connection and getting a reset instead of an
//! answer. This covers every early answer at once: the body limits of the
//! token endpoint and the forms, routes that read no body, and requests
//! whose body was still arriving at the request timeout.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderValue, Version, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};

/// Adds `Connection: close` when the handler answered without reading the
/// whole request body (HTTP/1.x only: HTTP/2 has no such header, and ends a
/// stream without touching the connection).
pub async fn close_unless_drained(request: Request, next: Next) -> Response {
    let http1 = request.version() < Version::HTTP_2;
    let (parts, body) = request.into_parts();
    let drained = Arc::new(AtomicBool::new(body.is_end_stream()));
    let body = Body::new(Tracked {
        inner: body,
        drained: Arc::clone(&drained),
    });
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if http1 && !drained.load(Ordering::Acquire) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A request body that records when it has been read to its end.
struct Tracked {
    inner: Body,
    drained: Arc<AtomicBool>,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let ended = matches!(polled, Poll::Ready(None))
            || matches!(polled, Poll::Ready(Some(Ok(_))) if self.inner.is_end_stream());
        if ended {
            self.drained.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
