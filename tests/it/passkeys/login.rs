//! Logging in and stepping up with a passkey: `acr`/`amr`, a new session id,
//! and the assertions that are refused and audited (`docs/security.md#r2`,
//! `#r3`, `#r9`, `#r16`, `#r22`, `#r23`).

use kagi::templates::Lang;
use serde_json::json;

use super::{Web, audit, device, synced_device};
use crate::both_backends;
use crate::helpers::authenticator::Authenticator;
use crate::helpers::customer::app_with_customer;
use crate::helpers::{Backend, TestApp};

both_backends!(
    a_passkey_login_finish_and_a_step_up_finish_each_commit_once,
    a_discoverable_passkey_login_needs_no_customer_code_and_reaches_phr,
    assertions_without_user_verification_are_refused_and_audited,
    a_changed_backup_eligible_flag_is_refused_and_audited,
    a_signature_counter_that_goes_backwards_is_refused_and_audited,
    an_unknown_or_deleted_credential_gets_the_generic_error_and_a_signal,
    the_passkey_step_up_keeps_the_customer_and_rotates_the_cookie,
    a_customer_without_a_passkey_is_told_on_the_step_up_page
);

/// Registers a passkey on `auth` for the test customer in a browser of its own.
async fn registered(app: &TestApp, auth: &mut Authenticator) {
    let web = Web::other(app);
    web.log_in().await;
    web.step_up_by_email().await;
    let done = web.register(auth).await;
    assert_eq!(done.status, 200, "{:?}", done.body);
}

async fn a_discoverable_passkey_login_needs_no_customer_code_and_reaches_phr(backend: Backend) {
    let (app, sub) = app_with_customer(backend, &[]).await;
    let mut bound = device(&app);
    registered(&app, &mut bound).await;

    let web = Web::other(&app);
    let login = web.page("/login").await;
    assert!(
        login.html.contains(r#"id="passkey-login""#)
            && login.html.contains(r#"autocomplete="username webauthn""#)
    );
    let before = web.cookie().expect("an anonymous session");

    let button = web.json("/passkey/login/start", &json!({})).await;
    assert_eq!(button.status, 200);
    assert!(
        button.body["options"].get("mediation").is_none(),
        "the button sends no mediation"
    );
    let pk = &button.body["options"]["publicKey"];
    assert_eq!(pk["userVerification"], "required");
    assert!(
        pk["allowCredentials"].as_array().unwrap().is_empty(),
        "discoverable: no customer code, no list"
    );
    let autofill = web
        .json("/passkey/login/start", &json!({ "conditional": true }))
        .await;
    assert_eq!(autofill.body["options"]["mediation"], "conditional");

    let credential = bound.get(pk).unwrap();
    let done = web
        .json(
            "/passkey/login/finish",
            &json!({
                "ceremony": button.body["ceremony"],
                "credential": credential,
                "return_to": "/authorize/continue?x=1",
            }),
        )
        .await;
    assert_eq!(done.status, 200, "{:?}", done.body);
    assert_eq!(done.body["redirect"], "/authorize/continue?x=1");
    let after = done.cookie.clone().expect("a new session cookie at login");
    assert_ne!(after, before);
    let account = web.page("/account").await;
    assert_eq!(account.status, 200, "logged in as the passkey's owner");

    let sid = web.sid().await;
    let events = app.state.store.session_auth_events(&sid).await.unwrap();
    let last = events.last().unwrap();
    assert_eq!(
        (
            last.method.as_str(),
            last.acr.as_str(),
            last.purpose.as_str()
        ),
        ("passkey", "phr", "login")
    );
    assert_eq!(
        last.amr,
        ["hwk", "user", "mfa"],
        "device-bound (BE=0) → hwk"
    );
    let found = kagi::authn::passkey::passkey_event_since(&app.state, &sid, 0)
        .await
        .unwrap();
    assert_eq!(found.map(|e| e.acr), Some("phr".to_owned()));
    let row = app.state.store.list_passkeys(&sub).await.unwrap().remove(0);
    assert!(row.last_used_at.is_some());
    let events = audit(&app).await;
    assert!(events.iter().any(|e| e.kind == "login.succeeded"
        && e.detail["method"] == "passkey"
        && e.detail["acr"] == "phr"));

    // A return_to that is not a local path falls back to the account page.
    let mut synced = synced_device(&app);
    registered(&app, &mut synced).await;
    let third = Web::other(&app);
    third.page("/login").await;
    let start = third.json("/passkey/login/start", &json!({})).await;
    let credential = synced.get(&start.body["options"]["publicKey"]).unwrap();
    let done = third
        .json(
            "/passkey/login/finish",
            &json!({
                "ceremony": start.body["ceremony"],
                "credential": credential,
                "return_to": "https://evil.example/",
            }),
        )
        .await;
    assert_eq!(done.body["redirect"], "/account");
    let events = app
        .state
        .store
        .session_auth_events(&third.sid().await)
        .await
        .unwrap();
    assert_eq!(
        events.last().unwrap().amr,
        ["swk", "user", "mfa"],
        "synced (BE=1) → swk"
    );
}

async fn assertions_without_user_verification_are_refused_and_audited(backend: Backend) {
    let (app, _) = app_with_customer(backend, &[]).await;
    let mut auth = device(&app);
    registered(&app, &mut auth).await;
    auth.uv = false;
    let web = Web::other(&app);
    let refused = web.passkey_login(&mut auth).await;
    assert_eq!(
        (refused.status, refused.body["error"].as_str()),
        (401, Some("failed"))
    );
    assert!(refused.cookie.is_none());
    assert_eq!(web.page("/account").await.status, 303, "not logged in");
    assert!(
        audit(&app)
            .await
            .iter()
            .any(|e| e.kind == "passkey.login_failed" && e.detail["reason"] == "user_not_verified")
    );
}

async fn a_changed_backup_eligible_flag_is_refused_and_audited(backend: Backend) {
    let (app, _) = app_with_customer(backend, &[]).await;
    let mut auth = device(&app);
    registered(&app, &mut auth).await;
    auth.be = true;
    let web = Web::other(&app);
    let refused = web.passkey_login(&mut auth).await;
    assert_eq!(
        (refused.status, refused.body["error"].as_str()),
        (401, Some("failed"))
    );
    assert!(
        audit(&app)
            .await
            .iter()
            .any(|e| e.kind == "passkey.login_failed"
                && e.detail["reason"] == "backup_eligibility_changed")
    );

    // The step-up ceremony lets webauthn-rs accept BE 0 → 1; Kagi still refuses it.
    auth.be = false;
    let web = Web::other(&app);
    assert_eq!(web.passkey_login(&mut auth).await.status, 200);
    auth.be = true;
    let refused = web.passkey_step_up(&mut auth, "/account").await;
    assert_eq!(refused.status, 401, "{:?}", refused.body);
    let failures = audit(&app)
        .await
        .into_iter()
        .filter(|e| e.detail["reason"] == "backup_eligibility_changed")
        .count();
    assert_eq!(failures, 2);
}

async fn a_signature_counter_that_goes_backwards_is_refused_and_audited(backend: Backend) {
    let (app, sub) = app_with_customer(backend, &[]).await;
    let mut auth = device(&app);
    registered(&app, &mut auth).await;
    let web = Web::other(&app);
    assert_eq!(web.passkey_login(&mut auth).await.status, 200);
    assert_eq!(web.passkey_login(&mut auth).await.status, 200);
    assert_eq!(
        app.state.store.customer_passkeys(&sub).await.unwrap()[0].sign_count,
        2,
        "counter saved at each login"
    );

    // A clone still at counter 1 (it will send 2 again).
    auth.credentials[0].counter = 1;
    let clone = Web::other(&app);
    let refused = clone.passkey_login(&mut auth).await;
    assert_eq!(
        (refused.status, refused.body["error"].as_str()),
        (401, Some("failed"))
    );
    let failures = audit(&app).await;
    assert!(failures.iter().any(|e| e.kind == "passkey.login_failed"
        && e.detail["reason"] == "counter_regression"));
    assert_eq!(
        app.state.store.customer_passkeys(&sub).await.unwrap()[0].sign_count,
        2
    );
}

async fn an_unknown_or_deleted_credential_gets_the_generic_error_and_a_signal(backend: Backend) {
    let (app, _) = app_with_customer(backend, &[]).await;
    let mut stranger = device(&app);
    let options = json!({
        "rp": { "id": "localhost", "name": "x" },
        "user": { "id": "AAECAwQFBgcICQoLDA0ODw", "name": "x", "displayName": "x" },
        "challenge": "AAAA",
    });
    stranger.create(&options).unwrap();
    let web = Web::other(&app);
    let refused = web.passkey_login(&mut stranger).await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.body["error"], "unknown_credential");
    assert_eq!(
        refused.body["credential_id"],
        stranger.last().id_text().as_str()
    );
    assert_eq!(refused.body["rp_id"], "localhost");
    let login = web.page("/login").await;
    assert!(
        login.shows(&app, Lang::Ja, "passkey.failed"),
        "the page shows the generic message for every refusal"
    );
    let all = app.state.store.list_audit_events(None, 50).await.unwrap();
    assert!(all.iter().any(|e| e.kind == "passkey.login_failed"
        && e.detail["reason"] == "unknown_credential"));
}

async fn the_passkey_step_up_keeps_the_customer_and_rotates_the_cookie(backend: Backend) {
    let (app, sub) = app_with_customer(backend, &[]).await;
    let mut auth = device(&app);
    registered(&app, &mut auth).await;
    let web = Web::other(&app);
    web.log_in().await;
    let sid = web.sid().await;
    let before = web.cookie().unwrap();

    let page = web
        .page("/stepup/passkey?return_to=%2Fauthorize%2Fcontinue%3Fid%3D42")
        .await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(
        page.html.contains(r#"id="passkey-login""#)
            && page.html.contains(r#"data-passkey="stepup""#)
    );
    assert!(
        page.html
            .contains(r#"data-return-to="/authorize/continue?id=42""#)
    );
    assert_eq!(
        kagi::authn::passkey::passkey_step_up_url("/authorize/continue?id=42"),
        "/stepup/passkey?return_to=%2Fauthorize%2Fcontinue%3Fid%3D42"
    );

    app.clock.advance(5);
    let start = web.json("/passkey/stepup/start", &json!({})).await;
    let allowed = start.body["options"]["publicKey"]["allowCredentials"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(allowed.len(), 1);
    assert_eq!(allowed[0]["id"], auth.last().id_text().as_str());
    assert_eq!(
        start.body["options"]["publicKey"]["userVerification"],
        "required"
    );
    let credential = auth.get(&start.body["options"]["publicKey"]).unwrap();
    let done = web
        .json(
            "/passkey/stepup/finish",
            &json!({
                "ceremony": start.body["ceremony"],
                "credential": credential,
                "return_to": "/authorize/continue?id=42",
            }),
        )
        .await;
    assert_eq!(done.status, 200, "{:?}", done.body);
    assert_eq!(done.body["redirect"], "/authorize/continue?id=42");
    let after = done
        .cookie
        .clone()
        .expect("a new session id after the step-up");
    assert_ne!(after, before);
    assert_eq!(web.sid().await, sid, "the same session");
    let session = app
        .state
        .store
        .find_session(
            &kagi::crypto::random::hash_secret(&after),
            app.clock.now(),
            3600,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        session.customer_id.as_deref(),
        Some(sub.as_str()),
        "the same sub"
    );
    let events = app.state.store.session_auth_events(&sid).await.unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(
        (events[0].acr.as_str(), events[1].acr.as_str()),
        ("urn:kagi:acr:mfa", "phr")
    );
    assert_eq!(events[1].purpose, "step_up");

    // Another customer's passkey does not step this session up.
    let mut other = device(&app);
    app.customer()
        .code("C0005678")
        .password("another good password")
        .emails(&["hanako@example.jp"])
        .create()
        .await;
    let hanako = Web::other(&app).reading("hanako@example.jp");
    hanako.log_in_as("C0005678", "another good password").await;
    hanako.step_up_by_email().await;
    assert_eq!(hanako.register(&mut other).await.status, 200);
    let start = web.json("/passkey/stepup/start", &json!({})).await;
    let foreign = other.get_with(&start.body["options"]["publicKey"], 0);
    let refused = web
        .json(
            "/passkey/stepup/finish",
            &json!({ "ceremony": start.body["ceremony"], "credential": foreign }),
        )
        .await;
    assert_eq!(refused.status, 401, "{:?}", refused.body);
}

async fn a_customer_without_a_passkey_is_told_on_the_step_up_page(backend: Backend) {
    let (app, _) = app_with_customer(backend, &[]).await;
    let web = Web::of(&app);
    web.log_in().await;
    let page = web.page("/stepup/passkey?return_to=%2Faccount").await;
    assert_eq!(page.status, 200);
    assert!(page.shows(&app, Lang::Ja, "passkey_stepup.none"));
    let start = web.json("/passkey/stepup/start", &json!({})).await;
    assert_eq!(
        (start.status, start.body["error"].as_str()),
        (409, Some("no_passkey"))
    );
    let anonymous = Web::other(&app);
    assert_eq!(
        anonymous.page("/stepup/passkey").await.status,
        303,
        "logged-in customers only"
    );
}

async fn a_passkey_login_finish_and_a_step_up_finish_each_commit_once(backend: Backend) {
    // docs/write-path.md: ceremony, counter, session, event and audit in one unit.
    let (app, _) = app_with_customer(backend, &[]).await;
    let mut auth = device(&app);
    registered(&app, &mut auth).await;
    let store = &app.state.store;
    let web = Web::other(&app);
    web.page("/login").await;
    let start = web
        .json("/passkey/login/start", &json!({ "conditional": false }))
        .await;
    let credential = auth.get(&start.body["options"]["publicKey"]).unwrap();
    let before = store.write_commits();
    let done = web
        .json("/passkey/login/finish", &json!({ "ceremony": start.body["ceremony"], "credential": credential, "return_to": "/account" }))
        .await;
    assert_eq!(done.status, 200, "{:?}", done.body);
    assert_eq!(store.write_commits() - before, 1, "login finish");

    let start = web.json("/passkey/stepup/start", &json!({})).await;
    let credential = auth.get(&start.body["options"]["publicKey"]).unwrap();
    let before = store.write_commits();
    let done = web
        .json("/passkey/stepup/finish", &json!({ "ceremony": start.body["ceremony"], "credential": credential, "return_to": "/account" }))
        .await;
    assert_eq!(done.status, 200, "{:?}", done.body);
    assert_eq!(store.write_commits() - before, 1, "step-up finish");

    // A refusal spends the ceremony and audits in one commit too.
    let other = Web::other(&app);
    other.page("/login").await;
    let start = other
        .json("/passkey/login/start", &json!({ "conditional": false }))
        .await;
    auth.uv = false;
    let credential = auth.get(&start.body["options"]["publicKey"]).unwrap();
    let before = store.write_commits();
    let refused = other
        .json("/passkey/login/finish", &json!({ "ceremony": start.body["ceremony"], "credential": credential, "return_to": "/account" }))
        .await;
    assert_eq!(refused.status, 401, "{:?}", refused.body);
    assert_eq!(store.write_commits() - before, 1, "refusal");
    let replay = other
        .json("/passkey/login/finish", &json!({ "ceremony": start.body["ceremony"], "credential": credential, "return_to": "/account" }))
        .await;
    assert_ne!(replay.status, 200, "the ceremony was spent by the refusal");
}
