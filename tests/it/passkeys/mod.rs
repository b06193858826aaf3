//! Passkeys end to end over HTTP with a software authenticator
//! (`docs/passkeys.md`; `docs/security.md#r2`, `#r3`, `#r9`, `#r17` to `#r25`),
//! on SQLite and PostgreSQL.
//!
//! [`Web`] is one browser: its own cookie jar, the forms a customer submits
//! and the JSON calls `kagi.js` makes.

mod login;
mod manage;
mod registration;

use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::SET_COOKIE;
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::helpers::authenticator::Authenticator;
use crate::helpers::browser::{Page, attribute_after, unescape_html};
use crate::helpers::customer::{CODE, EMAIL, PASSWORD};

/// The answer to a JSON call.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The JSON body.
    pub body: Value,
    /// The session cookie value set by this answer, if any.
    pub cookie: Option<String>,
}

/// One browser.
pub struct Web<'a> {
    app: &'a TestApp,
    http: reqwest::Client,
    cookie: Mutex<Option<String>>,
    email: String,
}

fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("__Host-kagi_session="))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
}

impl<'a> Web<'a> {
    /// The app's own client (`app.page`, `app.post` share its cookies).
    pub fn of(app: &'a TestApp) -> Self {
        Self {
            app,
            http: app.http.clone(),
            cookie: Mutex::new(None),
            email: EMAIL.to_owned(),
        }
    }

    /// Another browser, with an empty cookie jar.
    pub fn other(app: &'a TestApp) -> Self {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .resolve("localhost", app.addr)
            .build()
            .unwrap();
        Self {
            app,
            http,
            cookie: Mutex::new(None),
            email: EMAIL.to_owned(),
        }
    }

    /// The same browser, reading email codes from `email` (another customer's first address).
    pub fn reading(mut self, email: &str) -> Self {
        self.email = email.to_owned();
        self
    }

    fn note(&self, response: &reqwest::Response) {
        if let Some(value) = session_cookie(response) {
            *self.cookie.lock().unwrap() = Some(value);
        }
    }

    /// The last session cookie value the server set for this browser.
    pub fn cookie(&self) -> Option<String> {
        self.cookie.lock().unwrap().clone()
    }

    /// The session id behind this browser's cookie.
    pub async fn sid(&self) -> String {
        let handle = self.cookie().expect("a session cookie");
        let session = self
            .app
            .state
            .store
            .find_session(
                &kagi::crypto::random::hash_secret(&handle),
                self.app.clock.now(),
                3600,
            )
            .await
            .unwrap()
            .expect("a live session");
        session.sid
    }

    /// `GET path`.
    pub async fn page(&self, path: &str) -> Page {
        let response = self.http.get(self.app.url(path)).send().await.unwrap();
        self.note(&response);
        Page::from(response).await
    }

    /// This session's CSRF token (from the logout page, which any session sees).
    pub async fn csrf(&self) -> String {
        self.page("/logout").await.csrf()
    }

    /// POST a form with this session's CSRF token.
    pub async fn form(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.csrf().await;
        let mut form: Vec<(&str, &str)> = vec![("csrf", &csrf)];
        form.extend_from_slice(fields);
        let response = self
            .http
            .post(self.app.url(path))
            .form(&form)
            .send()
            .await
            .unwrap();
        self.note(&response);
        Page::from(response).await
    }

    /// POST JSON as `kagi.js` does, with the CSRF token in `X-CSRF-Token`.
    pub async fn json(&self, path: &str, body: &Value) -> Answer {
        let csrf = self.csrf().await;
        self.json_with_token(path, body, &csrf).await
    }

    /// POST JSON with the given CSRF header value.
    pub async fn json_with_token(&self, path: &str, body: &Value, csrf: &str) -> Answer {
        let response = self
            .http
            .post(self.app.url(path))
            .header("x-csrf-token", csrf)
            .json(body)
            .send()
            .await
            .unwrap();
        self.note(&response);
        let cookie = session_cookie(&response);
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{path} answered non-JSON ({e}): {status} {text}"));
        Answer {
            status,
            body,
            cookie,
        }
    }

    /// Sends an email code to the first address and returns it, read from the SMTP server.
    pub async fn email_code(&self, to: &str) -> String {
        self.code_sent_by("/login/email", &[("email_index", "0")], to)
            .await
    }

    /// Posts a form that mails a code to `to` (303 expected) and returns the code.
    pub async fn code_sent_by(&self, path: &str, fields: &[(&str, &str)], to: &str) -> String {
        let before = codes_to(self.app, to).len();
        let sent = self.form(path, fields).await;
        assert_eq!(sent.status, 303, "{}", sent.html);
        for _ in 0..500 {
            let codes = codes_to(self.app, to);
            if codes.len() > before {
                return codes.last().unwrap().clone();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no email code arrived for {to}");
    }

    /// Customer code + password + email code, as the test customer.
    pub async fn log_in(&self) {
        self.log_in_as(CODE, PASSWORD).await;
    }

    /// Customer code + password + email code.
    pub async fn log_in_as(&self, code: &str, password: &str) {
        self.page("/login").await;
        let after = self
            .form(
                "/login",
                &[
                    ("customer_code", code),
                    ("password", password),
                    ("return_to", "/account"),
                ],
            )
            .await;
        assert_eq!(after.location.as_deref(), Some("/login/email"));
        let code = self.email_code(&self.email).await;
        let done = self.form("/login/code", &[("code", &code)]).await;
        assert_eq!(done.location.as_deref(), Some("/account"), "{}", done.html);
    }

    /// Follows a step-up link (`/stepup?...`) through the email code; returns where it leads.
    pub async fn step_up_by_email_at(&self, link: &str) -> String {
        let start = self.page(link).await;
        assert_eq!(start.status, 200, "{}", start.html);
        assert!(start.html.contains(r#"id="otp-send""#), "{}", start.html);
        let return_to = attribute_after(&start.html, r#"name="return_to""#, "value")
            .map(|v| unescape_html(&v))
            .expect("the step-up form carries return_to");
        let fields = [("email_index", "0"), ("return_to", return_to.as_str())];
        let code = self.code_sent_by("/stepup", &fields, &self.email).await;
        let done = self.form("/login/code", &[("code", &code)]).await;
        assert_eq!(done.status, 303, "{}", done.html);
        done.location.unwrap()
    }

    /// An email-code step-up returning to the account page.
    pub async fn step_up_by_email(&self) {
        let to = self
            .step_up_by_email_at("/stepup?return_to=%2Faccount")
            .await;
        assert_eq!(to, "/account");
    }

    /// Registration start (JSON).
    pub async fn register_start(&self) -> Answer {
        self.json("/account/passkeys/register/start", &json!({}))
            .await
    }

    /// Registration finish (JSON) with an authenticator's response.
    pub async fn register_finish(&self, ceremony: &Value, credential: &Value) -> Answer {
        self.json(
            "/account/passkeys/register/finish",
            &json!({ "ceremony": ceremony, "credential": credential }),
        )
        .await
    }

    /// The whole registration ceremony with `auth`; the step-up must be there.
    pub async fn register(&self, auth: &mut Authenticator) -> Answer {
        let start = self.register_start().await;
        assert_eq!(start.status, 200, "{:?}", start.body);
        let credential = auth
            .create(&start.body["options"]["publicKey"])
            .expect("the authenticator creates a credential");
        self.register_finish(&start.body["ceremony"], &credential)
            .await
    }

    /// A discoverable passkey login with `auth` (the button: no mediation).
    pub async fn passkey_login(&self, auth: &mut Authenticator) -> Answer {
        self.page("/login").await;
        let start = self
            .json("/passkey/login/start", &json!({ "conditional": false }))
            .await;
        assert_eq!(start.status, 200, "{:?}", start.body);
        let credential = auth
            .get(&start.body["options"]["publicKey"])
            .expect("the authenticator has a credential");
        self.json(
            "/passkey/login/finish",
            &json!({
                "ceremony": start.body["ceremony"],
                "credential": credential,
                "return_to": "/account",
            }),
        )
        .await
    }

    /// A passkey step-up with `auth`, continuing at `return_to`.
    pub async fn passkey_step_up(&self, auth: &mut Authenticator, return_to: &str) -> Answer {
        let start = self.json("/passkey/stepup/start", &json!({})).await;
        assert_eq!(start.status, 200, "{:?}", start.body);
        let credential = auth
            .get(&start.body["options"]["publicKey"])
            .expect("the authenticator has a credential");
        self.json(
            "/passkey/stepup/finish",
            &json!({
                "ceremony": start.body["ceremony"],
                "credential": credential,
                "return_to": return_to,
            }),
        )
        .await
    }
}

/// Every email code sent to `to` so far, oldest first.
pub fn codes_to(app: &TestApp, to: &str) -> Vec<String> {
    app.smtp
        .messages()
        .iter()
        .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(to)))
        .filter_map(|m| six_digit_run(&m.body))
        .collect()
}

fn six_digit_run(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    (0..bytes.len()).find_map(|i| {
        let run = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        let starts = i == 0 || !bytes[i - 1].is_ascii_digit();
        (starts && run == 6).then(|| text[i..i + 6].to_owned())
    })
}

/// Mails to `to` whose subject contains `subject`.
pub fn mails_to(app: &TestApp, to: &str, subject: &str) -> Vec<crate::helpers::smtp::ReceivedMail> {
    app.smtp
        .messages()
        .into_iter()
        .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(to)) && m.subject.contains(subject))
        .collect()
}

/// Waits until `count` mails to `to` have `subject` in their subject line.
pub async fn wait_for_mail(
    app: &TestApp,
    to: &str,
    subject: &str,
    count: usize,
) -> Vec<crate::helpers::smtp::ReceivedMail> {
    for _ in 0..500 {
        let found = mails_to(app, to, subject);
        if found.len() >= count {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no mail {subject:?} to {to}");
}

/// The audit events of the customer (newest first).
pub async fn audit(app: &TestApp) -> Vec<kagi::audit::AuditRecord> {
    app.state
        .store
        .list_audit_events(Some(CODE), 200)
        .await
        .unwrap()
}

/// An authenticator for this server's origin.
pub fn device(app: &TestApp) -> Authenticator {
    Authenticator::new(&app.base)
}

/// A synced-passkey authenticator for this server's origin.
pub fn synced_device(app: &TestApp) -> Authenticator {
    Authenticator::synced(&app.base)
}
