//! A tiny trading site that logs customers in through Kagi and demands a
//! passkey (`acr=phr`) before trades and withdrawals, as the broker's guide
//! requires from mid-May 2026.
//!
//! It is a confidential OpenID Connect client built on the `openidconnect`
//! crate. "Buy" needs `phr` from an authentication in the last 10 minutes;
//! "Withdraw" needs `phr` from a fresh passkey check (`max_age=0`). When the
//! session is below that, the customer is sent back to Kagi, which steps up
//! in the same session.
//!
//! ```sh
//! DEMO_CLIENT_ID=trading-demo DEMO_CLIENT_SECRET=... cargo run --example trading_demo
//! ```
//! `examples/demo.sh` registers the client and a demo customer and starts it.

#![expect(
    clippy::unwrap_used,
    reason = "a demo: configuration errors may panic with their message"
)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse as _,
};

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// How recent a passkey check must be for a trade.
const BUY_WINDOW_SECS: i64 = 600;

#[derive(Clone)]
struct Demo {
    client: Arc<Client>,
    http: reqwest::Client,
    sessions: Arc<Mutex<HashMap<String, Session>>>,
}

#[derive(Default, Clone)]
struct Session {
    pending: Option<Pending>,
    login: Option<Login>,
    last_result: Option<String>,
}

#[derive(Clone)]
struct Pending {
    state: String,
    nonce: String,
    verifier: String,
    action: Option<String>,
}

#[derive(Clone)]
struct Login {
    sub: String,
    acr: String,
    amr: Vec<String>,
    auth_time: i64,
}

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main]
async fn main() {
    let issuer = env("DEMO_ISSUER", "http://localhost:8080");
    let listen = env("DEMO_LISTEN", "127.0.0.1:3000");
    let base = env("DEMO_BASE_URL", "http://localhost:3000");
    let client_id = std::env::var("DEMO_CLIENT_ID")
        .expect("set DEMO_CLIENT_ID (examples/demo.sh registers one)");
    let secret = std::env::var("DEMO_CLIENT_SECRET").expect("set DEMO_CLIENT_SECRET");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.clone()).unwrap(), &http)
            .await
            .unwrap_or_else(|e| {
                panic!("cannot read {issuer}/.well-known/openid-configuration: {e}")
            });
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client_id),
        Some(ClientSecret::new(secret)),
    )
    .set_redirect_uri(RedirectUrl::new(format!("{base}/callback")).unwrap());
    let demo = Demo {
        client: Arc::new(client),
        http,
        sessions: Arc::default(),
    };
    let app = axum::Router::new()
        .route("/", get(home))
        .route("/login", get(login))
        .route("/buy", get(buy))
        .route("/withdraw", get(withdraw))
        .route("/callback", get(callback))
        .with_state(demo);
    let listener = tokio::net::TcpListener::bind(&listen).await.unwrap();
    println!("trading demo on {base} (issuer {issuer})");
    axum::serve(listener, app).await.unwrap();
}

fn session_id(headers: &HeaderMap) -> Option<String> {
    let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
    cookies
        .split(';')
        .find_map(|c| c.trim().strip_prefix("demo_session=").map(str::to_owned))
}

fn now() -> i64 {
    #[expect(
        clippy::disallowed_methods,
        reason = "the demo is outside Kagi and reads its own clock"
    )]
    let t = std::time::SystemTime::now();
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn home(State(demo): State<Demo>, headers: HeaderMap) -> Html<String> {
    let session = session_id(&headers)
        .and_then(|id| demo.sessions.lock().unwrap().get(&id).cloned())
        .unwrap_or_default();
    let status = match &session.login {
        None => "<p id=\"status\">Not logged in.</p><p><a id=\"demo-login\" href=\"/login\">Log in with Kagi</a></p>".to_owned(),
        Some(l) => format!(
            "<p id=\"status\">Logged in as <code id=\"sub\">{}</code></p><dl><dt>acr</dt><dd id=\"acr\">{}</dd><dt>amr</dt><dd id=\"amr\">{}</dd><dt>auth_time</dt><dd id=\"auth-time\">{}</dd></dl>\
             <p><a id=\"buy\" href=\"/buy\">Buy</a> <a id=\"withdraw\" href=\"/withdraw\">Withdraw</a> <a href=\"/login\">Log in again</a></p>",
            escape(&l.sub),
            escape(&l.acr),
            escape(&l.amr.join(" ")),
            l.auth_time
        ),
    };
    let result = session
        .last_result
        .map(|r| format!("<p id=\"result\">{}</p>", escape(&r)))
        .unwrap_or_default();
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Trading demo</title></head><body><h1>Trading demo</h1>{status}{result}</body></html>"
    ))
}

/// Starts an authorization request; `action` is what to do once back.
fn start(
    demo: &Demo,
    headers: &HeaderMap,
    action: Option<&str>,
    phr: bool,
    max_age: Option<i64>,
) -> Response {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = demo
        .client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge);
    if phr {
        request = request.add_extra_param(
            "claims",
            r#"{"id_token":{"acr":{"essential":true,"values":["phr"]}}}"#,
        );
    }
    if let Some(age) = max_age {
        request = request.set_max_age(std::time::Duration::from_secs(age as u64));
    }
    let (url, state, nonce) = request.url();
    let id = session_id(headers).unwrap_or_else(|| CsrfToken::new_random().secret().clone());
    let pending = Pending {
        state: state.secret().clone(),
        nonce: nonce.secret().clone(),
        verifier: verifier.secret().clone(),
        action: action.map(str::to_owned),
    };
    demo.sessions
        .lock()
        .unwrap()
        .entry(id.clone())
        .or_default()
        .pending = Some(pending);
    let mut response = Redirect::to(url.as_str()).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        format!("demo_session={id}; Path=/; HttpOnly; SameSite=Lax")
            .parse()
            .unwrap(),
    );
    response
}

async fn login(State(demo): State<Demo>, headers: HeaderMap) -> Response {
    start(&demo, &headers, None, false, None)
}

/// A trade needs `phr` within the last 10 minutes.
async fn buy(State(demo): State<Demo>, headers: HeaderMap) -> Response {
    let login = session_id(&headers).and_then(|id| {
        demo.sessions
            .lock()
            .unwrap()
            .get(&id)
            .and_then(|s| s.login.clone())
    });
    match login {
        Some(l) if l.acr == "phr" && now() - l.auth_time <= BUY_WINDOW_SECS => {
            finish(&demo, &headers, "buy")
        }
        _ => start(&demo, &headers, Some("buy"), true, Some(BUY_WINDOW_SECS)),
    }
}

/// A withdrawal always asks for a fresh passkey check.
async fn withdraw(State(demo): State<Demo>, headers: HeaderMap) -> Response {
    start(&demo, &headers, Some("withdraw"), true, Some(0))
}

fn finish(demo: &Demo, headers: &HeaderMap, action: &str) -> Response {
    if let Some(id) = session_id(headers) {
        let mut sessions = demo.sessions.lock().unwrap();
        let session = sessions.entry(id).or_default();
        let ok = session.login.as_ref().is_some_and(|l| l.acr == "phr");
        session.last_result = Some(if ok {
            format!("{action} accepted (passkey, acr=phr)")
        } else {
            format!("{action} refused: a passkey login is required")
        });
    }
    Redirect::to("/").into_response()
}

async fn callback(
    State(demo): State<Demo>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(id) = session_id(&headers) else {
        return Redirect::to("/").into_response();
    };
    let pending = demo
        .sessions
        .lock()
        .unwrap()
        .get_mut(&id)
        .and_then(|s| s.pending.take());
    let Some(pending) = pending.filter(|p| q.get("state") == Some(&p.state)) else {
        return (axum::http::StatusCode::BAD_REQUEST, "state mismatch").into_response();
    };
    if let Some(error) = q.get("error") {
        let mut sessions = demo.sessions.lock().unwrap();
        sessions.entry(id).or_default().last_result = Some(format!(
            "{} refused by Kagi: {error}",
            pending.action.as_deref().unwrap_or("login")
        ));
        return Redirect::to("/").into_response();
    }
    let Some(code) = q.get("code") else {
        return (axum::http::StatusCode::BAD_REQUEST, "no code").into_response();
    };
    let tokens = demo
        .client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .unwrap()
        .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier))
        .request_async(&demo.http)
        .await;
    let tokens = match tokens {
        Ok(t) => t,
        Err(e) => {
            return (
                axum::http::StatusCode::BAD_GATEWAY,
                format!("token request failed: {e}"),
            )
                .into_response();
        }
    };
    let verifier = demo.client.id_token_verifier();
    let claims = match tokens
        .id_token()
        .map(|t| t.claims(&verifier, &Nonce::new(pending.nonce)))
    {
        Some(Ok(c)) => c.clone(),
        _ => return (axum::http::StatusCode::BAD_GATEWAY, "invalid ID token").into_response(),
    };
    let login = Login {
        sub: claims.subject().to_string(),
        acr: claims
            .auth_context_ref()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        amr: claims
            .auth_method_refs()
            .map(|v| v.iter().map(|a| a.to_string()).collect())
            .unwrap_or_default(),
        auth_time: claims
            .auth_time()
            .map(|t| t.timestamp())
            .unwrap_or_default(),
    };
    demo.sessions.lock().unwrap().entry(id).or_default().login = Some(login);
    match pending.action {
        Some(action) => finish(&demo, &headers, &action),
        None => Redirect::to("/").into_response(),
    }
}
