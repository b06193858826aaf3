//! Japanese and English hosted pages: the browser's `Accept-Language`, the
//! switch links in the header (remembered for the session, mails included),
//! and a relying party's `ui_locales`.

use kagi::templates::Lang;

use super::steps::{log_in_with_password, mails_to, text};
use crate::helpers::webdriver::Browser;
use crate::helpers::{Backend, TestApp};

const EMAIL: &str = "hanako@example.jp";

/// Waits until the page is in `lang` and its heading reads catalogue key `key`.
async fn shows(browser: &Browser, app: &TestApp, lang: Lang, key: &str) {
    browser
        .wait_text(&format!("<html lang=\"{}\"", lang.as_str()))
        .await;
    browser.wait_element_text("h1", &text(app, lang, key)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_follow_accept_language_and_the_switch_links_for_the_whole_session() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.customer()
        .code("C0009101")
        .emails(&[EMAIL])
        .create()
        .await;
    let browser = Browser::start("languages-en", "en-US").await;

    // An English browser gets English pages.
    browser.goto(&app.url("/login")).await;
    shows(&browser, &app, Lang::En, "login.title").await;
    let button = text(&app, Lang::En, "login.passkey_button");
    browser.wait_element_text("#passkey-login", &button).await;

    // 日本語: the page, and the next ones of this session, are Japanese.
    browser.click(".lang-switch a[hreflang=ja]").await;
    shows(&browser, &app, Lang::Ja, "login.title").await;
    let button = text(&app, Lang::Ja, "login.passkey_button");
    browser.wait_element_text("#passkey-login", &button).await;
    browser.goto(&app.url("/login")).await;
    shows(&browser, &app, Lang::Ja, "login.title").await;

    // The email code comes in Japanese too.
    let before = mails_to(&app, EMAIL);
    log_in_with_password(&browser, &app, "C0009101", EMAIL).await;
    browser.wait_url("/account").await;
    shows(&browser, &app, Lang::Ja, "account.title").await;
    let mail = app.smtp.wait_for(EMAIL, before + 1).await.remove(before);
    assert_eq!(
        mail.subject,
        text(&app, Lang::Ja, "mail.email_code.subject")
    );

    // English again from the account page, kept on the next page.
    browser.click(".lang-switch a[hreflang=en]").await;
    shows(&browser, &app, Lang::En, "account.title").await;
    browser.goto(&app.url("/logout")).await;
    shows(&browser, &app, Lang::En, "logout.title").await;
    browser.ensure_clean_console().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_japanese_browser_gets_english_pages_when_the_relying_party_asks() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let rp = app.register_client("trading", "https://trade.example.com/callback", &[]);
    let browser = Browser::start("languages-ja", "ja").await;
    browser.goto(&app.url("/login")).await;
    shows(&browser, &app, Lang::Ja, "login.title").await;

    // A fresh browser session, sent by a client with ui_locales=en.
    browser.delete_cookies().await;
    let query = serde_urlencoded::to_string([
        ("client_id", rp.client_id.as_str()),
        ("redirect_uri", rp.redirect_uri.as_str()),
        ("response_type", "code"),
        ("scope", "openid"),
        ("ui_locales", "en"),
    ])
    .unwrap();
    browser.goto(&app.url(&format!("/authorize?{query}"))).await;
    browser.wait_url("/login").await;
    shows(&browser, &app, Lang::En, "login.title").await;
    browser.ensure_clean_console().await;
}
