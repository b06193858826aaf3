//! Adding a passkey: the step-up gate, the creation options, the cap, the
//! notices, and the ceremony state (`docs/security.md#r17` to `#r21`).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kagi::templates::Lang;
use serde_json::json;

use super::{Web, audit, device, synced_device, wait_for_mail};
use crate::both_backends;
use crate::helpers::Backend;
use crate::helpers::customer::{CODE, EMAIL, WORK_EMAIL, app_with_customer};

both_backends!(
    registration_needs_a_step_up_in_the_same_session,
    a_step_up_allows_one_registration_and_expires_after_ten_minutes,
    creation_options_ask_for_a_discoverable_user_verified_es256_or_rs256_credential,
    a_registered_passkey_is_listed_with_its_provider_and_every_address_is_told,
    a_fourth_passkey_is_refused_with_a_clear_message,
    two_registrations_racing_at_two_passkeys_never_make_a_fourth,
    a_credential_already_registered_anywhere_is_refused,
    ceremony_state_is_single_use_expires_after_five_minutes_and_stays_with_its_session,
    json_calls_need_the_session_csrf_token_and_answer_json_errors
);

async fn registration_needs_a_step_up_in_the_same_session(backend: Backend) {
    let (app, _) = app_with_customer(backend, &[]).await;
    let web = Web::of(&app);
    web.log_in().await;
    let account = web.page("/account").await;
    assert!(
        account.html.contains(r#"id="passkey-register""#),
        "{}",
        account.html
    );

    // The account page's button leads to the email-code step-up, then to the confirmation.
    let pressed = web.form("/account/passkeys/register", &[]).await;
    assert_eq!(pressed.status, 303);
    let step_up = pressed.location.unwrap();
    assert_eq!(step_up, "/stepup?return_to=%2Faccount%2Fpasskeys%2Fconfirm");
    let denied = web.register_start().await;
    assert_eq!(denied.status, 403, "{:?}", denied.body);
    assert_eq!(denied.body["error"], "step_up_required");
    assert_eq!(denied.body["step_up"], step_up.as_str());
    let no_confirm = web.page("/account/passkeys/confirm").await;
    assert_eq!(no_confirm.location.as_deref(), Some(step_up.as_str()));

    let back = web.step_up_by_email_at(&step_up).await;
    assert_eq!(back, "/account/passkeys/confirm");
    let confirm = web.page(&back).await;
    assert_eq!(confirm.status, 200, "{}", confirm.html);
    assert!(confirm.html.contains(r#"id="passkey-register-confirm""#));
    assert!(confirm.html.contains(r#"<meta name="csrf-token""#));
    assert!(
        confirm.shows(&app, Lang::Ja, "passkey.js_required"),
        "a page without script says why"
    );

    // Another browser of the same customer has no step-up of its own.
    let other = Web::other(&app);
    other.log_in().await;
    assert_eq!(other.register_start().await.status, 403);

    let mut auth = device(&app);
    let done = web.register(&mut auth).await;
    assert_eq!(done.status, 200, "{:?}", done.body);
    assert_eq!(done.body["redirect"], "/account?notice=passkey_registered");
    let listed = web.page("/account?notice=passkey_registered").await;
    assert!(listed.shows(&app, Lang::Ja, "passkey.registered"));
    assert!(listed.html.contains(&format!(
        r#"data-credential-id="{}""#,
        auth.last().id_text()
    )));
}

async fn a_step_up_allows_one_registration_and_expires_after_ten_minutes(backend: Backend) {
    let (app, _) = app_with_customer(backend, &[]).await;
    let web = Web::of(&app);
    web.log_in().await;

    web.step_up_by_email().await;
    assert_eq!(web.register(&mut device(&app)).await.status, 200);
    let spent = web.register_start().await;
    assert_eq!(
        spent.status, 403,
        "one step-up, one registration: {:?}",
        spent.body
    );

    web.step_up_by_email().await;
    app.clock.advance(10 * 60 + 1);
    let stale = web.register_start().await;
    assert_eq!(
        stale.status, 403,
        "a step-up is valid for 10 minutes: {:?}",
        stale.body
    );

    web.step_up_by_email().await;
    app.clock.advance(10 * 60 - 5);
    assert_eq!(web.register(&mut device(&app)).await.status, 200);
    assert!(
        audit(&app)
            .await
            .iter()
            .any(|e| e.kind == "step_up.required")
    );
}

async fn creation_options_ask_for_a_discoverable_user_verified_es256_or_rs256_credential(
    backend: Backend,
) {
    let (app, _) = app_with_customer(backend, &[]).await;
    let web = Web::of(&app);
    web.log_in().await;
    web.step_up_by_email().await;
    let mut auth = device(&app);
    assert_eq!(web.register(&mut auth).await.status, 200);
    web.step_up_by_email().await;

    let start = web.register_start().await;
    assert_eq!(start.status, 200);
    let pk = &start.body["options"]["publicKey"];
    let selection = &pk["authenticatorSelection"];
    assert_eq!(selection["residentKey"], "required");
    assert_eq!(selection["requireResidentKey"], true);
    assert_eq!(selection["userVerification"], "required");
    assert_eq!(pk["attestation"], "none");
    assert_eq!(pk["timeout"], 300_000);
    let algs: Vec<i64> = pk["pubKeyCredParams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["alg"].as_i64().unwrap())
        .collect();
    assert_eq!(algs, [-7, -257]);
    let excluded: Vec<&str> = pk["excludeCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(excluded, [auth.last().id_text()]);
    assert_eq!(pk["rp"]["id"], "localhost");
    let user_id = URL_SAFE_NO_PAD
        .decode(pk["user"]["id"].as_str().unwrap())
        .unwrap();
    assert_eq!(user_id.len(), 16, "a random 16-byte handle");
    assert!(
        !user_id.windows(CODE.len()).any(|w| w == CODE.as_bytes()),
        "no personal data in user.id"
    );
    assert!(!String::from_utf8_lossy(&user_id).contains(CODE));

    // The same device refuses to make a second passkey for the account (excludeCredentials).
    assert!(auth.create(pk).is_err());
}

async fn a_registered_passkey_is_listed_with_its_provider_and_every_address_is_told(
    backend: Backend,
) {
    let (app, _) = app_with_customer(backend, &[]).await;
    let web = Web::of(&app);
    web.log_in().await;
    web.step_up_by_email().await;
    let mut auth = synced_device(&app);
    assert_eq!(web.register(&mut auth).await.status, 200);

    let account = web.page("/account").await;
    assert!(account.html.contains(r#"class="passkey-item""#));
    assert!(
        account.html.contains("iCloud Keychain"),
        "provider from the AAGUID"
    );
    assert!(account.shows(&app, Lang::Ja, "account.passkey_synced"));
    assert!(account.html.contains(&format!(
        r#"data-credential-ids="{}""#,
        auth.last().id_text()
    )));

    for to in [EMAIL, WORK_EMAIL] {
        let mail = wait_for_mail(&app, to, "パスキー登録", 1).await.remove(0);
        assert!(mail.body.contains("iCloud Keychain"), "{}", mail.body);
        assert!(
            !mail.body.contains("://") && !mail.body.contains("http"),
            "no links: {}",
            mail.body
        );
    }
    let events = audit(&app).await;
    let added = events.iter().find(|e| e.kind == "passkey.added").unwrap();
    assert_eq!(added.detail["provider"], "iCloud Keychain");
    assert_eq!(added.detail["backup_eligible"], true);

    let listed = app.cli(
        &["--json", "user", "passkeys", "--customer-code", CODE],
        None,
    );
    assert!(listed.success, "{}", listed.stderr);
    let keys = listed.json()["passkeys"].as_array().unwrap().clone();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["provider"], "iCloud Keychain");
    assert_eq!(keys[0]["credential_id"], auth.last().id_text().as_str());
}

async fn a_fourth_passkey_is_refused_with_a_clear_message(backend: Backend) {
    let (app, _) = app_with_customer(backend, &[]).await;
    let web = Web::of(&app);
    web.log_in().await;
    for _ in 0..3 {
        web.step_up_by_email().await;
        let mut auth = device(&app);
        assert_eq!(web.register(&mut auth).await.status, 200);
    }
    let account = web.page("/account").await;
    assert!(
        account.shows(&app, Lang::Ja, "passkey.limit"),
        "{}",
        account.html
    );
    assert!(!account.html.contains(r#"id="passkey-register""#));
    assert_eq!(account.html.matches(r#"class="passkey-item""#).count(), 3);

    web.step_up_by_email().await;
    let fourth = web.register_start().await;
    assert_eq!(
        (fourth.status, fourth.body["error"].as_str()),
        (409, Some("limit"))
    );
    let pressed = web.form("/account/passkeys/register", &[]).await;
    assert_eq!(
        pressed.location.as_deref(),
        Some("/account?error=passkey_limit")
    );
    let shown = web.page("/account?error=passkey_limit").await;
    assert!(shown.html.contains(r#"role="alert""#) && shown.shows(&app, Lang::Ja, "passkey.limit"));
}

async fn two_registrations_racing_at_two_passkeys_never_make_a_fourth(backend: Backend) {
    let (app, sub) = app_with_customer(backend, &[]).await;
    let first = Web::of(&app);
    first.log_in().await;
    for _ in 0..2 {
        first.step_up_by_email().await;
        assert_eq!(first.register(&mut device(&app)).await.status, 200);
    }
    let second = Web::other(&app);
    second.log_in().await;
    first.step_up_by_email().await;
    second.step_up_by_email().await;
    let (mut one, mut two) = (device(&app), device(&app));
    let a = first.register_start().await;
    let b = second.register_start().await;
    assert_eq!(
        (a.status, b.status),
        (200, 200),
        "both may start at two passkeys"
    );
    let ca = one.create(&a.body["options"]["publicKey"]).unwrap();
    let cb = two.create(&b.body["options"]["publicKey"]).unwrap();

    let (ra, rb) = tokio::join!(
        first.register_finish(&a.body["ceremony"], &ca),
        second.register_finish(&b.body["ceremony"], &cb),
    );
    let mut statuses = [ra.status, rb.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{:?} {:?}", ra.body, rb.body);
    let loser = if ra.status == 409 { &ra } else { &rb };
    assert_eq!(loser.body["error"], "limit");
    assert_eq!(app.state.store.list_passkeys(&sub).await.unwrap().len(), 3);
}

async fn a_credential_already_registered_anywhere_is_refused(backend: Backend) {
    let (app, _) = app_with_customer(backend, &[]).await;
    app.customer()
        .code("C0005678")
        .password("another good password")
        .emails(&["hanako@example.jp"])
        .create()
        .await;
    let web = Web::of(&app);
    web.log_in().await;
    web.step_up_by_email().await;
    let mut auth = device(&app);
    assert_eq!(web.register(&mut auth).await.status, 200);

    // Hanako's browser presents Taro's credential (same id and key).
    let other = Web::other(&app).reading("hanako@example.jp");
    other.log_in_as("C0005678", "another good password").await;
    other.step_up_by_email().await;
    let start = other.register_start().await;
    assert_eq!(start.status, 200, "{:?}", start.body);
    let reused = auth.create_reusing(&start.body["options"]["publicKey"], 0);
    let refused = other
        .register_finish(&start.body["ceremony"], &reused)
        .await;
    assert_eq!(
        (refused.status, refused.body["error"].as_str()),
        (409, Some("already_registered"))
    );
    let events = app
        .state
        .store
        .list_audit_events(Some("C0005678"), 50)
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == "passkey.registration_failed"
                && e.detail["reason"] == "credential_already_registered")
    );
}

async fn ceremony_state_is_single_use_expires_after_five_minutes_and_stays_with_its_session(
    backend: Backend,
) {
    let (app, _) = app_with_customer(backend, &[]).await;
    let web = Web::of(&app);
    web.log_in().await;

    // Replaying a finished ceremony fails.
    web.step_up_by_email().await;
    let start = web.register_start().await;
    let credential = device(&app)
        .create(&start.body["options"]["publicKey"])
        .unwrap();
    assert_eq!(
        web.register_finish(&start.body["ceremony"], &credential)
            .await
            .status,
        200
    );
    web.step_up_by_email().await;
    let replay = web
        .register_finish(&start.body["ceremony"], &credential)
        .await;
    assert_eq!(
        (replay.status, replay.body["error"].as_str()),
        (400, Some("expired"))
    );

    // A ceremony older than 300 s is gone.
    let start = web.register_start().await;
    let credential = device(&app)
        .create(&start.body["options"]["publicKey"])
        .unwrap();
    app.clock.advance(301);
    let late = web
        .register_finish(&start.body["ceremony"], &credential)
        .await;
    assert_eq!(
        (late.status, late.body["error"].as_str()),
        (400, Some("expired"))
    );

    // Another browser of the same customer cannot finish this browser's ceremony.
    web.step_up_by_email().await;
    let other = Web::other(&app);
    other.log_in().await;
    other.step_up_by_email().await;
    let start = web.register_start().await;
    let credential = device(&app)
        .create(&start.body["options"]["publicKey"])
        .unwrap();
    let stolen = other
        .register_finish(&start.body["ceremony"], &credential)
        .await;
    assert_eq!(
        (stolen.status, stolen.body["error"].as_str()),
        (400, Some("expired"))
    );
    assert_eq!(
        web.register_finish(&start.body["ceremony"], &credential)
            .await
            .status,
        200,
        "still its own session's"
    );
}

async fn json_calls_need_the_session_csrf_token_and_answer_json_errors(backend: Backend) {
    let (app, _) = app_with_customer(backend, &[]).await;
    let web = Web::of(&app);
    web.log_in().await;
    let wrong = web
        .json_with_token("/account/passkeys/register/start", &json!({}), "nope")
        .await;
    assert_eq!(
        (wrong.status, wrong.body["error"].as_str()),
        (403, Some("csrf"))
    );
    let stranger = Web::other(&app);
    let anonymous = stranger
        .json_with_token("/passkey/login/start", &json!({}), "x")
        .await;
    assert_eq!(anonymous.status, 403);
    let csrf = web.csrf().await;
    let garbled = app
        .http
        .post(app.url("/account/passkeys/register/finish"))
        .header("x-csrf-token", &csrf)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(garbled.status().as_u16(), 400);
    let body: serde_json::Value = garbled.json().await.unwrap();
    assert_eq!(body["error"], "bad_request");
    let not_json = app
        .http
        .post(app.url("/passkey/login/start"))
        .header("x-csrf-token", &csrf)
        .form(&[("a", "b")])
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status().as_u16(), 415);
    let body: serde_json::Value = not_json.json().await.unwrap();
    assert_eq!(body["error"], "bad_request");
}
