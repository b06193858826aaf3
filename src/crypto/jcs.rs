//! JSON Canonicalization Scheme (RFC 8785) for the documents Kagi hashes.
//!
//! A transaction's `authorization_details` are bound into a WebAuthn
//! challenge by their SHA-256, so anyone holding the signed `clientDataJSON`
//! can recompute the hash from the details and check which transaction the
//! authenticator signed. That only works if everyone serialises the details
//! byte for byte alike: members sorted by their UTF-16 code units (§3.2.3),
//! no white space, strings escaped as ECMAScript's `JSON.stringify` does
//! (§3.2.2.2), which is what `serde_json` writes for a string.
//!
//! Numbers are limited to integers of at most 53 bits, whose ECMAScript form
//! is their plain decimal digits (§3.2.2.3); Kagi's own documents carry
//! amounts as decimal strings, so a fraction or a larger number is refused
//! rather than formatted by a second algorithm that nothing here needs.

use serde_json::Value;

/// The largest integer ECMAScript represents exactly (2^53 - 1).
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// A value JCS cannot put in canonical form here.
#[derive(Debug, PartialEq, Eq)]
pub struct NotCanonicalisable;

/// The canonical form of `value` (RFC 8785 §3.2).
pub fn canonical(value: &Value) -> Result<String, NotCanonicalisable> {
    let mut out = String::new();
    write(value, &mut out)?;
    Ok(out)
}

fn write(value: &Value, out: &mut String) -> Result<(), NotCanonicalisable> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let safe = n
                .as_u64()
                .filter(|v| *v <= MAX_SAFE_INTEGER)
                .map(|v| v.to_string())
                .or_else(|| {
                    n.as_i64()
                        .filter(|v| v.unsigned_abs() <= MAX_SAFE_INTEGER)
                        .map(|v| v.to_string())
                });
            out.push_str(&safe.ok_or(NotCanonicalisable)?);
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            // §3.2.3: by the names' UTF-16 code units, not by UTF-8 bytes
            // (the two orders differ above U+FFFF against U+E000..U+FFFF).
            members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push('{');
            for (i, (name, member)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(name, out);
                out.push(':');
                write(member, out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

fn write_string(s: &str, out: &mut String) {
    // serde_json escapes exactly `"`, `\`, and the C0 controls (as \b \f \n
    // \r \t or lower-case \u00xx), the set and forms of RFC 8785 §3.2.2.2.
    out.push_str(&Value::String(s.to_owned()).to_string());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn members_are_sorted_and_white_space_dropped() {
        let value: Value = serde_json::from_str(
            r#"{ "type": "withdrawal", "amount": {"value": "10", "currency": "JPY"}, "a": [1, true, null] }"#,
        )
        .unwrap();
        assert_eq!(
            canonical(&value).unwrap(),
            r#"{"a":[1,true,null],"amount":{"currency":"JPY","value":"10"},"type":"withdrawal"}"#
        );
    }

    #[test]
    fn names_sort_by_utf16_code_units() {
        // RFC 8785 §3.2.3's own example orders "\u{20ac}" (U+20AC) before
        // "\u{1f600}" (surrogates D83D DE00) before "\u{fb33}" (U+FB33).
        let value = json!({ "\u{fb33}": 3, "\u{1f600}": 2, "\u{20ac}": 1, "\r": 0, "1": 4 });
        assert_eq!(
            canonical(&value).unwrap(),
            "{\"\\r\":0,\"1\":4,\"\u{20ac}\":1,\"\u{1f600}\":2,\"\u{fb33}\":3}"
        );
    }

    #[test]
    fn strings_are_escaped_as_json_stringify_does() {
        let value = json!("a\"b\\c\u{8}\u{c}\n\r\t\u{1}\u{1f}/\u{7f}\u{2028}é😀");
        assert_eq!(
            canonical(&value).unwrap(),
            "\"a\\\"b\\\\c\\b\\f\\n\\r\\t\\u0001\\u001f/\u{7f}\u{2028}é😀\""
        );
    }

    #[test]
    fn only_safe_integers_are_accepted() {
        assert_eq!(canonical(&json!(-42)).unwrap(), "-42");
        assert_eq!(
            canonical(&json!(9_007_199_254_740_991_u64)).unwrap(),
            "9007199254740991"
        );
        assert_eq!(
            canonical(&json!(9_007_199_254_740_992_u64)),
            Err(NotCanonicalisable)
        );
        assert_eq!(canonical(&json!(1.5)), Err(NotCanonicalisable));
    }
}
