//! Password + email code and password + TOTP in the browser, and the page language.

use crate::both_backends;
use crate::helpers::browser::six_digits;
use crate::helpers::customer::PASSWORD;
use crate::helpers::webdriver::Browser;
use crate::helpers::{Backend, TestApp};

both_backends!(
    a_customer_logs_in_with_password_and_email_code_in_chromium,
    a_customer_logs_in_with_password_and_authenticator_app_in_english
);

const EMAIL: &str = "hanako@example.jp";

async fn a_customer_logs_in_with_password_and_email_code_in_chromium(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.customer()
        .code("C0005678")
        .emails(&[EMAIL, "hanako.work@example.com"])
        .create()
        .await;
    let browser = Browser::start(&format!("email-login-{backend:?}"), "ja").await;
    browser.goto(&app.url("/login")).await;
    browser.wait_text("lang=\"ja\"").await;
    browser
        .type_into("input[name=customer_code]", "C0005678")
        .await;
    browser.type_into("input[name=password]", PASSWORD).await;
    browser.click("#login-submit").await;
    browser.wait_url("/login/email").await;
    browser.wait_text("hana*****").await;
    browser.click("#otp-send").await;
    browser.wait_url("/login/code").await;
    let mail = app.smtp.wait_for(EMAIL, 1).await.remove(0);
    browser
        .type_into("input[name=code]", &six_digits(&mail.body))
        .await;
    browser.click("#otp-submit").await;
    browser.wait_url("/account").await;
    browser.wait_text("C0005678").await;
    let cookie = browser.script("return document.cookie").await;
    assert_eq!(cookie, "", "the session cookie is HttpOnly");
}

async fn a_customer_logs_in_with_password_and_authenticator_app_in_english(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let customer = app
        .customer()
        .code("C0005679")
        .emails(&[EMAIL])
        .with_totp()
        .create()
        .await;
    let secret = customer.totp.unwrap();
    let browser = Browser::start(&format!("totp-login-{backend:?}"), "en-US").await;
    browser.goto(&app.url("/login")).await;
    browser.wait_text("lang=\"en\"").await;
    browser
        .type_into("input[name=customer_code]", "C0005679")
        .await;
    browser.type_into("input[name=password]", PASSWORD).await;
    browser.click("#login-submit").await;
    browser.wait_url("/login/totp").await;
    browser
        .type_into(
            "input[name=code]",
            &kagi::authn::totp::code_at(&secret, app.clock.now()),
        )
        .await;
    browser.click("#otp-submit").await;
    browser.wait_url("/account").await;
    browser.goto(&app.url("/account?lang=ja")).await;
    browser.wait_text("lang=\"ja\"").await;
}
