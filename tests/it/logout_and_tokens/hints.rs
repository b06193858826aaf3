//! `id_token_hint` at `/authorize` (OIDC Core §3.1.2.1) and `/session/end`
//! (RP-Initiated Logout 1.0 §2) accepts only ID tokens: not Kagi's access
//! tokens (`typ: at+jwt`) or logout tokens, though Kagi signed them too.

use super::*;

both_backends!(
    authorize_refuses_an_access_token_or_other_jwt_as_id_token_hint,
    end_session_refuses_an_access_token_or_other_jwt_as_id_token_hint
);

/// Tokens Kagi signed that are not ID tokens, each with the customer's `sub`.
fn not_id_tokens(app: &TestApp, tokens: &Value, sub: &str) -> Vec<(&'static str, String)> {
    let now = app.clock.now();
    let sign = |typ: &str, claims: Value| {
        kagi::oidc::jwt::sign(
            &app.state.keys,
            kagi::model::SigningAlg::Rs256,
            typ,
            &claims,
        )
        .unwrap()
    };
    let id = claims(tokens["id_token"].as_str().unwrap());
    let mut with_events = id.clone();
    with_events["events"] = json!({ EVENT: {} });
    let mut with_issuer_aud = id.clone();
    with_issuer_aud["aud"] = json!(app.base);
    vec![
        (
            "access token",
            tokens["access_token"].as_str().unwrap().to_owned(),
        ),
        (
            "logout token",
            sign(
                "logout+jwt",
                json!({
                    "iss": app.base, "aud": "trading", "sub": sub, "iat": now, "exp": now + 120,
                    "jti": "j", "sid": id["sid"], "events": { EVENT: {} },
                }),
            ),
        ),
        ("typ JWT with events", sign("JWT", with_events)),
        ("typ JWT for the issuer", sign("JWT", with_issuer_aud)),
    ]
}

async fn authorize_refuses_an_access_token_or_other_jwt_as_id_token_hint(backend: Backend) {
    let (app, Customer { sub, .. }) = logged_in(backend).await;
    let client = add_client(&app, "trading", &[]);
    let tokens = code_flow(&app, &client).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let good = authorize(&app, &client, &[("id_token_hint", id_token)]).await;
    assert!(
        location_param(&good, "code").is_some(),
        "the ID token itself is a good hint: {:?}",
        good.location
    );

    for (what, hint) in not_id_tokens(&app, &tokens, &sub) {
        for prompt in [None, Some("none")] {
            let mut extra = vec![("id_token_hint", hint.as_str())];
            extra.extend(prompt.map(|p| ("prompt", p)));
            let page = authorize(&app, &client, &extra).await;
            assert_eq!(page.status, 303, "{what}: {}", page.html);
            assert!(
                page.location.as_deref().unwrap().starts_with(CALLBACK),
                "{what}"
            );
            assert_eq!(
                location_param(&page, "error").as_deref(),
                Some("invalid_request"),
                "{what} {prompt:?}"
            );
            assert_eq!(location_param(&page, "code"), None, "{what}");
            assert_eq!(location_param(&page, "state").as_deref(), Some("st4te"));
            assert_eq!(
                location_param(&page, "iss").as_deref(),
                Some(app.base.as_str())
            );
        }
    }
}

async fn end_session_refuses_an_access_token_or_other_jwt_as_id_token_hint(backend: Backend) {
    let (app, Customer { sub, .. }) = logged_in(backend).await;
    let client = add_client(&app, "trading", &[]);
    let tokens = code_flow(&app, &client).await;
    for (what, hint) in not_id_tokens(&app, &tokens, &sub) {
        let page = end_session(
            &app,
            &[
                ("id_token_hint", &hint),
                ("post_logout_redirect_uri", BYE),
                ("state", "s"),
            ],
        )
        .await;
        assert_eq!(page.status, 400, "{what}: {}", page.html);
        assert!(page.location.is_none(), "{what}");
        assert!(
            page.shows(&app, kagi::templates::Lang::Ja, "logout.refused"),
            "{what}: {}",
            page.html
        );
    }
    let still = authorize(&app, &client, &[("prompt", "none")]).await;
    assert!(
        location_param(&still, "code").is_some(),
        "nobody was logged out"
    );
}
