//! The transactions the demo asks Kagi to confirm, as RFC 9396
//! `authorization_details` (`docs/transactions.md`), and the check that the
//! grant is exactly what was asked.
//!
//! Amounts are strings, as Kagi requires: no floating point touches money.

use serde_json::{Value, json};

/// The demo's withdrawal: 1,000,000 yen to the customer's registered bank
/// account, masked as the site shows it.
pub(super) fn withdrawal() -> Value {
    json!([{
        "type": "withdrawal",
        "amount": { "currency": "JPY", "value": "1000000" },
        "destination": { "bank": "Mizuho Bank", "account": "****5678" },
    }])
}

/// The demo's order: buy 100 shares of Toyota Motor (7203) at a limit of
/// 2,500 yen.
pub(super) fn order() -> Value {
    json!([{
        "type": "order",
        "instrument": { "code": "7203", "name": "Toyota Motor" },
        "side": "buy",
        "quantity": "100",
        "order_type": "limit",
        "price": { "currency": "JPY", "value": "2500" },
    }])
}

/// The withdrawal as a tampered page or URL might carry it: an extra member
/// redirecting the money, which Kagi's schema does not allow.
pub(super) fn tampered_withdrawal() -> Value {
    json!([{
        "type": "withdrawal",
        "amount": { "currency": "JPY", "value": "1000000" },
        "destination": { "bank": "Mizuho Bank", "account": "****5678", "iban": "XX00 0000" },
    }])
}

/// A transfer: a type Kagi does not know and no client is registered for.
pub(super) fn unknown_type() -> Value {
    json!([{
        "type": "transfer",
        "amount": { "currency": "JPY", "value": "1000000" },
        "destination": { "bank": "Mizuho Bank", "account": "****5678" },
    }])
}

/// Why a grant must not be executed, if it must not: Kagi's token response
/// has to carry back the very details the demo asked for (RFC 9396 §7),
/// compared as JSON values, and the `txn` of the confirmation.
pub(super) fn refusal(
    asked: &Value,
    granted: Option<&Value>,
    txn: Option<&str>,
) -> Option<&'static str> {
    if granted != Some(asked) {
        Some("the granted authorization_details differ from the request")
    } else if txn.is_none_or(str::is_empty) {
        Some("the ID token names no txn")
    } else {
        None
    }
}

/// The transaction in a sentence for the result line.
pub(super) fn summary(details: &Value) -> String {
    let d = &details[0];
    let text = |v: &Value| v.as_str().unwrap_or("?").to_owned();
    match d["type"].as_str() {
        Some("withdrawal") => format!(
            "{} {} to {} {}",
            text(&d["amount"]["currency"]),
            text(&d["amount"]["value"]),
            text(&d["destination"]["bank"]),
            text(&d["destination"]["account"]),
        ),
        Some("order") => format!(
            "{} {} shares of {} {} at limit {} {}",
            text(&d["side"]),
            text(&d["quantity"]),
            text(&d["instrument"]["code"]),
            text(&d["instrument"]["name"]),
            text(&d["price"]["currency"]),
            text(&d["price"]["value"]),
        ),
        _ => "an unknown transaction".to_owned(),
    }
}
