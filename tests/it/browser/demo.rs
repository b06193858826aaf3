//! The trading demo relying party (`examples/trading_demo/`, whose modules
//! are compiled into this test binary) against a test Kagi, in Chromium:
//! "Buy" and "Withdraw" are transactions pushed by PAR that the customer
//! confirms on Kagi's page with a passkey, every time, even right after a
//! passkey login; a customer without a passkey is offered one; and logging
//! out at either side ends both sessions. The binding of each assertion to
//! its transaction and the refusals are in `transactions.rs`.

use kagi::templates::Lang;

use super::steps::{
    log_in_with_password, log_out_at_kagi, pass_email_code, register_passkey, text, use_passkey,
};
use crate::both_backends;
use crate::helpers::webdriver::Browser;
use crate::helpers::{Backend, TestApp};

both_backends!(buying_on_the_demo_confirms_each_order_with_a_passkey_after_a_password_login);

// The demo's own modules, siblings here as in `examples/trading_demo/main.rs`.
#[path = "../../../examples/trading_demo/app.rs"]
mod app;
#[path = "../../../examples/trading_demo/details.rs"]
mod details;
#[path = "../../../examples/trading_demo/flow.rs"]
mod flow;
#[path = "../../../examples/trading_demo/logout.rs"]
mod logout;
#[path = "../../../examples/trading_demo/page.rs"]
mod page;
#[path = "../../../examples/trading_demo/par.rs"]
mod par;

pub(super) const EMAIL: &str = "hanako@example.jp";
const MFA: &str = "urn:kagi:acr:mfa";

/// The demo served on `127.0.0.1:0` (another site than Kagi's `localhost`),
/// registered with Kagi as a confidential client for both transaction types.
pub(super) struct Demo {
    base: String,
    /// The client id Kagi registered.
    pub(super) client_id: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Demo {
    pub(super) async fn start(app: &TestApp) -> Self {
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
                "--authorization-details-type",
                "withdrawal",
                "--authorization-details-type",
                "order",
            ],
        );
        let config = app::DemoConfig {
            issuer: app.base.clone(),
            base_url: base.clone(),
            client_id: rp.client_id.clone(),
            client_secret: rp.secret.expect("a confidential client"),
        };
        let router = app::router(config).await.unwrap();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            base,
            client_id: rp.client_id,
            server,
        }
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// Opens the demo and logs in through Kagi with password and email code.
pub(super) async fn log_in_on_demo(browser: &Browser, app: &TestApp, demo: &Demo, code: &str) {
    browser.goto(&demo.url("/")).await;
    browser.click("#demo-login").await;
    browser.wait_url(&app.url("/login")).await;
    log_in_with_password(browser, app, code, EMAIL).await;
    browser.wait_url(&demo.url("/")).await;
    browser.wait_element_text("#acr", MFA).await;
}

/// The demo's `#txn` once a transaction went through.
pub(super) async fn txn(browser: &Browser) -> String {
    let shown = browser.text("#txn").await;
    if shown.trim().is_empty() {
        browser.fail("no txn shown").await
    }
    shown.trim().to_owned()
}

/// How many transactions the customer has confirmed at Kagi.
pub(super) fn confirmations(app: &TestApp, customer_code: &str) -> usize {
    let audit = app
        .cli(&["--json", "audit", "--customer-code", customer_code], None)
        .json();
    audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "transaction.confirmed")
        .count()
}

/// On Kagi's confirmation page showing the demo's order: presses the passkey
/// button, and the demo executes the order with a new `txn`.
async fn confirm_the_order(browser: &Browser, app: &TestApp, demo: &Demo) -> String {
    browser.wait_url(&app.url("/authorize")).await;
    browser
        .wait_element_text("#transaction-instrument", "Toyota Motor (7203)")
        .await;
    browser
        .wait_element_text("#transaction-quantity", "100")
        .await;
    use_passkey(browser).await;
    browser.wait_url(&demo.url("/")).await;
    browser
        .wait_element_text(
            "#result",
            "Buy accepted: buy 100 shares of 7203 Toyota Motor at limit JPY 2500",
        )
        .await;
    txn(browser).await
}

/// On Kagi's confirmation page showing the demo's withdrawal (amount,
/// bank and account): presses the passkey button, and the demo executes it
/// with a new `txn`.
pub(super) async fn confirm_the_withdrawal(
    browser: &Browser,
    app: &TestApp,
    demo: &Demo,
) -> String {
    browser.wait_url(&app.url("/authorize")).await;
    for (element, shown) in [
        ("#transaction-amount", "1,000,000円"),
        ("#transaction-bank", "Mizuho Bank"),
        ("#transaction-account", "****5678"),
    ] {
        browser.wait_element_text(element, shown).await;
    }
    use_passkey(browser).await;
    browser.wait_url(&demo.url("/")).await;
    browser
        .wait_element_text(
            "#result",
            "Withdraw accepted: JPY 1000000 to Mizuho Bank ****5678",
        )
        .await;
    txn(browser).await
}

async fn buying_on_the_demo_confirms_each_order_with_a_passkey_after_a_password_login(
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

    // "Buy": Kagi shows the order in the same session and the passkey
    // confirms it; the ID token reports the passkey.
    browser.goto(&demo.url("/")).await;
    browser.click("#buy").await;
    let first = confirm_the_order(&browser, &app, &demo).await;
    browser.wait_element_text("#acr", "phr").await;
    browser.wait_element_text("#amr", "hwk user mfa").await;
    assert_eq!(browser.text("#sub").await, sub, "the same customer");

    // The next order, a moment later, is shown and signed again.
    browser.click("#buy").await;
    let second = confirm_the_order(&browser, &app, &demo).await;
    browser
        .ensure(first != second, &format!("txn {first} then {second}"))
        .await;
    assert_eq!(confirmations(&app, "C0008001"), 2);
    browser.ensure_clean_console().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_withdrawal_on_the_demo_needs_its_own_passkey_assertion_even_after_a_passkey_login() {
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

    // Two withdrawals in the same session: each shows the amount on Kagi's
    // page again and needs its own assertion, which gets its own txn.
    let mut seen = Vec::new();
    for round in 1..=2 {
        browser.click("#withdraw").await;
        let txn = confirm_the_withdrawal(&browser, &app, &demo).await;
        browser
            .ensure(!seen.contains(&txn), &format!("txn {txn} again"))
            .await;
        seen.push(txn);
        assert_eq!(confirmations(&app, "C0008002"), round);
    }
    browser.ensure_clean_console().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buying_without_a_passkey_offers_registration_then_confirms_the_order() {
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

    // "Not now": the demo hears that the confirmation cannot be made.
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
    assert_eq!(browser.count("#txn").await, 0);

    // Accepting the offer: step-up by email code, registration, then the
    // order on Kagi's page, confirmed with the new passkey.
    browser.click("#buy").await;
    browser.click("#passkey-register").await;
    pass_email_code(&browser, &app, 0, EMAIL).await;
    browser.wait_url("/account/passkeys/confirm").await;
    browser.click("#passkey-register-confirm").await;
    confirm_the_order(&browser, &app, &demo).await;
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

/// Kagi never grants other details than those pushed, so the demo's own
/// check is shown here on values: equal JSON (member order aside) and a
/// txn, or no execution.
#[test]
fn the_demo_executes_only_the_details_it_asked_for() {
    let asked = details::withdrawal();
    assert_eq!(details::refusal(&asked, Some(&asked), Some("t")), None);
    let reordered: serde_json::Value = serde_json::from_str(
        r#"[{"destination":{"account":"****5678","bank":"Mizuho Bank"},"type":"withdrawal","amount":{"value":"1000000","currency":"JPY"}}]"#,
    )
    .unwrap();
    assert_eq!(details::refusal(&asked, Some(&reordered), Some("t")), None);
    let mut more = asked.clone();
    more[0]["amount"]["value"] = "10000000".into();
    assert!(details::refusal(&asked, Some(&more), Some("t")).is_some());
    assert!(details::refusal(&asked, Some(&details::order()), Some("t")).is_some());
    assert!(details::refusal(&asked, None, Some("t")).is_some());
    assert!(details::refusal(&asked, Some(&asked), None).is_some());
}
