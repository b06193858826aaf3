//! The OpenID Connect surface as relying parties see it: the code flow with
//! PKCE, tokens and their assurance claims, refresh, userinfo and the errors
//! the specifications name (issue: OIDC for relying parties and the native app).

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse as _, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse as _,
};

use crate::both_backends;
use crate::helpers::customer::{Customer, EMAIL, PASSWORD, logged_in};
use crate::helpers::rp::{Rp, jwt_claims, jwt_header, location_param, location_params, pkce_pair};
use crate::helpers::{Backend, TestApp};

both_backends!(
    the_openidconnect_crate_completes_the_code_flow_and_validates_every_claim,
    a_native_client_uses_pkce_and_any_loopback_port_and_gets_rotating_refresh_tokens,
    a_lost_refresh_response_may_be_retried_while_its_successor_is_unused,
    a_reused_code_fails_and_revokes_what_it_granted,
    pkce_and_code_binding_errors_are_invalid_grant,
    bad_authorization_requests_get_the_errors_the_specs_name,
    an_unknown_client_or_redirect_uri_gets_an_error_page_and_never_a_redirect,
    prompt_none_without_a_session_returns_login_required,
    a_login_started_by_a_client_comes_back_to_it_with_a_code,
    prompt_login_and_max_age_reauthenticate_and_advance_auth_time,
    a_client_requiring_phr_applies_it_only_from_its_start_date,
    third_party_clients_ask_for_consent_once,
    form_post_delivers_the_response_in_a_self_submitting_form,
    userinfo_accepts_the_token_in_every_standard_place_and_says_why_not,
    the_token_endpoint_answers_every_failure_in_rfc_6749_json,
    discovery_lists_what_is_implemented,
    private_key_jwt_clients_authenticate_with_a_signed_assertion_used_once,
    no_request_parameter_lowers_the_acr_a_client_requires,
    an_essential_phr_without_a_passkey_is_offered_registration_on_the_web_and_refused_to_native_apps
);

const WEB_CALLBACK: &str = "http://localhost:9/callback";

async fn the_openidconnect_crate_completes_the_code_flow_and_validates_every_claim(
    backend: Backend,
) {
    let (app, Customer { sub, .. }) = logged_in(backend).await;
    for (client_id, alg) in [
        ("web-rs256", "RS256"),
        ("web-es256", "ES256"),
        ("web-ps256", "PS256"),
        ("web-eddsa", "EdDSA"),
    ] {
        let rp = app.register_client(client_id, WEB_CALLBACK, &["--id-token-alg", alg]);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .resolve("localhost", app.addr)
            .build()
            .unwrap();
        let metadata =
            CoreProviderMetadata::discover_async(IssuerUrl::new(app.base.clone()).unwrap(), &http)
                .await
                .unwrap();
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(rp.client_id.clone()),
            rp.secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(RedirectUrl::new(WEB_CALLBACK.to_owned()).unwrap());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, csrf, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .set_pkce_challenge(challenge)
            .url();
        let page = app
            .page(&format!("{}?{}", url.path(), url.query().unwrap()))
            .await;
        assert_eq!(
            location_param(&page, "state").as_deref(),
            Some(csrf.secret().as_str())
        );
        assert_eq!(
            location_param(&page, "iss").as_deref(),
            Some(app.base.as_str()),
            "RFC 9207 iss"
        );
        let code = location_param(&page, "code").unwrap();
        let tokens = client
            .exchange_code(AuthorizationCode::new(code))
            .unwrap()
            .set_pkce_verifier(verifier)
            .request_async(&http)
            .await
            .unwrap_or_else(|e| panic!("{alg}: {e:?}"));
        let id_token = tokens.id_token().unwrap();
        let algs = vec![
            openidconnect::core::CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            openidconnect::core::CoreJwsSigningAlgorithm::EcdsaP256Sha256,
            openidconnect::core::CoreJwsSigningAlgorithm::RsaSsaPssSha256,
            openidconnect::core::CoreJwsSigningAlgorithm::EdDsa,
        ];
        let verifier = client.id_token_verifier().set_allowed_algs(algs);
        let claims = id_token
            .claims(&verifier, &nonce)
            .unwrap_or_else(|e| panic!("{alg}: {e:?}"));
        assert_eq!(claims.subject().as_str(), sub);
        assert_eq!(
            claims.auth_context_ref().unwrap().as_str(),
            "urn:kagi:acr:mfa"
        );
        let amr: Vec<String> = claims
            .auth_method_refs()
            .unwrap()
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(amr, ["pwd", "otp", "mfa"]);
        assert!(claims.auth_time().is_some());
        assert!(claims.email().is_none(), "scope claims come from userinfo");
        let raw = jwt_claims(&id_token.to_string());
        assert_eq!(raw["azp"], rp.client_id);
        assert!(raw["sid"].is_string() && raw["at_hash"].is_string());
        assert_eq!(jwt_header(&id_token.to_string())["alg"], alg);
        let at = tokens.access_token().secret();
        assert_eq!(jwt_header(at)["typ"], "at+jwt");
        let at_claims = jwt_claims(at);
        assert_eq!(
            (at_claims["acr"].as_str(), at_claims["client_id"].as_str()),
            (Some("urn:kagi:acr:mfa"), Some(client_id))
        );
        assert!(at_claims["auth_time"].is_i64() && at_claims["amr"].is_array());
        let (status, info, _) = app.userinfo(at).await;
        assert_eq!(status, 200);
        assert_eq!(info["sub"], sub.as_str());
        assert_eq!(info["email"], EMAIL);
        assert_eq!(info["email_verified"], true);
    }
}

async fn a_native_client_uses_pkce_and_any_loopback_port_and_gets_rotating_refresh_tokens(
    backend: Backend,
) {
    let (app, _) = logged_in(backend).await;
    let registered = app.register_client("app", "http://127.0.0.1/callback", &["--public"]);
    let rp = Rp {
        redirect_uri: "http://127.0.0.1:53117/callback".into(),
        ..registered
    };
    let first = app
        .code_flow(&rp, &[("scope", "openid offline_access")])
        .await;
    assert_eq!(first.json["token_type"], "Bearer");
    assert!(first.cache_control.as_deref().unwrap().contains("no-store"));
    let refresh = first.json["refresh_token"].as_str().unwrap().to_owned();
    assert!(refresh.len() >= 43);
    let original = jwt_claims(first.json["id_token"].as_str().unwrap());
    app.clock.advance(5);
    let second = app
        .token(
            &rp,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(second.status, 200, "{}", second.json);
    let renewed = jwt_claims(second.json["id_token"].as_str().unwrap());
    for claim in ["acr", "amr", "auth_time", "sub", "iss", "aud"] {
        assert_eq!(
            renewed[claim], original[claim],
            "{claim} survives a refresh"
        );
    }
    assert_ne!(renewed["iat"], original["iat"]);
    assert!(renewed.get("nonce").is_none());
    let next = second.json["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(next, refresh, "refresh tokens rotate");
    // The successor is used; presenting the old one now revokes the family.
    let third = app
        .token(
            &rp,
            &[("grant_type", "refresh_token"), ("refresh_token", &next)],
        )
        .await;
    assert_eq!(third.status, 200);
    let replay = app
        .token(
            &rp,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(
        (replay.status, replay.json["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let newest = third.json["refresh_token"].as_str().unwrap();
    let after = app
        .token(
            &rp,
            &[("grant_type", "refresh_token"), ("refresh_token", newest)],
        )
        .await;
    assert_eq!(
        after.json["error"], "invalid_grant",
        "the whole family is revoked"
    );
    let (status, _, _) = app
        .userinfo(third.json["access_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 401);
    let audit = app.state.store.list_audit_events(None, 50).await.unwrap();
    assert!(audit.iter().any(|e| e.kind == "token.reuse_detected"));
}

async fn a_lost_refresh_response_may_be_retried_while_its_successor_is_unused(backend: Backend) {
    let (app, _) = logged_in(backend).await;
    let rp = app.register_client("web", WEB_CALLBACK, &[]);
    let first = app.code_flow(&rp, &[]).await;
    let refresh = first.json["refresh_token"].as_str().unwrap().to_owned();
    let lost = app
        .token(
            &rp,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(lost.status, 200);
    app.clock.advance(10);
    let retry = app
        .token(
            &rp,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(
        retry.status, 200,
        "a retry within the grace window: {}",
        retry.json
    );
    let stale = app
        .token(
            &rp,
            &[
                ("grant_type", "refresh_token"),
                (
                    "refresh_token",
                    lost.json["refresh_token"].as_str().unwrap(),
                ),
            ],
        )
        .await;
    assert_eq!(
        stale.json["error"], "invalid_grant",
        "the lost successor was replaced"
    );
    let current = app
        .token(
            &rp,
            &[
                ("grant_type", "refresh_token"),
                (
                    "refresh_token",
                    retry.json["refresh_token"].as_str().unwrap(),
                ),
            ],
        )
        .await;
    assert_eq!(current.status, 200);
    app.clock.advance(31);
    let late = app
        .token(
            &rp,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(late.json["error"], "invalid_grant");
}

async fn a_reused_code_fails_and_revokes_what_it_granted(backend: Backend) {
    let (app, _) = logged_in(backend).await;
    let rp = app.register_client("web", WEB_CALLBACK, &[]);
    let (verifier, challenge) = pkce_pair();
    let page = app
        .authorize(
            &rp,
            &[
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .await;
    let code = location_param(&page, "code").unwrap();
    assert!(code.len() >= 43, "256-bit codes");
    let first = app.exchange(&rp, &code, Some(&verifier)).await;
    assert_eq!(first.status, 200);
    let again = app.exchange(&rp, &code, Some(&verifier)).await;
    assert_eq!(
        (again.status, again.json["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(again.json["error_description"].as_str().unwrap().is_ascii());
    let (status, _, challenge) = app
        .userinfo(first.json["access_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 401);
    assert!(challenge.unwrap().contains("invalid_token"));
    let refresh = app
        .token(
            &rp,
            &[
                ("grant_type", "refresh_token"),
                (
                    "refresh_token",
                    first.json["refresh_token"].as_str().unwrap(),
                ),
            ],
        )
        .await;
    assert_eq!(refresh.json["error"], "invalid_grant");
    let trail = app
        .cli(&["--json", "audit", "--customer-code", "C0001234"], None)
        .json();
    let kinds: Vec<&str> = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"token.reuse_detected") && kinds.contains(&"tokens.issued"),
        "the customer's trail shows the reuse: {kinds:?}"
    );
}

async fn pkce_and_code_binding_errors_are_invalid_grant(backend: Backend) {
    let (app, _) = logged_in(backend).await;
    let rp = app.register_client("web", WEB_CALLBACK, &[]);
    let other = app.register_client("other", WEB_CALLBACK, &[]);
    let (verifier, challenge) = pkce_pair();
    let fresh_code = |extra: Vec<(&'static str, String)>| {
        let app = &app;
        let rp = &rp;
        async move {
            let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
            location_param(&app.authorize(rp, &extra).await, "code").unwrap()
        }
    };
    let pkce = || {
        vec![
            ("code_challenge", challenge.clone()),
            ("code_challenge_method", "S256".to_owned()),
        ]
    };
    let wrong = app
        .exchange(&rp, &fresh_code(pkce()).await, Some(&pkce_pair().0))
        .await;
    assert_eq!(wrong.json["error"], "invalid_grant");
    let missing = app.exchange(&rp, &fresh_code(pkce()).await, None).await;
    assert_eq!(missing.json["error"], "invalid_grant");
    let downgrade = app
        .exchange(&rp, &fresh_code(vec![]).await, Some(&verifier))
        .await;
    assert_eq!(
        downgrade.json["error"], "invalid_grant",
        "a verifier without a challenge is refused"
    );
    let code = fresh_code(pkce()).await;
    let altered = app
        .token(
            &rp,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://localhost:9/other"),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(altered.json["error"], "invalid_grant");
    let foreign = app
        .exchange(&other, &fresh_code(pkce()).await, Some(&verifier))
        .await;
    assert_eq!(
        foreign.json["error"], "invalid_grant",
        "a code is bound to its client"
    );
    let late_code = fresh_code(pkce()).await;
    app.clock.advance(61);
    let late = app.exchange(&rp, &late_code, Some(&verifier)).await;
    assert_eq!(late.json["error"], "invalid_grant", "codes live 60 s");
}

async fn bad_authorization_requests_get_the_errors_the_specs_name(backend: Backend) {
    let (app, _) = logged_in(backend).await;
    let rp = app.register_client("web", WEB_CALLBACK, &[]);
    let native = app.register_client("app", "http://127.0.0.1/callback", &["--public"]);
    let state = "s".repeat(124) + "-._~";
    type Case<'a> = (&'a Rp, &'a [(&'a str, &'a str)], &'a str);
    let table: &[Case<'_>] = &[
        (
            &rp,
            &[("response_type", "token")],
            "unsupported_response_type",
        ),
        (
            &rp,
            &[
                (
                    "code_challenge",
                    "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                ),
                ("code_challenge_method", "plain"),
            ],
            "invalid_request",
        ),
        (&native, &[], "invalid_request"),
        (
            &rp,
            &[("request", "eyJhbGciOiJub25lIn0.e30.")],
            "request_not_supported",
        ),
        (
            &rp,
            &[("request_uri", "https://rp.example.com/r")],
            "request_uri_not_supported",
        ),
        (&rp, &[("scope", "email")], "invalid_scope"),
        (&rp, &[("prompt", "none login")], "invalid_request"),
    ];
    for (client, extra, error) in table {
        let mut extra = extra.to_vec();
        extra.push(("state", &state));
        let page = app.authorize(client, &extra).await;
        assert_eq!(page.status, 303, "{extra:?}");
        assert_eq!(
            location_param(&page, "error").as_deref(),
            Some(*error),
            "{extra:?}"
        );
        assert_eq!(
            location_param(&page, "state").as_deref(),
            Some(state.as_str()),
            "state echoed"
        );
        assert_eq!(
            location_param(&page, "iss").as_deref(),
            Some(app.base.as_str())
        );
        assert!(location_param(&page, "code").is_none());
    }
}

async fn an_unknown_client_or_redirect_uri_gets_an_error_page_and_never_a_redirect(
    backend: Backend,
) {
    let (app, _) = logged_in(backend).await;
    let rp = app.register_client("web", WEB_CALLBACK, &[]);
    let bogus = Rp {
        redirect_uri: format!("{WEB_CALLBACK}/abc"),
        ..rp.clone()
    };
    let unknown = Rp {
        client_id: "nobody".into(),
        ..rp.clone()
    };
    for (client, extra) in [
        (&bogus, vec![]),
        (&unknown, vec![]),
        (&bogus, vec![("request", "x")]),
        (&bogus, vec![("response_type", "token")]),
    ] {
        let page = app.authorize(client, &extra).await;
        assert_eq!(page.status, 400);
        assert!(page.location.is_none());
        assert!(page.html.contains("<html"));
    }
    let no_redirect = app
        .page("/authorize?client_id=web&response_type=code&scope=openid")
        .await;
    assert_eq!(
        (no_redirect.status, no_redirect.location.is_none()),
        (400, true)
    );
}

async fn prompt_none_without_a_session_returns_login_required(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let rp = app.register_client("web", WEB_CALLBACK, &[]);
    let state = "x".repeat(124) + "-._~";
    let page = app
        .authorize(&rp, &[("prompt", "none"), ("state", &state)])
        .await;
    assert_eq!(
        location_param(&page, "error").as_deref(),
        Some("login_required")
    );
    assert_eq!(
        location_param(&page, "state").as_deref(),
        Some(state.as_str())
    );
    let interactive = app.authorize(&rp, &[]).await;
    assert!(
        interactive.location.unwrap().starts_with("/login?"),
        "a login page otherwise"
    );
}

async fn a_login_started_by_a_client_comes_back_to_it_with_a_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.customer().create().await;
    let rp = app.register_client("web", WEB_CALLBACK, &[]);
    let page = app
        .authorize(&rp, &[("login_hint", "C0001234"), ("ui_locales", "en")])
        .await;
    let login = page.location.unwrap();
    let form = app.page(&login).await;
    assert!(
        form.html.contains("value=\"C0001234\""),
        "login_hint prefills"
    );
    assert!(
        form.html.contains("lang=\"en\""),
        "ui_locales picks the language"
    );
    let return_to =
        crate::helpers::browser::attribute_after(&form.html, "name=\"return_to\"", "value")
            .unwrap()
            .replace("&amp;", "&");
    app.post(
        "/login",
        &[
            ("customer_code", "C0001234"),
            ("password", PASSWORD),
            ("return_to", &return_to),
        ],
    )
    .await;
    let code = app.send_email_code(0, EMAIL).await;
    let done = app.post("/login/code", &[("code", &code)]).await;
    let resumed = app.page(done.location.as_deref().unwrap()).await;
    assert!(
        location_param(&resumed, "code").is_some(),
        "{:?}",
        resumed.location
    );
    assert_eq!(location_param(&resumed, "state").as_deref(), Some("st4te"));
}

async fn prompt_login_and_max_age_reauthenticate_and_advance_auth_time(backend: Backend) {
    let (app, _) = logged_in(backend).await;
    let rp = app.register_client("web", WEB_CALLBACK, &[]);
    let first = jwt_claims(
        app.code_flow(&rp, &[("max_age", "15000")]).await.json["id_token"]
            .as_str()
            .unwrap(),
    );
    app.clock.advance(2);
    let silent = jwt_claims(
        app.code_flow(&rp, &[("max_age", "10000")]).await.json["id_token"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(
        silent["auth_time"], first["auth_time"],
        "no re-login within max_age"
    );
    let none = jwt_claims(
        app.code_flow(&rp, &[("prompt", "none")]).await.json["id_token"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(none["auth_time"], first["auth_time"]);
    for extra in [("prompt", "login"), ("max_age", "1")] {
        app.clock.advance(2);
        let page = app.authorize(&rp, &[extra]).await;
        let login = page.location.unwrap();
        assert!(
            login.starts_with("/login?") && login.contains("reauth=1"),
            "{extra:?}: {login}"
        );
        let form = app.page(&login).await;
        assert!(
            form.html.contains("id=\"login-submit\""),
            "the form is shown to a logged-in customer"
        );
        let return_to =
            crate::helpers::browser::attribute_after(&form.html, "name=\"return_to\"", "value")
                .unwrap()
                .replace("&amp;", "&");
        app.post(
            "/login",
            &[
                ("customer_code", "C0001234"),
                ("password", PASSWORD),
                ("return_to", &return_to),
            ],
        )
        .await;
        let code = app.send_email_code(0, EMAIL).await;
        let done = app.post("/login/code", &[("code", &code)]).await;
        let resumed = app.page(done.location.as_deref().unwrap()).await;
        let code = location_param(&resumed, "code").unwrap();
        let answer = app.exchange(&rp, &code, None).await;
        let later = jwt_claims(answer.json["id_token"].as_str().unwrap());
        assert!(
            later["auth_time"].as_i64() > first["auth_time"].as_i64(),
            "{extra:?}"
        );
    }
}

async fn an_essential_phr_without_a_passkey_is_offered_registration_on_the_web_and_refused_to_native_apps(
    backend: Backend,
) {
    let (app, _) = logged_in(backend).await;
    let web = app.register_client("web", WEB_CALLBACK, &[]);
    let native = app.register_client("app", "http://127.0.0.1/callback", &["--public"]);
    let claims = r#"{"id_token":{"acr":{"essential":true,"values":["phr"]}}}"#;
    let (_, challenge) = pkce_pair();
    let refused = app
        .authorize(
            &native,
            &[
                ("claims", claims),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .await;
    assert_eq!(
        location_param(&refused, "error").as_deref(),
        Some("unmet_authentication_requirements")
    );
    assert_eq!(location_param(&refused, "state").as_deref(), Some("st4te"));
    assert!(location_param(&refused, "code").is_none());
    let offer = app.authorize(&web, &[("claims", claims)]).await;
    assert_eq!(offer.status, 200);
    assert!(offer.html.contains("id=\"passkey-register\""));
    let request =
        crate::helpers::browser::attribute_after(&offer.html, "name=\"request\"", "value").unwrap();
    let declined = app
        .post("/authorize/decline", &[("request", &request)])
        .await;
    assert_eq!(
        location_param(&declined, "error").as_deref(),
        Some("unmet_authentication_requirements")
    );
    let again = app
        .post("/authorize/decline", &[("request", &request)])
        .await;
    assert_eq!(
        (again.status, again.location.is_none()),
        (400, true),
        "a declined request is used up"
    );
    // A voluntary acr_values=phr is answered honestly with the level reached.
    let voluntary = app
        .code_flow(&web, &[("acr_values", "phr urn:kagi:acr:mfa")])
        .await;
    assert_eq!(
        jwt_claims(voluntary.json["id_token"].as_str().unwrap())["acr"],
        "urn:kagi:acr:mfa"
    );
    let mfa_ok = app
        .code_flow(
            &web,
            &[(
                "claims",
                r#"{"id_token":{"acr":{"essential":true,"values":["urn:kagi:acr:mfa"]}}}"#,
            )],
        )
        .await;
    assert_eq!(
        jwt_claims(mfa_ok.json["id_token"].as_str().unwrap())["acr"],
        "urn:kagi:acr:mfa"
    );
}

async fn a_client_requiring_phr_applies_it_only_from_its_start_date(backend: Backend) {
    let (app, _) = logged_in(backend).await;
    let started = app.register_client(
        "trading",
        WEB_CALLBACK,
        &["--require-acr", "phr", "--require-acr-from", "2026-05-15"],
    );
    let later = app.register_client(
        "future",
        WEB_CALLBACK,
        &["--require-acr", "phr", "--require-acr-from", "2999-01-01"],
    );
    let page = app.authorize(&started, &[]).await;
    assert_eq!(
        page.status, 200,
        "a password session is below the client's phr"
    );
    assert!(page.html.contains("id=\"passkey-register\""));
    let before = app.code_flow(&later, &[]).await;
    assert_eq!(
        jwt_claims(before.json["id_token"].as_str().unwrap())["acr"],
        "urn:kagi:acr:mfa"
    );
}

async fn third_party_clients_ask_for_consent_once(backend: Backend) {
    let (app, _) = logged_in(backend).await;
    let rp = app.register_client("partner", WEB_CALLBACK, &["--third-party"]);
    let page = app.authorize(&rp, &[("scope", "openid email")]).await;
    assert_eq!(page.status, 200);
    assert!(page.html.contains("id=\"consent-accept\""));
    let request =
        crate::helpers::browser::attribute_after(&page.html, "name=\"request\"", "value").unwrap();
    let accepted = app
        .post(
            "/authorize/consent",
            &[("request", &request), ("decision", "accept")],
        )
        .await;
    assert!(location_param(&accepted, "code").is_some());
    let again = app.authorize(&rp, &[("scope", "openid email")]).await;
    assert!(
        location_param(&again, "code").is_some(),
        "consent is remembered"
    );
    let forced = app.authorize(&rp, &[("prompt", "consent")]).await;
    assert_eq!(forced.status, 200);
    let request =
        crate::helpers::browser::attribute_after(&forced.html, "name=\"request\"", "value")
            .unwrap();
    let denied = app
        .post(
            "/authorize/consent",
            &[("request", &request), ("decision", "deny")],
        )
        .await;
    assert_eq!(
        location_param(&denied, "error").as_deref(),
        Some("access_denied")
    );
    let first_party = app.register_client("own", WEB_CALLBACK, &[]);
    assert!(
        location_param(&app.authorize(&first_party, &[]).await, "code").is_some(),
        "first-party clients skip consent"
    );
}

async fn form_post_delivers_the_response_in_a_self_submitting_form(backend: Backend) {
    let (app, _) = logged_in(backend).await;
    let rp = app.register_client("web", WEB_CALLBACK, &[]);
    let page = app.authorize(&rp, &[("response_mode", "form_post")]).await;
    assert_eq!(page.status, 200);
    assert!(page.html.contains(&format!("action=\"{WEB_CALLBACK}\"")));
    for name in ["code", "state", "iss"] {
        assert!(page.html.contains(&format!("name=\"{name}\"")), "{name}");
    }
    assert!(page.html.contains("/static/form_post.js") && !page.html.contains("<script>"));
}

async fn userinfo_accepts_the_token_in_every_standard_place_and_says_why_not(backend: Backend) {
    let (app, Customer { sub, .. }) = logged_in(backend).await;
    let rp = app.register_client("web", WEB_CALLBACK, &[]);
    let at = app
        .code_flow(&rp, &[("scope", "openid profile")])
        .await
        .json["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let http = reqwest::Client::new();
    let url = app.url("/userinfo");
    let answers = [
        http.get(&url)
            .header("authorization", format!("bearer {at}"))
            .send()
            .await
            .unwrap(),
        http.post(&url)
            .header("authorization", format!("Bearer {at}"))
            .send()
            .await
            .unwrap(),
        http.post(&url)
            .form(&[("access_token", at.as_str())])
            .send()
            .await
            .unwrap(),
    ];
    for answer in answers {
        assert_eq!(answer.status(), 200);
        assert!(
            answer.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let json: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(
            (json["sub"].as_str(), json["name"].as_str()),
            (Some(sub.as_str()), Some("山田 太郎"))
        );
    }
    let none = http.get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert!(
        none.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let (status, _, challenge) = app.userinfo("not-a-token").await;
    assert_eq!(status, 401);
    assert!(challenge.unwrap().contains("error=\"invalid_token\""));
    app.clock.advance(601);
    assert_eq!(app.userinfo(&at).await.0, 401, "expired");
}

async fn the_token_endpoint_answers_every_failure_in_rfc_6749_json(backend: Backend) {
    let (app, _) = logged_in(backend).await;
    let rp = app.register_client(
        "web",
        WEB_CALLBACK,
        &["--auth-method", "client_secret_post"],
    );
    let basic = app.register_client("basic", WEB_CALLBACK, &[]);
    let http = reqwest::Client::new();
    let url = app.url("/token");
    let secret = rp.secret.as_deref().unwrap();
    let repeated_grant_type = format!(
        "grant_type=refresh_token&grant_type=refresh_token&client_id=web&client_secret={secret}"
    );
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            http.post(&url)
                .body("grant_type=authorization_code")
                .header("content-type", "text/plain"),
            400,
            "invalid_request",
        ),
        (
            http.post(&url)
                .header("authorization", "Basic !!!")
                .form(&[("grant_type", "authorization_code")]),
            400,
            "invalid_request",
        ),
        (
            http.post(&url)
                .basic_auth("basic", Some("wrong"))
                .form(&[("grant_type", "authorization_code"), ("code", "x")]),
            401,
            "invalid_client",
        ),
        (
            http.post(&url).form(&[
                ("grant_type", "authorization_code"),
                ("client_id", "web"),
                ("client_secret", "wrong"),
            ]),
            401,
            "invalid_client",
        ),
        (
            http.post(&url)
                .basic_auth("web", rp.secret.as_deref())
                .form(&[("grant_type", "authorization_code")]),
            401,
            "invalid_client",
        ),
        (
            http.post(&url).form(&[
                ("grant_type", "password"),
                ("client_id", "web"),
                ("client_secret", secret),
            ]),
            400,
            "unsupported_grant_type",
        ),
        (
            http.post(&url)
                .body(repeated_grant_type)
                .header("content-type", "application/x-www-form-urlencoded"),
            400,
            "invalid_request",
        ),
        (
            http.post(&url).form(&[
                ("grant_type", "authorization_code"),
                ("code", "nope"),
                ("redirect_uri", WEB_CALLBACK),
                ("client_id", "web"),
                ("client_secret", secret),
            ]),
            400,
            "invalid_grant",
        ),
        (
            http.post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(vec![b'a'; 70_000]),
            400,
            "invalid_request",
        ),
    ];
    for (i, (request, status, error)) in cases.into_iter().enumerate() {
        let answer = crate::helpers::rp::token_answer(request.send().await.unwrap()).await;
        assert_eq!(
            (answer.status, answer.json["error"].as_str()),
            (status, Some(error)),
            "case {i}: {}",
            answer.json
        );
        let description = answer.json["error_description"].as_str().unwrap();
        assert!(description.is_ascii() && !description.contains(['"', '\\']));
        if status == 401 && i == 2 {
            assert!(answer.www_authenticate.unwrap().starts_with("Basic"));
        }
    }
    let ok = app.code_flow(&basic, &[]).await;
    assert_eq!(ok.cache_control.as_deref(), Some("no-store"));
}

async fn discovery_lists_what_is_implemented(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let doc: serde_json::Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(doc["claims_parameter_supported"], true);
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    assert_eq!(doc["token_endpoint"], app.url("/token"));
    let methods = doc["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap();
    for m in [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "none",
    ] {
        assert!(methods.contains(&serde_json::json!(m)), "{m}");
    }
    let _ = location_params;
}

/// An ES256 key pair for a `private_key_jwt` client: (signing key, public JWK set JSON).
fn client_key() -> (jsonwebtoken::EncodingKey, String) {
    let pem = kagi::crypto::keys::generate_pem(kagi::model::SigningAlg::Es256).unwrap();
    let material = kagi::crypto::keys::from_pem(kagi::model::SigningAlg::Es256, &pem).unwrap();
    let mut jwk = material.jwk.clone();
    jwk.common.key_id = Some("client-key-1".into());
    let set = serde_json::json!({ "keys": [jwk] });
    (material.encoding, set.to_string())
}

fn assertion(
    key: &jsonwebtoken::EncodingKey,
    client_id: &str,
    aud: &str,
    jti: &str,
    now: i64,
) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("client-key-1".into());
    let claims = serde_json::json!({
        "iss": client_id, "sub": client_id, "aud": aud, "jti": jti, "iat": now, "exp": now + 60,
    });
    jsonwebtoken::encode(&header, &claims, key).unwrap()
}

async fn private_key_jwt_clients_authenticate_with_a_signed_assertion_used_once(backend: Backend) {
    let (app, _) = logged_in(backend).await;
    let (key, jwks) = client_key();
    let rp = app.register_client(
        "signed",
        WEB_CALLBACK,
        &["--auth-method", "private_key_jwt", "--jwks", &jwks],
    );
    let rp = Rp { secret: None, ..rp };
    let (verifier, challenge) = pkce_pair();
    let code_for = || async {
        location_param(
            &app.authorize(
                &rp,
                &[
                    ("code_challenge", challenge.as_str()),
                    ("code_challenge_method", "S256"),
                ],
            )
            .await,
            "code",
        )
        .unwrap()
    };
    let post = |code: String, assertion: String| {
        let app = &app;
        let verifier = verifier.clone();
        async move {
            let form = [
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", WEB_CALLBACK),
                ("code_verifier", verifier.as_str()),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion.as_str()),
            ];
            crate::helpers::rp::token_answer(
                reqwest::Client::new()
                    .post(app.url("/token"))
                    .form(&form)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let now = app.clock.now();
    let good = assertion(&key, "signed", &app.url("/token"), "jti-1", now);
    let ok = post(code_for().await, good.clone()).await;
    assert_eq!(ok.status, 200, "{}", ok.json);
    let replay = post(code_for().await, good).await;
    assert_eq!(
        (replay.status, replay.json["error"].as_str()),
        (401, Some("invalid_client")),
        "a jti is accepted once"
    );
    let wrong_aud = post(
        code_for().await,
        assertion(
            &key,
            "signed",
            "https://elsewhere.example/token",
            "jti-2",
            now,
        ),
    )
    .await;
    assert_eq!(wrong_aud.json["error"], "invalid_client");
    let expired = post(
        code_for().await,
        assertion(&key, "signed", &app.base, "jti-3", now - 120),
    )
    .await;
    assert_eq!(expired.json["error"], "invalid_client");
    let (other_key, _) = client_key();
    let forged = post(
        code_for().await,
        assertion(&other_key, "signed", &app.base, "jti-4", now),
    )
    .await;
    assert_eq!(forged.json["error"], "invalid_client");
    let issuer_aud = post(
        code_for().await,
        assertion(&key, "signed", &app.base, "jti-5", now),
    )
    .await;
    assert_eq!(issuer_aud.status, 200, "the issuer is an accepted audience");
}

async fn no_request_parameter_lowers_the_acr_a_client_requires(backend: Backend) {
    let (app, _) = logged_in(backend).await;
    let web = app.register_client("trading", WEB_CALLBACK, &["--require-acr", "phr"]);
    let native = app.register_client(
        "native",
        "http://127.0.0.1/callback",
        &["--public", "--require-acr", "phr"],
    );
    let mfa = "urn:kagi:acr:mfa";
    let essential = |member: &str| {
        format!(r#"{{"{member}":{{"acr":{{"essential":true,"values":["{mfa}"]}}}}}}"#)
    };
    let (id_token_claims, userinfo_claims) = (essential("id_token"), essential("userinfo"));
    let single_value = format!(r#"{{"id_token":{{"acr":{{"essential":true,"value":"{mfa}"}}}}}}"#);
    let attempts: Vec<Vec<(&str, &str)>> = vec![
        vec![],
        vec![("claims", &id_token_claims)],
        vec![("claims", &userinfo_claims)],
        vec![("claims", &single_value)],
        vec![("acr_values", mfa)],
        vec![("acr_values", mfa), ("claims", &id_token_claims)],
        vec![("max_age", "86400")],
        vec![("prompt", "consent")],
        vec![("prompt", "login")],
    ];
    let (_, challenge) = pkce_pair();
    for extra in &attempts {
        let page = app.authorize(&web, extra).await;
        let to_client = page
            .location
            .as_deref()
            .is_some_and(|l| l.starts_with(WEB_CALLBACK));
        assert!(
            !to_client,
            "{extra:?} went back to the client: {:?}",
            page.location
        );
        if page.status == 200 {
            assert!(
                page.html.contains("id=\"passkey-register\""),
                "{extra:?}: {}",
                page.html
            );
        } else {
            // prompt=login sends the customer to log in again first, never to the client.
            assert!(
                page.location
                    .as_deref()
                    .unwrap_or_default()
                    .starts_with("/login"),
                "{extra:?}: {:?}",
                page.location
            );
        }
        let mut native_extra = extra.clone();
        native_extra.extend([
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ]);
        let refused = app.authorize(&native, &native_extra).await;
        assert!(
            location_param(&refused, "code").is_none(),
            "native {extra:?} got a code"
        );
        if !extra.contains(&("prompt", "login")) {
            assert_eq!(
                location_param(&refused, "error").as_deref(),
                Some("unmet_authentication_requirements"),
                "native {extra:?}"
            );
        }
    }
}
