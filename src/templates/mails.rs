//! What each mail's template reads: one `Serialize` struct per mail, for
//! the same reasons the pages have theirs (`pages.rs`). Every mail greets
//! the customer by `name`.

use serde::Serialize;

/// `mail/email_code.txt`: a one-time code.
#[derive(Debug, Serialize)]
pub struct EmailCodeMail<'a> {
    /// The customer's name.
    pub name: &'a str,
    /// The six-digit code.
    pub code: &'a str,
    /// How long the code is valid.
    pub minutes: i64,
}

/// `mail/account_locked.txt`: too many wrong passwords.
#[derive(Debug, Serialize)]
pub struct AccountLockedMail<'a> {
    /// The customer's name.
    pub name: &'a str,
    /// When the lock ends (RFC 3339).
    pub until: String,
}

/// `mail/login_notice.txt`: a login happened.
#[derive(Debug, Serialize)]
pub struct LoginNoticeMail<'a> {
    /// The customer's name.
    pub name: &'a str,
    /// When (RFC 3339).
    pub at: String,
    /// Catalogue key of the method, `method.<method>`.
    pub method: String,
    /// From which address.
    pub ip: &'a str,
}

/// `mail/passkey_added.txt` and `mail/passkey_removed.txt`.
#[derive(Debug, Serialize)]
pub struct PasskeyChangeMail<'a> {
    /// The customer's name.
    pub name: &'a str,
    /// The passkeys' makers, comma-separated.
    pub provider: String,
    /// When (RFC 3339).
    pub at: String,
}

/// `mail/totp_enrolled.txt`: an authenticator app was set up.
#[derive(Debug, Serialize)]
pub struct TotpEnrolledMail<'a> {
    /// The customer's name.
    pub name: &'a str,
    /// When (RFC 3339).
    pub at: String,
}

#[cfg(test)]
mod tests {
    use minijinja::value::{Serde, Value};

    use super::*;
    use crate::templates::{Lang, MAILS, Templates};

    const LANGS: [Lang; 2] = [Lang::Ja, Lang::En];

    fn templates() -> Templates {
        Templates::load().expect("templates load")
    }

    fn mail(ctx: impl Serialize) -> Value {
        Value::from(Serde(ctx))
    }

    /// A representative context for each mail and the value it must show.
    fn mails() -> Vec<(&'static str, Value, &'static str)> {
        vec![
            (
                "email_code",
                mail(EmailCodeMail {
                    name: "岩井 太郎",
                    code: "042917",
                    minutes: 10,
                }),
                "042917",
            ),
            (
                "account_locked",
                mail(AccountLockedMail {
                    name: "岩井 太郎",
                    until: "2026-05-15 10:30".to_owned(),
                }),
                "2026-05-15 10:30",
            ),
            (
                "login_notice",
                mail(LoginNoticeMail {
                    name: "岩井 太郎",
                    at: "2026-05-15 09:00".to_owned(),
                    method: "method.password_email".to_owned(),
                    ip: "192.0.2.1",
                }),
                "192.0.2.1",
            ),
            (
                "passkey_added",
                mail(PasskeyChangeMail {
                    name: "岩井 太郎",
                    provider: "iCloud Keychain".to_owned(),
                    at: "2026-05-15 09:00".to_owned(),
                }),
                "iCloud Keychain",
            ),
            (
                "passkey_removed",
                mail(PasskeyChangeMail {
                    name: "岩井 太郎",
                    provider: "Windows Hello".to_owned(),
                    at: "2026-05-15 09:00".to_owned(),
                }),
                "Windows Hello",
            ),
            (
                "totp_enrolled",
                mail(TotpEnrolledMail {
                    name: "岩井 太郎",
                    at: "2026-05-15 09:05".to_owned(),
                }),
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
        let ctx = EmailCodeMail {
            name: "O'Brien & <Co>",
            code: "123456",
            minutes: 10,
        };
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
        let ctx = EmailCodeMail {
            name: "{code}",
            code: "999999",
            minutes: 10,
        };
        let (_, body) = templates.render_mail("email_code", Lang::Ja, ctx).unwrap();
        assert!(body.starts_with("{code} 様\n"));
    }
}
