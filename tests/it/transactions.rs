//! Transaction-bound passkey confirmation (`docs/transactions.md`): RFC 9396
//! `authorization_details` pushed by PAR or sent to `/authorize`, a fresh
//! passkey assertion whose challenge ends with the SHA-256 of the details'
//! RFC 8785 form, tokens that carry the details and `txn`, the evidence
//! `kagi audit --evidence` re-verifies, and every refusal, on SQLite and
//! PostgreSQL. The software authenticator plays the device; the browser
//! journeys are in `browser/transactions.rs`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::both_backends;
use crate::helpers::authenticator::Authenticator;
use crate::helpers::browser::attribute_after;
use crate::helpers::customer::app_with_customer;
use crate::helpers::rp::{Rp, jwt_claims, location_param, pkce_pair, token_answer};
use crate::helpers::{Backend, TestApp};
use crate::passkeys::{Web, device};

both_backends!(
    a_withdrawal_pushed_by_par_is_signed_by_the_passkey_and_granted_with_its_txn,
    each_transaction_needs_its_own_assertion_even_in_a_fresh_passkey_session,
    details_off_the_schema_or_of_an_unregistered_type_are_refused_before_any_page,
    prompt_none_gets_interaction_required,
    a_customer_without_a_passkey_is_offered_one_and_never_a_code,
    cancelling_returns_access_denied,
    an_assertion_made_for_another_request_or_ceremony_is_refused,
    two_assertions_racing_for_one_request_confirm_it_once,
    a_market_order_is_shown_and_granted,
    the_page_follows_the_pushed_ui_locales_and_its_language_links_keep_the_request,
    a_confirmation_gives_one_code_to_a_burst_and_its_forms_need_the_csrf_token,
);

const CALLBACK: &str = "http://localhost:9/callback";

/// The issue's withdrawal example, as a client would send it.
const WITHDRAWAL: &str = r#"[{"type":"withdrawal","amount":{"currency":"JPY","value":"1234567"},"destination":{"bank":"Mizuho Bank","account":"****5678"}}]"#;
/// The same details in RFC 8785 form, written out by hand: members sorted, no spaces.
const WITHDRAWAL_JCS: &str = r#"[{"amount":{"currency":"JPY","value":"1234567"},"destination":{"account":"****5678","bank":"Mizuho Bank"},"type":"withdrawal"}]"#;
const MARKET_ORDER: &str = r#"[{"type":"order","instrument":{"code":"7203","name":"Toyota Motor"},"side":"sell","quantity":"1500","order_type":"market"}]"#;

/// A customer with a passkey on `auth`, logged in in `web`, and a client
/// registered for both types.
async fn set_up(app: &TestApp, web: &Web<'_>, auth: &mut Authenticator) -> Rp {
    web.log_in().await;
    web.step_up_by_email().await;
    let done = web.register(auth).await;
    assert_eq!(done.status, 200, "{:?}", done.body);
    broker(app)
}

fn broker(app: &TestApp) -> Rp {
    app.register_client(
        "broker",
        CALLBACK,
        &[
            "--authorization-details-type",
            "withdrawal",
            "--authorization-details-type",
            "order",
        ],
    )
}

/// `POST /par` for `rp` with a `nonce`; returns the status and JSON body.
async fn par(app: &TestApp, rp: &Rp, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut form = vec![("nonce", "n0nce")];
    form.extend_from_slice(extra);
    app.par(rp, &form).await
}

/// Pushes `details` with a PKCE challenge; returns the `/authorize` path and the verifier.
async fn pushed(app: &TestApp, rp: &Rp, details: &str) -> (String, String) {
    pushed_with(app, rp, details, &[]).await
}

/// [`pushed`] with more parameters (`prompt`, `ui_locales`, ...).
async fn pushed_with(
    app: &TestApp,
    rp: &Rp,
    details: &str,
    extra: &[(&str, &str)],
) -> (String, String) {
    let (verifier, challenge) = pkce_pair();
    let mut form = vec![
        ("authorization_details", details),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    form.extend_from_slice(extra);
    let (status, body) = par(app, rp, &form).await;
    assert_eq!(status, 201, "{body}");
    let path = TestApp::pushed_path(rp, body["request_uri"].as_str().unwrap());
    (path, verifier)
}

/// The confirmation page's request id (the passkey button's `data-request`).
fn request_id(html: &str) -> String {
    assert!(html.contains(r#"id="transaction-details""#), "{html}");
    attribute_after(html, r#"data-passkey="confirm""#, "data-request").expect("data-request")
}

/// The confirmation ceremony with `auth`: start, sign, finish; returns the
/// start's and the finish's answers and the signed client data.
async fn confirm(web: &Web<'_>, auth: &mut Authenticator, request: &str) -> (Value, Value, Value) {
    let start = web
        .json("/passkey/confirm/start", &json!({ "request": request }))
        .await;
    assert_eq!(start.status, 200, "{:?}", start.body);
    let credential = auth
        .get(&start.body["options"]["publicKey"])
        .expect("the authenticator signs");
    let finish = web
        .json(
            "/passkey/confirm/finish",
            &json!({ "request": request, "ceremony": start.body["ceremony"], "credential": credential }),
        )
        .await;
    assert_eq!(finish.status, 200, "{:?}", finish.body);
    let client_data = URL_SAFE_NO_PAD
        .decode(credential["response"]["clientDataJSON"].as_str().unwrap())
        .unwrap();
    (
        start.body,
        finish.body,
        serde_json::from_slice(&client_data).unwrap(),
    )
}

async fn introspect(app: &TestApp, rp: &Rp, token: &str) -> Value {
    let answer = token_answer(
        reqwest::Client::new()
            .post(app.url("/introspect"))
            .basic_auth(&rp.client_id, rp.secret.as_deref())
            .form(&[("token", token)])
            .send()
            .await
            .unwrap(),
    )
    .await;
    answer.json
}

async fn a_withdrawal_pushed_by_par_is_signed_by_the_passkey_and_granted_with_its_txn(
    backend: Backend,
) {
    let (app, sub) = app_with_customer(backend, &[]).await;
    let mut auth = device(&app);
    let web = Web::other(&app);
    let rp = set_up(&app, &web, &mut auth).await;

    let discovery: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["authorization_details_types_supported"],
        json!(["withdrawal", "order"])
    );

    let (authorize, verifier) = pushed(&app, &rp, WITHDRAWAL).await;
    let page = web.page(&authorize).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(
        page.html.contains("1,234,567円"),
        "the amount in Japanese: {}",
        page.html
    );
    assert!(page.html.contains("Mizuho Bank") && page.html.contains("****5678"));
    let request = request_id(&page.html);

    let commits_before = app.state.store.write_commits();
    let (start, finish, signed) = confirm(&web, &mut auth, &request).await;
    assert_eq!(
        app.state.store.write_commits() - commits_before,
        2,
        "one write transaction for the start (the ceremony), one for the finish"
    );
    let challenge = URL_SAFE_NO_PAD
        .decode(start["options"]["publicKey"]["challenge"].as_str().unwrap())
        .unwrap();
    assert_eq!(challenge.len(), 48, "16 random bytes and a SHA-256");
    assert_eq!(
        challenge[16..],
        Sha256::digest(WITHDRAWAL_JCS.as_bytes())[..],
        "the challenge ends with the hash of the canonical details"
    );
    assert_eq!(
        start["options"]["publicKey"]["userVerification"],
        "required"
    );
    assert_eq!(
        signed["challenge"],
        start["options"]["publicKey"]["challenge"]
    );

    let back = finish["redirect"].as_str().unwrap();
    assert_eq!(back, format!("/authorize/continue?request={request}"));
    let answer = web.page(back).await;
    assert_eq!(answer.status, 303, "{}", answer.html);
    let code = location_param(&answer, "code").expect("a code");
    let tokens = app.exchange(&rp, &code, Some(&verifier)).await;
    assert_eq!(tokens.status, 200, "{}", tokens.json);
    let details: Value = serde_json::from_str(WITHDRAWAL).unwrap();
    assert_eq!(tokens.json["authorization_details"], details);
    assert!(
        tokens.json.get("refresh_token").is_none(),
        "a transaction grant gets no refresh token: {}",
        tokens.json
    );
    assert_eq!(tokens.json["expires_in"], 120);

    let access = jwt_claims(tokens.json["access_token"].as_str().unwrap());
    let id = jwt_claims(tokens.json["id_token"].as_str().unwrap());
    let txn = access["txn"]
        .as_str()
        .expect("txn in the access token")
        .to_owned();
    assert_eq!(access["authorization_details"], details);
    assert_eq!(
        access["exp"].as_i64().unwrap() - access["iat"].as_i64().unwrap(),
        120
    );
    assert_eq!(id["txn"], txn.as_str());
    assert_eq!(id["sub"], sub.as_str());
    assert_eq!(id["acr"], "phr");
    assert_eq!(id["amr"], json!(["hwk", "user", "mfa"]));
    assert_eq!(id["auth_time"], app.clock.now());
    let seen = introspect(&app, &rp, tokens.json["access_token"].as_str().unwrap()).await;
    assert_eq!(seen["active"], true);
    assert_eq!(seen["authorization_details"], details);
    assert_eq!(seen["txn"], txn.as_str());

    // The evidence, re-verified offline by the CLI.
    let out = app.cli(&["--json", "audit", "--evidence", &txn], None);
    assert!(out.success, "{out:?}");
    let evidence = out.json();
    assert_eq!(evidence["verdict"]["valid"], true, "{evidence}");
    assert_eq!(evidence["authorization_details"], details);
    assert_eq!(evidence["authorization_details_jcs"], WITHDRAWAL_JCS);
    assert_eq!(
        evidence["challenge"],
        start["options"]["publicKey"]["challenge"]
    );
    let text = app.cli(&["audit", "--evidence", &txn], None);
    assert!(text.success && text.stdout.contains("VALID"), "{text:?}");
    let unknown = app.cli(&["audit", "--evidence", "no-such-txn"], None);
    assert!(!unknown.success);

    // A tampered row no longer verifies, and the CLI says so with its status.
    sqlx_exec(
        &app,
        &format!(
            "UPDATE transaction_confirmations SET authorization_details = '{}' WHERE txn = '{txn}'",
            WITHDRAWAL_JCS.replace("1234567", "7654321")
        ),
    )
    .await;
    let tampered = app.cli(&["--json", "audit", "--evidence", &txn], None);
    assert!(!tampered.success, "{tampered:?}");
    assert!(
        tampered
            .stdout
            .contains(r#""challenge_binds_details":false"#),
        "{tampered:?}"
    );
}

async fn sqlx_exec(app: &TestApp, sql: &str) {
    let pool = sqlx::AnyPool::connect(&app.db.url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

async fn each_transaction_needs_its_own_assertion_even_in_a_fresh_passkey_session(
    backend: Backend,
) {
    let (app, _) = app_with_customer(backend, &[]).await;
    let mut auth = device(&app);
    let web = Web::other(&app);
    let rp = set_up(&app, &web, &mut auth).await;
    // A passkey step-up just now: the session is at `phr`.
    let stepped = web.passkey_step_up(&mut auth, "/account").await;
    assert_eq!(stepped.status, 200, "{:?}", stepped.body);

    for round in 0..2 {
        let (authorize, verifier) = pushed(&app, &rp, WITHDRAWAL).await;
        let page = web.page(&format!("{authorize}&max_age=3600")).await;
        assert_eq!(
            page.status, 200,
            "round {round}: a confirmation page, not a code"
        );
        let request = request_id(&page.html);
        let (_, finish, _) = confirm(&web, &mut auth, &request).await;
        let answer = web.page(finish["redirect"].as_str().unwrap()).await;
        let code = location_param(&answer, "code").expect("a code");
        let tokens = app.exchange(&rp, &code, Some(&verifier)).await;
        assert_eq!(tokens.status, 200);
        app.clock.advance(5);
    }
    let confirmed = crate::passkeys::audit(&app)
        .await
        .into_iter()
        .filter(|e| e.kind == "transaction.confirmed")
        .count();
    assert_eq!(confirmed, 2, "two withdrawals, two assertions");
}

async fn details_off_the_schema_or_of_an_unregistered_type_are_refused_before_any_page(
    backend: Backend,
) {
    let (app, _) = app_with_customer(backend, &[]).await;
    let rp = broker(&app);
    let orders_only = app.register_client(
        "orders-only",
        CALLBACK,
        &["--authorization-details-type", "order"],
    );
    let plain = app.register_client("plain", CALLBACK, &[]);
    let tampered = [
        WITHDRAWAL.replace(
            r#""account":"****5678""#,
            r#""account":"****5678","iban":"DE00""#,
        ),
        WITHDRAWAL.replace(r#""1234567""#, "1234567"),
        WITHDRAWAL.replace(r#""1234567""#, r#""-1""#),
        WITHDRAWAL.replace("withdrawal", "transfer"),
        format!("[{0},{0}]", &WITHDRAWAL[1..WITHDRAWAL.len() - 1]),
        "not json".to_owned(),
        "{}".to_owned(),
    ];
    for details in &tampered {
        let (status, body) = par(&app, &rp, &[("authorization_details", details)]).await;
        assert_eq!(status, 400, "{details}: {body}");
        assert_eq!(body["error"], "invalid_authorization_details", "{details}");
    }
    for client in [&orders_only, &plain] {
        let (status, body) = par(&app, client, &[("authorization_details", WITHDRAWAL)]).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_authorization_details"))
        );
    }
    // Sent to /authorize directly: redirected back with the error, no page.
    let (_, challenge) = pkce_pair();
    for (client, details) in [(&orders_only, WITHDRAWAL), (&rp, tampered[0].as_str())] {
        let page = app
            .authorize(
                client,
                &[
                    ("authorization_details", details),
                    ("code_challenge", &challenge),
                    ("code_challenge_method", "S256"),
                ],
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.html);
        assert_eq!(
            location_param(&page, "error").as_deref(),
            Some("invalid_authorization_details")
        );
        assert_eq!(location_param(&page, "state").as_deref(), Some("st4te"));
    }
    // The CLI refuses a type Kagi does not know.
    let out = app.cli(
        &[
            "client",
            "add",
            "--client-id",
            "x",
            "--name",
            "X",
            "--redirect-uri",
            CALLBACK,
            "--authorization-details-type",
            "transfer",
        ],
        None,
    );
    assert!(!out.success && out.stderr.contains("transfer"), "{out:?}");
}

async fn prompt_none_gets_interaction_required(backend: Backend) {
    let (app, _) = app_with_customer(backend, &[]).await;
    let mut auth = device(&app);
    let web = Web::other(&app);
    let rp = set_up(&app, &web, &mut auth).await;
    // prompt travels in the pushed request.
    let (authorize, _) = pushed_with(&app, &rp, WITHDRAWAL, &[("prompt", "none")]).await;
    let page = web.page(&authorize).await;
    assert_eq!(page.status, 303, "{}", page.html);
    assert_eq!(
        location_param(&page, "error").as_deref(),
        Some("interaction_required")
    );
}

async fn a_customer_without_a_passkey_is_offered_one_and_never_a_code(backend: Backend) {
    let (app, _) = app_with_customer(backend, &[]).await;
    let web = Web::other(&app);
    web.log_in().await;
    let rp = broker(&app);
    let (authorize, _) = pushed(&app, &rp, WITHDRAWAL).await;
    let page = web.page(&authorize).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(
        page.html.contains(r#"id="passkey-register""#),
        "{}",
        page.html
    );
    assert!(!page.html.contains("otp-send") && !page.html.contains(r#"name="code""#));
    // A native (public) client cannot register passkeys: it is told.
    let native = app.register_client(
        "native",
        "http://127.0.0.1/cb",
        &["--public", "--authorization-details-type", "withdrawal"],
    );
    let (_, challenge) = pkce_pair();
    let ask = [
        ("authorization_details", WITHDRAWAL),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    // The app's own browser is not logged in yet: first the login page.
    let page = app.authorize(&native, &ask).await;
    assert_eq!(page.status, 303);
    let login = page.location.clone().unwrap_or_default();
    assert!(login.starts_with("/login"), "{login}");
    Web::of(&app).log_in().await;
    let page = app.authorize(&native, &ask).await;
    assert_eq!(
        location_param(&page, "error").as_deref(),
        Some("unmet_authentication_requirements"),
        "{:?}",
        page.location
    );
}

async fn cancelling_returns_access_denied(backend: Backend) {
    let (app, _) = app_with_customer(backend, &[]).await;
    let mut auth = device(&app);
    let web = Web::other(&app);
    let rp = set_up(&app, &web, &mut auth).await;
    let (authorize, _) = pushed(&app, &rp, WITHDRAWAL).await;
    let page = web.page(&authorize).await;
    let request = request_id(&page.html);
    let cancelled = web
        .form("/authorize/cancel", &[("request", &request)])
        .await;
    assert_eq!(cancelled.status, 303, "{}", cancelled.html);
    assert_eq!(
        location_param(&cancelled, "error").as_deref(),
        Some("access_denied")
    );
    // The request is used up: the confirmation cannot start any more.
    let start = web
        .json("/passkey/confirm/start", &json!({ "request": request }))
        .await;
    assert_eq!(
        (start.status, start.body["error"].as_str()),
        (400, Some("expired"))
    );
}

async fn an_assertion_made_for_another_request_or_ceremony_is_refused(backend: Backend) {
    let (app, _) = app_with_customer(backend, &[]).await;
    let mut auth = device(&app);
    let web = Web::other(&app);
    let rp = set_up(&app, &web, &mut auth).await;
    let (first, _) = pushed(&app, &rp, WITHDRAWAL).await;
    let a = request_id(&web.page(&first).await.html);
    let (second, _) = pushed(&app, &rp, &WITHDRAWAL.replace("1234567", "10")).await;
    let b = request_id(&web.page(&second).await.html);

    // Signed for A, presented as B's confirmation.
    let start = web
        .json("/passkey/confirm/start", &json!({ "request": a }))
        .await;
    let credential = auth.get(&start.body["options"]["publicKey"]).unwrap();
    let swapped = web
        .json(
            "/passkey/confirm/finish",
            &json!({ "request": b, "ceremony": start.body["ceremony"], "credential": credential }),
        )
        .await;
    assert_eq!(
        (swapped.status, swapped.body["error"].as_str()),
        (400, Some("expired"))
    );

    // A step-up ceremony's assertion is not a confirmation.
    let step_up = web.json("/passkey/stepup/start", &json!({})).await;
    let credential = auth.get(&step_up.body["options"]["publicKey"]).unwrap();
    let crossed = web
        .json(
            "/passkey/confirm/finish",
            &json!({ "request": b, "ceremony": step_up.body["ceremony"], "credential": credential }),
        )
        .await;
    assert_eq!(crossed.status, 400, "{:?}", crossed.body);

    // Another browser of the same customer cannot confirm this browser's request.
    let other = Web::other(&app);
    other.log_in().await;
    let stolen = other
        .json("/passkey/confirm/start", &json!({ "request": b }))
        .await;
    assert_eq!(
        (stolen.status, stolen.body["error"].as_str()),
        (400, Some("expired"))
    );

    // Neither request was confirmed: both still show the page.
    let none: Vec<_> = crate::passkeys::audit(&app)
        .await
        .into_iter()
        .filter(|e| e.kind == "transaction.confirmed")
        .collect();
    assert!(none.is_empty(), "{none:?}");
}

async fn two_assertions_racing_for_one_request_confirm_it_once(backend: Backend) {
    let (app, _) = app_with_customer(backend, &[]).await;
    let mut auth = device(&app);
    let web = Web::other(&app);
    let rp = set_up(&app, &web, &mut auth).await;
    let (authorize, _) = pushed(&app, &rp, WITHDRAWAL).await;
    let request = request_id(&web.page(&authorize).await.html);
    let mut finishes = Vec::new();
    for _ in 0..4 {
        let start = web
            .json("/passkey/confirm/start", &json!({ "request": request }))
            .await;
        assert_eq!(start.status, 200);
        let credential = auth.get(&start.body["options"]["publicKey"]).unwrap();
        finishes.push(json!({
            "request": request, "ceremony": start.body["ceremony"], "credential": credential
        }));
    }
    let path = "/passkey/confirm/finish";
    let (a, b, c, d) = tokio::join!(
        web.json(path, &finishes[0]),
        web.json(path, &finishes[1]),
        web.json(path, &finishes[2]),
        web.json(path, &finishes[3]),
    );
    let answers = [a, b, c, d];
    let confirmed = answers.iter().filter(|a| a.status == 200).count();
    assert_eq!(confirmed, 1, "{answers:?}");
    let rows = crate::passkeys::audit(&app)
        .await
        .into_iter()
        .filter(|e| e.kind == "transaction.confirmed")
        .count();
    assert_eq!(rows, 1);
}

async fn a_market_order_is_shown_and_granted(backend: Backend) {
    let (app, _) = app_with_customer(backend, &[]).await;
    let mut auth = device(&app);
    let web = Web::other(&app);
    let rp = set_up(&app, &web, &mut auth).await;
    let (authorize, verifier) = pushed(&app, &rp, MARKET_ORDER).await;
    let page = web.page(&authorize).await;
    assert_eq!(page.status, 200);
    for shown in ["Toyota Motor", "7203", "売り", "1,500株", "成行"] {
        assert!(page.html.contains(shown), "{shown} missing: {}", page.html);
    }
    let request = request_id(&page.html);
    let (_, finish, _) = confirm(&web, &mut auth, &request).await;
    let answer = web.page(finish["redirect"].as_str().unwrap()).await;
    let code = location_param(&answer, "code").expect("a code");
    let tokens = app.exchange(&rp, &code, Some(&verifier)).await;
    assert_eq!(
        tokens.json["authorization_details"],
        serde_json::from_str::<Value>(MARKET_ORDER).unwrap()
    );
}

async fn the_page_follows_the_pushed_ui_locales_and_its_language_links_keep_the_request(
    backend: Backend,
) {
    let (app, _) = app_with_customer(backend, &[]).await;
    let mut auth = device(&app);
    let web = Web::other(&app);
    let rp = set_up(&app, &web, &mut auth).await;
    let (authorize, _) = pushed_with(&app, &rp, WITHDRAWAL, &[("ui_locales", "en")]).await;
    let english = web.page(&authorize).await;
    assert_eq!(english.status, 200, "{}", english.html);
    assert!(english.html.contains("¥1,234,567"), "{}", english.html);
    assert!(english.html.contains("Withdrawal"));
    let request = request_id(&english.html);
    // The language link decides the stored request again (the pushed
    // request_uri is used up) and shows the same transaction in Japanese.
    let link = format!("/authorize/continue?request={request}&amp;lang=ja");
    assert!(english.html.contains(&link), "{}", english.html);
    let japanese = web
        .page(&format!("/authorize/continue?request={request}&lang=ja"))
        .await;
    assert_eq!(japanese.status, 200, "{}", japanese.html);
    assert!(japanese.html.contains("1,234,567円"), "{}", japanese.html);
    assert_eq!(request_id(&japanese.html), request);
}

/// The confirmation is used once: of four tabs continuing the confirmed
/// request at once, one gets a code (the stored request is taken by one
/// conditional write, `docs/write-path.md`); and the cancel form and the
/// ceremony's JSON calls are refused without the session's CSRF token.
async fn a_confirmation_gives_one_code_to_a_burst_and_its_forms_need_the_csrf_token(
    backend: Backend,
) {
    let (app, _) = app_with_customer(backend, &[]).await;
    let mut auth = device(&app);
    // The app's own client is the browser, so `post_raw` sends its cookie.
    let web = Web::of(&app);
    let rp = set_up(&app, &web, &mut auth).await;
    let (authorize, _) = pushed(&app, &rp, WITHDRAWAL).await;
    let request = request_id(&web.page(&authorize).await.html);

    for csrf in [None, Some("forged")] {
        let mut form = vec![("request", request.as_str())];
        form.extend(csrf.map(|c| ("csrf", c)));
        let refused = app.post_raw("/authorize/cancel", &form).await;
        assert_eq!(refused.status, 403, "{csrf:?}: {}", refused.html);
    }
    let forged = web
        .json_with_token(
            "/passkey/confirm/start",
            &json!({ "request": request }),
            "forged",
        )
        .await;
    assert_eq!(
        (forged.status, forged.body["error"].as_str()),
        (403, Some("csrf"))
    );

    let (_, finish, _) = confirm(&web, &mut auth, &request).await;
    let back = finish["redirect"].as_str().unwrap();
    let (a, b, c, d) = tokio::join!(
        web.page(back),
        web.page(back),
        web.page(back),
        web.page(back)
    );
    let codes = [a, b, c, d]
        .iter()
        .filter(|page| page.status == 303 && location_param(page, "code").is_some())
        .count();
    assert_eq!(codes, 1, "one code for one confirmation");
    let issued = crate::passkeys::audit(&app)
        .await
        .into_iter()
        .filter(|e| e.kind == "code.issued")
        .count();
    assert_eq!(issued, 1);
}
