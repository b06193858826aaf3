//! Test customers: the shared password and addresses, a builder that writes a
//! customer straight into the store, and the operator's authenticator-app
//! enrolment.

use super::{Backend, TestApp};

/// The password every test customer has unless a test picks another.
pub const PASSWORD: &str = "correct horse battery";
/// The customer code a builder uses unless told otherwise.
pub const CODE: &str = "C0001234";
/// The first address of the default customer.
pub const EMAIL: &str = "taro@example.jp";
/// A second address, for tests that choose where the code goes.
pub const WORK_EMAIL: &str = "taro.work@example.com";

/// A customer in the store, with what a test needs to log in as them.
#[derive(Clone, Debug)]
pub struct Customer {
    /// The OpenID Connect `sub`.
    pub sub: String,
    /// The customer code typed at login.
    pub code: String,
    /// The password typed at login.
    pub password: String,
    /// The authenticator-app seed, when the builder enrolled one.
    pub totp: Option<Vec<u8>>,
}

/// A customer about to be created; from [`TestApp::customer`].
#[must_use = "nothing is created until `create` or `log_in`"]
pub struct NewCustomer<'a> {
    app: &'a TestApp,
    code: String,
    password: String,
    emails: Vec<String>,
    totp: bool,
}

impl NewCustomer<'_> {
    /// Uses customer code `code` instead of [`CODE`].
    pub fn code(mut self, code: &str) -> Self {
        code.clone_into(&mut self.code);
        self
    }

    /// Uses `password` instead of [`PASSWORD`].
    pub fn password(mut self, password: &str) -> Self {
        password.clone_into(&mut self.password);
        self
    }

    /// Gives the customer these addresses, in this order, instead of [`EMAIL`].
    pub fn emails(mut self, emails: &[&str]) -> Self {
        self.emails = emails.iter().map(|e| (*e).to_owned()).collect();
        self
    }

    /// Enrols an authenticator app as an operator would, once created.
    pub fn with_totp(mut self) -> Self {
        self.totp = true;
        self
    }

    /// Writes the customer into the store.
    pub async fn create(self) -> Customer {
        let app = self.app;
        let sub = uuid::Uuid::new_v4().to_string();
        let code = kagi::model::CustomerCode::parse(&self.code).unwrap();
        let hash = kagi::crypto::password::hash(&self.password.clone().into()).unwrap();
        let emails: Vec<_> = self
            .emails
            .iter()
            .map(|e| kagi::model::Email::parse(e).unwrap())
            .collect();
        // The WebAuthn user handle: 16 random bytes, base64url (as `kagi user add` makes it).
        let handle = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            uuid::Uuid::new_v4().as_bytes(),
        );
        let new = kagi::store::customers::NewCustomer {
            id: &sub,
            customer_code: &code,
            name: "山田 太郎",
            password_hash: &hash,
            webauthn_user_id: &handle,
            emails: &emails,
        };
        app.state
            .store
            .insert_customer(&new, app.clock.now())
            .await
            .unwrap();
        let totp = self.totp.then(|| app.enroll_totp(&self.code));
        Customer {
            sub,
            code: self.code,
            password: self.password,
            totp,
        }
    }

    /// Creates the customer and logs them in on `app.http` with their
    /// password and a code mailed to their first address.
    pub async fn log_in(self) -> Customer {
        let app = self.app;
        let first = self.emails[0].clone();
        let customer = self.create().await;
        let done = app
            .log_in_with_email_code(&customer.code, &customer.password, &first)
            .await;
        assert_eq!(done.status, 303, "{}", done.html);
        customer
    }
}

impl TestApp {
    /// A builder for a customer with code [`CODE`], password [`PASSWORD`]
    /// and the one address [`EMAIL`].
    pub fn customer(&self) -> NewCustomer<'_> {
        NewCustomer {
            app: self,
            code: CODE.to_owned(),
            password: PASSWORD.to_owned(),
            emails: vec![EMAIL.to_owned()],
            totp: false,
        }
    }

    /// Enrols an authenticator app for `code` with `kagi user totp-enroll`;
    /// returns the seed the app would hold.
    pub fn enroll_totp(&self, code: &str) -> Vec<u8> {
        let args = ["--json", "user", "totp-enroll", "--customer-code", code];
        let enrolled = self.cli(&args, None);
        assert!(enrolled.success, "{enrolled:?}");
        totp_secret(enrolled.json()["otpauth_uri"].as_str().unwrap())
    }
}

/// Spawns Kagi with `extra` settings and the default customer holding both
/// [`EMAIL`] and [`WORK_EMAIL`]; returns the app and the customer's `sub`.
pub async fn app_with_customer(backend: Backend, extra: &[(&str, &str)]) -> (TestApp, String) {
    let app = TestApp::spawn_with(backend, extra).await;
    let sub = app
        .customer()
        .emails(&[EMAIL, WORK_EMAIL])
        .create()
        .await
        .sub;
    (app, sub)
}

/// Spawns Kagi with the default customer logged in on `app.http`.
pub async fn logged_in(backend: Backend) -> (TestApp, Customer) {
    let app = TestApp::spawn(backend).await;
    let customer = app.customer().log_in().await;
    (app, customer)
}

/// The seed in an `otpauth://` URI's `secret` parameter.
pub fn totp_secret(uri: &str) -> Vec<u8> {
    let secret = uri
        .split("secret=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    base32_decode(secret)
}

/// RFC 4648 §6 base32, as authenticator apps read a seed: any case, padding
/// and spaces ignored.
pub fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits = 0u64;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|c| *c != b'=' && *c != b' ') {
        let v = ALPHABET
            .iter()
            .position(|a| *a == c.to_ascii_uppercase())
            .unwrap() as u64;
        bits = (bits << 5) | v;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    out
}
