//! Back-channel logout tokens reaching a real listener (Back-Channel Logout 1.0).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;

both_backends!(
    back_channel_logout_reaches_the_rp_with_a_signed_logout_token,
    a_failed_back_channel_delivery_is_retried,
    a_cross_site_post_without_the_cookie_ends_the_session_the_hint_names,
    a_back_channel_uri_on_a_private_address_is_not_called_unless_allowed
);

/// A relying party's back-channel logout endpoint on `127.0.0.1:0`, recording
/// every POST body; it answers 500 to the first `fail_first` of them.
struct BackchannelRp {
    url: String,
    bodies: Arc<Mutex<Vec<String>>>,
}

async fn backchannel_rp(fail_first: usize) -> BackchannelRp {
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let failures = Arc::new(AtomicUsize::new(fail_first));
    let recorded = bodies.clone();
    let handler = move |body: String| {
        let recorded = recorded.clone();
        let failures = failures.clone();
        async move {
            recorded.lock().unwrap().push(body);
            let failing = failures
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if failing {
                axum::http::StatusCode::INTERNAL_SERVER_ERROR
            } else {
                axum::http::StatusCode::OK
            }
        }
    };
    let router = axum::Router::new().route("/backchannel", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    BackchannelRp {
        url: format!("http://127.0.0.1:{port}/backchannel"),
        bodies,
    }
}

impl BackchannelRp {
    /// Waits (up to `secs` seconds) for `count` POSTs and returns their bodies.
    async fn wait_for(&self, count: usize, secs: u64) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let bodies = self.bodies.lock().unwrap().clone();
            if bodies.len() >= count || tokio::time::Instant::now() > deadline {
                return bodies;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The `logout_token` of a back-channel POST, signature-checked against `/jwks`.
async fn verified_logout_token(app: &TestApp, body: &str, client_id: &str) -> (Value, Value) {
    let form: Vec<(String, String)> = serde_urlencoded::from_str(body).unwrap();
    assert_eq!(form.len(), 1, "only logout_token is sent: {form:?}");
    assert_eq!(form[0].0, "logout_token");
    let token = &form[0].1;
    let header = jsonwebtoken::decode_header(token).unwrap();
    let set: jsonwebtoken::jwk::JwkSet = app.get("/jwks").await.json().await.unwrap();
    let jwk = set
        .find(header.kid.as_deref().unwrap())
        .expect("signed with a published key");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&[client_id]);
    validation.set_issuer(&[app.base.as_str()]);
    let data =
        jsonwebtoken::decode::<Value>(token, &key, &validation).expect("the signature verifies");
    let header_json: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    (header_json, data.claims)
}

async fn back_channel_logout_reaches_the_rp_with_a_signed_logout_token(backend: Backend) {
    let (app, Customer { sub, .. }) = logged_in(backend).await;
    let rp = backchannel_rp(0).await;
    let client = add_client(
        &app,
        "trading",
        &[
            "--backchannel-logout-uri",
            &rp.url,
            "--id-token-alg",
            "ES256",
        ],
    );
    add_client(&app, "quiet", &[]);
    let tokens = code_flow(&app, &client).await;
    let id_token = claims(tokens["id_token"].as_str().unwrap());
    let page = end_session(
        &app,
        &[
            ("id_token_hint", tokens["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", BYE),
            ("state", "x"),
        ],
    )
    .await;
    assert_eq!(
        page.location.as_deref(),
        Some("https://rp.example.com/bye?state=x")
    );

    let bodies = rp.wait_for(1, 10).await;
    assert_eq!(bodies.len(), 1, "one logout token");
    let (header, token) = verified_logout_token(&app, &bodies[0], "trading").await;
    assert_eq!(header["typ"], "logout+jwt");
    assert_eq!(header["alg"], "ES256");
    assert_eq!(token["iss"], app.base.as_str());
    assert_eq!(token["aud"], "trading");
    assert_eq!(token["sub"], sub.as_str());
    assert_eq!(token["sid"], id_token["sid"]);
    assert!(token["sid"].is_string());
    assert_eq!(token["events"], json!({ EVENT: {} }));
    assert!(token.get("nonce").is_none());
    assert!(token["jti"].is_string() && token["iat"].is_i64());
    assert_eq!(
        token["exp"].as_i64().unwrap() - token["iat"].as_i64().unwrap(),
        120
    );
    assert_logged_out(&app, &client).await;
}

async fn a_failed_back_channel_delivery_is_retried(backend: Backend) {
    let (app, _) = logged_in(backend).await;
    let rp = backchannel_rp(1).await;
    let client = add_client(&app, "trading", &["--backchannel-logout-uri", &rp.url]);
    code_flow(&app, &client).await;
    // The hosted logout page notifies RPs too.
    let csrf = app.page("/logout").await.csrf();
    let done = app.post_raw("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(done.status, 200, "{}", done.html);

    let bodies = rp.wait_for(2, 10).await;
    assert_eq!(bodies.len(), 2, "the 500 was retried");
    assert_eq!(bodies[0], bodies[1], "the same token is delivered again");
    verified_logout_token(&app, &bodies[1], "trading").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let audit = app.state.store.list_audit_events(None, 50).await.unwrap();
        if let Some(sent) = audit.iter().find(|e| e.kind == "logout.backchannel_sent") {
            assert_eq!(sent.detail["attempts"], 2);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no audit event");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_logged_out(&app, &client).await;
}

async fn a_cross_site_post_without_the_cookie_ends_the_session_the_hint_names(backend: Backend) {
    let (app, _) = logged_in(backend).await;
    let rp = backchannel_rp(0).await;
    let client = add_client(&app, "trading", &["--backchannel-logout-uri", &rp.url]);
    let tokens = code_flow(&app, &client).await;
    // A form POST from the RP's page: the SameSite=Lax session cookie is not sent.
    let form = [
        ("id_token_hint", tokens["id_token"].as_str().unwrap()),
        ("post_logout_redirect_uri", BYE),
        ("state", "p"),
    ];
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = no_redirects
        .post(app.url("/session/end"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(
        response.headers()["location"].to_str().unwrap(),
        "https://rp.example.com/bye?state=p"
    );
    assert_logged_out(&app, &client).await;
    assert_eq!(rp.wait_for(1, 10).await.len(), 1);
    assert_eq!(userinfo_status(&app, &tokens).await, 401);
}

/// Server-side request forgery through a registered back-channel URI: with
/// private targets not allowed (the default for an issuer that is not on
/// loopback, forced here), a URI that resolves to loopback is never called,
/// not retried, and the failure is audited with the reason.
async fn a_back_channel_uri_on_a_private_address_is_not_called_unless_allowed(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[("KAGI_BACKCHANNEL_LOGOUT_ALLOW_PRIVATE", "false")],
    )
    .await;
    app.customer().log_in().await;
    let rp = backchannel_rp(0).await;
    // `localhost` too: the name is resolved and its addresses are checked.
    let by_name = rp.url.replace("127.0.0.1", "localhost");
    let client = add_client(&app, "trading", &["--backchannel-logout-uri", &by_name]);
    code_flow(&app, &client).await;
    let csrf = app.page("/logout").await.csrf();
    let done = app.post_raw("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(done.status, 200, "{}", done.html);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let failed = loop {
        let audit = app.state.store.list_audit_events(None, 50).await.unwrap();
        if let Some(failed) = audit
            .into_iter()
            .find(|e| e.kind == "logout.backchannel_failed")
        {
            break failed;
        }
        assert!(tokio::time::Instant::now() < deadline, "no audit event");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        failed.detail["attempts"], 1,
        "a refused address is not retried"
    );
    let why = failed.detail["error"].as_str().unwrap_or_default();
    assert!(why.contains("non-public address"), "{why}");
    assert!(
        rp.wait_for(1, 1).await.is_empty(),
        "the RP was never called"
    );
    // The session still ended and its tokens were revoked.
    assert_logged_out(&app, &client).await;
}
