//! Hosted pages and mails: the minijinja templates under `templates/`, the
//! Japanese and English text catalogues, and the two static assets.
//!
//! Everything is embedded at compile time (`include_str!`), so the binary
//! runs from any folder and a deployment cannot pair a binary with the wrong
//! templates. Pages (`.html`) are HTML-escaped; mails (`.txt`) are plain text
//! and not escaped. Undefined variables are errors (`UndefinedBehavior::Strict`)
//! so a typo in a template fails the tests instead of rendering an empty field.
//!
//! Texts live only in `templates/i18n/{ja,en}.toml`; a template writes
//! `{{ t["login.title"] }}`, and a text with `{placeholders}` goes through the
//! `fill` filter: `{{ t["mail.greeting"]|fill(name=name) }}`. [`Templates::load`]
//! refuses catalogues whose keys or placeholders differ between languages, and
//! templates that name a key the catalogues lack. A key only known at run time
//! (`t[error]`) that is missing renders as the key itself and logs a warning,
//! so a wrong error key degrades a page rather than turning it into a 500.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use anyhow::{Context as _, anyhow, bail};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Enumerator, Kwargs, Object, Value, merge_maps};
use minijinja::{AutoEscape, Environment, ErrorKind, Output, State, UndefinedBehavior, context};

use crate::error::{Error, Result};

/// Embeds `templates/<name>` as a `(name, source)` pair.
macro_rules! embed {
    ($name:literal) => {
        ($name, include_str!(concat!("../templates/", $name)))
    };
}

/// Every template, by the name minijinja knows it under. Names starting with
/// `_` are partials, included by others and never rendered on their own.
const TEMPLATES: &[(&str, &str)] = &[
    embed!("base.html"),
    embed!("_factor_heading.html"),
    embed!("_factor_lead.html"),
    embed!("_code_input.html"),
    embed!("login.html"),
    embed!("factor_email.html"),
    embed!("factor_code.html"),
    embed!("factor_totp.html"),
    embed!("message.html"),
    embed!("account.html"),
    embed!("totp_enroll.html"),
    embed!("logout.html"),
    embed!("_passkey_messages.html"),
    embed!("passkey_confirm.html"),
    embed!("passkey_stepup.html"),
    embed!("passkey_delete.html"),
    embed!("consent.html"),
    embed!("passkey_offer.html"),
    embed!("form_post.html"),
    embed!("mail/_footer.txt"),
    embed!("mail/email_code.txt"),
    embed!("mail/account_locked.txt"),
    embed!("mail/login_notice.txt"),
    embed!("mail/passkey_added.txt"),
    embed!("mail/passkey_removed.txt"),
    embed!("mail/totp_enrolled.txt"),
];

/// The pages [`Templates::render_page`] renders (`templates/<page>.html`).
const PAGES: &[&str] = &[
    "login",
    "factor_email",
    "factor_code",
    "factor_totp",
    "message",
    "account",
    "totp_enroll",
    "logout",
    "passkey_confirm",
    "passkey_stepup",
    "passkey_delete",
    "consent",
    "passkey_offer",
    "form_post",
];

/// The mails [`Templates::render_mail`] renders (`templates/mail/<mail>.txt`).
const MAILS: &[&str] = &[
    "email_code",
    "account_locked",
    "login_notice",
    "passkey_added",
    "passkey_removed",
    "totp_enrolled",
];

const CATALOGUE_JA: &str = include_str!("../templates/i18n/ja.toml");
const CATALOGUE_EN: &str = include_str!("../templates/i18n/en.toml");
const KAGI_CSS: &str = include_str!("../templates/static/kagi.css");
const KAGI_JS: &str = include_str!("../templates/static/kagi.js");
const FORM_POST_JS: &str = include_str!("../templates/static/form_post.js");

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
struct Catalogue {
    lang: Lang,
    texts: BTreeMap<String, String>,
}

impl Catalogue {
    /// The text under `key`, or the key itself (logged) when it is missing.
    fn lookup<'a>(&'a self, key: &'a str) -> &'a str {
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

/// The hosted pages, mails and text catalogues, loaded once at start.
///
/// Cheap to share: put it in an `Arc`; rendering takes `&self`.
pub struct Templates {
    env: Environment<'static>,
    ja: Arc<Catalogue>,
    en: Arc<Catalogue>,
}

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Templates")
            .field("pages", &PAGES)
            .field("mails", &MAILS)
            .field("texts", &self.ja.texts.len())
            .finish_non_exhaustive()
    }
}

impl Templates {
    /// Compiles the embedded templates and loads and cross-checks the catalogues.
    ///
    /// Fails when a template does not compile, a catalogue is not a flat table
    /// of strings, the two catalogues differ in keys or in a text's
    /// `{placeholders}`, or a template names a `t["key"]` that does not exist.
    pub fn load() -> anyhow::Result<Templates> {
        let ja = parse_catalogue(Lang::Ja, CATALOGUE_JA)?;
        let en = parse_catalogue(Lang::En, CATALOGUE_EN)?;
        check_catalogues(&ja, &en)?;
        for (name, source) in TEMPLATES {
            let missing: Vec<&str> = literal_keys(source)
                .into_iter()
                .filter(|key| !ja.contains_key(*key))
                .collect();
            if !missing.is_empty() {
                bail!("template {name} uses texts missing from the catalogues: {missing:?}");
            }
        }

        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Only pages are HTML; mails are plain text and must not be escaped.
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        env.set_syntax(
            SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .build()
                .context("template syntax settings")?,
        );
        env.set_formatter(format_value);
        env.add_filter("fill", fill);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .with_context(|| format!("template {name} does not compile"))?;
        }

        Ok(Templates {
            env,
            ja: Arc::new(Catalogue {
                lang: Lang::Ja,
                texts: ja,
            }),
            en: Arc::new(Catalogue {
                lang: Lang::En,
                texts: en,
            }),
        })
    }

    /// Renders the page `templates/<name>.html` (`name` with or without `.html`).
    ///
    /// Adds `lang`, `other_lang` and the catalogue `t` to `ctx`, and `error`,
    /// `notice` and `lang_urls` as none when `ctx` lacks them. An unknown page
    /// or a failed render is an [`Error::Internal`].
    pub fn render_page(&self, name: &str, lang: Lang, ctx: Value) -> Result<String> {
        let page = name.strip_suffix(".html").unwrap_or(name);
        if !PAGES.contains(&page) {
            return Err(Error::Internal(anyhow!("no page template named {name:?}")));
        }
        let defaults = context! { error => (), notice => (), lang_urls => () };
        let ctx = merge_maps([defaults, ctx, self.fixed_context(lang)]);
        self.render(&format!("{page}.html"), ctx)
    }

    /// Renders the mail `templates/mail/<name>.txt` and returns its subject
    /// (the text `mail.<name>.subject`) and plain-text body.
    ///
    /// Adds `lang`, `other_lang` and the catalogue `t` to `ctx`. An unknown mail
    /// or a failed render is an [`Error::Internal`].
    pub fn render_mail(&self, name: &str, lang: Lang, ctx: Value) -> Result<(String, String)> {
        if !MAILS.contains(&name) {
            return Err(Error::Internal(anyhow!("no mail template named {name:?}")));
        }
        let subject_key = format!("mail.{name}.subject");
        let subject = self
            .catalogue(lang)
            .texts
            .get(&subject_key)
            .cloned()
            .ok_or_else(|| Error::Internal(anyhow!("no text {subject_key:?} for the mail")))?;
        let ctx = merge_maps([ctx, self.fixed_context(lang)]);
        let mut body = self.render(&format!("mail/{name}.txt"), ctx)?;
        body.push('\n');
        Ok((subject, body))
    }

    /// The catalogue text under `key` in `lang`, or `key` itself when there is none.
    pub fn text(&self, lang: Lang, key: &str) -> String {
        self.catalogue(lang).lookup(key).to_owned()
    }

    fn catalogue(&self, lang: Lang) -> &Arc<Catalogue> {
        match lang {
            Lang::Ja => &self.ja,
            Lang::En => &self.en,
        }
    }

    /// What every page and mail gets, and the caller cannot override.
    fn fixed_context(&self, lang: Lang) -> Value {
        context! {
            lang => lang.as_str(),
            other_lang => lang.other().as_str(),
            t => Value::from_dyn_object(Arc::clone(self.catalogue(lang))),
        }
    }

    fn render(&self, template: &str, ctx: Value) -> Result<String> {
        self.env
            .get_template(template)
            .and_then(|t| t.render(ctx))
            .map_err(|err| {
                Error::Internal(
                    anyhow::Error::new(err).context(format!("cannot render template {template}")),
                )
            })
    }
}

/// Prints a value, HTML-escaping strings in pages like minijinja does except
/// for `/`.
///
/// minijinja also escapes `/` (an old rule for unquoted attributes). Every
/// attribute in these templates is quoted, and `href="/login"` reads better
/// in page sources and tests than `href="&#x2f;login"`.
fn format_value(
    out: &mut Output<'_>,
    state: &mut State<'_, '_>,
    value: &Value,
) -> std::result::Result<(), minijinja::Error> {
    match value.as_str() {
        Some(text) if *state.auto_escape() == AutoEscape::Html && !value.is_safe() => {
            write_html_escaped(out, text).map_err(minijinja::Error::from)
        }
        _ => minijinja::escape_formatter(out, state, value),
    }
}

fn write_html_escaped(out: &mut impl fmt::Write, text: &str) -> fmt::Result {
    let mut copied = 0;
    for (at, byte) in text.bytes().enumerate() {
        let entity = match byte {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#x27;",
            _ => continue,
        };
        out.write_str(&text[copied..at])?;
        out.write_str(entity)?;
        copied = at + 1;
    }
    out.write_str(&text[copied..])
}

/// The `fill` filter: replaces each `{name}` in a text with the keyword
/// argument `name`.
///
/// One pass over the text, so a value that itself contains `{code}` stays as
/// it is. A placeholder without an argument, an argument without a
/// placeholder and an undefined argument are errors.
fn fill(text: &str, kwargs: Kwargs) -> std::result::Result<String, minijinja::Error> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) if is_placeholder(&after[..close]) => {
                let name = &after[..close];
                let value = kwargs
                    .get::<Option<Value>>(name)?
                    .filter(|v| !v.is_undefined())
                    .ok_or_else(|| {
                        minijinja::Error::new(
                            ErrorKind::MissingArgument,
                            format!("fill: no value for {{{name}}}"),
                        )
                    })?;
                out.push_str(&value.to_string());
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    kwargs.assert_all_used()?;
    Ok(out)
}

fn is_placeholder(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The `{placeholders}` of a catalogue text.
fn placeholders(text: &str) -> BTreeSet<&str> {
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
fn literal_keys(source: &str) -> Vec<&str> {
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

fn parse_catalogue(lang: Lang, source: &str) -> anyhow::Result<BTreeMap<String, String>> {
    toml::from_str(source).with_context(|| {
        format!(
            "templates/i18n/{}.toml must be a flat table of quoted keys and strings",
            lang.as_str()
        )
    })
}

/// Both catalogues have the same keys, and each text the same placeholders.
fn check_catalogues(
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

/// A static asset by its path under `/static/`: its content type and body.
pub fn static_asset(path: &str) -> Option<(&'static str, &'static str)> {
    match path {
        "kagi.css" => Some(("text/css; charset=utf-8", KAGI_CSS)),
        "kagi.js" => Some(("text/javascript; charset=utf-8", KAGI_JS)),
        "form_post.js" => Some(("text/javascript; charset=utf-8", FORM_POST_JS)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LANGS: [Lang; 2] = [Lang::Ja, Lang::En];

    fn templates() -> Templates {
        Templates::load().expect("templates load")
    }

    /// What every caller passes to every page.
    fn common() -> Value {
        context! {
            csrf => "csrf-token-123",
            lang_urls => context! { ja => "/login?ui_locales=ja", en => "/login?ui_locales=en" },
            error => (),
            notice => (),
        }
    }

    /// A representative context for each page, with its contract markers.
    fn pages() -> Vec<(&'static str, Value, Vec<&'static str>)> {
        vec![
            (
                "login",
                context! {
                    customer_code => "12345678",
                    return_to => "/authorize/continue",
                    passkey_enabled => true,
                    ..common()
                },
                vec![
                    r#"action="/login""#,
                    r#"name="customer_code""#,
                    r#"id="customer_code""#,
                    r#"autocomplete="username webauthn""#,
                    r#"name="password""#,
                    r#"id="password""#,
                    r#"autocomplete="current-password""#,
                    r#"name="return_to""#,
                    r#"<button type="submit" id="login-submit""#,
                    r#"<button type="button" id="passkey-login""#,
                ],
            ),
            (
                "factor_email",
                context! {
                    purpose => "login",
                    emails => vec![
                        context! { index => 0, masked => "abcd*****" },
                        context! { index => 1, masked => "ef@g*****" },
                    ],
                    totp_available => true,
                    ..common()
                },
                vec![
                    r#"action="/login/email""#,
                    r#"name="email_index""#,
                    r#"value="0" checked"#,
                    "abcd*****",
                    "ef@g*****",
                    r#"<button type="submit" id="otp-send""#,
                    r#"href="/login/totp""#,
                ],
            ),
            (
                "factor_code",
                context! { purpose => "step_up", masked => "abcd*****", ..common() },
                vec![
                    r#"action="/login/code""#,
                    r#"name="code""#,
                    r#"id="code""#,
                    r#"inputmode="numeric""#,
                    r#"autocomplete="one-time-code""#,
                    r#"pattern="[0-9]{6}""#,
                    r#"maxlength="6""#,
                    r#"<button type="submit" id="otp-submit""#,
                    r#"href="/login/email""#,
                ],
            ),
            (
                "factor_totp",
                context! { purpose => "login", email_available => true, ..common() },
                vec![
                    r#"action="/login/totp""#,
                    r#"name="code""#,
                    r#"<button type="submit" id="otp-submit""#,
                    r#"href="/login/email""#,
                ],
            ),
            (
                "message",
                context! {
                    heading => "login.locked.heading",
                    message => "login.locked",
                    detail => "2026-05-15 10:30",
                    link => context! { href => "/login", label_key => "nav.login" },
                    ..common()
                },
                vec!["2026-05-15 10:30", r#"href="/login""#],
            ),
            (
                "account",
                context! {
                    customer => context! { name => "岩井 太郎", customer_code => "12345678" },
                    emails => vec!["abcd*****", "0123*****"],
                    totp_enrolled => false,
                    sessions => vec![
                        context! {
                            sid => "sid-current", current => true,
                            created_at => "2026-05-01 09:00", last_seen_at => "2026-05-01 09:05",
                            user_agent => "Safari on iPhone", ip => "192.0.2.1",
                        },
                        context! {
                            sid => "sid-other", current => false,
                            created_at => "2026-04-30 20:00", last_seen_at => "2026-04-30 21:00",
                            user_agent => "Edge on Windows", ip => "198.51.100.7",
                        },
                    ],
                    passkeys => vec![
                        context! {
                            credential_id => "cred-1", provider => "iCloud Keychain",
                            nickname => "iPhone", created_at => "2026-04-01 10:00",
                            last_used_at => "2026-05-01 09:00",
                            backup_eligible => true, backup_state => true,
                        },
                        context! {
                            credential_id => "cred-2", provider => "Windows Hello",
                            nickname => (), created_at => "2026-04-02 10:00",
                            last_used_at => (),
                            backup_eligible => false, backup_state => false,
                        },
                    ],
                    passkeys_enabled => true,
                    passkeys_at_limit => false,
                    passkey_signal => context! {
                        rp_id => "broker.example", user_id => "AAECAwQFBgcICQoLDA0ODw",
                        credential_ids => "cred-1 cred-2", user_name => "12345678",
                        display_name => "岩井 太郎", details => false,
                    },
                    ..common()
                },
                vec![
                    "岩井 太郎",
                    "12345678",
                    "abcd*****",
                    r#"class="passkey-item""#,
                    r#"data-credential-id="cred-1""#,
                    r#"data-credential-ids="cred-1 cred-2""#,
                    r#"action="/account/passkeys/rename""#,
                    r#"action="/account/passkeys/delete""#,
                    r#"action="/account/passkeys/register""#,
                    r#"<button type="submit" id="passkey-register""#,
                    r#"action="/account/totp/start""#,
                    r#"action="/account/sessions/end""#,
                    r#"name="sid" value="sid-other""#,
                    r#"href="/logout""#,
                ],
            ),
            (
                "totp_enroll",
                context! {
                    qr_data_uri => "data:image/svg+xml;base64,PHN2Zy8+",
                    secret => "JBSW Y3DP EHPK 3PXP",
                    ..common()
                },
                vec![
                    "<img src=\"data:image",
                    "<code class=\"secret\">JBSW Y3DP EHPK 3PXP</code>",
                    r#"action="/account/totp/confirm""#,
                    r#"name="code""#,
                    r#"<button type="submit" id="otp-submit""#,
                ],
            ),
            (
                "logout",
                context! { client_name => "PlusNet", ..common() },
                vec![
                    r#"action="/logout""#,
                    "PlusNet",
                    r#"<button type="submit" id="logout-confirm""#,
                    r#"href="/account""#,
                ],
            ),
            (
                "passkey_confirm",
                context! { return_to => "/account", ..common() },
                vec![
                    r#"<button type="button" id="passkey-register-confirm""#,
                    r#"<meta name="csrf-token" content="csrf-token-123">"#,
                    r#"id="passkey-messages""#,
                    "<noscript>",
                ],
            ),
            (
                "passkey_stepup",
                context! { has_passkeys => true, return_to => "/authorize/continue?x=1", ..common() },
                vec![
                    r#"<button type="button" id="passkey-login""#,
                    r#"data-passkey="stepup""#,
                    r#"data-return-to="/authorize/continue?x=1""#,
                ],
            ),
            (
                "passkey_delete",
                context! {
                    passkey => context! {
                        credential_id => "cred-1", provider => "", nickname => "",
                        created_at => "2026-04-01 10:00",
                    },
                    ..common()
                },
                vec![
                    r#"action="/account/passkeys/delete""#,
                    r#"name="credential_id" value="cred-1""#,
                    r#"<button type="submit" id="passkey-delete-confirm""#,
                ],
            ),
        ]
    }

    /// No inline script, no inline style, no resource from elsewhere (strict CSP).
    fn assert_csp_clean(page: &str, html: &str) {
        for (at, _) in html.match_indices("<script") {
            let tag = &html[at..at + html[at..].find('>').expect("script tag ends")];
            assert!(
                tag.contains(" src=\"/static/"),
                "{page}: inline script {tag}"
            );
        }
        assert!(!html.contains("style="), "{page}: style attribute");
        assert!(!html.contains("<style"), "{page}: style element");
        assert!(!html.contains("http://"), "{page}: http URL");
        assert!(!html.contains("https://"), "{page}: https URL");
        for (at, _) in html.match_indices(" on") {
            let name: String = html[at + 3..]
                .chars()
                .take_while(char::is_ascii_alphabetic)
                .collect();
            let next = html[at + 3 + name.len()..].chars().next();
            assert!(
                next != Some('='),
                "{page}: event handler attribute on{name}"
            );
        }
    }

    /// Every form carries the CSRF token; every visible input has a label.
    fn assert_forms_accessible(page: &str, html: &str) {
        let forms = html.matches("<form").count();
        let tokens = html
            .matches(r#"<input type="hidden" name="csrf" value="csrf-token-123">"#)
            .count();
        assert_eq!(forms, tokens, "{page}: a form without csrf");
        for (at, _) in html.match_indices("<input") {
            let tag = &html[at..at + html[at..].find('>').expect("input tag ends")];
            if tag.contains(r#"type="hidden""#) {
                continue;
            }
            let id = tag
                .split(" id=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_else(|| panic!("{page}: input without id: {tag}"));
            assert!(
                html.contains(&format!("<label for=\"{id}\">")),
                "{page}: no label for #{id}"
            );
        }
        for (at, _) in html.match_indices("<button") {
            let tag = &html[at..at + html[at..].find('>').expect("button tag ends")];
            assert!(
                tag.contains(" type=\""),
                "{page}: button without type: {tag}"
            );
        }
    }

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
    fn every_text_a_template_names_exists() {
        let ja = parse_catalogue(Lang::Ja, CATALOGUE_JA).unwrap();
        let mut seen = 0;
        for (name, source) in TEMPLATES {
            for key in literal_keys(source) {
                assert!(ja.contains_key(key), "{name} uses missing text {key:?}");
                seen += 1;
            }
        }
        assert!(seen > 50, "the scan found only {seen} keys");
    }

    #[test]
    fn the_keys_handlers_use_for_errors_and_notices_exist() {
        let templates = templates();
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

    #[test]
    fn literal_keys_finds_only_lookups_of_t() {
        let source = r#"{{ t["a.b"] }} {{ at["no"] }} {{ t[error] }}{{t["c"]|fill(x=1)}}"#;
        assert_eq!(literal_keys(source), vec!["a.b", "c"]);
    }

    #[test]
    fn every_page_renders_in_both_languages_with_its_contract_names() {
        let templates = templates();
        for lang in LANGS {
            for (page, ctx, markers) in pages() {
                let html = templates
                    .render_page(page, lang, ctx)
                    .unwrap_or_else(|e| panic!("{page} {lang:?}: {e:?}"));
                assert!(html.starts_with("<!doctype html>"), "{page}");
                assert!(
                    html.contains(&format!("<html lang=\"{}\">", lang.as_str())),
                    "{page} {lang:?}"
                );
                assert!(html.contains(r#"<link rel="stylesheet" href="/static/kagi.css">"#));
                assert!(html.contains(r#"<script src="/static/kagi.js" defer></script>"#));
                assert!(html.contains(r#"hreflang="ja""#) && html.contains(r#"hreflang="en""#));
                assert!(html.contains(r#"aria-current="true">日本語"#) == (lang == Lang::Ja));
                for marker in markers {
                    assert!(
                        html.contains(marker),
                        "{page} {lang:?} lacks {marker}\n{html}"
                    );
                }
                assert_csp_clean(page, &html);
                assert_forms_accessible(page, &html);
                // A lookup that fell back to its key would show up as "word.word".
                assert!(!html.contains(">login."), "{page}: untranslated text");
            }
        }
    }

    #[test]
    fn pages_speak_the_requested_language() {
        let templates = templates();
        let (_, ctx, _) = pages().remove(0);
        let ja = templates
            .render_page("login", Lang::Ja, ctx.clone())
            .unwrap();
        let en = templates.render_page("login.html", Lang::En, ctx).unwrap();
        assert!(ja.contains("パスキーでログイン") && ja.contains("お客様コード"));
        assert!(ja.contains("ログインパスワード"));
        assert!(en.contains("Log in with passkey") && en.contains("Customer code"));
        assert!(!en.contains("パスキー"));
    }

    #[test]
    fn the_step_up_heading_differs_from_the_login_heading() {
        let templates = templates();
        let ctx = |purpose: &str| context! { purpose => purpose, masked => "ab***", ..common() };
        let login = templates
            .render_page("factor_code", Lang::Ja, ctx("login"))
            .unwrap();
        let step_up = templates
            .render_page("factor_code", Lang::Ja, ctx("step_up"))
            .unwrap();
        assert!(login.contains("<h1>二要素認証</h1>"));
        assert!(step_up.contains("<h1>本人確認のための追加認証</h1>"));
        assert!(step_up.contains("認証する") && step_up.contains("戻る"));
    }

    #[test]
    fn errors_and_notices_render_in_live_regions_linked_to_the_fields() {
        let templates = templates();
        let ctx = context! {
            customer_code => "", return_to => "/", passkey_enabled => false,
            error => "login.failed", notice => "session.expired", ..common()
        };
        let html = templates.render_page("login", Lang::Ja, ctx).unwrap();
        assert!(html.contains(
            r#"role="alert" id="form-error">お客様コードまたはログインパスワードが正しくありません"#
        ));
        assert!(html.contains(r#"role="status">一定時間操作がなかったため"#));
        assert!(html.contains(r#"aria-describedby="form-error lock-hint""#));
        assert!(html.contains(r#"aria-invalid="true""#));
        assert!(!html.contains("passkey-login"));
    }

    #[test]
    fn pages_render_when_error_notice_and_language_links_are_left_out() {
        let templates = templates();
        let ctx = context! {
            csrf => "x",
            heading => "error.internal.heading",
            message => "error.internal",
        };
        let html = templates.render_page("message", Lang::En, ctx).unwrap();
        assert!(html.contains("<h1>System error</h1>"));
        assert!(!html.contains("role=\"alert\"") && !html.contains("hreflang"));
    }

    #[test]
    fn an_unknown_error_key_shows_the_key_instead_of_failing() {
        let templates = templates();
        let ctx = context! {
            heading => "error.internal.heading", message => "no.such.key",
            error => "no.such.error", ..common()
        };
        let html = templates.render_page("message", Lang::Ja, ctx).unwrap();
        assert!(html.contains("no.such.key") && html.contains("no.such.error"));
        assert_eq!(templates.text(Lang::En, "no.such.key"), "no.such.key");
    }

    #[test]
    fn a_missing_variable_is_an_internal_error() {
        let templates = templates();
        let err = templates
            .render_page("login", Lang::Ja, common())
            .unwrap_err();
        assert!(matches!(err, Error::Internal(_)), "{err:?}");
    }

    #[test]
    fn unknown_pages_and_partials_are_refused() {
        let templates = templates();
        for name in [
            "base",
            "base.html",
            "_code_input",
            "nope",
            "mail/email_code",
        ] {
            let err = templates.render_page(name, Lang::Ja, common()).unwrap_err();
            assert!(matches!(err, Error::Internal(_)), "{name}");
        }
        let err = templates
            .render_mail("_footer", Lang::Ja, context! {})
            .unwrap_err();
        assert!(matches!(err, Error::Internal(_)));
    }

    #[test]
    fn page_values_are_html_escaped() {
        let templates = templates();
        let (_, ctx, _) = pages().remove(5);
        let evil = "<script>alert(1)</script>";
        let ctx = context! {
            customer => context! { name => evil, customer_code => "\"><b>x" },
            ..ctx
        };
        let html = templates.render_page("account", Lang::En, ctx).unwrap();
        assert!(!html.contains(evil) && !html.contains("<b>x"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("&quot;&gt;&lt;b&gt;x"));
        assert_csp_clean("account", &html);
    }

    #[test]
    fn the_account_page_without_passkeys_says_so_and_offers_what_fits() {
        let templates = templates();
        let (_, ctx, _) = pages().remove(5);
        let ctx = context! {
            passkeys => Vec::<Value>::new(), passkeys_enabled => false, passkey_signal => (),
            totp_enrolled => true, ..ctx
        };
        let html = templates.render_page("account", Lang::Ja, ctx).unwrap();
        assert!(html.contains("パスキーはまだ登録されていません。"));
        assert!(html.contains("パスキーの登録は準備中です"));
        assert!(html.contains("パスワード設定") && html.contains("設定済み"));
        assert!(!html.contains("passkey-item") && !html.contains("passkey-register"));
        assert!(!html.contains("/account/totp/start"));
        assert!(html.contains("この端末"));
    }

    /// A representative context for each mail and the value it must show.
    fn mails() -> Vec<(&'static str, Value, &'static str)> {
        vec![
            (
                "email_code",
                context! { name => "岩井 太郎", code => "042917", minutes => 10 },
                "042917",
            ),
            (
                "account_locked",
                context! { name => "岩井 太郎", until => "2026-05-15 10:30" },
                "2026-05-15 10:30",
            ),
            (
                "login_notice",
                context! {
                    name => "岩井 太郎", at => "2026-05-15 09:00",
                    method => "method.password_email", ip => "192.0.2.1",
                },
                "192.0.2.1",
            ),
            (
                "passkey_added",
                context! { name => "岩井 太郎", provider => "iCloud Keychain", at => "2026-05-15 09:00" },
                "iCloud Keychain",
            ),
            (
                "passkey_removed",
                context! { name => "岩井 太郎", provider => "Windows Hello", at => "2026-05-15 09:00" },
                "Windows Hello",
            ),
            (
                "totp_enrolled",
                context! { name => "岩井 太郎", at => "2026-05-15 09:05" },
                "2026-05-15 09:05",
            ),
        ]
    }

    #[test]
    fn every_mail_renders_in_both_languages_without_any_link() {
        let templates = templates();
        assert_eq!(mails().len(), MAILS.len());
        for lang in LANGS {
            for (mail, ctx, shown) in mails() {
                let (subject, body) = templates
                    .render_mail(mail, lang, ctx)
                    .unwrap_or_else(|e| panic!("{mail} {lang:?}: {e:?}"));
                assert!(subject.starts_with("【Kagi】") || subject.starts_with("[Kagi]"));
                assert!(body.contains(shown), "{mail} {lang:?}\n{body}");
                assert!(body.contains("岩井 太郎"));
                for text in [&subject, &body] {
                    for urlish in ["http", "://", "www."] {
                        assert!(!text.contains(urlish), "{mail} {lang:?} has {urlish}");
                    }
                    assert!(
                        !text.contains("{{") && !text.contains('{'),
                        "{mail}: unfilled"
                    );
                }
            }
        }
    }

    #[test]
    fn mails_are_plain_text_and_not_escaped() {
        let templates = templates();
        let ctx = context! { name => "O'Brien & <Co>", code => "123456", minutes => 10 };
        let (subject, body) = templates.render_mail("email_code", Lang::En, ctx).unwrap();
        assert_eq!(subject, "[Kagi] Your verification code");
        assert!(body.starts_with("Dear O'Brien & <Co>,\n\n"));
        assert!(body.contains("Verification code: 123456\nValid for: 10 minutes"));
    }

    #[test]
    fn the_login_notice_names_the_method_in_the_mail_language() {
        let templates = templates();
        let (_, ctx, _) = mails().remove(2);
        let (_, ja) = templates
            .render_mail("login_notice", Lang::Ja, ctx.clone())
            .unwrap();
        let (_, en) = templates
            .render_mail("login_notice", Lang::En, ctx)
            .unwrap();
        assert!(ja.contains("認証方法：ログインパスワード＋メール認証"));
        assert!(en.contains("Method: Login password + email verification code"));
    }

    #[test]
    fn fill_does_not_expand_placeholders_inside_values() {
        let templates = templates();
        let ctx = context! { name => "{code}", code => "999999", minutes => 10 };
        let (_, body) = templates.render_mail("email_code", Lang::Ja, ctx).unwrap();
        assert!(body.starts_with("{code} 様\n"));
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
    fn static_assets_are_served_with_their_types() {
        let (css_type, css) = static_asset("kagi.css").unwrap();
        assert_eq!(css_type, "text/css; charset=utf-8");
        assert!(css.contains(":focus-visible") && css.contains("Hiragino Sans"));
        let (js_type, js) = static_asset("kagi.js").unwrap();
        assert_eq!(js_type, "text/javascript; charset=utf-8");
        assert!(js.starts_with("\"use strict\";"));
        assert_eq!(static_asset("../Cargo.toml"), None);
        assert_eq!(static_asset("/static/kagi.css"), None);
    }

    #[test]
    fn templates_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync + fmt::Debug>() {}
        assert_send_sync::<Templates>();
        let debug = format!("{:?}", templates());
        assert!(debug.starts_with("Templates {"));
    }
}
