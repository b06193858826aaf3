//! Every page rendered in both languages: its contract names (the ids and
//! names the browser tests and scripts rely on), a strict CSP, labelled
//! inputs and CSRF tokens in every form.

mod samples;

use minijinja::context;
use minijinja::value::Value;

use super::{Lang, Templates};
use crate::error::Error;
use samples::{common, pages};

const LANGS: [Lang; 2] = [Lang::Ja, Lang::En];

fn templates() -> Templates {
    Templates::load().expect("templates load")
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
