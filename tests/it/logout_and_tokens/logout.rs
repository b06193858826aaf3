//! `/session/end` (RP-Initiated Logout 1.0): redirects, refusals, confirmation.

use super::*;

both_backends!(
    logout_with_a_hint_returns_to_the_registered_uri_with_the_same_state,
    logout_without_state_returns_to_the_exact_uri_and_an_expired_hint_is_fine,
    logout_with_a_hint_and_no_redirect_shows_the_logged_out_page,
    bad_logout_requests_get_an_error_page_and_never_a_redirect,
    without_a_hint_the_customer_confirms_and_is_sent_back_with_state
);

async fn logout_with_a_hint_returns_to_the_registered_uri_with_the_same_state(backend: Backend) {
    let (app, _) = logged_in(backend).await;
    let client = add_client(&app, "trading", &[]);
    let tokens = code_flow(&app, &client).await;
    let hint = tokens["id_token"].as_str().unwrap();
    let page = end_session(
        &app,
        &[
            ("id_token_hint", hint),
            ("post_logout_redirect_uri", BYE),
            ("state", "bye-state 1"),
        ],
    )
    .await;
    assert_eq!(page.status, 303, "{}", page.html);
    assert_eq!(
        page.location.as_deref(),
        Some("https://rp.example.com/bye?state=bye-state+1")
    );
    assert!(
        page.set_cookies
            .iter()
            .any(|c| c.starts_with("__Host-kagi_session=;") && c.contains("Max-Age=0"))
    );
    assert_logged_out(&app, &client).await;
    assert_eq!(
        userinfo_status(&app, &tokens).await,
        401,
        "the session's tokens are revoked"
    );
    assert_eq!(refresh(&app, &client, &tokens).await.status, 400);
}

async fn logout_without_state_returns_to_the_exact_uri_and_an_expired_hint_is_fine(
    backend: Backend,
) {
    let (app, _) = logged_in(backend).await;
    let client = add_client(&app, "trading", &[]);
    let tokens = code_flow(&app, &client).await;
    app.clock.advance(24 * 3600);
    let page = end_session(
        &app,
        &[
            ("id_token_hint", tokens["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", BYE),
        ],
    )
    .await;
    assert_eq!(page.location.as_deref(), Some(BYE), "{}", page.html);
    assert_logged_out(&app, &client).await;
}

async fn logout_with_a_hint_and_no_redirect_shows_the_logged_out_page(backend: Backend) {
    let (app, _) = logged_in(backend).await;
    let client = add_client(&app, "trading", &[]);
    let tokens = code_flow(&app, &client).await;
    let page = end_session(
        &app,
        &[
            ("id_token_hint", tokens["id_token"].as_str().unwrap()),
            ("state", "s"),
        ],
    )
    .await;
    assert_eq!(page.status, 200);
    assert!(page.location.is_none());
    assert!(
        page.shows(&app, kagi::templates::Lang::Ja, "logout.done"),
        "{}",
        page.html
    );
    assert_logged_out(&app, &client).await;
}

/// A JWT signed with HS256 by the client's secret, as an RP could forge one.
fn forged_hint(client: &Client, sub: &str, base: &str) -> String {
    let claims =
        json!({ "iss": client.id, "aud": base, "sub": sub, "iat": 1, "exp": 4_000_000_000_i64 });
    let key = jsonwebtoken::EncodingKey::from_secret(client.secret.as_bytes());
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &key,
    )
    .unwrap()
}

async fn bad_logout_requests_get_an_error_page_and_never_a_redirect(backend: Backend) {
    let (app, Customer { sub, .. }) = logged_in(backend).await;
    let client = add_client(&app, "trading", &[]);
    add_client(&app, "other", &[]);
    let tokens = code_flow(&app, &client).await;
    let hint = tokens["id_token"].as_str().unwrap();
    let mut parts: Vec<&str> = hint.split('.').collect();
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
    parts[0] = &none_header;
    let unsigned = format!("{}.{}.", parts[0], parts[1]);
    let forged = forged_hint(&client, &sub, &app.base);
    let with_query = format!("{BYE}?foo=bar");
    let table: Vec<Vec<(&str, &str)>> = vec![
        vec![
            ("id_token_hint", hint),
            (
                "post_logout_redirect_uri",
                "https://rp.example.com/bad_post_logout_redirect_uri",
            ),
            ("state", "s"),
        ],
        vec![
            ("id_token_hint", hint),
            ("post_logout_redirect_uri", &with_query),
            ("state", "s"),
        ],
        vec![
            ("id_token_hint", &unsigned),
            ("post_logout_redirect_uri", BYE),
            ("state", "s"),
        ],
        vec![
            ("id_token_hint", &forged),
            ("post_logout_redirect_uri", BYE),
            ("state", "s"),
        ],
        vec![("post_logout_redirect_uri", BYE), ("state", "s")],
        vec![
            ("id_token_hint", hint),
            ("client_id", "other"),
            ("post_logout_redirect_uri", BYE),
        ],
        vec![("client_id", "nobody"), ("post_logout_redirect_uri", BYE)],
    ];
    for pairs in &table {
        let page = end_session(&app, pairs).await;
        assert_eq!(page.status, 400, "{pairs:?}");
        assert!(page.location.is_none(), "{pairs:?}");
        assert!(
            page.shows(&app, kagi::templates::Lang::Ja, "logout.refused"),
            "{pairs:?}: {}",
            page.html
        );
    }
    let still = authorize(&app, &client, &[("prompt", "none")]).await;
    assert!(
        location_param(&still, "code").is_some(),
        "nobody was logged out"
    );
}

async fn without_a_hint_the_customer_confirms_and_is_sent_back_with_state(backend: Backend) {
    let (app, _) = logged_in(backend).await;
    let client = add_client(&app, "trading", &[]);
    let bare = end_session(&app, &[]).await;
    assert_eq!(bare.status, 200);
    assert!(bare.html.contains(r#"id="logout-confirm""#));

    let page = end_session(
        &app,
        &[
            ("client_id", "trading"),
            ("post_logout_redirect_uri", BYE),
            ("state", "s&1"),
        ],
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.location.is_none());
    assert!(page.html.contains(r#"id="logout-confirm""#) && page.html.contains("Trading"));
    assert!(page.html.contains(r#"action="/session/end/confirm""#));
    let csrf = page.csrf();

    let tampered = app
        .post_raw(
            "/session/end/confirm",
            &[
                ("csrf", &csrf),
                ("client_id", "trading"),
                ("post_logout_redirect_uri", "https://evil.example/"),
            ],
        )
        .await;
    assert_eq!(tampered.status, 400);
    assert!(tampered.location.is_none());

    let fields = [
        ("csrf", csrf.as_str()),
        ("client_id", "trading"),
        ("post_logout_redirect_uri", BYE),
        ("state", "s&1"),
    ];
    let done = app.post_raw("/session/end/confirm", &fields).await;
    assert_eq!(done.status, 303, "{}", done.html);
    assert_eq!(
        done.location.as_deref(),
        Some("https://rp.example.com/bye?state=s%261")
    );
    assert_logged_out(&app, &client).await;
}
