//! Driving the hosted pages over HTTP as a browser without JavaScript would:
//! GET a page, read its CSRF token, POST the form, follow the redirect.

use reqwest::header::{LOCATION, SET_COOKIE};

use super::TestApp;

/// A response as a page test needs it.
#[derive(Debug)]
pub struct Page {
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub html: String,
    /// `Location`, for redirects.
    pub location: Option<String>,
    /// Every `Set-Cookie` header.
    pub set_cookies: Vec<String>,
}

impl Page {
    /// Reads a response of any client.
    pub async fn from(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(LOCATION)
            .map(|v| v.to_str().unwrap().to_owned());
        let set_cookies = response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        let html = response.text().await.unwrap();
        Self {
            status,
            html,
            location,
            set_cookies,
        }
    }

    /// The value of the hidden `csrf` field.
    pub fn csrf(&self) -> String {
        attribute_after(&self.html, "name=\"csrf\"", "value")
            .unwrap_or_else(|| panic!("no csrf field in {}", self.html))
    }

    /// Whether the page shows the text of catalogue key `key` in language `lang`.
    pub fn shows(&self, app: &TestApp, lang: kagi::templates::Lang, key: &str) -> bool {
        let text = app.state.templates.text(lang, key);
        let escaped = text
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&#x27;");
        self.html.contains(&text) || self.html.contains(&escaped)
    }
}

/// Value of attribute `attr` in the tag that contains `marker`.
pub fn attribute_after(html: &str, marker: &str, attr: &str) -> Option<String> {
    let at = html.find(marker)?;
    let tag_start = html[..at].rfind('<')?;
    let tag_end = at + html[at..].find('>')?;
    let tag = &html[tag_start..tag_end];
    let key = format!("{attr}=\"");
    let from = tag.find(&key)? + key.len();
    let len = tag[from..].find('"')?;
    Some(tag[from..from + len].to_owned())
}

/// An attribute value as the browser reads it (undoing the template's escapes).
pub fn unescape_html(value: &str) -> String {
    value
        .replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The first run of exactly six digits in `text` (the code in a mail).
pub fn six_digits(text: &str) -> String {
    let bytes = text.as_bytes();
    for i in 0..bytes.len() {
        let run = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        let before_is_digit = i > 0 && bytes[i - 1].is_ascii_digit();
        if run == 6 && !before_is_digit {
            return text[i..i + 6].to_owned();
        }
    }
    panic!("no 6-digit code in {text}");
}

impl TestApp {
    /// GET a page with the app's own client (cookies kept, redirects not followed).
    pub async fn page(&self, path: &str) -> Page {
        Page::from(self.get(path).await).await
    }

    /// GET with an `Accept-Language` header.
    pub async fn page_in(&self, path: &str, accept_language: &str) -> Page {
        let response = self
            .http
            .get(self.url(path))
            .header("accept-language", accept_language)
            .send()
            .await
            .unwrap();
        Page::from(response).await
    }

    /// POST a form with this session's current CSRF token (read from the logout page, which any session can see).
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.page("/logout").await.csrf();
        let mut form: Vec<(&str, &str)> = vec![("csrf", &csrf)];
        form.extend_from_slice(fields);
        self.post_raw(path, &form).await
    }

    /// POST exactly these fields.
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let response = self
            .http
            .post(self.url(path))
            .form(fields)
            .send()
            .await
            .unwrap();
        Page::from(response).await
    }

    /// Creates a customer directly in the store; returns its `sub`.
    pub async fn create_customer(&self, code: &str, password: &str, emails: &[&str]) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let code = kagi::model::CustomerCode::parse(code).unwrap();
        let hash = kagi::crypto::password::hash(&password.to_owned().into()).unwrap();
        let emails: Vec<_> = emails
            .iter()
            .map(|e| kagi::model::Email::parse(e).unwrap())
            .collect();
        // The WebAuthn user handle: 16 random bytes, base64url (as `kagi user add` makes it).
        let handle = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            uuid::Uuid::new_v4().as_bytes(),
        );
        let new = kagi::store::users::NewCustomer {
            id: &id,
            customer_code: &code,
            name: "山田 太郎",
            password_hash: &hash,
            webauthn_user_id: &handle,
            emails: &emails,
        };
        self.state
            .store
            .insert_customer(&new, self.clock.now())
            .await
            .unwrap();
        id
    }

    /// Customer code + password: returns the page the login form leads to.
    pub async fn submit_password(&self, code: &str, password: &str) -> Page {
        self.page("/login").await;
        self.post(
            "/login",
            &[
                ("customer_code", code),
                ("password", password),
                ("return_to", "/account"),
            ],
        )
        .await
    }

    /// Sends an email code to address `index` and returns it as read from the SMTP server.
    pub async fn send_email_code(&self, index: usize, to: &str) -> String {
        let already = self
            .smtp
            .messages()
            .iter()
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(to)))
            .count();
        let sent = self
            .post("/login/email", &[("email_index", &index.to_string())])
            .await;
        assert_eq!(sent.status, 303, "{}", sent.html);
        assert_eq!(sent.location.as_deref(), Some("/login/code"));
        let mails = self.smtp.wait_for(to, already + 1).await;
        six_digits(&mails.last().unwrap().body)
    }

    /// A full password + email-code login; returns the final redirect.
    pub async fn log_in_with_email_code(&self, code: &str, password: &str, email: &str) -> Page {
        let page = self.submit_password(code, password).await;
        assert_eq!(
            page.location.as_deref(),
            Some("/login/email"),
            "{}",
            page.html
        );
        let otp = self.send_email_code(0, email).await;
        self.post("/login/code", &[("code", &otp)]).await
    }
}
