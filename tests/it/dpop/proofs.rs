//! DPoP proofs themselves (RFC 9449 §4.3, §8, §11.1): every refusal at the
//! token endpoint, single use under concurrency, and server nonces on two nodes.

use std::sync::Arc;

use serde_json::json;

use super::tokens::{code_for, dpop_flow, exchange_form};
use crate::both_backends;
use crate::helpers::customer::logged_in;
use crate::helpers::dpop::DpopKey;
use crate::helpers::{Backend, TestApp};

both_backends!(
    every_bad_proof_at_the_token_endpoint_is_invalid_dpop_proof_and_leaves_the_code,
    of_concurrent_requests_with_one_proof_exactly_one_is_served,
    server_nonces_are_demanded_issued_and_accepted_on_every_node,
    a_spent_proof_is_remembered_through_its_window_then_purged
);

const WEB_CALLBACK: &str = "http://localhost:9/callback";

async fn every_bad_proof_at_the_token_endpoint_is_invalid_dpop_proof_and_leaves_the_code(
    backend: Backend,
) {
    let (app, _) = logged_in(backend).await;
    let rp = app.register_client("web", WEB_CALLBACK, &[]);
    let key = DpopKey::new();
    let (code, verifier) = code_for(&app, &rp, &[]).await;
    let form = exchange_form(&rp, &code, &verifier);
    let now = app.clock.now();
    let url = app.url("/token");
    let good = || DpopKey::claims("POST", &url, now);
    let with = |name: &str, value: serde_json::Value| {
        let mut claims = good();
        claims[name] = value;
        key.sign(&key.header(), &claims)
    };
    let header_with = |name: &str, value: serde_json::Value| {
        let mut header = key.header();
        header[name] = value;
        key.sign(&header, &good())
    };
    let mut private = key.header();
    private["jwk"]["d"] = json!("c2VjcmV0");
    let unsigned = {
        let signed = key.sign(
            &json!({ "typ": "dpop+jwt", "alg": "none", "jwk": key.jwk }),
            &good(),
        );
        let cut = signed.rfind('.').unwrap();
        signed[..=cut].to_owned()
    };
    let other_key = DpopKey::new();
    let cases: Vec<(&str, String)> = vec![
        ("typ", header_with("typ", json!("JWT"))),
        ("alg none", unsigned),
        ("HS256", header_with("alg", json!("HS256"))),
        ("private jwk", key.sign(&private, &good())),
        ("no jwk", {
            let mut h = key.header();
            h.as_object_mut().unwrap().remove("jwk");
            key.sign(&h, &good())
        }),
        (
            "signed by another key",
            other_key.sign(&key.header(), &good()),
        ),
        ("htm", with("htm", json!("GET"))),
        ("htu", with("htu", json!(app.url("/par")))),
        ("iat an hour ago", with("iat", json!(now - 3600))),
        ("iat an hour ahead", with("iat", json!(now + 3600))),
        ("no jti", {
            let mut c = good();
            c.as_object_mut().unwrap().remove("jti");
            key.sign(&key.header(), &c)
        }),
        ("not a JWT", "garbage".to_owned()),
        ("empty", String::new()),
    ];
    for (what, proof) in &cases {
        let (answer, _) = app.token_with_proof(&rp, &form, &[proof]).await;
        assert_eq!(
            (answer.status, answer.json["error"].as_str()),
            (400, Some("invalid_dpop_proof")),
            "{what}: {}",
            answer.json
        );
        let description = answer.json["error_description"].as_str().unwrap();
        assert!(description.is_ascii() && !description.is_empty(), "{what}");
    }
    let one = app.token_proof(&key);
    let (two, _) = app.token_with_proof(&rp, &form, &[&one, &one]).await;
    assert_eq!(two.json["error"], "invalid_dpop_proof", "two DPoP headers");
    // Extra claims and header fields, and an htu with a query, are fine (§4.3 step 9).
    let mut extra = DpopKey::claims("POST", &format!("{url}?x=1"), now);
    extra["nbf"] = json!(now);
    extra["exp"] = json!(now + 300);
    let mut header = key.header();
    header["kid"] = json!("whatever");
    let (ok, _) = app
        .token_with_proof(&rp, &form, &[&key.sign(&header, &extra)])
        .await;
    assert_eq!(
        ok.status, 200,
        "the refusals left the code unspent: {}",
        ok.json
    );
    assert_eq!(ok.json["token_type"], "DPoP");
}

async fn of_concurrent_requests_with_one_proof_exactly_one_is_served(backend: Backend) {
    let (app, _) = logged_in(backend).await;
    let app = Arc::new(app);
    let rp = app.register_client("web", WEB_CALLBACK, &[]);
    let key = DpopKey::new();
    let tokens = dpop_flow(&app, &rp, &key, "openid").await;
    let at = tokens["access_token"].as_str().unwrap().to_owned();

    // A resource: one proof, twelve requests at once.
    let proof = key.proof("GET", &app.url("/userinfo"), app.clock.now(), Some(&at));
    let answers = race(
        12,
        |app: Arc<TestApp>| {
            let (at, proof) = (at.clone(), proof.clone());
            async move { app.userinfo_with("DPoP", &at, &[&proof]).await.status }
        },
        &app,
    )
    .await;
    assert_eq!(
        answers.iter().filter(|s| **s == 200).count(),
        1,
        "{answers:?}"
    );
    assert!(
        answers.iter().all(|s| *s == 200 || *s == 401),
        "{answers:?}"
    );

    // The token endpoint: one proof, eight refreshes of one token at once.
    // Without DPoP the retry grace would serve several; the proof allows one.
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let proof = app.token_proof(&key);
    let rp = Arc::new(rp);
    let answers = race(
        8,
        |app: Arc<TestApp>| {
            let (rp, refresh, proof) = (Arc::clone(&rp), refresh.clone(), proof.clone());
            async move {
                let form = [
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh.as_str()),
                ];
                let (answer, _) = app.token_with_proof(&rp, &form, &[&proof]).await;
                (
                    answer.status,
                    answer.json["error"].as_str().map(str::to_owned),
                )
            }
        },
        &app,
    )
    .await;
    let served = answers.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(served, 1, "{answers:?}");
    assert!(
        answers
            .iter()
            .all(|(s, e)| *s == 200 || e.as_deref() == Some("invalid_dpop_proof")),
        "{answers:?}"
    );
}

/// Runs `n` copies of `task` at once and collects their results.
async fn race<T, F, Fut>(n: usize, task: F, app: &Arc<TestApp>) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(Arc<TestApp>) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let future = task(Arc::clone(app));
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                future.await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

async fn server_nonces_are_demanded_issued_and_accepted_on_every_node(backend: Backend) {
    // Access tokens outlive the two nonce periods the test steps through.
    let nonces = [
        ("KAGI_DPOP_NONCE_REQUIRED", "true"),
        ("KAGI_ACCESS_TOKEN_TTL_SECS", "3600"),
    ];
    let app = TestApp::spawn_with(backend, &nonces).await;
    app.customer().log_in().await;
    let rp = app.register_client("web", WEB_CALLBACK, &[]);
    let key = DpopKey::new();
    let (code, verifier) = code_for(&app, &rp, &[]).await;
    let form = exchange_form(&rp, &code, &verifier);
    let (demanded, nonce) = app
        .token_with_proof(&rp, &form, &[&app.token_proof(&key)])
        .await;
    assert_eq!(
        (demanded.status, demanded.json["error"].as_str()),
        (400, Some("use_dpop_nonce")),
        "RFC 9449 §8"
    );
    let nonce = nonce.expect("DPoP-Nonce with use_dpop_nonce");
    assert!(
        nonce
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
    );
    let with_nonce = |path: &str, method: &str, token: Option<&str>, nonce: &str| {
        let mut claims = DpopKey::claims(method, &app.url(path), app.clock.now());
        claims["nonce"] = json!(nonce);
        if let Some(token) = token {
            claims["ath"] = json!(crate::helpers::dpop::ath(token));
        }
        key.sign(&key.header(), &claims)
    };
    let (tokens, fresh) = app
        .token_with_proof(&rp, &form, &[&with_nonce("/token", "POST", None, &nonce)])
        .await;
    assert_eq!(tokens.status, 200, "{}", tokens.json);
    assert!(fresh.is_some(), "a success carries the current nonce too");
    let at = tokens.json["access_token"].as_str().unwrap();

    // A resource demands it with a 401 challenge (§9).
    let without = app.userinfo_dpop(&key, at).await;
    assert_eq!(without.status, 401);
    assert!(
        without
            .challenge
            .unwrap()
            .contains("error=\"use_dpop_nonce\"")
    );
    let resource_nonce = without.nonce.expect("DPoP-Nonce at the resource");
    let proof = with_nonce("/userinfo", "GET", Some(at), &resource_nonce);
    assert_eq!(app.userinfo_with("DPoP", at, &[&proof]).await.status, 200);

    // A second node on the same database, keys and issuer issues and
    // accepts the same nonces: nothing is stored, the key is derived from
    // the shared data key.
    let base = app.base.clone();
    let mut settings = nonces.to_vec();
    settings.push(("KAGI_ISSUER", base.as_str()));
    let second = TestApp::spawn_on(Arc::clone(&app.db), Arc::clone(&app.dir), &settings).await;
    let skew = app.clock.now() - second.clock.now();
    second.clock.advance(skew);
    let mut claims = DpopKey::claims("GET", &app.url("/userinfo"), app.clock.now());
    claims["nonce"] = json!(resource_nonce);
    claims["ath"] = json!(crate::helpers::dpop::ath(at));
    let answer = reqwest::Client::new()
        .get(format!("http://{}/userinfo", second.addr))
        .header("Authorization", format!("DPoP {at}"))
        .header("DPoP", key.sign(&key.header(), &claims))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "the other node's nonce");
    let issued = answer.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    assert_eq!(
        issued, resource_nonce,
        "both nodes issue the same nonce in one period"
    );
    // Two periods later the nonce is stale everywhere.
    app.clock.advance(600);
    let stale = with_nonce("/userinfo", "GET", Some(at), &resource_nonce);
    let refused = app.userinfo_with("DPoP", at, &[&stale]).await;
    assert!(refused.challenge.unwrap().contains("use_dpop_nonce"));
}

async fn a_spent_proof_is_remembered_through_its_window_then_purged(backend: Backend) {
    let (app, _) = logged_in(backend).await;
    let rp = app.register_client("web", WEB_CALLBACK, &[]);
    let key = DpopKey::new();
    let tokens = dpop_flow(&app, &rp, &key, "openid").await;
    let at = tokens["access_token"].as_str().unwrap();
    let proof = key.proof("GET", &app.url("/userinfo"), app.clock.now(), Some(at));
    assert_eq!(app.userinfo_with("DPoP", at, &[&proof]).await.status, 200);
    let store = &app.state.store;
    let within = store.purge_expired(app.clock.now() + 60).await.unwrap();
    assert!(
        !within.iter().any(|(table, _)| *table == "dpop_jtis"),
        "kept while the proof could still pass its iat check: {within:?}"
    );
    assert_eq!(app.userinfo_with("DPoP", at, &[&proof]).await.status, 401);
    let after = store.purge_expired(app.clock.now() + 62).await.unwrap();
    assert!(
        after
            .iter()
            .any(|(table, n)| *table == "dpop_jtis" && *n >= 2),
        "the token request's and userinfo's proofs go after the window: {after:?}"
    );
}
