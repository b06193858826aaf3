//! The minijinja environment every page and mail is rendered in: strict
//! about undefined values, HTML-escaping pages only, with Kagi's formatter
//! and its `fill` filter.

use std::fmt;

use anyhow::Context as _;
use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Kwargs, Value};
use minijinja::{AutoEscape, Environment, ErrorKind, Output, State, UndefinedBehavior};

use super::i18n::is_placeholder;

/// An environment holding `templates`, each a `(name, source)` pair.
pub(super) fn environment(
    templates: &[(&'static str, &'static str)],
) -> anyhow::Result<Environment<'static>> {
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
    for (name, source) in templates {
        env.add_template(name, source)
            .with_context(|| format!("template {name} does not compile"))?;
    }
    Ok(env)
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
