//! Steps the journeys share, each as a customer performs it in the browser:
//! log in with a password and an email code, step up by email code, register
//! a passkey from the account page, log in or step up with a passkey.

use kagi::templates::Lang;

use crate::helpers::TestApp;
use crate::helpers::browser::six_digits;
use crate::helpers::customer::PASSWORD;
use crate::helpers::smtp::ReceivedMail;
use crate::helpers::webdriver::Browser;

/// How many mails `address` has received so far.
pub fn mails_to(app: &TestApp, address: &str) -> usize {
    app.smtp
        .messages()
        .iter()
        .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(address)))
        .count()
}

/// Waits up to 10 s for a mail to `address` with `subject` and returns it.
pub async fn mail_with_subject(app: &TestApp, address: &str, subject: &str) -> ReceivedMail {
    for _ in 0..100 {
        let found =
            app.smtp.messages().into_iter().find(|m| {
                m.subject == subject && m.to.iter().any(|t| t.eq_ignore_ascii_case(address))
            });
        if let Some(mail) = found {
            return mail;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "no mail `{subject}` to {address}: {:?}",
        app.smtp.messages()
    );
}

/// On an email-code page (`/login/email` for a login, `/stepup` for a
/// step-up): picks the masked address number `index`, presses Send, reads
/// the mail that arrives at `address` and types its code.
pub async fn pass_email_code(browser: &Browser, app: &TestApp, index: usize, address: &str) {
    browser.find("#otp-send").await;
    let before = mails_to(app, address);
    browser.click(&format!("#email_index_{index}")).await;
    browser.click("#otp-send").await;
    browser.wait_url("/login/code").await;
    let mail = app.smtp.wait_for(address, before + 1).await.remove(before);
    browser
        .type_into("input[name=code]", &six_digits(&mail.body))
        .await;
    browser.click("#otp-submit").await;
}

/// On the login page: customer code, password, then the code sent to the
/// first address.
pub async fn log_in_with_password(browser: &Browser, app: &TestApp, code: &str, address: &str) {
    browser.find("#login-submit").await;
    browser.type_into("input[name=customer_code]", code).await;
    browser.type_into("input[name=password]", PASSWORD).await;
    browser.click("#login-submit").await;
    pass_email_code(browser, app, 0, address).await;
}

/// From a logged-in browser, registers a passkey on the authenticator the
/// tab holds (passkey registration steps 2 to 6 of `docs/product.md`):
/// `#passkey-register`, the step-up by the
/// code sent to address number `index`, `#passkey-register-confirm`, and
/// back on the account page with the notice.
pub async fn register_passkey(browser: &Browser, app: &TestApp, index: usize, address: &str) {
    browser.goto(&app.url("/account")).await;
    browser.click("#passkey-register").await;
    browser.wait_url("/stepup").await;
    pass_email_code(browser, app, index, address).await;
    browser.wait_url("/account/passkeys/confirm").await;
    browser.click("#passkey-register-confirm").await;
    browser.wait_url("notice=passkey_registered").await;
}

/// On a page with `#passkey-login` (login or step-up): presses it; the
/// virtual authenticator answers with its resident credential.
pub async fn use_passkey(browser: &Browser) {
    browser.click("#passkey-login").await;
}

/// The hosted logout in a Japanese page: `/logout`, then `#logout-confirm`.
pub async fn log_out_at_kagi(browser: &Browser, app: &TestApp) {
    browser.goto(&app.url("/logout")).await;
    browser.click("#logout-confirm").await;
    browser
        .wait_element_text("main", &text(app, Lang::Ja, "logout.done"))
        .await;
}

/// The text of catalogue key `key` in `lang`.
pub fn text(app: &TestApp, lang: Lang, key: &str) -> String {
    app.state.templates.text(lang, key)
}
