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
//!
//! - `i18n.rs`: [`Lang`] and its negotiation (`ui_locales`,
//!   `Accept-Language`), the catalogues and their checks.
//! - `engine.rs`: the minijinja environment, its formatter and `fill`.
//! - [`pages`] and [`mails`]: the typed context of each page and mail.
//! - `assets.rs`: the CSS and scripts served under `/static/` (named apart
//!   from `http/static_files.rs`, which serves them).

mod assets;
mod engine;
mod i18n;
pub mod mails;
pub mod pages;

use std::fmt;
use std::sync::Arc;

use anyhow::{anyhow, bail};
use minijinja::value::{Serde, Value, merge_maps};
use minijinja::{Environment, context};
use serde::Serialize;

pub use assets::static_asset;
pub use i18n::Lang;
use i18n::{
    CATALOGUE_EN, CATALOGUE_JA, Catalogue, check_catalogues, literal_keys, parse_catalogue,
};

use crate::error::{Error, Result};

/// Embeds `templates/<name>` as a `(name, source)` pair.
macro_rules! embed {
    ($name:literal) => {
        ($name, include_str!(concat!("../../templates/", $name)))
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
    embed!("transaction_confirm.html"),
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
    "transaction_confirm",
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

        let env = engine::environment(TEMPLATES)?;
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
    pub fn render_page(&self, name: &str, lang: Lang, ctx: impl Serialize) -> Result<String> {
        let page = name.strip_suffix(".html").unwrap_or(name);
        if !PAGES.contains(&page) {
            return Err(Error::Internal(anyhow!("no page template named {name:?}")));
        }
        let defaults = context! { error => (), notice => (), lang_urls => () };
        let ctx = merge_maps([defaults, Value::from(Serde(ctx)), self.fixed_context(lang)]);
        self.render(&format!("{page}.html"), ctx)
    }

    /// Renders the mail `templates/mail/<name>.txt` and returns its subject
    /// (the text `mail.<name>.subject`) and plain-text body.
    ///
    /// Adds `lang`, `other_lang` and the catalogue `t` to `ctx`. An unknown mail
    /// or a failed render is an [`Error::Internal`].
    pub fn render_mail(
        &self,
        name: &str,
        lang: Lang,
        ctx: impl Serialize,
    ) -> Result<(String, String)> {
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
        let ctx = merge_maps([Value::from(Serde(ctx)), self.fixed_context(lang)]);
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

#[cfg(test)]
mod page_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn templates() -> Templates {
        Templates::load().expect("templates load")
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
    fn templates_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync + fmt::Debug>() {}
        assert_send_sync::<Templates>();
        let debug = format!("{:?}", templates());
        assert!(debug.starts_with("Templates {"));
    }
}
