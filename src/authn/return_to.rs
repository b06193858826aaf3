//! Where a customer may be sent after a login, a step-up or a passkey
//! ceremony: a `return_to` the browser gave us, kept only when it stays on
//! Kagi's own origin.
//!
//! Browsers resolve a `Location` with the WHATWG URL parser, which silently
//! drops tabs and newlines anywhere, reads `\` as `/` in http(s) paths and
//! removes `.` segments, so `/\t/evil.example`, `/\evil.example` and
//! `/.//evil.example` all leave the site although each begins with a single
//! `/`. Rather than guess at that parser with string tests, a value is
//! resolved against the issuer with the same parser (the `url` crate follows
//! the WHATWG URL Standard) and kept only when the origin is unchanged; then
//! the normalised path and query are emitted, never the raw input. Characters
//! that a conforming parser would drop or reinterpret are refused before
//! resolving, raw and percent-decoded, so the value we store is the value the
//! browser will act on. The rules are summed up in `docs/security.md`.

use url::{Position, Url};

/// Longest accepted value; continuations Kagi makes are far shorter.
const MAX_LEN: usize = 2048;

/// A path and query on Kagi's own origin, normalised, safe as a `Location`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReturnTo(String);

impl ReturnTo {
    /// Parses a `return_to` given by a browser; `None` unless it is a local
    /// path that resolves (WHATWG URL Standard §4.4) to the `issuer`'s origin.
    ///
    /// Refused outright: anything not starting with exactly one `/`, anything
    /// beyond printable ASCII (so whitespace, control characters and Unicode
    /// look-alikes of `/` such as U+FF0F, U+2215, U+2044), backslashes, and
    /// percent-encoded control characters or whitespace anywhere, or an
    /// encoded `/` or `\` or non-ASCII byte in the path. A fragment is dropped.
    pub fn parse(issuer: &Url, raw: &str) -> Option<Self> {
        if raw.len() > MAX_LEN
            || !raw.starts_with('/')
            || raw.starts_with("//")
            || !raw.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
        {
            return None;
        }
        let without_fragment = raw.split('#').next().unwrap_or_default();
        let (path, query) = without_fragment
            .split_once('?')
            .unwrap_or((without_fragment, ""));
        if !path_is_plain(path) || !query_is_plain(query) {
            return None;
        }
        let resolved = issuer.join(without_fragment).ok()?;
        if resolved.origin() != issuer.origin() {
            return None;
        }
        let normalised = &resolved[Position::BeforePath..Position::AfterQuery];
        // `/./` and `/%2e/` segments vanish while resolving, so `/.//host`
        // comes out as `//host`, a network-path reference: check the output too.
        if !normalised.starts_with('/')
            || normalised.starts_with("//")
            || normalised.len() > MAX_LEN
        {
            return None;
        }
        Some(Self(normalised.to_owned()))
    }
}

/// The continuation for `raw`: its normalised form when [`ReturnTo::parse`]
/// keeps it, else `default` (a path Kagi chose).
pub fn continuation(issuer: &Url, raw: Option<&str>, default: &str) -> String {
    raw.and_then(|r| ReturnTo::parse(issuer, r))
        .map_or_else(|| default.to_owned(), |r| r.0)
}

/// The bytes of `s` with `%XY` decoded, each with whether it was encoded.
fn decoded(s: &str) -> Vec<(u8, bool)> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |at: usize| bytes.get(at).and_then(|b| (*b as char).to_digit(16));
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((u8::try_from(hi * 16 + lo).unwrap_or(0), true));
                i += 3;
            }
            (b, _, _) => {
                out.push((b, false));
                i += 1;
            }
        }
    }
    out
}

/// A path decodes to printable ASCII with no encoded separator: Kagi's own
/// paths never need more, and `%2F`, `%5C` or encoded non-ASCII would only
/// matter to a component that decodes before routing or redirecting again.
fn path_is_plain(path: &str) -> bool {
    decoded(path)
        .iter()
        .all(|&(b, encoded)| b.is_ascii_graphic() && !(encoded && (b == b'/' || b == b'\\')))
}

/// A query may carry any encoded text except control characters and
/// whitespace (ASCII, or Unicode when the bytes are UTF-8).
fn query_is_plain(query: &str) -> bool {
    let bytes: Vec<u8> = decoded(query).into_iter().map(|(b, _)| b).collect();
    if bytes.iter().any(|b| *b <= b' ' || *b == 0x7f) {
        return false;
    }
    std::str::from_utf8(&bytes).map_or(true, |text| {
        !text.chars().any(|c| c.is_whitespace() || c.is_control())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer() -> Url {
        Url::parse("https://id.example.com").unwrap()
    }

    fn parse(raw: &str) -> Option<String> {
        ReturnTo::parse(&issuer(), raw).map(|r| r.0)
    }

    /// Known open-redirect payloads; none may come out at all.
    const REFUSED: &[&str] = &[
        "",
        "account",
        "https://evil.example/",
        "http://evil.example",
        "https:evil.example",
        "https:/evil.example",
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "//evil.example",
        "///evil.example",
        "////evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/\\/evil.example",
        "\\/evil.example",
        "/\t/evil.example/x",
        "/\t/\tevil.example",
        "/\n/evil.example",
        "/\r\n/evil.example",
        "/a\r\nSet-Cookie: x=1",
        "/%09/evil.example/x",
        "/%0a/evil.example",
        "/%0D%0A/evil.example",
        "/%2F/evil.example",
        "/%2f%2fevil.example",
        "/%5C/evil.example",
        "/%5cevil.example",
        "/./\\evil.example",
        "/.//evil.example",
        "/%2e//evil.example",
        "/%2E%2E//evil.example",
        "/a/..//evil.example",
        "/../..//evil.example",
        " /account",
        "/account ",
        "/acc ount",
        "/account\u{0}",
        "/account%00",
        "/account?x=%0a",
        "/account?x=%20",
        "/account?x=%E3%80%80",
        "/account?x=\t",
        "／／evil.example",
        "/／evil.example",
        "/\u{2215}evil.example",
        "/\u{2044}evil.example",
        "/\u{FF3C}evil.example",
        "\u{3000}/evil.example",
        "/%EF%BC%8Fevil.example",
    ];

    #[test]
    fn known_open_redirect_payloads_are_refused() {
        for raw in REFUSED {
            assert_eq!(parse(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn a_userinfo_lookalike_stays_a_path_on_our_host() {
        // `@` after a single `/` is part of the path, not userinfo.
        assert_eq!(parse("/@evil.example").as_deref(), Some("/@evil.example"));
        assert_eq!(
            parse("/evil.example@id.example.com").as_deref(),
            Some("/evil.example@id.example.com")
        );
    }

    #[test]
    fn local_paths_come_out_normalised() {
        let cases = [
            ("/", "/"),
            ("/account", "/account"),
            (
                "/authorize/continue?request=abc",
                "/authorize/continue?request=abc",
            ),
            (
                "/account/passkeys/delete?credential_id=a-b_c",
                "/account/passkeys/delete?credential_id=a-b_c",
            ),
            ("/account#frag", "/account"),
            ("/a/./b/../account", "/a/account"),
            ("/%2e/account", "/account"),
            ("/account?q=%E3%81%82", "/account?q=%E3%81%82"),
            (
                "/account?next=%2F%2Fevil.example",
                "/account?next=%2F%2Fevil.example",
            ),
            ("/a\"b", "/a%22b"),
            ("/a<b>", "/a%3Cb%3E"),
        ];
        for (raw, want) in cases {
            assert_eq!(parse(raw).as_deref(), Some(want), "{raw:?}");
        }
    }

    #[test]
    fn nothing_kept_resolves_off_origin_in_a_browser() {
        // Whatever is kept must, resolved again by a WHATWG parser against
        // any page of ours, stay on our origin.
        let page = issuer().join("/login/code").unwrap();
        for raw in REFUSED
            .iter()
            .copied()
            .chain(["/", "/account", "/a/./b", "/@x", "/a?b=c"])
        {
            if let Some(kept) = parse(raw) {
                let landed = page.join(&kept).unwrap();
                assert_eq!(landed.origin(), issuer().origin(), "{raw:?} -> {kept:?}");
                assert!(!kept.starts_with("//") && !kept.contains(['\\', '\t', '\n', '\r']));
            }
        }
    }

    #[test]
    fn overlong_values_are_refused() {
        assert!(parse(&format!("/{}", "a".repeat(MAX_LEN))).is_none());
        assert!(parse(&format!("/{}", "a".repeat(100))).is_some());
    }

    #[test]
    fn an_absent_or_refused_value_falls_back_to_the_default() {
        let issuer = issuer();
        assert_eq!(continuation(&issuer, None, "/account"), "/account");
        assert_eq!(
            continuation(&issuer, Some("/\t/evil.example"), "/account"),
            "/account"
        );
        assert_eq!(continuation(&issuer, Some("/a/../b"), "/account"), "/b");
    }
}
