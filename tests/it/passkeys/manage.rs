//! Renaming and deleting passkeys, the `strongest` enrolment policy, the
//! Signal API data and the operator CLI (`docs/product.md#registration`;
//! `docs/security.md#r17`, `#r20`, `#r25`).

use kagi::templates::Lang;

use super::{Web, audit, device, wait_for_mail};
use crate::both_backends;
use crate::helpers::Backend;
use crate::helpers::customer::{CODE, EMAIL, WORK_EMAIL, app_with_customer};

both_backends!(
    deleting_a_passkey_needs_a_fresh_step_up_and_tells_every_address,
    a_passkey_can_be_renamed_and_the_page_signals_the_user_details,
    under_strongest_a_customer_with_a_passkey_must_step_up_with_it_to_add_another,
    the_operator_can_remove_a_customers_passkeys,
    a_customer_with_a_passkey_sets_up_an_authenticator_app_only_after_a_passkey_step_up
);

async fn deleting_a_passkey_needs_a_fresh_step_up_and_tells_every_address(backend: Backend) {
    let (app, sub) = app_with_customer(backend, &[]).await;
    let web = Web::of(&app);
    web.log_in().await;
    web.step_up_by_email().await;
    let mut keep = device(&app);
    assert_eq!(web.register(&mut keep).await.status, 200);
    web.step_up_by_email().await;
    let mut gone = device(&app);
    assert_eq!(web.register(&mut gone).await.status, 200);
    let id = gone.last().id_text();

    // The registration spent the step-up: deleting asks for a new one.
    let pressed = web
        .form("/account/passkeys/delete", &[("credential_id", &id)])
        .await;
    assert_eq!(pressed.status, 303);
    let step_up = pressed.location.unwrap();
    assert!(
        step_up.starts_with("/stepup?return_to=%2Faccount%2Fpasskeys%2Fdelete%3Fcredential_id%3D"),
        "{step_up}"
    );
    assert_eq!(app.state.store.list_passkeys(&sub).await.unwrap().len(), 2);

    let back = web.step_up_by_email_at(&step_up).await;
    let confirm = web.page(&back).await;
    assert_eq!(confirm.status, 200, "{}", confirm.html);
    assert!(confirm.html.contains(r#"id="passkey-delete-confirm""#));
    assert!(
        confirm
            .html
            .contains(&format!(r#"name="credential_id" value="{id}""#))
    );
    let done = web
        .form("/account/passkeys/delete", &[("credential_id", &id)])
        .await;
    assert_eq!(
        done.location.as_deref(),
        Some("/account?notice=passkey_removed")
    );
    let account = web.page("/account?notice=passkey_removed").await;
    assert!(account.shows(&app, Lang::Ja, "passkey.removed"));
    assert!(!account.html.contains(&id));
    assert!(
        account.html.contains(&format!(
            r#"data-credential-ids="{}""#,
            keep.last().id_text()
        )),
        "the Signal API gets exactly the remaining ids"
    );
    for to in [EMAIL, WORK_EMAIL] {
        let mail = wait_for_mail(&app, to, "パスキー削除", 1).await.remove(0);
        assert!(
            mail.body.contains("Windows Hello") && !mail.body.contains("://"),
            "{}",
            mail.body
        );
    }
    assert!(
        audit(&app)
            .await
            .iter()
            .any(|e| e.kind == "passkey.removed" && e.detail["credential_id"] == id.as_str())
    );

    // The step-up was spent; a deleted passkey no longer logs in.
    let again = web
        .form(
            "/account/passkeys/delete",
            &[("credential_id", &keep.last().id_text())],
        )
        .await;
    assert!(again.location.unwrap().starts_with("/stepup?"));
    let stranger = Web::other(&app);
    assert_eq!(
        stranger.passkey_login(&mut gone).await.body["error"],
        "unknown_credential"
    );
}

async fn a_passkey_can_be_renamed_and_the_page_signals_the_user_details(backend: Backend) {
    let (app, sub) = app_with_customer(backend, &[]).await;
    let web = Web::of(&app);
    web.log_in().await;
    web.step_up_by_email().await;
    let mut auth = device(&app);
    assert_eq!(web.register(&mut auth).await.status, 200);
    let id = auth.last().id_text();

    let renamed = web
        .form(
            "/account/passkeys/rename",
            &[("credential_id", &id), ("nickname", "  仕事用ノートPC ")],
        )
        .await;
    assert_eq!(
        renamed.location.as_deref(),
        Some("/account?notice=passkey_renamed")
    );
    let account = web.page("/account?notice=passkey_renamed").await;
    assert!(account.html.contains("仕事用ノートPC"));
    assert!(account.shows(&app, Lang::Ja, "passkey.renamed"));
    assert!(
        account.html.contains(r#"data-details="1""#)
            && account
                .html
                .contains(&format!(r#"data-user-name="{CODE}""#))
    );
    assert_eq!(
        app.state.store.list_passkeys(&sub).await.unwrap()[0].nickname,
        "仕事用ノートPC"
    );
    assert!(
        !web.page("/account").await.html.contains("data-details"),
        "details only after a rename"
    );

    let too_long = "鍵".repeat(65);
    let refused = web
        .form(
            "/account/passkeys/rename",
            &[("credential_id", &id), ("nickname", &too_long)],
        )
        .await;
    assert_eq!(
        refused.location.as_deref(),
        Some("/account?error=passkey_nickname")
    );
    assert!(web.page("/account?error=passkey_nickname").await.shows(
        &app,
        Lang::Ja,
        "passkey.nickname_too_long"
    ));
    assert!(
        audit(&app)
            .await
            .iter()
            .any(|e| e.kind == "passkey.renamed")
    );
}

async fn under_strongest_a_customer_with_a_passkey_must_step_up_with_it_to_add_another(
    backend: Backend,
) {
    let (app, _) =
        app_with_customer(backend, &[("KAGI_PASSKEY_ENROLLMENT_STEP_UP", "strongest")]).await;
    let web = Web::of(&app);
    web.log_in().await;
    // Without a passkey yet, the email code is the strongest step-up there is.
    web.step_up_by_email().await;
    let mut first = device(&app);
    assert_eq!(web.register(&mut first).await.status, 200);

    // A phished password plus a relayed email code cannot add a second one.
    web.step_up_by_email().await;
    let refused = web.register_start().await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    assert_eq!(
        refused.body["step_up"],
        "/stepup/passkey?return_to=%2Faccount%2Fpasskeys%2Fconfirm"
    );
    let pressed = web.form("/account/passkeys/register", &[]).await;
    assert_eq!(
        pressed.location.as_deref(),
        Some("/stepup/passkey?return_to=%2Faccount%2Fpasskeys%2Fconfirm")
    );

    // A passkey step-up does.
    let stepped = web
        .passkey_step_up(&mut first, "/account/passkeys/confirm")
        .await;
    assert_eq!(stepped.status, 200, "{:?}", stepped.body);
    assert_eq!(stepped.body["redirect"], "/account/passkeys/confirm");
    assert_eq!(web.page("/account/passkeys/confirm").await.status, 200);
    let mut second = device(&app);
    let added = web.register(&mut second).await;
    assert_eq!(added.status, 200, "{:?}", added.body);
}

async fn the_operator_can_remove_a_customers_passkeys(backend: Backend) {
    let (app, sub) = app_with_customer(backend, &[]).await;
    let web = Web::of(&app);
    web.log_in().await;
    web.step_up_by_email().await;
    let mut auth = device(&app);
    assert_eq!(web.register(&mut auth).await.status, 200);
    let removed = app.cli(
        &["--json", "user", "remove-passkeys", "--customer-code", CODE],
        None,
    );
    assert!(removed.success, "{}", removed.stderr);
    assert_eq!(removed.json()["removed"], 1);
    for to in [EMAIL, WORK_EMAIL] {
        let mail = wait_for_mail(&app, to, "パスキー削除", 1).await.remove(0);
        assert!(
            mail.body.contains("Windows Hello") && !mail.body.contains("://"),
            "{}",
            mail.body
        );
    }
    assert!(
        audit(&app)
            .await
            .iter()
            .any(|e| e.kind == "passkey.removed_by_operator")
    );
    assert!(
        app.state
            .store
            .list_passkeys(&sub)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        Web::other(&app).passkey_login(&mut auth).await.body["error"],
        "unknown_credential"
    );
}

async fn a_customer_with_a_passkey_sets_up_an_authenticator_app_only_after_a_passkey_step_up(
    backend: Backend,
) {
    let (app, _) = app_with_customer(backend, &[]).await;
    let web = Web::of(&app);
    web.log_in().await;
    web.step_up_by_email().await;
    let mut key = device(&app);
    assert_eq!(web.register(&mut key).await.status, 200);
    // An emailed code proves the mailbox; with a passkey on the account, the passkey is asked for.
    web.step_up_by_email().await;
    let start = web.form("/account/totp/start", &[]).await;
    assert_eq!(
        start.location.as_deref(),
        Some("/stepup/passkey?return_to=%2Faccount%2Ftotp")
    );
    assert_eq!(
        web.passkey_step_up(&mut key, "/account/totp").await.status,
        200
    );
    let start = web.form("/account/totp/start", &[]).await;
    assert_eq!(start.location.as_deref(), Some("/account/totp"));
}
