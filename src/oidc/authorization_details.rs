//! Rich authorization requests (RFC 9396) for the two transactions a broker
//! confirms with a passkey: a `withdrawal` and an `order`
//! (`docs/transactions.md`).
//!
//! The parameter is validated strictly, member by member: a transaction the
//! customer is asked to sign must mean exactly one thing, so an unknown
//! member, a number where a decimal string belongs, a second object or a type
//! the client is not registered for is `invalid_authorization_details`
//! (RFC 9396 §5) rather than something ignored. What passes is kept in its
//! RFC 8785 canonical form, whose SHA-256 the WebAuthn challenge carries.

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::error::{ErrorCode, ProtocolError};
use crate::crypto::jcs;
use crate::templates::Lang;

/// The types Kagi understands, in the order discovery lists them.
pub const SUPPORTED_TYPES: [&str; 2] = ["withdrawal", "order"];

/// Longest text member (a bank or instrument name, an account as shown).
const MAX_TEXT_CHARS: usize = 64;
/// Most integer digits in an amount, a price or a quantity.
const MAX_INTEGER_DIGITS: usize = 15;

/// ISO 4217 currencies Kagi shows, with their minor-unit digits.
const CURRENCIES: [(&str, usize); 12] = [
    ("JPY", 0),
    ("USD", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("AUD", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("CNY", 2),
    ("HKD", 2),
    ("SGD", 2),
    ("NZD", 2),
    ("KRW", 0),
];

/// Validated details: the one transaction, in canonical form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorizationDetails {
    value: Value,
    canonical: String,
}

impl AuthorizationDetails {
    /// Parses and validates the `authorization_details` parameter for a
    /// client registered for `allowed` types.
    pub fn parse(raw: &str, allowed: &[String]) -> Result<Self, ProtocolError> {
        let value: Value = serde_json::from_str(raw)
            .map_err(|_| invalid("authorization_details must be a JSON array"))?;
        let Value::Array(items) = &value else {
            return Err(invalid("authorization_details must be a JSON array"));
        };
        let [Value::Object(detail)] = items.as_slice() else {
            return Err(invalid(
                "authorization_details must hold exactly one object",
            ));
        };
        let kind = detail
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("the authorization details object needs a string type"))?;
        if !SUPPORTED_TYPES.contains(&kind) {
            return Err(invalid("unknown authorization details type"));
        }
        if !allowed.iter().any(|a| a == kind) {
            return Err(invalid(
                "this client is not registered for that authorization details type",
            ));
        }
        match kind {
            "withdrawal" => check_withdrawal(detail)?,
            _ => check_order(detail)?,
        }
        Self::from_value(value)
    }

    /// Details read back from storage (validated when they arrived).
    pub fn from_value(value: Value) -> Result<Self, ProtocolError> {
        let canonical = jcs::canonical(&value)
            .map_err(|_| invalid("authorization_details cannot be canonicalised"))?;
        Ok(Self { value, canonical })
    }

    /// The details as JSON, for tokens and introspection (RFC 9396 §7, §9.2).
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The RFC 8785 canonical form.
    pub fn canonical(&self) -> &str {
        &self.canonical
    }

    /// SHA-256 of the canonical form: what the WebAuthn challenge ends with.
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.canonical.as_bytes()).into()
    }

    /// The transaction's `type`.
    pub fn kind(&self) -> &str {
        self.object()
            .and_then(|o| o.get("type"))
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// The one object of the array (validated on arrival).
    fn object(&self) -> Option<&Map<String, Value>> {
        self.value
            .as_array()
            .and_then(|a| a.first())
            .and_then(Value::as_object)
    }

    /// What the confirmation page shows, in `lang`.
    pub fn shown(&self, lang: Lang) -> Shown {
        let none = Map::new();
        let o = self.object().unwrap_or(&none);
        let text = |path: &[&str]| -> String {
            let mut at = Some(o);
            let (last, parents) = path.split_last().unwrap_or((&"", &[]));
            for p in parents {
                at = at.and_then(|m| m.get(*p)).and_then(Value::as_object);
            }
            at.and_then(|m| m.get(*last))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let money = |key: &str| {
            o.get(key)
                .and_then(Value::as_object)
                .map(|m| format_money(m, lang))
        };
        match self.kind() {
            "withdrawal" => Shown::Withdrawal {
                amount: money("amount").unwrap_or_default(),
                bank: text(&["destination", "bank"]),
                account: text(&["destination", "account"]),
            },
            _ => Shown::Order {
                instrument_code: text(&["instrument", "code"]),
                instrument_name: text(&["instrument", "name"]),
                side: text(&["side"]),
                quantity: group_thousands(&text(&["quantity"])),
                order_type: text(&["order_type"]),
                price: money("price"),
            },
        }
    }
}

/// A transaction as the confirmation page shows it (amounts formatted).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Shown {
    /// Money leaving the customer's account.
    Withdrawal {
        /// Formatted amount with its currency.
        amount: String,
        /// Destination bank.
        bank: String,
        /// Destination account, masked as the client shows it.
        account: String,
    },
    /// A securities order.
    Order {
        /// Security code (e.g. `7203`).
        instrument_code: String,
        /// Security name.
        instrument_name: String,
        /// `buy` or `sell`.
        side: String,
        /// Number of shares, grouped.
        quantity: String,
        /// `limit` or `market`.
        order_type: String,
        /// Formatted limit price; `None` for a market order.
        price: Option<String>,
    },
}

fn invalid(description: &'static str) -> ProtocolError {
    ProtocolError::new(ErrorCode::InvalidAuthorizationDetails, description)
}

/// Refuses members outside `known` and requires the `required` ones.
fn members(
    object: &Map<String, Value>,
    known: &[&str],
    required: &[&str],
) -> Result<(), ProtocolError> {
    if object.keys().any(|k| !known.contains(&k.as_str())) {
        return Err(invalid("authorization details carry an unknown member"));
    }
    if required.iter().any(|r| !object.contains_key(*r)) {
        return Err(invalid("authorization details lack a required member"));
    }
    Ok(())
}

fn sub_object<'a>(
    object: &'a Map<String, Value>,
    key: &str,
) -> Result<&'a Map<String, Value>, ProtocolError> {
    object
        .get(key)
        .and_then(Value::as_object)
        .ok_or_else(|| invalid("an authorization details member must be an object"))
}

/// A short printable string: what a customer can read and a client can show.
fn text(object: &Map<String, Value>, key: &str) -> Result<(), ProtocolError> {
    let Some(s) = object.get(key).and_then(Value::as_str) else {
        return Err(invalid("an authorization details member must be a string"));
    };
    let trimmed = s.trim();
    if trimmed.is_empty()
        || trimmed != s
        || s.chars().count() > MAX_TEXT_CHARS
        || s.chars().any(char::is_control)
    {
        return Err(invalid(
            "a text member must be 1 to 64 printable characters without surrounding spaces",
        ));
    }
    Ok(())
}

fn one_of(object: &Map<String, Value>, key: &str, allowed: &[&str]) -> Result<(), ProtocolError> {
    match object.get(key).and_then(Value::as_str) {
        Some(v) if allowed.contains(&v) => Ok(()),
        _ => Err(invalid(
            "an authorization details member has a value out of range",
        )),
    }
}

/// A positive decimal string: digits, an optional fraction of at most
/// `max_fraction` digits, no sign, no exponent, no leading zero.
fn positive_decimal(raw: &str, max_fraction: usize) -> bool {
    let (whole, fraction) = match raw.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (raw, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let whole_ok = digits(whole)
        && whole.len() <= MAX_INTEGER_DIGITS
        && (whole == "0" || !whole.starts_with('0'));
    let fraction_ok = fraction.is_none_or(|f| digits(f) && f.len() <= max_fraction);
    let non_zero = raw.bytes().any(|b| (b'1'..=b'9').contains(&b));
    whole_ok && fraction_ok && non_zero
}

fn money(object: &Map<String, Value>, key: &str) -> Result<(), ProtocolError> {
    let m = sub_object(object, key)?;
    members(m, &["currency", "value"], &["currency", "value"])?;
    let currency = m
        .get("currency")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some((_, minor)) = CURRENCIES.iter().find(|(c, _)| *c == currency) else {
        return Err(invalid(
            "the currency is not an ISO 4217 code Kagi supports",
        ));
    };
    match m.get("value").and_then(Value::as_str) {
        Some(v) if positive_decimal(v, *minor) => Ok(()),
        _ => Err(invalid(
            "an amount is a positive decimal string within the currency's minor units",
        )),
    }
}

fn check_withdrawal(detail: &Map<String, Value>) -> Result<(), ProtocolError> {
    members(
        detail,
        &["type", "amount", "destination"],
        &["type", "amount", "destination"],
    )?;
    money(detail, "amount")?;
    let destination = sub_object(detail, "destination")?;
    members(destination, &["bank", "account"], &["bank", "account"])?;
    text(destination, "bank")?;
    text(destination, "account")
}

fn check_order(detail: &Map<String, Value>) -> Result<(), ProtocolError> {
    members(
        detail,
        &[
            "type",
            "instrument",
            "side",
            "quantity",
            "order_type",
            "price",
        ],
        &["type", "instrument", "side", "quantity", "order_type"],
    )?;
    let instrument = sub_object(detail, "instrument")?;
    members(instrument, &["code", "name"], &["code", "name"])?;
    text(instrument, "code")?;
    text(instrument, "name")?;
    one_of(detail, "side", &["buy", "sell"])?;
    match detail.get("quantity").and_then(Value::as_str) {
        Some(q) if positive_decimal(q, 0) => {}
        _ => return Err(invalid("quantity is a positive whole number as a string")),
    }
    one_of(detail, "order_type", &["limit", "market"])?;
    match (
        detail.get("order_type").and_then(Value::as_str),
        detail.contains_key("price"),
    ) {
        (Some("limit"), true) => money(detail, "price"),
        (Some("limit"), false) => Err(invalid("a limit order needs a price")),
        (_, true) => Err(invalid("a market order has no price")),
        (_, false) => Ok(()),
    }
}

/// `1234567.5` → `1,234,567.5`.
fn group_thousands(raw: &str) -> String {
    let (whole, fraction) = match raw.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (raw, None),
    };
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match fraction {
        Some(f) => format!("{grouped}.{f}"),
        None => grouped,
    }
}

/// An amount as a customer reads it: yen as `1,234,567円` in Japanese and
/// `¥1,234,567` in English, other currencies as `USD 1,234.50`.
fn format_money(m: &Map<String, Value>, lang: Lang) -> String {
    let currency = m
        .get("currency")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let minor = CURRENCIES
        .iter()
        .find(|(c, _)| *c == currency)
        .map_or(0, |(_, d)| *d);
    let raw = m.get("value").and_then(Value::as_str).unwrap_or_default();
    // Pad the fraction to the currency's digits so 1234.5 USD reads 1,234.50.
    let padded = match (raw.split_once('.'), minor) {
        (_, 0) => raw.to_owned(),
        (Some((w, f)), d) => format!("{w}.{f:0<d$}"),
        (None, d) => format!("{raw}.{}", "0".repeat(d)),
    };
    let amount = group_thousands(&padded);
    match (currency, lang) {
        ("JPY", Lang::Ja) => format!("{amount}円"),
        ("JPY", Lang::En) => format!("¥{amount}"),
        _ => format!("{currency} {amount}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both() -> Vec<String> {
        vec!["withdrawal".into(), "order".into()]
    }

    const WITHDRAWAL: &str = r#"[{"type":"withdrawal","amount":{"currency":"JPY","value":"1234567"},"destination":{"bank":"みずほ銀行","account":"****5678"}}]"#;
    const LIMIT_ORDER: &str = r#"[{"type":"order","instrument":{"code":"7203","name":"トヨタ自動車"},"side":"buy","quantity":"100","order_type":"limit","price":{"currency":"JPY","value":"2500"}}]"#;

    #[test]
    fn a_withdrawal_and_an_order_pass_and_are_canonical() {
        let w = AuthorizationDetails::parse(WITHDRAWAL, &both()).unwrap();
        assert_eq!(w.kind(), "withdrawal");
        assert_eq!(
            w.canonical(),
            r#"[{"amount":{"currency":"JPY","value":"1234567"},"destination":{"account":"****5678","bank":"みずほ銀行"},"type":"withdrawal"}]"#
        );
        assert_eq!(
            w.digest(),
            <[u8; 32]>::from(Sha256::digest(w.canonical().as_bytes()))
        );
        let o = AuthorizationDetails::parse(LIMIT_ORDER, &both()).unwrap();
        assert_eq!(o.kind(), "order");
        let market = r#"[{"type":"order","instrument":{"code":"7203","name":"Toyota"},"side":"sell","quantity":"1","order_type":"market"}]"#;
        assert!(AuthorizationDetails::parse(market, &both()).is_ok());
    }

    #[test]
    fn everything_off_the_schema_is_invalid_authorization_details() {
        let bad = [
            "not json",
            "{}",
            "[]",
            r#"[{"type":"withdrawal"}]"#,
            &format!(
                "[{},{}]",
                &WITHDRAWAL[1..WITHDRAWAL.len() - 1],
                &WITHDRAWAL[1..WITHDRAWAL.len() - 1]
            ),
            &WITHDRAWAL.replace(r#""type":"withdrawal""#, r#""type":"transfer""#),
            &WITHDRAWAL.replace(r#""type":"withdrawal""#, r#""type":7"#),
            &WITHDRAWAL.replace(r#""1234567""#, "1234567"),
            &WITHDRAWAL.replace(r#""1234567""#, r#""-5""#),
            &WITHDRAWAL.replace(r#""1234567""#, r#""0""#),
            &WITHDRAWAL.replace(r#""1234567""#, r#""1234.5""#),
            &WITHDRAWAL.replace(r#""1234567""#, r#""1e6""#),
            &WITHDRAWAL.replace(r#""1234567""#, r#""01""#),
            &WITHDRAWAL.replace(r#""1234567""#, r#"" 12""#),
            &WITHDRAWAL.replace("JPY", "XYZ"),
            &WITHDRAWAL.replace("JPY", "jpy"),
            &WITHDRAWAL.replace(
                r#""account":"****5678""#,
                r#""account":"****5678","iban":"x""#,
            ),
            &WITHDRAWAL.replace(r#""account":"****5678""#, r#""account":"""#),
            &WITHDRAWAL.replace(r#""account":"****5678""#, r#""account":"a\nb""#),
            &WITHDRAWAL.replace(
                r#""type":"withdrawal","#,
                r#""type":"withdrawal","locations":["x"],"#,
            ),
            &LIMIT_ORDER.replace(r#","price":{"currency":"JPY","value":"2500"}"#, ""),
            &LIMIT_ORDER.replace(r#""limit""#, r#""market""#),
            &LIMIT_ORDER.replace(r#""buy""#, r#""short""#),
            &LIMIT_ORDER.replace(r#""100""#, r#""1.5""#),
            &LIMIT_ORDER.replace(r#""100""#, "100"),
        ];
        for raw in bad {
            let e = AuthorizationDetails::parse(raw, &both()).expect_err(raw);
            assert_eq!(e.code, ErrorCode::InvalidAuthorizationDetails, "{raw}");
        }
    }

    #[test]
    fn a_type_the_client_is_not_registered_for_is_refused() {
        let e = AuthorizationDetails::parse(WITHDRAWAL, &["order".into()]).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidAuthorizationDetails);
        assert!(AuthorizationDetails::parse(LIMIT_ORDER, &[]).is_err());
    }

    #[test]
    fn amounts_are_formatted_for_each_language() {
        let w = AuthorizationDetails::parse(WITHDRAWAL, &both()).unwrap();
        let Shown::Withdrawal {
            amount, account, ..
        } = w.shown(Lang::Ja)
        else {
            panic!("not a withdrawal");
        };
        assert_eq!(
            (amount.as_str(), account.as_str()),
            ("1,234,567円", "****5678")
        );
        let Shown::Withdrawal { amount, .. } = w.shown(Lang::En) else {
            panic!("not a withdrawal");
        };
        assert_eq!(amount, "¥1,234,567");
        let usd = WITHDRAWAL
            .replace("JPY", "USD")
            .replace("1234567", "1234.5");
        let Shown::Withdrawal { amount, .. } = AuthorizationDetails::parse(&usd, &both())
            .unwrap()
            .shown(Lang::En)
        else {
            panic!("not a withdrawal");
        };
        assert_eq!(amount, "USD 1,234.50");
        let o = AuthorizationDetails::parse(&LIMIT_ORDER.replace("\"100\"", "\"1000\""), &both())
            .unwrap();
        let Shown::Order {
            quantity, price, ..
        } = o.shown(Lang::Ja)
        else {
            panic!("not an order");
        };
        assert_eq!(
            (quantity.as_str(), price.as_deref()),
            ("1,000", Some("2,500円"))
        );
    }
}
