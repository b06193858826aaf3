//! The token endpoint's grants under attack and at their edges: a code seen
//! by someone else (RFC 6749 §4.1.3, RFC 9700 §4.5), concurrent redemption,
//! and a refresh asking for less than was granted (RFC 6749 §6).

use crate::both_backends;
use crate::helpers::customer::{EMAIL, logged_in};
use crate::helpers::rp::{Rp, jwt_claims, location_param, pkce_pair};
use crate::helpers::{Backend, TestApp};

both_backends!(
    a_code_presented_by_another_client_or_without_its_bindings_is_refused_and_left_for_its_client,
    twenty_concurrent_redemptions_of_one_code_succeed_exactly_once,
    a_refresh_with_a_narrower_scope_gets_exactly_that_scope_and_the_refresh_token_keeps_the_original
);

const NATIVE_CALLBACK: &str = "http://127.0.0.1/callback";
const WEB_CALLBACK: &str = "http://localhost:9/callback";

/// A fresh code for `rp` with an S256 challenge: (code, verifier).
async fn code_for(app: &TestApp, rp: &Rp, scope: &str) -> (String, String) {
    let (verifier, challenge) = pkce_pair();
    let page = app
        .authorize(
            rp,
            &[
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("scope", scope),
            ],
        )
        .await;
    let code = location_param(&page, "code").unwrap_or_else(|| panic!("{:?}", page.location));
    (code, verifier)
}

/// Whether the tokens of a token response still work: userinfo answers.
async fn alive(app: &TestApp, tokens: &serde_json::Value) -> bool {
    app.userinfo(tokens["access_token"].as_str().unwrap())
        .await
        .0
        == 200
}

async fn a_code_presented_by_another_client_or_without_its_bindings_is_refused_and_left_for_its_client(
    backend: Backend,
) {
    let (app, _) = logged_in(backend).await;
    // A public client authenticates by client_id alone: anyone who sees its
    // code can present it as that client.
    let native = app.register_client("app", NATIVE_CALLBACK, &["--public"]);
    let other = app.register_client("other", WEB_CALLBACK, &[]);
    let (code, verifier) = code_for(&app, &native, "openid offline_access").await;

    let foreign = app.exchange(&other, &code, Some(&verifier)).await;
    assert_eq!(
        (foreign.status, foreign.json["error"].as_str()),
        (400, Some("invalid_grant")),
        "another client"
    );
    let stolen = app.exchange(&native, &code, Some(&pkce_pair().0)).await;
    assert_eq!(
        stolen.json["error"], "invalid_grant",
        "the client's id without its verifier"
    );
    let no_verifier = app.exchange(&native, &code, None).await;
    assert_eq!(no_verifier.json["error"], "invalid_grant");
    let elsewhere = Rp {
        redirect_uri: "http://127.0.0.1:4444/other".into(),
        ..native.clone()
    };
    let redirected = app.exchange(&elsewhere, &code, Some(&verifier)).await;
    assert_eq!(
        redirected.json["error"], "invalid_grant",
        "another redirect_uri"
    );

    let tokens = app.exchange(&native, &code, Some(&verifier)).await;
    assert_eq!(
        tokens.status, 200,
        "the refused attempts left the code to its client: {}",
        tokens.json
    );
    let tokens = tokens.json;

    // After the redemption, presentations that fail the bindings are refused and revoke nothing.
    assert_eq!(
        app.exchange(&other, &code, Some(&verifier)).await.json["error"],
        "invalid_grant"
    );
    assert_eq!(
        app.exchange(&native, &code, Some(&pkce_pair().0))
            .await
            .json["error"],
        "invalid_grant"
    );
    assert!(
        alive(&app, &tokens).await,
        "a replay by someone without the bindings revokes nothing"
    );
    let audit = app.state.store.list_audit_events(None, 100).await.unwrap();
    assert!(
        !audit.iter().any(|e| e.kind == "token.reuse_detected"),
        "no reuse was recorded"
    );

    // The client itself replaying the code is a real replay: everything from the code is revoked.
    let replay = app.exchange(&native, &code, Some(&verifier)).await;
    assert_eq!(
        (replay.status, replay.json["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(
        !alive(&app, &tokens).await,
        "a replay by the client revokes the grant"
    );
    let refresh = app
        .token(
            &native,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(refresh.json["error"], "invalid_grant");
    let audit = app.state.store.list_audit_events(None, 100).await.unwrap();
    assert!(audit.iter().any(|e| e.kind == "token.reuse_detected"));
}

async fn twenty_concurrent_redemptions_of_one_code_succeed_exactly_once(backend: Backend) {
    let app = std::sync::Arc::new(logged_in(backend).await.0);
    let rp = app.register_client("web", WEB_CALLBACK, &[]);
    let (code, verifier) = code_for(&app, &rp, "openid").await;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (app, rp, code, verifier) = (app.clone(), rp.clone(), code.clone(), verifier.clone());
        set.spawn(async move {
            let answer = app.exchange(&rp, &code, Some(&verifier)).await;
            (answer.status, answer.json)
        });
    }
    let mut winners = Vec::new();
    let mut refused = 0;
    while let Some(joined) = set.join_next().await {
        match joined.unwrap() {
            (200, json) => winners.push(json),
            (400, json) => {
                assert_eq!(json["error"], "invalid_grant", "{json}");
                refused += 1;
            }
            (status, json) => panic!("{status}: {json}"),
        }
    }
    assert_eq!(
        (winners.len(), refused),
        (1, 19),
        "exactly one redemption wins"
    );
    // The 19 others were uses of a spent code by its client, so the grant is
    // revoked (RFC 6749 §4.1.2); the family is written with the winning
    // update, so the revocation always finds it.
    assert!(!alive(&app, &winners[0]).await);
}

async fn a_refresh_with_a_narrower_scope_gets_exactly_that_scope_and_the_refresh_token_keeps_the_original(
    backend: Backend,
) {
    let (app, _) = logged_in(backend).await;
    let rp = app.register_client("web", WEB_CALLBACK, &[]);
    let (code, verifier) = code_for(&app, &rp, "openid email").await;
    let first = app.exchange(&rp, &code, Some(&verifier)).await.json;
    assert_eq!(first["scope"], "openid email");
    let (_, info, _) = app.userinfo(first["access_token"].as_str().unwrap()).await;
    assert_eq!(info["email"], EMAIL);

    let narrow = app
        .token(
            &rp,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", first["refresh_token"].as_str().unwrap()),
                ("scope", "openid"),
            ],
        )
        .await;
    assert_eq!(narrow.status, 200, "{}", narrow.json);
    assert_eq!(narrow.json["scope"], "openid");
    let access = narrow.json["access_token"].as_str().unwrap();
    assert_eq!(jwt_claims(access)["scope"], "openid");
    let (status, info, _) = app.userinfo(access).await;
    assert_eq!(status, 200);
    assert!(
        info.get("email").is_none(),
        "userinfo follows the narrowed scope: {info}"
    );
    let seen = crate::helpers::rp::token_answer(
        reqwest::Client::new()
            .post(app.url("/introspect"))
            .basic_auth("web", rp.secret.as_deref())
            .form(&[("token", access)])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(seen.json["scope"], "openid");

    // The rotated refresh token keeps the scope of the one it replaced (RFC 6749 §6).
    let rotated = narrow.json["refresh_token"].as_str().unwrap();
    let full = app
        .token(
            &rp,
            &[("grant_type", "refresh_token"), ("refresh_token", rotated)],
        )
        .await;
    assert_eq!(full.status, 200, "{}", full.json);
    assert_eq!(full.json["scope"], "openid email");
    let (_, info, _) = app
        .userinfo(full.json["access_token"].as_str().unwrap())
        .await;
    assert_eq!(info["email"], EMAIL);

    let current = full.json["refresh_token"].as_str().unwrap();
    for asked in ["openid email profile", "email"] {
        let wider = app
            .token(
                &rp,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", current),
                    ("scope", asked),
                ],
            )
            .await;
        assert_eq!(
            (wider.status, wider.json["error"].as_str()),
            (400, Some("invalid_scope")),
            "{asked}"
        );
    }
    // The refused requests did not spend the token: it works past the retry grace window.
    app.clock
        .advance(kagi::oidc::grants::REFRESH_RETRY_GRACE_SECS + 1);
    let after = app
        .token(
            &rp,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", current),
                ("scope", "email openid"),
            ],
        )
        .await;
    assert_eq!(after.status, 200, "{}", after.json);
    assert_eq!(after.json["scope"], "email openid");
}
