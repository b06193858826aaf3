//! Transaction confirmation (`docs/transactions.md`) from the trading
//! demo in Chromium: the withdrawal Kagi shows is the one the passkey
//! signs, as `kagi audit --evidence` proves from the stored assertion, and
//! details altered on the way or of a type no client may send never reach a
//! page. The HTTP-level tests are in `tests/it/transactions.rs`; the
//! demo's other journeys, a second withdrawal among them, in `demo.rs`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::demo::{Demo, EMAIL, confirm_the_withdrawal, confirmations, log_in_on_demo};
use super::steps::register_passkey;
use crate::both_backends;
use crate::helpers::webdriver::Browser;
use crate::helpers::{Backend, TestApp};

both_backends!(
    a_withdrawal_shown_on_kagi_is_the_one_the_passkey_signs,
    altered_or_unknown_details_bring_the_browser_back_before_any_page,
);

/// The demo's withdrawal in RFC 8785 form, written out by hand: members
/// sorted, no white space.
const WITHDRAWAL_JCS: &str = r#"[{"amount":{"currency":"JPY","value":"1000000"},"destination":{"account":"****5678","bank":"Mizuho Bank"},"type":"withdrawal"}]"#;

async fn a_withdrawal_shown_on_kagi_is_the_one_the_passkey_signs(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.customer()
        .code("C0009001")
        .emails(&[EMAIL])
        .create()
        .await;
    let demo = Demo::start(&app).await;
    let browser = Browser::start(&format!("transaction-withdraw-{backend:?}"), "ja").await;
    browser.add_virtual_authenticator().await;
    log_in_on_demo(&browser, &app, &demo, "C0009001").await;
    register_passkey(&browser, &app, 0, EMAIL).await;

    // Kagi's page shows the amount and destination in Japanese.
    browser.goto(&demo.url("/")).await;
    browser.click("#withdraw").await;
    let txn = confirm_the_withdrawal(&browser, &app, &demo).await;
    browser.wait_element_text("#acr", "phr").await;

    // The evidence: the challenge the authenticator signed, inside the
    // stored clientDataJSON, ends with SHA-256 of the canonical details.
    let out = app.cli(&["--json", "audit", "--evidence", &txn], None);
    assert!(out.success, "{out:?}");
    let evidence = out.json();
    assert_eq!(evidence["verdict"]["valid"], true, "{evidence}");
    assert_eq!(evidence["client_id"], demo.client_id.as_str());
    assert_eq!(
        evidence["authorization_details"],
        json!([{
            "type": "withdrawal",
            "amount": { "currency": "JPY", "value": "1000000" },
            "destination": { "bank": "Mizuho Bank", "account": "****5678" },
        }])
    );
    let client_data = URL_SAFE_NO_PAD
        .decode(
            evidence["client_data_json"]
                .as_str()
                .expect("clientDataJSON"),
        )
        .expect("base64url clientDataJSON");
    let client_data: Value = serde_json::from_slice(&client_data).expect("JSON client data");
    assert_eq!(client_data["type"], "webauthn.get");
    let challenge = URL_SAFE_NO_PAD
        .decode(client_data["challenge"].as_str().expect("a challenge"))
        .expect("base64url challenge");
    assert_eq!(challenge.len(), 48, "16 random bytes and a SHA-256");
    assert_eq!(
        challenge[16..],
        Sha256::digest(WITHDRAWAL_JCS.as_bytes())[..],
        "the signed challenge ends with the hash of the details the demo sent"
    );
    assert_eq!(confirmations(&app, "C0009001"), 1);
    browser.ensure_clean_console().await;
}

async fn altered_or_unknown_details_bring_the_browser_back_before_any_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.customer()
        .code("C0009002")
        .emails(&[EMAIL])
        .create()
        .await;
    let demo = Demo::start(&app).await;
    let browser = Browser::start(&format!("transaction-refused-{backend:?}"), "ja").await;
    log_in_on_demo(&browser, &app, &demo, "C0009002").await;

    // Each link sends its details in the browser's URL; Kagi redirects
    // straight back with the error, so the next page is the demo's again.
    // The browser is on the demo's page before each click, so only the
    // result line shows that the round trip happened.
    for (link, name) in [
        ("#withdraw-tampered", "Tampered withdrawal"),
        ("#withdraw-unknown-type", "Transfer"),
    ] {
        browser.goto(&demo.url("/")).await;
        browser.click(link).await;
        browser
            .wait_element_text(
                "#result",
                &format!("{name} refused by Kagi: invalid_authorization_details"),
            )
            .await;
        browser.wait_url(&demo.url("/")).await;
        browser.ensure(browser.count("#txn").await == 0, link).await;
        browser
            .ensure(
                browser.count("#transaction-details").await == 0,
                "no confirmation page",
            )
            .await;
    }
    assert_eq!(confirmations(&app, "C0009002"), 0);
    browser.ensure_clean_console().await;
}
