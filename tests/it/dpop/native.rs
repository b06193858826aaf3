//! The broker's native app (RFC 9449 §5, RFC 8252): a public client with
//! PKCE and DPoP whose refresh tokens are bound to the app's key, so a token
//! copied off the device is worth nothing without the key.

use crate::both_backends;
use crate::helpers::Backend;
use crate::helpers::customer::logged_in;
use crate::helpers::dpop::DpopKey;
use crate::helpers::rp::jwt_claims;
use kagi::model::SigningAlg;

use super::tokens::dpop_flow;

both_backends!(a_stolen_refresh_or_access_token_of_the_native_app_is_useless_without_its_key);

const NATIVE_CALLBACK: &str = "http://127.0.0.1/callback";

async fn a_stolen_refresh_or_access_token_of_the_native_app_is_useless_without_its_key(
    backend: Backend,
) {
    let (app, customer) = logged_in(backend).await;
    let rp = app.register_client("plusnet", NATIVE_CALLBACK, &["--public", "--require-dpop"]);
    let device = DpopKey::with(SigningAlg::EdDsa);
    let thief = DpopKey::new();
    let tokens = dpop_flow(&app, &rp, &device, "openid offline_access").await;
    assert_eq!(tokens["token_type"], "DPoP");
    let at = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();

    // The stolen access token: as a bearer token, or with the thief's own key.
    assert_eq!(app.userinfo_with("Bearer", at, &[]).await.status, 401);
    assert_eq!(app.userinfo_dpop(&thief, at).await.status, 401);
    assert_eq!(
        app.userinfo_dpop(&device, at).await.json["sub"],
        customer.sub
    );

    // The stolen refresh token: without a proof, or with the thief's key.
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
    let (bare, _) = app.token_with_proof(&rp, &form, &[]).await;
    assert_eq!(bare.json["error"], "invalid_dpop_proof", "{}", bare.json);
    let (foreign, _) = app
        .token_with_proof(&rp, &form, &[&app.token_proof(&thief)])
        .await;
    assert_eq!(foreign.json["error"], "invalid_grant", "{}", foreign.json);
    // Nor can the thief end the app's grant.
    let revoke = reqwest::Client::new()
        .post(app.url("/revoke"))
        .form(&[("token", refresh), ("client_id", "plusnet")])
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 400);

    // The app itself refreshes, and the new refresh token stays on its key.
    let (fresh, _) = app
        .token_with_proof(&rp, &form, &[&app.token_proof(&device)])
        .await;
    assert_eq!(
        fresh.status, 200,
        "the refused attempts left it unspent: {}",
        fresh.json
    );
    let next_at = fresh.json["access_token"].as_str().unwrap();
    assert_eq!(jwt_claims(next_at)["cnf"]["jkt"], device.jkt());
    let next = fresh.json["refresh_token"].as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("refresh_token", next)];
    let (foreign, _) = app
        .token_with_proof(&rp, &form, &[&app.token_proof(&thief)])
        .await;
    assert_eq!(foreign.json["error"], "invalid_grant");
    let (again, _) = app
        .token_with_proof(&rp, &form, &[&app.token_proof(&device)])
        .await;
    assert_eq!(again.status, 200, "{}", again.json);
}
