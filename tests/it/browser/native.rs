//! A native-style public client (RFC 8252): the app opens the system
//! browser at Kagi's authorization endpoint with PKCE (S256) and a loopback
//! redirect on a port it just bound; the browser comes back to the app's
//! tiny listener; the app exchanges the code with its verifier.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::response::Html;

use super::steps::log_in_with_password;
use crate::helpers::rp::{Rp, jwt_claims, pkce_pair};
use crate::helpers::webdriver::Browser;
use crate::helpers::{Backend, TestApp};

const EMAIL: &str = "hanako@example.jp";

type Received = Arc<Mutex<Vec<HashMap<String, String>>>>;

/// The app's loopback listener on `127.0.0.1:0`: it keeps every redirect's
/// query and shows the browser a page to close.
struct Loopback {
    port: u16,
    received: Received,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Loopback {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn redirected(
    State(received): State<Received>,
    Query(q): Query<HashMap<String, String>>,
) -> Html<&'static str> {
    received.lock().unwrap().push(q);
    Html("<!doctype html><title>App</title><p id=\"native-done\">You can return to the app.</p>")
}

impl Loopback {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Received::default();
        let router = axum::Router::new()
            .route("/callback", axum::routing::get(redirected))
            .with_state(received.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            port,
            received,
            server,
        }
    }

    fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}/callback", self.port)
    }

    /// The query of the redirect number `n` (from 1) that reached the app
    /// (waits up to 15 s for it).
    async fn nth(&self, browser: &Browser, n: usize) -> HashMap<String, String> {
        for _ in 0..150 {
            let found = self.received.lock().unwrap().get(n - 1).cloned();
            if let Some(q) = found {
                browser.wait_url(&self.redirect_uri()).await;
                browser.find("#native-done").await;
                return q;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let all = self.received.lock().unwrap().clone();
        browser
            .fail(&format!("redirect {n} never reached the app: {all:?}"))
            .await
    }
}

/// The authorization URL the app opens, with `extra` parameters.
fn authorize_url(app: &TestApp, rp: &Rp, challenge: &str, extra: &[(&str, &str)]) -> String {
    let mut params = vec![
        ("client_id", rp.client_id.as_str()),
        ("redirect_uri", rp.redirect_uri.as_str()),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", "app-state-1"),
        ("nonce", "app-nonce-1"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    params.extend_from_slice(extra);
    app.url(&format!(
        "/authorize?{}",
        serde_urlencoded::to_string(&params).unwrap()
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_native_app_logs_in_with_pkce_through_a_loopback_redirect_on_a_random_port() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let sub = app
        .customer()
        .code("C0009001")
        .emails(&[EMAIL])
        .create()
        .await
        .sub;
    // Registered without a port: any port of the loopback IP matches (RFC 8252 §7.3).
    let registered = app.register_client("native-app", "http://127.0.0.1/callback", &["--public"]);
    assert!(registered.secret.is_none(), "a public client has no secret");
    let loopback = Loopback::start().await;
    let rp = Rp {
        redirect_uri: loopback.redirect_uri(),
        ..registered
    };
    let browser = Browser::start("native-loopback", "ja").await;

    let (verifier, challenge) = pkce_pair();
    browser
        .goto(&authorize_url(&app, &rp, &challenge, &[]))
        .await;
    browser.wait_url(&app.url("/login")).await;
    log_in_with_password(&browser, &app, "C0009001", EMAIL).await;
    let answer = loopback.nth(&browser, 1).await;
    assert_eq!(answer.get("state").map(String::as_str), Some("app-state-1"));
    assert_eq!(answer.get("iss"), Some(&app.base), "RFC 9207 iss");
    let code = answer.get("code").unwrap_or_else(|| panic!("{answer:?}"));

    // The app exchanges the code with its verifier.
    let tokens = app.exchange(&rp, code, Some(&verifier)).await;
    assert_eq!(tokens.status, 200, "{}", tokens.json);
    let claims = jwt_claims(tokens.json["id_token"].as_str().unwrap());
    assert_eq!(claims["sub"], sub.as_str());
    assert_eq!(claims["aud"], "native-app");
    assert_eq!(claims["nonce"], "app-nonce-1");
    assert_eq!(claims["acr"], "urn:kagi:acr:mfa");
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));

    // The next sign-in reuses the browser session (no page); a code sent
    // with another verifier is refused.
    let (_, challenge) = pkce_pair();
    browser
        .goto(&authorize_url(&app, &rp, &challenge, &[]))
        .await;
    let answer = loopback.nth(&browser, 2).await;
    let code = answer.get("code").unwrap_or_else(|| panic!("{answer:?}"));
    let (wrong, _) = pkce_pair();
    let refused = app.exchange(&rp, code, Some(&wrong)).await;
    assert_eq!(refused.status, 400, "{}", refused.json);
    assert_eq!(refused.json["error"], "invalid_grant");

    // Passkeys are registered only on the web (docs/product.md, guide rule 1): a native app
    // that makes phr essential for a customer without one is told so.
    let (_, challenge) = pkce_pair();
    let essential = r#"{"id_token":{"acr":{"essential":true,"values":["phr"]}}}"#;
    browser
        .goto(&authorize_url(
            &app,
            &rp,
            &challenge,
            &[("claims", essential)],
        ))
        .await;
    let answer = loopback.nth(&browser, 3).await;
    assert_eq!(
        answer.get("error").map(String::as_str),
        Some("unmet_authentication_requirements"),
        "{answer:?}"
    );
    browser.ensure_clean_console().await;
}
