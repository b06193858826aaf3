//! Open redirects: every place that sends the browser to a value it was given
//! (`return_to`, `redirect_uri`) is tried with known payloads, and the
//! `Location` is resolved as a browser would (the WHATWG parser of the `url`
//! crate, which drops tabs and newlines and reads `\` as `/`).

use serde_json::json;
use url::Url;

use crate::both_backends;
use crate::helpers::browser::{attribute_after, unescape_html};
use crate::helpers::customer::{EMAIL, PASSWORD, app_with_customer};
use crate::helpers::{Backend, TestApp};
use crate::passkeys::{Web, device};

both_backends!(
    the_login_page_sends_a_logged_in_customer_only_to_its_own_origin,
    a_password_and_email_code_login_from_a_crafted_link_ends_on_our_origin,
    a_posted_return_to_is_checked_again_and_never_echoed_raw,
    step_up_pages_and_their_final_redirect_stay_on_our_origin,
    a_passkey_login_answers_only_local_redirects,
    a_redirect_uri_must_be_exactly_a_registered_one_but_for_a_loopback_port
);

/// `return_to` values from open-redirect write-ups, raw (the query encodes them).
const PAYLOADS: &[&str] = &[
    "https://evil.example/x",
    "//evil.example/x",
    "///evil.example/x",
    "////evil.example/x",
    "/\\evil.example/x",
    "\\\\evil.example/x",
    "/\t/evil.example/x",
    "/\\\t/evil.example/x",
    "/\n/evil.example/x",
    "/\r\n/evil.example/x",
    "\t//evil.example/x",
    " //evil.example/x",
    "/%09/evil.example/x",
    "/%2F/evil.example/x",
    "/%2f%2fevil.example/x",
    "/%5C/evil.example/x",
    "/%5cevil.example/x",
    "/.//evil.example/x",
    "/./\\evil.example/x",
    "/%2e//evil.example/x",
    "/a/..//evil.example/x",
    "/@evil.example/x",
    "//user@evil.example/x",
    "//localhost@evil.example/x",
    "https:evil.example/x",
    "https:/evil.example/x",
    "javascript:alert(document.domain)",
    "/\u{FF0F}evil.example/x",
    "\u{FF0F}\u{FF0F}evil.example/x",
    "/\u{2215}evil.example/x",
    "/\u{2044}evil.example/x",
    "/\u{3000}/evil.example/x",
    "/account\r\nSet-Cookie: x=1",
];

fn query(name: &str, value: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair(name, value)
        .finish()
}

/// Asserts that `location`, followed from `from` on this server, stays on its origin
/// and is already in the normalised form a browser would not rewrite.
fn assert_stays_home(app: &TestApp, from: &str, location: &str, payload: &str) {
    let home = Url::parse(&app.base).unwrap();
    let landed = home.join(from).unwrap().join(location).unwrap();
    assert_eq!(
        landed.origin(),
        home.origin(),
        "return_to {payload:?} led to {location:?}, that is {landed}"
    );
    assert!(
        location.starts_with('/')
            && !location.starts_with("//")
            && location.bytes().all(|b| b.is_ascii_graphic() && b != b'\\'),
        "return_to {payload:?} came out raw as {location:?}"
    );
}

async fn the_login_page_sends_a_logged_in_customer_only_to_its_own_origin(backend: Backend) {
    let (app, _) = app_with_customer(backend, &[]).await;
    let web = Web::of(&app);
    web.log_in().await;
    for payload in PAYLOADS {
        let path = format!("/login?{}", query("return_to", payload));
        let page = web.page(&path).await;
        assert_eq!(page.status, 303, "{payload:?}: {}", page.html);
        assert_stays_home(&app, &path, page.location.as_deref().unwrap(), payload);
    }
}

async fn a_password_and_email_code_login_from_a_crafted_link_ends_on_our_origin(backend: Backend) {
    let (app, _) = app_with_customer(backend, &[]).await;
    for payload in PAYLOADS {
        let web = Web::other(&app);
        let path = format!("/login?{}", query("return_to", payload));
        let page = web.page(&path).await;
        assert_eq!(page.status, 200, "{payload:?}");
        let hidden =
            unescape_html(&attribute_after(&page.html, r#"name="return_to""#, "value").unwrap());
        let button = unescape_html(
            &attribute_after(&page.html, r#"id="passkey-login""#, "data-return-to").unwrap(),
        );
        assert_stays_home(&app, &path, &hidden, payload);
        assert_stays_home(&app, &path, &button, payload);
        let after = web
            .form(
                "/login",
                &[
                    ("customer_code", "C0001234"),
                    ("password", PASSWORD),
                    ("return_to", &hidden),
                ],
            )
            .await;
        assert_eq!(
            after.location.as_deref(),
            Some("/login/email"),
            "{payload:?}: {}",
            after.html
        );
        let code = web.email_code(EMAIL).await;
        let done = web.form("/login/code", &[("code", &code)]).await;
        assert_eq!(done.status, 303, "{payload:?}: {}", done.html);
        assert_stays_home(
            &app,
            "/login/code",
            done.location.as_deref().unwrap(),
            payload,
        );
        // Ten codes per customer an hour: let the hour pass.
        app.clock.advance(3601);
    }
}

async fn a_posted_return_to_is_checked_again_and_never_echoed_raw(backend: Backend) {
    // A browser posts what the page held; a hand-made post must fare no better.
    let (app, _) = app_with_customer(backend, &[]).await;
    for payload in [
        "/\t/evil.example/x",
        "/.//evil.example/x",
        "/%09/evil.example/x",
    ] {
        let web = Web::other(&app);
        web.page("/login").await;
        let after = web
            .form(
                "/login",
                &[
                    ("customer_code", "C0001234"),
                    ("password", PASSWORD),
                    ("return_to", payload),
                ],
            )
            .await;
        assert_eq!(after.location.as_deref(), Some("/login/email"));
        let code = web.email_code(EMAIL).await;
        let done = web.form("/login/code", &[("code", &code)]).await;
        assert_eq!(done.location.as_deref(), Some("/account"), "{payload:?}");
        app.clock.advance(3601);
    }
}

async fn step_up_pages_and_their_final_redirect_stay_on_our_origin(backend: Backend) {
    let (app, _) = app_with_customer(backend, &[]).await;
    let web = Web::of(&app);
    web.log_in().await;
    for payload in PAYLOADS {
        // The pages that carry a return_to into a form or a script.
        for page_path in ["/stepup", "/stepup/passkey", "/account/passkeys/confirm"] {
            let path = format!("{page_path}?{}", query("return_to", payload));
            let page = web.page(&path).await;
            if let Some(location) = &page.location {
                // Only the step-up itself may lie between (the confirmation page's gate).
                assert!(location.starts_with("/stepup"), "{payload:?}: {location}");
                let inner = Url::parse("http://x").unwrap().join(location).unwrap();
                let back = inner
                    .query_pairs()
                    .find(|(k, _)| k == "return_to")
                    .map(|(_, v)| v.into_owned());
                let back = back.unwrap_or_else(|| "/account".to_owned());
                assert_stays_home(&app, &path, &back, payload);
                continue;
            }
            assert_eq!(page.status, 200, "{path}");
            for marker in [r#"name="return_to""#, r#"data-return-to="#] {
                let attr = if marker.starts_with("name") {
                    "value"
                } else {
                    "data-return-to"
                };
                if let Some(value) = attribute_after(&page.html, marker, attr) {
                    assert_stays_home(&app, &path, &unescape_html(&value), payload);
                }
            }
        }
    }
    // The email-code step-up from a crafted link ends on our origin.
    for payload in [
        "/\t/evil.example/x",
        "/.//evil.example/x",
        "/%2F/evil.example/x",
    ] {
        let path = format!("/stepup?{}", query("return_to", payload));
        let page = web.page(&path).await;
        assert_eq!(page.status, 200, "{}", page.html);
        let hidden =
            unescape_html(&attribute_after(&page.html, r#"name="return_to""#, "value").unwrap());
        let code = web
            .code_sent_by(
                "/stepup",
                &[("email_index", "0"), ("return_to", &hidden)],
                EMAIL,
            )
            .await;
        let done = web.form("/login/code", &[("code", &code)]).await;
        assert_eq!(done.status, 303, "{}", done.html);
        assert_stays_home(
            &app,
            "/login/code",
            done.location.as_deref().unwrap(),
            payload,
        );
    }
}

async fn a_passkey_login_answers_only_local_redirects(backend: Backend) {
    let (app, _) = app_with_customer(backend, &[]).await;
    let mut auth = device(&app);
    let owner = Web::other(&app);
    owner.log_in().await;
    owner.step_up_by_email().await;
    assert_eq!(owner.register(&mut auth).await.status, 200);
    for payload in PAYLOADS {
        let web = Web::other(&app);
        web.page("/login").await;
        let start = web.json("/passkey/login/start", &json!({})).await;
        let credential = auth.get(&start.body["options"]["publicKey"]).unwrap();
        let done = web
            .json(
                "/passkey/login/finish",
                &json!({
                    "ceremony": start.body["ceremony"],
                    "credential": credential,
                    "return_to": payload,
                }),
            )
            .await;
        assert_eq!(done.status, 200, "{payload:?}: {:?}", done.body);
        assert_stays_home(
            &app,
            "/login",
            done.body["redirect"].as_str().unwrap(),
            payload,
        );
    }
}

/// Variants of a registered loopback redirect URI that a lax matcher would
/// take for it; RFC 8252 §7.3 allows only another port.
const LOOPBACK_VARIANTS: &[&str] = &[
    "http://127.0.0.1:53117/callback\t",
    "http://127.0.0.1:531\t17/callback",
    "http://127.0.0.1:53117/call\nback",
    "http://127.0.0.1:53117/./callback",
    "http://127.0.0.1:53117/x/../callback",
    "http://127.0.0.1:53117/%63allback",
    "http://127.1:53117/callback",
    "http://0x7f.0.0.1:53117/callback",
    "http://2130706433:53117/callback",
    "HTTP://127.0.0.1:53117/callback",
    "http://127.0.0.1:053117/callback",
    "http://evil@127.0.0.1:53117/callback",
    "http://127.0.0.1:53117@evil.example/callback",
    "http://127.0.0.1:53117\\@evil.example/callback",
    "http://127.0.0.1:53117/callback#x",
    "http://127.0.0.1:53117/callback?x=1",
    "http://127.0.0.1.evil.example:53117/callback",
    "http://localhost:53117/callback",
    "https://127.0.0.1:53117/callback",
    " http://127.0.0.1:53117/callback",
];

async fn a_redirect_uri_must_be_exactly_a_registered_one_but_for_a_loopback_port(backend: Backend) {
    let (app, _) = app_with_customer(backend, &[]).await;
    let registered = app.register_client("app", "http://127.0.0.1/callback", &["--public"]);
    let (_, challenge) = crate::helpers::rp::pkce_pair();
    let pkce = [
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    for variant in LOOPBACK_VARIANTS {
        let rp = crate::helpers::rp::Rp {
            redirect_uri: (*variant).to_owned(),
            ..registered.clone()
        };
        let page = app.authorize(&rp, &pkce).await;
        assert_eq!(
            (page.status, page.location.as_deref()),
            (400, None),
            "{variant:?}"
        );
    }
    let good = crate::helpers::rp::Rp {
        redirect_uri: "http://127.0.0.1:53117/callback".into(),
        ..registered
    };
    let page = app.authorize(&good, &pkce).await;
    assert_eq!(page.status, 303, "{}", page.html);
}
