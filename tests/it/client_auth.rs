//! `private_key_jwt` client authentication (RFC 7523, FAPI 2.0): the
//! assertion's time claims, and how Kagi fetches a client's `jwks_uri`
//! (cached, public addresses only, no redirects, bounded size).
//!
//! The token requests here carry an unknown code: an authenticated client
//! gets `400 invalid_grant`, an unauthenticated one `401 invalid_client`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, TestApp};

both_backends!(
    client_assertions_need_a_recent_iat_a_past_nbf_and_an_exp,
    many_token_requests_fetch_a_jwks_uri_once_and_implausible_assertions_fetch_nothing,
    an_unknown_kid_is_refetched_at_most_once_per_interval,
    a_redirecting_or_oversized_jwks_uri_is_refused,
    a_jwks_uri_body_streamed_past_the_limit_without_a_length_is_refused,
    a_loopback_jwks_uri_is_refused_unless_allowed_and_never_contacted
);

const CALLBACK: &str = "https://rp.example.com/cb";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const ALLOW_PRIVATE: (&str, &str) = ("KAGI_CLIENT_JWKS_ALLOW_PRIVATE", "true");

/// A client signing key: its `kid`, private half and public JWK.
struct ClientKey {
    kid: String,
    encoding: jsonwebtoken::EncodingKey,
    jwk: Value,
}

impl ClientKey {
    fn new(kid: &str) -> Self {
        let alg = kagi::model::SigningAlg::Es256;
        let pem = kagi::crypto::keys::generate_pem(alg).unwrap();
        let material = kagi::crypto::keys::from_pem(alg, &pem).unwrap();
        let mut jwk = serde_json::to_value(&material.jwk).unwrap();
        jwk["kid"] = json!(kid);
        Self {
            kid: kid.to_owned(),
            encoding: material.encoding,
            jwk,
        }
    }

    /// An assertion with these claims.
    fn sign(&self, claims: &Value) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

/// A JWK set of these keys, as JSON text.
fn jwks(keys: &[&ClientKey]) -> String {
    json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() }).to_string()
}

/// Good claims for `client_id` at `now`, with a fresh `jti`.
fn claims(app: &TestApp, client_id: &str) -> Value {
    let now = app.clock.now();
    json!({
        "iss": client_id, "sub": client_id, "aud": app.base,
        "jti": uuid::Uuid::new_v4().to_string(), "iat": now, "exp": now + 60,
    })
}

/// `POST /token` with an unknown code and this assertion: the status and `error`.
async fn present(app: &TestApp, assertion: &str) -> (u16, String) {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", "unknown-code"),
        ("redirect_uri", CALLBACK),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion),
    ];
    let response = reqwest::Client::new()
        .post(app.url("/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
    )
}

const AUTHENTICATED: (u16, &str) = (400, "invalid_grant");
const REFUSED: (u16, &str) = (401, "invalid_client");

fn answer(got: &(u16, String)) -> (u16, &str) {
    (got.0, got.1.as_str())
}

/// A client's key server on 127.0.0.1: `/jwks` serves the published set,
/// `/redirect` sends to `/jwks`, `/big` answers more than 64 KiB. It counts
/// the requests each path receives.
struct KeyServer {
    base: String,
    published: Arc<Mutex<String>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    task: tokio::task::JoinHandle<()>,
}

impl KeyServer {
    async fn start(set: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let published = Arc::new(Mutex::new(set));
        let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let (jwks_set, big_set, counter) = (published.clone(), published.clone(), hits.clone());
        let target = format!("{base}/jwks");
        let app = axum::Router::new()
            .route(
                "/jwks",
                axum::routing::get(move || {
                    let set = jwks_set.lock().unwrap().clone();
                    async move { ([(header::CONTENT_TYPE, "application/json")], set) }
                }),
            )
            .route(
                "/redirect",
                axum::routing::get(move || async move {
                    (StatusCode::FOUND, [(header::LOCATION, target)]).into_response()
                }),
            )
            .route(
                "/big",
                axum::routing::get(move || {
                    // A valid set with a padding member: only its size is wrong.
                    let mut set: Value = serde_json::from_str(&big_set.lock().unwrap()).unwrap();
                    set["padding"] = json!("x".repeat(70_000));
                    async move {
                        (
                            [(header::CONTENT_TYPE, "application/json")],
                            set.to_string(),
                        )
                    }
                }),
            )
            .layer(axum::middleware::from_fn(
                move |request: axum::extract::Request, next: axum::middleware::Next| {
                    let counter = counter.clone();
                    async move {
                        *counter
                            .lock()
                            .unwrap()
                            .entry(request.uri().path().to_owned())
                            .or_default() += 1;
                        next.run(request).await
                    }
                },
            ));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            base,
            published,
            hits,
            task,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    fn publish(&self, set: String) {
        *self.published.lock().unwrap() = set;
    }
}

impl Drop for KeyServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Registers a `private_key_jwt` client whose keys are at `jwks_uri`.
fn register(app: &TestApp, client_id: &str, jwks_uri: &str) {
    let out = app.cli(
        &[
            "--json",
            "client",
            "add",
            "--client-id",
            client_id,
            "--name",
            "Signed",
            "--redirect-uri",
            CALLBACK,
            "--auth-method",
            "private_key_jwt",
            "--jwks-uri",
            jwks_uri,
        ],
        None,
    );
    assert!(out.success, "{out:?}");
}

async fn client_assertions_need_a_recent_iat_a_past_nbf_and_an_exp(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let key = ClientKey::new("k1");
    let out = app.cli(
        &[
            "--json",
            "client",
            "add",
            "--client-id",
            "signed",
            "--name",
            "Signed",
            "--redirect-uri",
            CALLBACK,
            "--auth-method",
            "private_key_jwt",
            "--jwks",
            &jwks(&[&key]),
        ],
        None,
    );
    assert!(out.success, "{out:?}");
    let now = app.clock.now();
    let with = |changes: &[(&str, Value)]| {
        let mut c = claims(&app, "signed");
        for (name, value) in changes {
            match value {
                Value::Null => {
                    c.as_object_mut().unwrap().remove(*name);
                }
                v => c[*name] = v.clone(),
            }
        }
        key.sign(&c)
    };
    let table: Vec<(&str, String, (u16, &str))> = vec![
        ("good", with(&[]), AUTHENTICATED),
        (
            "iat 10 s ahead (the allowed skew)",
            with(&[("iat", json!(now + 10))]),
            AUTHENTICATED,
        ),
        (
            "iat 60 s old",
            with(&[("iat", json!(now - 60))]),
            AUTHENTICATED,
        ),
        (
            "nbf just passed",
            with(&[("nbf", json!(now - 5))]),
            AUTHENTICATED,
        ),
        ("no iat", with(&[("iat", Value::Null)]), REFUSED),
        ("iat 61 s old", with(&[("iat", json!(now - 61))]), REFUSED),
        ("iat 11 s ahead", with(&[("iat", json!(now + 11))]), REFUSED),
        ("nbf 30 s ahead", with(&[("nbf", json!(now + 30))]), REFUSED),
        ("no exp", with(&[("exp", Value::Null)]), REFUSED),
        (
            "exp passed",
            with(&[("exp", json!(now - 1)), ("iat", json!(now - 30))]),
            REFUSED,
        ),
        (
            "exp beyond 5 min",
            with(&[("exp", json!(now + 3600))]),
            REFUSED,
        ),
        ("no jti", with(&[("jti", Value::Null)]), REFUSED),
    ];
    for (case, assertion, expected) in &table {
        assert_eq!(answer(&present(&app, assertion).await), *expected, "{case}");
    }
}

async fn many_token_requests_fetch_a_jwks_uri_once_and_implausible_assertions_fetch_nothing(
    backend: Backend,
) {
    let app = TestApp::spawn_with(backend, &[ALLOW_PRIVATE]).await;
    let key = ClientKey::new("k1");
    let server = KeyServer::start(jwks(&[&key])).await;
    register(&app, "signed", &server.url("/jwks"));

    // Claims that cannot pass are refused before any key is looked up.
    let mut wrong_aud = claims(&app, "signed");
    wrong_aud["aud"] = json!("https://elsewhere.example/token");
    let mut wrong_iss = claims(&app, "signed");
    wrong_iss["iss"] = json!("someone-else");
    let mut stale = claims(&app, "signed");
    stale["iat"] = json!(app.clock.now() - 3600);
    for bad in [&wrong_aud, &wrong_iss, &stale] {
        assert_eq!(answer(&present(&app, &key.sign(bad)).await), REFUSED);
    }
    assert_eq!(present(&app, "garbage.not.jwt").await.0, 401);
    assert_eq!(
        server.hits("/jwks"),
        0,
        "nothing was fetched for assertions that could not pass"
    );

    let app = Arc::new(app);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let (app, assertion) = (app.clone(), key.sign(&claims(&app, "signed")));
        set.spawn(async move { present(&app, &assertion).await });
    }
    while let Some(done) = set.join_next().await {
        assert_eq!(answer(&done.unwrap()), AUTHENTICATED);
    }
    for _ in 0..5 {
        assert_eq!(
            answer(&present(&app, &key.sign(&claims(&app, "signed"))).await),
            AUTHENTICATED
        );
    }
    assert_eq!(
        server.hits("/jwks"),
        1,
        "15 authenticated requests, one fetch"
    );

    app.clock.advance(300);
    assert_eq!(
        answer(&present(&app, &key.sign(&claims(&app, "signed"))).await),
        AUTHENTICATED
    );
    assert_eq!(
        server.hits("/jwks"),
        2,
        "fetched again once client_jwks_cache_secs passed"
    );
}

async fn an_unknown_kid_is_refetched_at_most_once_per_interval(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[ALLOW_PRIVATE]).await;
    let (old, new) = (ClientKey::new("old"), ClientKey::new("new"));
    let server = KeyServer::start(jwks(&[&old])).await;
    register(&app, "signed", &server.url("/jwks"));
    let by = |key: &ClientKey| key.sign(&claims(&app, "signed"));

    assert_eq!(answer(&present(&app, &by(&new)).await), REFUSED);
    assert_eq!(server.hits("/jwks"), 1);
    for _ in 0..5 {
        assert_eq!(answer(&present(&app, &by(&new)).await), REFUSED);
    }
    assert_eq!(
        server.hits("/jwks"),
        1,
        "an unknown kid right after a fetch fetches nothing"
    );

    server.publish(jwks(&[&old, &new]));
    assert_eq!(
        answer(&present(&app, &by(&new)).await),
        REFUSED,
        "still inside the interval"
    );
    assert_eq!(server.hits("/jwks"), 1);
    app.clock.advance(59);
    assert_eq!(answer(&present(&app, &by(&new)).await), REFUSED);
    assert_eq!(server.hits("/jwks"), 1);

    app.clock.advance(1);
    assert_eq!(
        answer(&present(&app, &by(&new)).await),
        AUTHENTICATED,
        "the rotated-in key is found"
    );
    assert_eq!(server.hits("/jwks"), 2);
    assert_eq!(answer(&present(&app, &by(&old)).await), AUTHENTICATED);
    assert_eq!(answer(&present(&app, &by(&new)).await), AUTHENTICATED);
    assert_eq!(server.hits("/jwks"), 2);
}

async fn a_redirecting_or_oversized_jwks_uri_is_refused(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[ALLOW_PRIVATE]).await;
    let key = ClientKey::new("k1");
    let server = KeyServer::start(jwks(&[&key])).await;
    register(&app, "redirected", &server.url("/redirect"));
    register(&app, "padded", &server.url("/big"));

    assert_eq!(
        answer(&present(&app, &key.sign(&claims(&app, "redirected"))).await),
        REFUSED
    );
    assert_eq!(
        (server.hits("/redirect"), server.hits("/jwks")),
        (1, 0),
        "the redirect was not followed"
    );

    assert_eq!(
        answer(&present(&app, &key.sign(&claims(&app, "padded"))).await),
        REFUSED
    );
    assert_eq!(server.hits("/big"), 1);
}

async fn a_loopback_jwks_uri_is_refused_unless_allowed_and_never_contacted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let key = ClientKey::new("k1");
    let server = KeyServer::start(jwks(&[&key])).await;
    register(&app, "signed", &server.url("/jwks"));
    assert_eq!(
        answer(&present(&app, &key.sign(&claims(&app, "signed"))).await),
        REFUSED
    );
    assert_eq!(
        server.hits("/jwks"),
        0,
        "no request reached the loopback address"
    );
    let audit = app.state.store.list_audit_events(None, 20).await.unwrap();
    assert!(
        audit.iter().any(|e| e.kind == "client.auth_failed"),
        "{audit:?}"
    );
}

/// Serves one JWK set per connection with `Transfer-Encoding: chunked` and
/// no `Content-Length`, in chunks of 1 KiB: the size is known only as the
/// body arrives. Returns the base URL and the count of requests served.
async fn chunked_key_server(body: String) -> (String, Arc<Mutex<usize>>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let served = Arc::new(Mutex::new(0));
    let count = served.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            *count.lock().unwrap() += 1;
            let mut request = Vec::new();
            let mut buf = [0_u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                        Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
            if socket.write_all(head.as_bytes()).await.is_err() {
                continue;
            }
            for chunk in body.as_bytes().chunks(1024) {
                let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
                if socket.write_all(&framed).await.is_err() {
                    break;
                }
            }
            let _ = socket.write_all(b"0\r\n\r\n").await;
        }
    });
    (base, served)
}

async fn a_jwks_uri_body_streamed_past_the_limit_without_a_length_is_refused(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[ALLOW_PRIVATE]).await;
    let key = ClientKey::new("k1");
    // The same valid set twice: once small, once padded past the 64 KiB limit.
    let (small, small_hits) = chunked_key_server(jwks(&[&key])).await;
    let mut padded: Value = serde_json::from_str(&jwks(&[&key])).unwrap();
    padded["padding"] = json!("x".repeat(70_000));
    let (big, big_hits) = chunked_key_server(padded.to_string()).await;
    register(&app, "streamed", &format!("{small}/jwks"));
    register(&app, "streamed-big", &format!("{big}/jwks"));

    assert_eq!(
        answer(&present(&app, &key.sign(&claims(&app, "streamed"))).await),
        AUTHENTICATED,
        "a chunked body within the limit is read"
    );
    assert_eq!(
        answer(&present(&app, &key.sign(&claims(&app, "streamed-big"))).await),
        REFUSED,
        "a chunked body past the limit is refused"
    );
    assert_eq!(
        (*small_hits.lock().unwrap(), *big_hits.lock().unwrap()),
        (1, 1)
    );
}
