//! Authenticator-app codes: RFC 6238 TOTP with HMAC-SHA-1, 6 digits and 30 s steps.
//!
//! Everything here is pure: the time is passed in as unix seconds and the
//! seed as raw bytes (opened from its sealed form by the caller). Replay is
//! refused by step number: a code is accepted only for a step strictly after
//! the last one accepted, and the store records that step atomically
//! (`Store::accept_totp_step`), so two nodes racing with one code accept it
//! once (`docs/security.md#r12`, RFC 6238 §5.2).
//!
//! `enrollment` adds an authenticator app to an account; `login` checks a
//! code at login and step-up.

pub(crate) mod enrollment;
pub(crate) mod login;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use qrcode::QrCode;
use qrcode::render::svg;
use totp_rs::{Algorithm, Builder, Secret, Totp};

use crate::crypto::compare::ct_eq_str;
use crate::error::{Error, Result};

/// Length of a time step in seconds (RFC 6238 §5.2 recommends 30).
pub const STEP_SECS: i64 = 30;

/// Digits in a code.
pub const DIGITS: usize = 6;

/// Consecutive wrong codes after which the factor is locked (`docs/security.md#r12`).
pub const MAX_FAILURES: i64 = 5;

/// Steps accepted either side of the current one, for clock drift and typing time.
const SKEW: i64 = 1;

/// Bytes in a new seed: 160 bits, the length RFC 4226 §4 recommends.
const SECRET_LEN: usize = 20;

/// A fresh 160-bit seed from the operating system's CSPRNG.
pub fn new_secret() -> Vec<u8> {
    crate::crypto::random::bytes::<SECRET_LEN>().to_vec()
}

/// The RFC 6238 time step that contains `now`.
pub fn step_at(now: i64) -> i64 {
    now.div_euclid(STEP_SECS)
}

/// The step a correct `code` was made for, if it is new.
///
/// Accepts only exactly six ASCII digits, matching the previous, current or
/// next step. Every candidate is computed and compared in constant time, so
/// timing does not tell which step (or how much of a code) matched. The
/// matched step is returned only when it is strictly greater than
/// `last_used_step`: a code already used, or one older than it, is refused.
pub fn verify(secret: &[u8], code: &str, now: i64, last_used_step: Option<i64>) -> Option<i64> {
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let totp = totp(secret, DIGITS);
    let current = step_at(now);
    let mut matched = None;
    for step in current - SKEW..=current + SKEW {
        // No early exit: every candidate costs the same whatever matched.
        let Some(expected) = code_for_step(&totp, step) else {
            continue;
        };
        if ct_eq_str(&expected, code) && last_used_step.is_none_or(|last| step > last) {
            matched = Some(step);
        }
    }
    matched
}

/// The code for the step containing `now`, as an authenticator app shows it.
pub fn code_at(secret: &[u8], now: i64) -> String {
    code_for_step(&totp(secret, DIGITS), step_at(now)).unwrap_or_default()
}

/// The `otpauth://` key URI that authenticator apps scan.
///
/// Follows the Google Authenticator key URI format: the label is
/// `Issuer:Account`, and the issuer, algorithm, digits and period are also
/// spelled out as parameters so that no app has to guess a default.
pub fn otpauth_uri(secret: &[u8], issuer: &str, account: &str) -> String {
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}\
         &algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        account = percent_encode(account),
        secret = base32(secret),
    )
}

/// The seed in RFC 4648 base32 without padding, in groups of four for typing by hand.
pub fn secret_base32(secret: &[u8]) -> String {
    let plain = base32(secret);
    let groups: Vec<&str> = plain
        .as_bytes()
        .chunks(4)
        // Base32 output is ASCII, so every chunk is valid UTF-8.
        .map(|chunk| std::str::from_utf8(chunk).unwrap_or_default())
        .collect();
    groups.join(" ")
}

/// An SVG QR code of `uri`, as a `data:image/svg+xml;base64,` URI for an `<img>`.
///
/// Rendered on the server as SVG so that no image library is needed and the
/// page needs no script (the CSP stays strict).
pub fn qr_data_uri(uri: &str) -> Result<String> {
    let code = QrCode::new(uri.as_bytes())
        .map_err(|e| Error::Internal(anyhow::anyhow!("cannot encode a QR code: {e}")))?;
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    Ok(format!(
        "data:image/svg+xml;base64,{}",
        STANDARD.encode(image)
    ))
}

/// A generator for `secret` with the RFC 6238 parameters Kagi uses.
///
/// `build_noncompliant` skips only the checks that cannot fail here (digits
/// and step are constants) plus the 128-bit minimum seed length, which
/// [`new_secret`] already exceeds; an operator-imported seed of another
/// length still computes the codes the app shows.
fn totp(secret: &[u8], digits: usize) -> Totp {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(u8::try_from(digits).unwrap_or(6))
        .with_step_duration(STEP_SECS.unsigned_abs())
        .with_skew(0)
        .with_secret(secret.to_vec())
        .build_noncompliant()
}

/// The code for one step; `None` before the epoch, where no code exists.
fn code_for_step(totp: &Totp, step: i64) -> Option<String> {
    let time = u64::try_from(step.checked_mul(STEP_SECS)?).ok()?;
    Some(totp.generate(time).to_string())
}

fn base32(secret: &[u8]) -> String {
    Secret::from(secret.to_vec()).to_base32()
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The RFC 6238 Appendix B SHA-1 seed.
    const RFC_SEED: &[u8] = b"12345678901234567890";

    #[test]
    fn codes_match_the_rfc_6238_appendix_b_sha1_vectors() {
        assert_eq!(
            code_for_step(&totp(RFC_SEED, 8), step_at(59)).unwrap(),
            "94287082"
        );
        let six_digit = [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
            (20_000_000_000, "353130"),
        ];
        for (time, code) in six_digit {
            assert_eq!(code_at(RFC_SEED, time), code, "T = {time}");
        }
    }

    #[test]
    fn steps_are_30_seconds_long() {
        assert_eq!(step_at(0), 0);
        assert_eq!(step_at(29), 0);
        assert_eq!(step_at(30), 1);
        assert_eq!(step_at(59), 1);
        assert_eq!(step_at(-1), -1);
    }

    #[test]
    fn a_code_one_step_either_side_is_accepted_and_two_steps_away_is_refused() {
        let secret = new_secret();
        let now = 1_700_000_015;
        let step = step_at(now);
        for (offset, accepted) in [(-2, false), (-1, true), (0, true), (1, true), (2, false)] {
            let code = code_at(&secret, now + offset * STEP_SECS);
            let expected = accepted.then_some(step + offset);
            assert_eq!(
                verify(&secret, &code, now, None),
                expected,
                "offset {offset}"
            );
        }
    }

    #[test]
    fn a_used_step_is_refused() {
        let now = 1_700_000_015;
        let code = code_at(RFC_SEED, now);
        let step = verify(RFC_SEED, &code, now, None).unwrap();
        assert_eq!(verify(RFC_SEED, &code, now, Some(step)), None);
        assert_eq!(verify(RFC_SEED, &code, now + STEP_SECS, Some(step)), None);
    }

    #[test]
    fn an_older_step_is_refused_after_a_newer_one_was_used() {
        let now = 1_700_000_015;
        let newer = verify(RFC_SEED, &code_at(RFC_SEED, now + STEP_SECS), now, None).unwrap();
        assert_eq!(newer, step_at(now) + 1);
        assert_eq!(
            verify(RFC_SEED, &code_at(RFC_SEED, now), now, Some(newer)),
            None
        );
        assert_eq!(
            verify(
                RFC_SEED,
                &code_at(RFC_SEED, now - STEP_SECS),
                now,
                Some(newer)
            ),
            None
        );
    }

    #[test]
    fn malformed_codes_are_refused() {
        let now = 1_234_567_890;
        let good = code_at(RFC_SEED, now);
        assert_eq!(good, "005924");
        assert!(verify(RFC_SEED, &good, now, None).is_some());
        for bad in [
            "",
            "05924",
            "0059240",
            "00592a",
            "+05924",
            "-05924",
            " 05924",
            "005924 ",
            "00 5924",
            "００５９２４",
            "５924",
        ] {
            assert_eq!(verify(RFC_SEED, bad, now, None), None, "{bad:?}");
        }
    }

    #[test]
    fn a_wrong_code_is_refused() {
        let now = 1_234_567_890;
        assert_eq!(verify(RFC_SEED, "005925", now, None), None);
        assert_eq!(verify(&new_secret(), "005924", now, None), None);
    }

    #[test]
    fn new_secrets_are_160_bits_and_differ() {
        let a = new_secret();
        assert_eq!(a.len(), 20);
        assert_ne!(a, new_secret());
    }

    #[test]
    fn the_otpauth_uri_names_every_parameter_and_round_trips() {
        let uri = otpauth_uri(RFC_SEED, "Kagi", "C0001234");
        assert_eq!(
            uri,
            "otpauth://totp/Kagi:C0001234?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Kagi&algorithm=SHA1&digits=6&period=30"
        );
        let parsed = Totp::from_url(&uri).unwrap();
        assert_eq!(parsed.issuer(), Some("Kagi"));
        assert_eq!(parsed.account_name(), "C0001234");
        assert_eq!(parsed.secret().as_ref(), RFC_SEED);
        assert_eq!(parsed.generate(59).to_string(), "287082");
    }

    #[test]
    fn the_otpauth_uri_percent_encodes_the_label_and_issuer() {
        let uri = otpauth_uri(RFC_SEED, "Kagi Test", "a b:c@d/é");
        assert!(
            uri.starts_with("otpauth://totp/Kagi%20Test:a%20b%3Ac%40d%2F%C3%A9?"),
            "{uri}"
        );
        assert!(uri.contains("&issuer=Kagi%20Test&"), "{uri}");
    }

    #[test]
    fn base32_follows_rfc_4648_without_padding_in_groups_of_four() {
        // RFC 4648 §10 test vectors, padding dropped.
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(secret_base32(b"foobar"), "MZXW 6YTB OI");
        assert_eq!(secret_base32(b""), "");
        assert_eq!(
            secret_base32(RFC_SEED),
            "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ"
        );
    }

    #[test]
    fn the_qr_code_is_an_svg_data_uri() {
        let uri = qr_data_uri(&otpauth_uri(&new_secret(), "Kagi", "C0001234")).unwrap();
        let b64 = uri.strip_prefix("data:image/svg+xml;base64,").unwrap();
        let svg = String::from_utf8(STANDARD.decode(b64).unwrap()).unwrap();
        assert!(svg.contains("<svg"), "{svg}");
        assert!(svg.ends_with("</svg>"));
    }
}
