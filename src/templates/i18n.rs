//! Language negotiation and the text catalogues.
//!
//! A page's language comes from the OIDC `ui_locales` parameter, a `lang`
//! choice or `Accept-Language` (the order is the extractor's, in
//! `http/extract.rs`); this module reads each of those values. Texts live
//! only in `templates/i18n/{ja,en}.toml`, checked against each other and
//! against the templates when [`super::Templates::load`] runs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use minijinja::value::{Enumerator, Object, Value};

pub(super) const CATALOGUE_JA: &str = include_str!("../../templates/i18n/ja.toml");
pub(super) const CATALOGUE_EN: &str = include_str!("../../templates/i18n/en.toml");

/// Page and mail language.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// Japanese, the default.
    #[default]
    Ja,
    /// English.
    En,
}

impl Lang {
    /// The language's tag as used in `lang` attributes and URLs: `"ja"` or `"en"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }

    /// The other supported language, the target of the header's language switch.
    pub fn other(self) -> Lang {
        match self {
            Lang::Ja => Lang::En,
            Lang::En => Lang::Ja,
        }
    }

    /// Reads a BCP 47 language tag by its primary subtag, ignoring case and
    /// region: `"ja"`, `"ja-JP"` and `"EN-us"` are supported, `"fr"` is not.
    pub fn parse(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or_default();
        if primary.eq_ignore_ascii_case("ja") {
            Some(Lang::Ja)
        } else if primary.eq_ignore_ascii_case("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// The first supported language of an OIDC `ui_locales` value, a
    /// space-separated list in order of preference (OIDC Core §3.1.2.1).
    pub fn from_ui_locales(list: &str) -> Option<Lang> {
        list.split_whitespace().find_map(Lang::parse)
    }

    /// The supported language an `Accept-Language` header prefers most
    /// (RFC 9110 §12.5.4).
    ///
    /// Entries are ranked by their `q` value, ties by position; `q=0` means
    /// "not acceptable", and entries with a malformed `q` are skipped. The
    /// wildcard `*` names no language, so the caller's default applies.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut best: Option<(u16, Lang)> = None;
        for entry in header.split(',') {
            let mut parts = entry.split(';');
            let tag = parts.next().unwrap_or_default();
            let quality = parts
                .find_map(|param| {
                    let (name, value) = param.split_once('=')?;
                    name.trim().eq_ignore_ascii_case("q").then_some(value)
                })
                .map_or(Some(1000), parse_quality);
            let (Some(quality), Some(lang)) = (quality, Lang::parse(tag)) else {
                continue;
            };
            if quality > 0 && best.is_none_or(|(best_quality, _)| quality > best_quality) {
                best = Some((quality, lang));
            }
        }
        best.map(|(_, lang)| lang)
    }
}

/// An RFC 9110 `qvalue` (`0`, `0.8`, `1.000`) in thousandths.
fn parse_quality(value: &str) -> Option<u16> {
    let value = value.trim();
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = match whole {
        "0" => format!("{fraction:0<3}").parse().ok()?,
        "1" if fraction.bytes().all(|b| b == b'0') => 1000,
        _ => return None,
    };
    Some(thousandths)
}

/// One language's texts, seen by templates as the map `t`.
#[derive(Debug)]
pub(super) struct Catalogue {
    pub(super) lang: Lang,
    pub(super) texts: BTreeMap<String, String>,
}

impl Catalogue {
    /// The text under `key`, or the key itself (logged) when it is missing.
    pub(super) fn lookup<'a>(&'a self, key: &'a str) -> &'a str {
        match self.texts.get(key) {
            Some(text) => text,
            None => {
                tracing::warn!(
                    i18n.key = key,
                    i18n.lang = self.lang.as_str(),
                    "text missing from the catalogue; showing its key"
                );
                key
            }
        }
    }
}

impl Object for Catalogue {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        key.as_str().map(|key| Value::from(self.lookup(key)))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.texts.keys().map(|k| Value::from(k.as_str())).collect())
    }
}

pub(super) fn is_placeholder(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The `{placeholders}` of a catalogue text.
pub(super) fn placeholders(text: &str) -> BTreeSet<&str> {
    text.split('{')
        .skip(1)
        .filter_map(|part| part.split_once('}'))
        .map(|(name, _)| name)
        .filter(|name| is_placeholder(name))
        .collect()
}

/// The keys a template looks up literally, as `t["key"]`.
///
/// Dynamic lookups (`t[error]`) are the callers' business and not found here.
pub(super) fn literal_keys(source: &str) -> Vec<&str> {
    const OPEN: &str = "t[\"";
    let mut keys = Vec::new();
    let mut from = 0;
    while let Some(found) = source[from..].find(OPEN) {
        let start = from + found;
        let after = start + OPEN.len();
        let Some(len) = source[after..].find("\"]") else {
            break;
        };
        // `t[` must be the variable `t`, not the end of a longer name.
        let standalone = source[..start]
            .bytes()
            .next_back()
            .is_none_or(|b| !(b.is_ascii_alphanumeric() || b == b'_'));
        if standalone {
            keys.push(&source[after..after + len]);
        }
        from = after + len;
    }
    keys
}

pub(super) fn parse_catalogue(
    lang: Lang,
    source: &str,
) -> anyhow::Result<BTreeMap<String, String>> {
    toml::from_str(source).with_context(|| {
        format!(
            "templates/i18n/{}.toml must be a flat table of quoted keys and strings",
            lang.as_str()
        )
    })
}

/// Both catalogues have the same keys, and each text the same placeholders.
pub(super) fn check_catalogues(
    ja: &BTreeMap<String, String>,
    en: &BTreeMap<String, String>,
) -> anyhow::Result<()> {
    let only_ja: Vec<&String> = ja.keys().filter(|k| !en.contains_key(*k)).collect();
    let only_en: Vec<&String> = en.keys().filter(|k| !ja.contains_key(*k)).collect();
    if !only_ja.is_empty() || !only_en.is_empty() {
        bail!("the catalogues differ: only in ja.toml {only_ja:?}, only in en.toml {only_en:?}");
    }
    for (key, ja_text) in ja {
        let en_text = en.get(key).map(String::as_str).unwrap_or_default();
        if placeholders(ja_text) != placeholders(en_text) {
            bail!("the texts {key:?} of ja.toml and en.toml have different placeholders");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::templates::Templates;

    const LANGS: [Lang; 2] = [Lang::Ja, Lang::En];

    #[test]
    fn the_catalogues_have_identical_keys_and_placeholders() {
        let ja = parse_catalogue(Lang::Ja, CATALOGUE_JA).unwrap();
        let en = parse_catalogue(Lang::En, CATALOGUE_EN).unwrap();
        let ja_keys: Vec<&String> = ja.keys().collect();
        let en_keys: Vec<&String> = en.keys().collect();
        assert_eq!(ja_keys, en_keys);
        for (key, text) in &ja {
            assert_eq!(placeholders(text), placeholders(&en[key]), "{key}");
            assert!(!text.trim().is_empty(), "ja {key} is empty");
            assert!(!en[key].trim().is_empty(), "en {key} is empty");
        }
    }

    #[test]
    fn literal_keys_finds_only_lookups_of_t() {
        let source = r#"{{ t["a.b"] }} {{ at["no"] }} {{ t[error] }}{{t["c"]|fill(x=1)}}"#;
        assert_eq!(literal_keys(source), vec!["a.b", "c"]);
    }

    #[test]
    fn accept_language_honours_quality_values() {
        assert_eq!(
            Lang::from_accept_language("en-US,en;q=0.9,ja;q=0.8"),
            Some(Lang::En)
        );
        assert_eq!(Lang::from_accept_language("fr, ja;q=0.5"), Some(Lang::Ja));
        assert_eq!(Lang::from_accept_language("fr"), None);
        assert_eq!(Lang::from_accept_language(""), None);
        assert_eq!(
            Lang::from_accept_language("en;q=0.5, ja-JP;q=0.9"),
            Some(Lang::Ja)
        );
        assert_eq!(
            Lang::from_accept_language("ja;q=0, en;q=0.1"),
            Some(Lang::En)
        );
        assert_eq!(Lang::from_accept_language("ja;q=0"), None);
        assert_eq!(
            Lang::from_accept_language("ja;q=2, en;q=0.3"),
            Some(Lang::En)
        );
        assert_eq!(Lang::from_accept_language("*, en;q=0.5"), Some(Lang::En));
        assert_eq!(
            Lang::from_accept_language("ja ; Q=1.000 , en"),
            Some(Lang::Ja)
        );
    }

    #[test]
    fn language_tags_and_ui_locales_are_read_by_primary_subtag() {
        assert_eq!(Lang::parse("ja"), Some(Lang::Ja));
        assert_eq!(Lang::parse("ja-JP"), Some(Lang::Ja));
        assert_eq!(Lang::parse("EN-us"), Some(Lang::En));
        assert_eq!(Lang::parse("fr"), None);
        assert_eq!(Lang::parse("jav"), None);
        assert_eq!(Lang::parse(""), None);
        assert_eq!(Lang::from_ui_locales("fr en"), Some(Lang::En));
        assert_eq!(Lang::from_ui_locales("fr-CA  ja-JP en"), Some(Lang::Ja));
        assert_eq!(Lang::from_ui_locales("fr de"), None);
        assert_eq!(Lang::default(), Lang::Ja);
        assert_eq!(Lang::En.as_str(), "en");
        assert_eq!(Lang::Ja.other(), Lang::En);
    }

    #[test]
    fn the_keys_handlers_use_for_errors_and_notices_exist() {
        let templates = Templates::load().expect("templates load");
        let keys = [
            "login.failed",
            "login.rate_limited",
            "login.locked",
            "login.locked.heading",
            "code.sent",
            "code.wrong",
            "code.expired",
            "code.dead",
            "code.resend_limited",
            "totp.wrong",
            "totp.locked",
            "totp.enrolled",
            "flow.expired",
            "flow.expired.heading",
            "error.bad_request",
            "error.bad_request.heading",
            "error.forbidden",
            "error.forbidden.heading",
            "error.not_found",
            "error.not_found.heading",
            "error.rate_limited",
            "error.rate_limited.heading",
            "error.internal",
            "error.internal.heading",
            "error.csrf",
            "error.csrf.heading",
            "logout.done",
            "logout.done.heading",
            "account.session_ended",
            "passkey.registered",
            "passkey.removed",
            "passkey.renamed",
            "passkey.limit",
            "passkey.nickname_too_long",
            "passkey.provider_unknown",
            "passkey_stepup.none",
            "method.passkey",
            "method.password_totp",
            "method.password_email",
            "nav.login",
            "nav.account",
        ];
        for lang in LANGS {
            for key in keys {
                assert_ne!(templates.text(lang, key), key, "{key} missing in {lang:?}");
            }
        }
    }
}
