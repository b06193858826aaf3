//! Passkeys in Chromium with the WebAuthn virtual authenticator (resident
//! keys, user verification): registration through every step of the seed
//! guide with its notice mail, login without a customer code, the limit of
//! three, and deletion behind a step-up.

use base64::Engine as _;
use kagi::templates::Lang;

use super::steps::{
    log_in_with_password, log_out_at_kagi, mail_with_subject, mails_to, pass_email_code,
    register_passkey, text, use_passkey,
};
use crate::both_backends;
use crate::helpers::webdriver::Browser;
use crate::helpers::{Backend, TestApp};

both_backends!(
    a_customer_registers_a_passkey_through_every_step_of_the_guide,
    a_customer_logs_in_with_a_passkey_without_typing_a_customer_code
);

const HOME: &str = "hanako@example.jp";
const WORK: &str = "yamada.work@example.com";

/// Whether a mail body carries anything a customer could click.
fn has_link(body: &str) -> bool {
    let lower = body.to_lowercase();
    ["http:", "https:", "://", "www.", "href"]
        .iter()
        .any(|l| lower.contains(l))
}

/// Bytes of a base64url field of the `WebDriver` credential JSON.
fn from_b64url(value: &serde_json::Value) -> Vec<u8> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"));
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .unwrap()
}

/// A virtual authenticator credential's id as Kagi stores it (base64url, no padding).
fn credential_id(credential: &serde_json::Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(from_b64url(&credential["credentialId"]))
}

async fn a_customer_registers_a_passkey_through_every_step_of_the_guide(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let sub = app
        .customer()
        .code("C0007001")
        .emails(&[HOME, WORK])
        .create()
        .await
        .sub;
    let browser = Browser::start(&format!("passkey-registration-{backend:?}"), "ja").await;
    let authenticator = browser.add_virtual_authenticator().await;

    // Step 1: customer code, login password and the existing second factor.
    browser.goto(&app.url("/login")).await;
    log_in_with_password(&browser, &app, "C0007001", HOME).await;
    browser.wait_url("/account").await;
    browser
        .ensure(browser.count(".passkey-item").await == 0, "no passkey yet")
        .await;

    // Step 2: Password settings, "Register" in the passkey row.
    browser.find("#password-settings-heading").await;
    browser.click("#passkey-row #passkey-register").await;

    // Step 3: the step-up by email code. The addresses are masked; a code
    // goes to the first, "Back" returns to the choice, and the code sent
    // to the second one is typed and "Authenticate" pressed.
    browser.wait_url("/stepup").await;
    browser.wait_text("hana*****").await;
    browser.wait_text("yama*****").await;
    let page = browser.source().await;
    browser
        .ensure(
            !page.contains(HOME) && !page.contains(WORK),
            "addresses are masked",
        )
        .await;
    let home_mails = mails_to(&app, HOME);
    browser.click("#email_index_0").await;
    browser.click("#otp-send").await;
    browser.wait_url("/login/code").await;
    app.smtp.wait_for(HOME, home_mails + 1).await;
    browser.click("a[href=\"/login/email\"]").await;
    pass_email_code(&browser, &app, 1, WORK).await;

    // Step 4: the confirmation page explains the device's own check.
    browser.wait_url("/account/passkeys/confirm").await;
    browser
        .wait_text(&text(&app, Lang::Ja, "passkey_confirm.lead"))
        .await;
    browser.click("#passkey-register-confirm").await;

    // Steps 5 and 6: the device verifies, the passkey is saved and listed.
    browser.wait_url("/account?notice=passkey_registered").await;
    browser
        .wait_text(&text(&app, Lang::Ja, "passkey.registered"))
        .await;
    browser
        .ensure(
            browser.count(".passkey-item").await == 1,
            "one passkey listed",
        )
        .await;
    let provider = browser.text(".passkey-item .passkey-provider").await;
    let stored = app.state.store.list_passkeys(&sub).await.unwrap();
    assert_eq!(stored.len(), 1);
    let expected = if stored[0].provider.is_empty() {
        text(&app, Lang::Ja, "passkey.provider_unknown")
    } else {
        stored[0].provider.clone()
    };
    assert_eq!(provider, expected, "the list names the provider");

    // The authenticator holds one resident (discoverable) credential for
    // this site, under the customer's random user handle.
    let credentials = browser.credentials(&authenticator).await;
    assert_eq!(credentials.len(), 1, "{credentials:?}");
    let credential = &credentials[0];
    assert_eq!(credential["isResidentCredential"], true, "{credential}");
    assert_eq!(credential["rpId"], "localhost");
    let customer = app.state.store.find_customer(&sub).await.unwrap().unwrap();
    let handle = kagi::authn::passkey::user_handle(&customer).unwrap();
    let stored_handle = from_b64url(&credential["userHandle"]);
    assert_eq!(
        stored_handle,
        handle.as_bytes(),
        "user.id is the random handle"
    );
    assert_eq!(stored[0].credential_id, credential_id(credential));

    // The notice reaches every registered address, with no link in it.
    let subject = text(&app, Lang::Ja, "mail.passkey_added.subject");
    for address in [HOME, WORK] {
        let notice = mail_with_subject(&app, address, &subject).await;
        assert!(notice.body.contains(&expected), "{}", notice.body);
        assert!(
            !has_link(&notice.body),
            "a notice carries no link: {}",
            notice.body
        );
    }
    browser.ensure_clean_console().await;
}

async fn a_customer_logs_in_with_a_passkey_without_typing_a_customer_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.customer()
        .code("C0007002")
        .emails(&[HOME])
        .create()
        .await;
    let browser = Browser::start(&format!("passkey-login-{backend:?}"), "ja").await;
    browser.add_virtual_authenticator().await;
    browser.goto(&app.url("/login")).await;
    log_in_with_password(&browser, &app, "C0007002", HOME).await;
    browser.wait_url("/account").await;
    register_passkey(&browser, &app, 0, HOME).await;
    log_out_at_kagi(&browser, &app).await;

    // A fresh session: the login page, nothing typed, "パスキーでログイン".
    let no_autofill = browser.hide_passkey_autofill().await;
    browser.goto(&app.url("/login")).await;
    browser
        .wait_element_text(
            "#passkey-login",
            &text(&app, Lang::Ja, "login.passkey_button"),
        )
        .await;
    use_passkey(&browser).await;
    browser.wait_url("/account").await;
    browser.wait_text("C0007002").await;
    assert_eq!(
        browser.script("return document.cookie").await,
        "",
        "the cookie stays HttpOnly"
    );
    let passkey_logins = |audit: serde_json::Value| {
        audit["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "login.succeeded" && e["detail"]["method"] == "passkey")
            .count()
    };
    let audit = app
        .cli(&["--json", "audit", "--customer-code", "C0007002"], None)
        .json();
    assert_eq!(passkey_logins(audit.clone()), 1, "{audit}");

    // The same passkey in the browser's autofill (conditional mediation):
    // the virtual authenticator picks it as soon as the page asks.
    log_out_at_kagi(&browser, &app).await;
    browser.restore_passkey_autofill(&no_autofill).await;
    browser.goto(&app.url("/login")).await;
    browser.wait_url("/account").await;
    browser.wait_text("C0007002").await;
    let audit = app
        .cli(&["--json", "audit", "--customer-code", "C0007002"], None)
        .json();
    assert_eq!(passkey_logins(audit.clone()), 2, "{audit}");
    browser.ensure_clean_console().await;
}

/// Runs a journey on SQLite only (the two backends are covered by the journeys above).
async fn sqlite_app() -> TestApp {
    TestApp::spawn(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fourth_passkey_is_refused_with_the_limit_message() {
    let app = sqlite_app().await;
    let sub = app
        .customer()
        .code("C0007003")
        .emails(&[HOME])
        .create()
        .await
        .sub;
    let browser = Browser::start("passkey-limit", "ja").await;
    browser.goto(&app.url("/login")).await;
    log_in_with_password(&browser, &app, "C0007003", HOME).await;
    browser.wait_url("/account").await;

    // Two devices, one passkey each (a device refuses a second passkey for
    // the same account: excludeCredentials), each behind its own step-up.
    for registered in 1..=2 {
        let device = browser.add_virtual_authenticator().await;
        register_passkey(&browser, &app, 0, HOME).await;
        browser
            .ensure(browser.count(".passkey-item").await == registered, "listed")
            .await;
        browser.remove_virtual_authenticator(&device).await;
    }

    // The third device: its confirmation page is also open in a second tab,
    // as a customer who opened the page twice would have it.
    browser.add_virtual_authenticator().await;
    browser.goto(&app.url("/account")).await;
    browser.click("#passkey-register").await;
    pass_email_code(&browser, &app, 0, HOME).await;
    browser.wait_url("/account/passkeys/confirm").await;
    let confirm = browser.url().await;
    let first = browser.window().await;
    let second = browser.new_tab().await;
    browser.add_virtual_authenticator().await;
    browser.goto(&confirm).await;
    browser.find("#passkey-register-confirm").await;
    browser.switch_to(&first).await;
    browser.click("#passkey-register-confirm").await;
    browser.wait_url("notice=passkey_registered").await;
    browser
        .ensure(browser.count(".passkey-item").await == 3, "three listed")
        .await;
    browser
        .ensure(
            browser.count("#passkey-register").await == 0,
            "no Register button at the cap",
        )
        .await;
    let limit = text(&app, Lang::Ja, "passkey.limit");
    browser.wait_element_text("#passkey-limit", &limit).await;

    // The fourth attempt, from the other tab (a fourth device): refused with the limit message.
    browser.switch_to(&second).await;
    browser.click("#passkey-register-confirm").await;
    browser.wait_element_text("#passkey-status", &limit).await;
    assert_eq!(app.state.store.list_passkeys(&sub).await.unwrap().len(), 3);

    // The confirmation page itself sends a customer at the cap back with the message.
    browser.goto(&app.url("/account/passkeys/confirm")).await;
    browser.wait_url("/account?error=passkey_limit").await;
    browser.wait_element_text("#form-error", &limit).await;
    browser.ensure_clean_console().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_passkey_needs_a_fresh_step_up_and_sends_a_notice() {
    let app = sqlite_app().await;
    let sub = app
        .customer()
        .code("C0007004")
        .emails(&[HOME, WORK])
        .create()
        .await
        .sub;
    let browser = Browser::start("passkey-delete", "ja").await;
    browser.goto(&app.url("/login")).await;
    log_in_with_password(&browser, &app, "C0007004", HOME).await;
    browser.wait_url("/account").await;
    let old_device = browser.add_virtual_authenticator().await;
    register_passkey(&browser, &app, 0, HOME).await;
    browser.remove_virtual_authenticator(&old_device).await;
    let device = browser.add_virtual_authenticator().await;
    register_passkey(&browser, &app, 0, HOME).await;
    browser
        .ensure(browser.count(".passkey-item").await == 2, "two listed")
        .await;
    let passkeys = app.state.store.list_passkeys(&sub).await.unwrap();
    let kept = browser.credentials(&device).await;
    assert_eq!(kept.len(), 1);
    let kept_id = credential_id(&kept[0]);
    let old = passkeys
        .iter()
        .find(|p| p.credential_id != kept_id)
        .unwrap()
        .credential_id
        .clone();

    // "Delete" on the old device's passkey: the registration spent the last
    // step-up, so Kagi asks again (email code, to the second address), then
    // asks to confirm.
    browser
        .click(&format!(
            ".passkey-item[data-credential-id=\"{old}\"] .passkey-delete"
        ))
        .await;
    pass_email_code(&browser, &app, 1, WORK).await;
    browser.wait_url("/account/passkeys/delete").await;
    browser.click("#passkey-delete-confirm").await;
    browser.wait_url("/account?notice=passkey_removed").await;
    browser
        .wait_text(&text(&app, Lang::Ja, "passkey.removed"))
        .await;

    // The list shrinks to the passkey of the device in hand, and it still logs in.
    browser
        .ensure(browser.count(".passkey-item").await == 1, "one left")
        .await;
    browser
        .find(&format!(".passkey-item[data-credential-id=\"{kept_id}\"]"))
        .await;
    let left = app.state.store.list_passkeys(&sub).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].credential_id, kept_id);

    // Every address gets the notice, without links.
    let subject = text(&app, Lang::Ja, "mail.passkey_removed.subject");
    for address in [HOME, WORK] {
        let notice = mail_with_subject(&app, address, &subject).await;
        assert!(!has_link(&notice.body), "{}", notice.body);
    }
    log_out_at_kagi(&browser, &app).await;
    browser.hide_passkey_autofill().await;
    browser.goto(&app.url("/login")).await;
    use_passkey(&browser).await;
    browser.wait_url("/account").await;
    browser.ensure_clean_console().await;
}
