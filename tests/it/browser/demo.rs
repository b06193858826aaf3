//! The trading demo relying party (`examples/trading_demo/`, whose modules
//! are compiled into this test binary) against a test Kagi, in Chromium:
//! "Buy" steps up from `urn:kagi:acr:mfa` to `phr`, "Withdraw" asks for a
//! fresh passkey check every time, a customer without a passkey is offered
//! one, and logging out at either side ends both sessions.
//!
//! The demo reads Kagi's test clock, so moving the clock moves both sides.

use std::sync::Arc;

use kagi::templates::Lang;

use super::steps::{
    log_in_with_password, log_out_at_kagi, pass_email_code, register_passkey, text, use_passkey,
};
use crate::both_backends;
use crate::helpers::webdriver::Browser;
use crate::helpers::{Backend, TestApp};

both_backends!(buying_on_the_demo_steps_up_from_password_to_passkey_in_the_same_session);

// The demo's own modules, siblings here as in `examples/trading_demo/main.rs`.
#[path = "../../../examples/trading_demo/app.rs"]
mod app;
#[path = "../../../examples/trading_demo/flow.rs"]
mod flow;
#[path = "../../../examples/trading_demo/logout.rs"]
mod logout;
#[path = "../../../examples/trading_demo/page.rs"]
mod page;

const EMAIL: &str = "hanako@example.jp";
const MFA: &str = "urn:kagi:acr:mfa";

/// The demo served on `127.0.0.1:0` (another site than Kagi's `localhost`),
/// registered with Kagi as a confidential client.
struct Demo {
    base: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Demo {
    async fn start(app: &TestApp) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let post_logout = app::post_logout_redirect_uri(&base);
        let backchannel = app::backchannel_logout_uri(&base);
        let rp = app.register_client(
            "trading-demo",
            &app::redirect_uri(&base),
            &[
                "--post-logout-redirect-uri",
                &post_logout,
                "--backchannel-logout-uri",
                &backchannel,
            ],
        );
        let clock = app.clock.clone();
        let config = app::DemoConfig {
            issuer: app.base.clone(),
            base_url: base.clone(),
            client_id: rp.client_id,
            client_secret: rp.secret.expect("a confidential client"),
            now: Arc::new(move || clock.now()),
        };
        let router = app::router(config).await.unwrap();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { base, server }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// Opens the demo and logs in through Kagi with password and email code.
async fn log_in_on_demo(browser: &Browser, app: &TestApp, demo: &Demo, code: &str) {
    browser.goto(&demo.url("/")).await;
    browser.click("#demo-login").await;
    browser.wait_url(&app.url("/login")).await;
    log_in_with_password(browser, app, code, EMAIL).await;
    browser.wait_url(&demo.url("/")).await;
    browser.wait_element_text("#acr", MFA).await;
}

/// The demo's `#auth-time`.
async fn auth_time(browser: &Browser) -> i64 {
    let shown = browser.text("#auth-time").await;
    match shown.trim().parse() {
        Ok(t) => t,
        Err(_) => browser.fail(&format!("auth_time `{shown}`")).await,
    }
}

/// How many authorization codes Kagi has issued to the customer.
fn codes_issued(app: &TestApp, customer_code: &str) -> usize {
    let audit = app
        .cli(&["--json", "audit", "--customer-code", customer_code], None)
        .json();
    audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "code.issued")
        .count()
}

async fn buying_on_the_demo_steps_up_from_password_to_passkey_in_the_same_session(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    app.customer()
        .code("C0008001")
        .emails(&[EMAIL])
        .create()
        .await;
    let demo = Demo::start(&app).await;
    let browser = Browser::start(&format!("demo-buy-{backend:?}"), "ja").await;
    browser.add_virtual_authenticator().await;

    // Logged in with password + email code: acr urn:kagi:acr:mfa.
    log_in_on_demo(&browser, &app, &demo, "C0008001").await;
    browser.wait_element_text("#amr", "pwd otp mfa").await;
    let sub = browser.text("#sub").await;
    // The customer follows the guide and registers a passkey at Kagi.
    register_passkey(&browser, &app, 0, EMAIL).await;

    // "Buy": Kagi asks for the passkey in the same session, then the demo accepts.
    browser.goto(&demo.url("/")).await;
    browser.click("#buy").await;
    browser.wait_url(&app.url("/stepup/passkey")).await;
    use_passkey(&browser).await;
    browser.wait_url(&demo.url("/")).await;
    browser
        .wait_element_text("#result", "Buy accepted after a passkey check")
        .await;
    browser.wait_element_text("#acr", "phr").await;
    browser.wait_element_text("#amr", "hwk user mfa").await;
    assert_eq!(browser.text("#sub").await, sub, "the same customer");
    let first = auth_time(&browser).await;

    // Another trade within 10 minutes needs no new check (no new code from Kagi).
    let issued = codes_issued(&app, "C0008001");
    browser.click("#buy").await;
    browser
        .wait_element_text(
            "#result",
            &format!("Buy accepted: the passkey check at auth_time {first}"),
        )
        .await;
    assert_eq!(codes_issued(&app, "C0008001"), issued);

    // Eleven minutes later the trade asks Kagi for a new passkey check.
    app.clock.advance(11 * 60);
    browser.click("#buy").await;
    browser.wait_url(&app.url("/stepup/passkey")).await;
    use_passkey(&browser).await;
    browser.wait_url(&demo.url("/")).await;
    browser
        .wait_element_text("#result", "Buy accepted after a passkey check")
        .await;
    let second = auth_time(&browser).await;
    browser
        .ensure(
            second >= first + 11 * 60,
            &format!("auth_time {first} → {second}"),
        )
        .await;
    browser.ensure_clean_console().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withdrawing_on_the_demo_asks_for_a_fresh_passkey_check_every_time() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.customer()
        .code("C0008002")
        .emails(&[EMAIL])
        .create()
        .await;
    let demo = Demo::start(&app).await;
    let browser = Browser::start("demo-withdraw", "ja").await;
    browser.add_virtual_authenticator().await;
    browser.goto(&app.url("/login")).await;
    log_in_with_password(&browser, &app, "C0008002", EMAIL).await;
    browser.wait_url("/account").await;
    register_passkey(&browser, &app, 0, EMAIL).await;
    log_out_at_kagi(&browser, &app).await;

    // Log in on the demo with the passkey: acr phr from the start.
    browser.hide_passkey_autofill().await;
    browser.goto(&demo.url("/")).await;
    browser.click("#demo-login").await;
    browser.wait_url(&app.url("/login")).await;
    use_passkey(&browser).await;
    browser.wait_url(&demo.url("/")).await;
    browser.wait_element_text("#acr", "phr").await;
    let mut last = auth_time(&browser).await;

    // Each withdrawal: max_age=0 sends the customer to the passkey again,
    // and auth_time moves on with the clock.
    for _ in 0..2 {
        app.clock.advance(30);
        browser.click("#withdraw").await;
        browser.wait_url(&app.url("/stepup/passkey")).await;
        use_passkey(&browser).await;
        browser.wait_url(&demo.url("/")).await;
        browser
            .wait_element_text("#result", "Withdraw accepted after a passkey check")
            .await;
        let now = auth_time(&browser).await;
        browser
            .ensure(now >= last + 30, &format!("auth_time {last} → {now}"))
            .await;
        last = now;
    }
    browser.ensure_clean_console().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buying_without_a_passkey_offers_registration_then_continues_with_phr() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.customer()
        .code("C0008003")
        .emails(&[EMAIL])
        .create()
        .await;
    let demo = Demo::start(&app).await;
    let browser = Browser::start("demo-offer", "ja").await;
    browser.add_virtual_authenticator().await;
    log_in_on_demo(&browser, &app, &demo, "C0008003").await;

    // "Not now": the demo hears that phr cannot be met.
    browser.click("#buy").await;
    browser.wait_url(&app.url("/authorize")).await;
    browser
        .wait_text(&text(&app, Lang::Ja, "passkey_offer.title"))
        .await;
    browser.click("#passkey-offer-decline").await;
    browser.wait_url(&demo.url("/")).await;
    browser
        .wait_element_text(
            "#result",
            "Buy refused by Kagi: unmet_authentication_requirements",
        )
        .await;

    // Accepting the offer: step-up by email code, registration, then the
    // new passkey itself, and the trade goes through.
    browser.click("#buy").await;
    browser.click("#passkey-register").await;
    pass_email_code(&browser, &app, 0, EMAIL).await;
    browser.wait_url("/account/passkeys/confirm").await;
    browser.click("#passkey-register-confirm").await;
    browser.wait_url(&app.url("/stepup/passkey")).await;
    use_passkey(&browser).await;
    browser.wait_url(&demo.url("/")).await;
    browser
        .wait_element_text("#result", "Buy accepted after a passkey check")
        .await;
    browser.wait_element_text("#acr", "phr").await;
    browser.ensure_clean_console().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_out_from_the_demo_ends_the_kagi_session() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.customer()
        .code("C0008004")
        .emails(&[EMAIL])
        .create()
        .await;
    let demo = Demo::start(&app).await;
    let browser = Browser::start("demo-rp-logout", "ja").await;
    log_in_on_demo(&browser, &app, &demo, "C0008004").await;

    // RP-initiated logout with id_token_hint: no question, straight back.
    browser.click("#demo-logout").await;
    browser.wait_url(&demo.url("/")).await;
    browser.wait_element_text("#status", "Not logged in").await;
    browser.wait_element_text("#result", "Logged out").await;

    // Kagi's session is gone: prompt=none answers login_required, and the
    // account page asks for a login.
    browser.click("#demo-check").await;
    browser.wait_url(&demo.url("/")).await;
    browser
        .wait_element_text("#result", "Login refused by Kagi: login_required")
        .await;
    browser.goto(&app.url("/account")).await;
    browser.wait_url(&app.url("/login")).await;
    browser.ensure_clean_console().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_out_at_kagi_logs_the_demo_out_through_the_back_channel() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.customer()
        .code("C0008005")
        .emails(&[EMAIL])
        .create()
        .await;
    let demo = Demo::start(&app).await;
    let browser = Browser::start("demo-backchannel-logout", "ja").await;
    log_in_on_demo(&browser, &app, &demo, "C0008005").await;

    // The hosted logout (#logout-confirm) ends the Kagi session, and Kagi
    // posts a logout token to the demo, which ends its own session too.
    log_out_at_kagi(&browser, &app).await;
    browser
        .reload_until(&demo.url("/"), "Logged out by Kagi (back-channel logout)")
        .await;
    browser.wait_element_text("#status", "Not logged in").await;
    browser.click("#demo-check").await;
    browser
        .wait_element_text("#result", "Login refused by Kagi: login_required")
        .await;
    browser.ensure_clean_console().await;
}
