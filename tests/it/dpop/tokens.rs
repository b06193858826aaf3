//! DPoP-bound tokens (RFC 9449 §5–§7, §10): what a proof binds, and every
//! place a bound token is refused without its key.

use serde_json::Value;

use crate::both_backends;
use crate::helpers::customer::logged_in;
use crate::helpers::dpop::DpopKey;
use crate::helpers::rp::{Rp, jwt_claims, location_param, pkce_pair};
use crate::helpers::{Backend, TestApp};

both_backends!(
    a_proof_at_the_token_endpoint_binds_the_access_token_and_userinfo_holds_it_to_the_key,
    introspection_and_revocation_of_a_bound_token_need_a_proof_of_its_key,
    a_code_bound_by_dpop_jkt_or_by_a_proof_at_par_is_redeemed_only_with_that_key,
    a_client_that_requires_dpop_is_refused_without_a_proof_and_discovery_lists_the_algorithms,
    a_dpop_token_request_still_commits_exactly_one_write_transaction
);

const WEB_CALLBACK: &str = "http://localhost:9/callback";

/// A code for `rp` with PKCE and `extra` authorization parameters: (code, verifier).
pub async fn code_for(app: &TestApp, rp: &Rp, extra: &[(&str, &str)]) -> (String, String) {
    let (verifier, challenge) = pkce_pair();
    let mut params = vec![
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    params.extend_from_slice(extra);
    let page = app.authorize(rp, &params).await;
    let code = location_param(&page, "code")
        .unwrap_or_else(|| panic!("{:?} {}", page.location, page.html));
    (code, verifier)
}

/// The form of a code exchange.
pub fn exchange_form<'a>(rp: &'a Rp, code: &'a str, verifier: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", &rp.redirect_uri),
        ("code_verifier", verifier),
    ]
}

/// A code flow whose token request carries a proof of `key`: the token JSON.
pub async fn dpop_flow(app: &TestApp, rp: &Rp, key: &DpopKey, scope: &str) -> Value {
    let (code, verifier) = code_for(app, rp, &[("scope", scope)]).await;
    let proof = app.token_proof(key);
    let (answer, _) = app
        .token_with_proof(rp, &exchange_form(rp, &code, &verifier), &[&proof])
        .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    answer.json
}

async fn a_proof_at_the_token_endpoint_binds_the_access_token_and_userinfo_holds_it_to_the_key(
    backend: Backend,
) {
    let (app, customer) = logged_in(backend).await;
    let rp = app.register_client("web", WEB_CALLBACK, &[]);
    let key = DpopKey::new();
    let tokens = dpop_flow(&app, &rp, &key, "openid").await;
    assert_eq!(tokens["token_type"], "DPoP", "RFC 9449 §5");
    let at = tokens["access_token"].as_str().unwrap();
    assert_eq!(jwt_claims(at)["cnf"]["jkt"], key.jkt(), "RFC 9449 §6.1");

    let ok = app.userinfo_dpop(&key, at).await;
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(ok.json["sub"], customer.sub);
    // Case of the scheme does not matter.
    let proof = key.proof("GET", &app.url("/userinfo"), app.clock.now(), Some(at));
    assert_eq!(app.userinfo_with("dPoP", at, &[&proof]).await.status, 200);

    let refused = |answer: &crate::helpers::dpop::ResourceAnswer, error: &str| {
        assert_eq!(answer.status, 401, "{answer:?}");
        let challenge = answer.challenge.as_deref().unwrap_or_default();
        assert!(
            challenge.starts_with("DPoP ") && challenge.contains(&format!("error=\"{error}\"")),
            "{challenge}"
        );
        assert!(
            challenge.contains("algs=\"ES256 PS256 EdDSA\""),
            "{challenge}"
        );
    };
    refused(&app.userinfo_with("Bearer", at, &[]).await, "invalid_token");
    let bearer_with_proof = key.proof("GET", &app.url("/userinfo"), app.clock.now(), Some(at));
    refused(
        &app.userinfo_with("Bearer", at, &[&bearer_with_proof]).await,
        "invalid_token",
    );
    refused(
        &app.userinfo_dpop(&DpopKey::new(), at).await,
        "invalid_token",
    );
    refused(
        &app.userinfo_with("DPoP", at, &[]).await,
        "invalid_dpop_proof",
    );
    let no_ath = key.proof("GET", &app.url("/userinfo"), app.clock.now(), None);
    refused(
        &app.userinfo_with("DPoP", at, &[&no_ath]).await,
        "invalid_dpop_proof",
    );
    let for_token = key.proof("POST", &app.url("/token"), app.clock.now(), Some(at));
    refused(
        &app.userinfo_with("DPoP", at, &[&for_token]).await,
        "invalid_dpop_proof",
    );
    let once = key.proof("GET", &app.url("/userinfo"), app.clock.now(), Some(at));
    assert_eq!(app.userinfo_with("DPoP", at, &[&once]).await.status, 200);
    refused(
        &app.userinfo_with("DPoP", at, &[&once]).await,
        "invalid_dpop_proof",
    );
    let two = [&once, &once].map(String::as_str);
    refused(
        &app.userinfo_with("DPoP", at, &two).await,
        "invalid_dpop_proof",
    );
    // In the form body a token is a bearer token.
    let posted = reqwest::Client::new()
        .post(app.url("/userinfo"))
        .form(&[("access_token", at)])
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 401);

    // A bearer token under the DPoP scheme is refused too.
    let plain = app.code_flow(&rp, &[]).await.json;
    assert_eq!(plain["token_type"], "Bearer");
    let bearer = plain["access_token"].as_str().unwrap();
    assert!(jwt_claims(bearer).get("cnf").is_none());
    refused(&app.userinfo_dpop(&key, bearer).await, "invalid_token");
    assert_eq!(app.userinfo(bearer).await.0, 200);
}

/// `POST` a back-channel form with Basic authentication and these `DPoP` headers.
async fn back_channel(
    app: &TestApp,
    rp: &Rp,
    path: &str,
    form: &[(&str, &str)],
    proofs: &[&str],
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(app.url(path))
        .basic_auth(&rp.client_id, rp.secret.as_ref());
    for proof in proofs {
        request = request.header("DPoP", *proof);
    }
    let response = request.form(form).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn introspection_and_revocation_of_a_bound_token_need_a_proof_of_its_key(backend: Backend) {
    let (app, _) = logged_in(backend).await;
    let rp = app.register_client("web", WEB_CALLBACK, &[]);
    let key = DpopKey::new();
    let tokens = dpop_flow(&app, &rp, &key, "openid").await;
    let at = tokens["access_token"].as_str().unwrap();
    let proof = |path: &str, k: &DpopKey| k.proof("POST", &app.url(path), app.clock.now(), None);

    let (_, blind) = back_channel(&app, &rp, "/introspect", &[("token", at)], &[]).await;
    assert_eq!(
        blind,
        serde_json::json!({ "active": false }),
        "no proof, no answer"
    );
    let other = DpopKey::new();
    let (_, wrong) = back_channel(
        &app,
        &rp,
        "/introspect",
        &[("token", at)],
        &[&proof("/introspect", &other)],
    )
    .await;
    assert_eq!(wrong["active"], false, "another key");
    let (status, seen) = back_channel(
        &app,
        &rp,
        "/introspect",
        &[("token", at)],
        &[&proof("/introspect", &key)],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["token_type"], "DPoP", "RFC 9449 §6.2");
    assert_eq!(seen["cnf"]["jkt"], key.jkt());
    let (status, bad) = back_channel(
        &app,
        &rp,
        "/introspect",
        &[("token", at)],
        &[&proof("/token", &key)],
    )
    .await;
    assert_eq!(
        (status, bad["error"].as_str()),
        (400, Some("invalid_dpop_proof"))
    );

    let (status, refused) = back_channel(&app, &rp, "/revoke", &[("token", at)], &[]).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (400, Some("invalid_dpop_proof"))
    );
    assert_eq!(app.userinfo_dpop(&key, at).await.status, 200, "still valid");
    let (status, _) = back_channel(
        &app,
        &rp,
        "/revoke",
        &[("token", at)],
        &[&proof("/revoke", &key)],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(app.userinfo_dpop(&key, at).await.status, 401, "revoked");
}

async fn a_code_bound_by_dpop_jkt_or_by_a_proof_at_par_is_redeemed_only_with_that_key(
    backend: Backend,
) {
    let (app, _) = logged_in(backend).await;
    let rp = app.register_client("web", WEB_CALLBACK, &[]);
    let key = DpopKey::new();
    let other = DpopKey::new();

    // dpop_jkt on the front channel (RFC 9449 §10).
    let jkt = key.jkt();
    let (code, verifier) = code_for(&app, &rp, &[("dpop_jkt", &jkt)]).await;
    let form = exchange_form(&rp, &code, &verifier);
    let (none, _) = app.token_with_proof(&rp, &form, &[]).await;
    assert_eq!(none.json["error"], "invalid_dpop_proof", "{}", none.json);
    let (wrong, _) = app
        .token_with_proof(&rp, &form, &[&app.token_proof(&other)])
        .await;
    assert_eq!(wrong.json["error"], "invalid_grant", "{}", wrong.json);
    let (right, _) = app
        .token_with_proof(&rp, &form, &[&app.token_proof(&key)])
        .await;
    assert_eq!(
        right.status, 200,
        "the refusals left the code unspent: {}",
        right.json
    );
    let bad_jkt = app
        .authorize(&rp, &[("dpop_jkt", "not-a-thumbprint")])
        .await;
    assert_eq!(
        location_param(&bad_jkt, "error").as_deref(),
        Some("invalid_request")
    );

    // At PAR: a proof binds the code to its key (§10.1); dpop_jkt must agree.
    let push = |extra: Vec<(&'static str, String)>, proofs: Vec<String>| {
        let app = &app;
        let rp = &rp;
        async move {
            let (verifier, challenge) = pkce_pair();
            let mut form = vec![
                ("response_type", "code".to_owned()),
                ("scope", "openid".to_owned()),
                ("redirect_uri", WEB_CALLBACK.to_owned()),
                ("code_challenge", challenge),
                ("code_challenge_method", "S256".to_owned()),
            ];
            form.extend(extra);
            let proofs: Vec<&str> = proofs.iter().map(String::as_str).collect();
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (status, json) = back_channel(app, rp, "/par", &form, &proofs).await;
            (status, json, verifier)
        }
    };
    let par_proof = |k: &DpopKey| k.proof("POST", &app.url("/par"), app.clock.now(), None);
    let (status, json, _) = push(vec![("dpop_jkt", other.jkt())], vec![par_proof(&key)]).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (400, Some("invalid_dpop_proof")),
        "{json}"
    );
    let (status, json, _) = push(vec![], vec![par_proof(&other).replace('.', "")]).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (400, Some("invalid_dpop_proof"))
    );
    for (extra, proofs) in [
        (vec![], vec![par_proof(&key)]),
        (vec![("dpop_jkt", key.jkt())], vec![]),
        (vec![("dpop_jkt", key.jkt())], vec![par_proof(&key)]),
    ] {
        let (status, json, verifier) = push(extra, proofs).await;
        assert_eq!(status, 201, "{json}");
        let request_uri = json["request_uri"].as_str().unwrap();
        let page = app
            .page(&format!(
                "/authorize?client_id=web&request_uri={}",
                url::form_urlencoded::byte_serialize(request_uri.as_bytes()).collect::<String>()
            ))
            .await;
        let code = location_param(&page, "code").unwrap();
        let form = exchange_form(&rp, &code, &verifier);
        let (wrong, _) = app
            .token_with_proof(&rp, &form, &[&app.token_proof(&other)])
            .await;
        assert_eq!(wrong.json["error"], "invalid_grant");
        let (right, _) = app
            .token_with_proof(&rp, &form, &[&app.token_proof(&key)])
            .await;
        assert_eq!(right.status, 200, "{}", right.json);
    }
}

async fn a_client_that_requires_dpop_is_refused_without_a_proof_and_discovery_lists_the_algorithms(
    backend: Backend,
) {
    let (app, _) = logged_in(backend).await;
    let metadata: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["dpop_signing_alg_values_supported"],
        serde_json::json!(["ES256", "PS256", "EdDSA"])
    );
    let rp = app.register_client("bound", WEB_CALLBACK, &["--require-dpop"]);
    let (code, verifier) = code_for(&app, &rp, &[]).await;
    let form = exchange_form(&rp, &code, &verifier);
    let (refused, _) = app.token_with_proof(&rp, &form, &[]).await;
    assert_eq!(
        (refused.status, refused.json["error"].as_str()),
        (400, Some("invalid_dpop_proof"))
    );
    assert!(
        refused.json["error_description"]
            .as_str()
            .unwrap()
            .contains("DPoP")
    );
    let key = DpopKey::new();
    let (ok, _) = app
        .token_with_proof(&rp, &form, &[&app.token_proof(&key)])
        .await;
    assert_eq!(ok.status, 200, "{}", ok.json);
    let refresh = ok.json["refresh_token"].as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
    let (refused, _) = app.token_with_proof(&rp, &form, &[]).await;
    assert_eq!(refused.json["error"], "invalid_dpop_proof");
    // A confidential client's refresh token is not bound (RFC 9449 §5): a new key may refresh.
    let (again, _) = app
        .token_with_proof(&rp, &form, &[&app.token_proof(&DpopKey::new())])
        .await;
    assert_eq!(
        (again.status, again.json["token_type"].as_str()),
        (200, Some("DPoP"))
    );
}

async fn a_dpop_token_request_still_commits_exactly_one_write_transaction(backend: Backend) {
    let (app, _) = logged_in(backend).await;
    let rp = app.register_client("web", WEB_CALLBACK, &["--require-dpop"]);
    let key = DpopKey::new();
    let (code, verifier) = code_for(&app, &rp, &[]).await;
    let store = &app.state.store;
    let before = store.write_commits();
    let proof = app.token_proof(&key);
    let (tokens, _) = app
        .token_with_proof(&rp, &exchange_form(&rp, &code, &verifier), &[&proof])
        .await;
    assert_eq!(tokens.status, 200);
    assert_eq!(
        store.write_commits() - before,
        1,
        "code redemption with its proof"
    );
    let refresh = tokens.json["refresh_token"].as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
    let before = store.write_commits();
    let (rotated, _) = app
        .token_with_proof(&rp, &form, &[&app.token_proof(&key)])
        .await;
    assert_eq!(rotated.status, 200);
    assert_eq!(store.write_commits() - before, 1, "rotation with its proof");
    // A replayed proof commits nothing and leaves the token unspent.
    let next = rotated.json["refresh_token"].as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("refresh_token", next)];
    let before = store.write_commits();
    let (replayed, _) = app.token_with_proof(&rp, &form, &[&proof]).await;
    assert_eq!(
        replayed.json["error"], "invalid_dpop_proof",
        "{}",
        replayed.json
    );
    assert_eq!(store.write_commits() - before, 0);
    let (ok, _) = app
        .token_with_proof(&rp, &form, &[&app.token_proof(&key)])
        .await;
    assert_eq!(ok.status, 200, "{}", ok.json);
}
