//! A relying party made of plain HTTP calls, for tests that must send what a
//! library would refuse to (wrong verifiers, replayed codes, odd parameters).

use base64::Engine as _;
use serde_json::Value;

use super::TestApp;
use super::browser::Page;

/// A registered client.
#[derive(Clone, Debug)]
pub struct Rp {
    /// Client id.
    pub client_id: String,
    /// Secret of a confidential client.
    pub secret: Option<String>,
    /// Its registered redirect URI.
    pub redirect_uri: String,
}

/// A token endpoint answer.
#[derive(Debug)]
pub struct TokenAnswer {
    /// Status.
    pub status: u16,
    /// JSON body.
    pub json: Value,
    /// `Cache-Control`.
    pub cache_control: Option<String>,
    /// `WWW-Authenticate`.
    pub www_authenticate: Option<String>,
}

/// PKCE pair for tests: (verifier, S256 challenge).
pub fn pkce_pair() -> (String, String) {
    use sha2::Digest as _;
    let verifier = format!(
        "{}{}",
        kagi::crypto::random::handle(),
        kagi::crypto::random::handle()
    );
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// The claims of a JWT, unverified (tests check signatures separately).
pub fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

/// The header of a JWT.
pub fn jwt_header(token: &str) -> Value {
    let header = token.split('.').next().unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap()
}

/// The query parameters of a redirect's `Location`.
pub fn location_params(page: &Page) -> Vec<(String, String)> {
    let location = page
        .location
        .as_deref()
        .unwrap_or_else(|| panic!("no redirect: {} {}", page.status, page.html));
    let url =
        url::Url::parse(location).unwrap_or_else(|_| panic!("not an absolute URL: {location}"));
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// One parameter of a redirect's `Location`.
pub fn location_param(page: &Page, name: &str) -> Option<String> {
    location_params(page)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

impl TestApp {
    /// Registers a client through the CLI with `extra` arguments.
    pub fn register_client(&self, client_id: &str, redirect_uri: &str, extra: &[&str]) -> Rp {
        let mut args = vec![
            "--json",
            "client",
            "add",
            "--client-id",
            client_id,
            "--name",
            "Trading",
            "--redirect-uri",
            redirect_uri,
        ];
        args.extend_from_slice(extra);
        let out = self.cli(&args, None);
        assert!(out.success, "{out:?}");
        let json = out.json();
        Rp {
            client_id: client_id.to_owned(),
            secret: json["client_secret"].as_str().map(str::to_owned),
            redirect_uri: redirect_uri.to_owned(),
        }
    }

    /// `POST /par` (RFC 9126) as `rp` with HTTP Basic: `response_type=code`,
    /// `redirect_uri`, `scope=openid`, `state` and `extra`; the status and JSON body.
    pub async fn par(&self, rp: &Rp, extra: &[(&str, &str)]) -> (u16, Value) {
        let mut form = vec![
            ("response_type", "code"),
            ("redirect_uri", rp.redirect_uri.as_str()),
            ("scope", "openid"),
            ("state", "st4te"),
        ];
        form.extend_from_slice(extra);
        let response = reqwest::Client::new()
            .post(self.url("/par"))
            .basic_auth(&rp.client_id, rp.secret.as_deref())
            .form(&form)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The `/authorize` path that uses the `request_uri` a push returned.
    pub fn pushed_path(rp: &Rp, request_uri: &str) -> String {
        let query = serde_urlencoded::to_string([
            ("client_id", rp.client_id.as_str()),
            ("request_uri", request_uri),
        ])
        .unwrap();
        format!("/authorize?{query}")
    }

    /// `GET /authorize` with `client_id`, `redirect_uri`, `response_type=code`,
    /// `scope=openid` and `extra` (which override).
    pub async fn authorize(&self, rp: &Rp, extra: &[(&str, &str)]) -> Page {
        let mut params: Vec<(&str, &str)> = vec![
            ("client_id", &rp.client_id),
            ("redirect_uri", &rp.redirect_uri),
            ("response_type", "code"),
            ("scope", "openid"),
            ("state", "st4te"),
            ("nonce", "n0nce"),
        ];
        for (k, v) in extra {
            params.retain(|(key, _)| key != k);
            params.push((k, v));
        }
        let query = serde_urlencoded::to_string(&params).unwrap();
        self.page(&format!("/authorize?{query}")).await
    }

    /// `POST /token` with HTTP Basic for confidential clients (`client_id` in
    /// the body for public ones).
    pub async fn token(&self, rp: &Rp, form: &[(&str, &str)]) -> TokenAnswer {
        let mut request = reqwest::Client::new().post(self.url("/token"));
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        match &rp.secret {
            Some(secret) => request = request.basic_auth(&rp.client_id, Some(secret)),
            None => fields.push(("client_id", &rp.client_id)),
        }
        let response = request.form(&fields).send().await.unwrap();
        token_answer(response).await
    }

    /// Exchanges a code.
    pub async fn exchange(&self, rp: &Rp, code: &str, verifier: Option<&str>) -> TokenAnswer {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &rp.redirect_uri),
        ];
        if let Some(v) = verifier {
            form.push(("code_verifier", v));
        }
        self.token(rp, &form).await
    }

    /// A whole code flow for a logged-in browser: returns the token answer (status 200 asserted).
    pub async fn code_flow(&self, rp: &Rp, extra: &[(&str, &str)]) -> TokenAnswer {
        let (verifier, challenge) = pkce_pair();
        let mut params = vec![
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        params.extend_from_slice(extra);
        let page = self.authorize(rp, &params).await;
        assert_eq!(page.status, 303, "{}", page.html);
        let code = location_param(&page, "code")
            .unwrap_or_else(|| panic!("no code in {:?}", page.location));
        let answer = self.exchange(rp, &code, Some(&verifier)).await;
        assert_eq!(answer.status, 200, "{}", answer.json);
        answer
    }

    /// `GET /userinfo` with a bearer token.
    pub async fn userinfo(&self, access_token: &str) -> (u16, Value, Option<String>) {
        let response = reqwest::Client::new()
            .get(self.url("/userinfo"))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        let json = response.json().await.unwrap_or(Value::Null);
        (status, json, challenge)
    }
}

/// Reads a token-endpoint style JSON answer.
pub async fn token_answer(response: reqwest::Response) -> TokenAnswer {
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let cache_control = header("cache-control");
    let www_authenticate = header("www-authenticate");
    let content_type = header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "token endpoint answered {content_type}"
    );
    let json = response.json().await.unwrap();
    TokenAnswer {
        status,
        json,
        cache_control,
        www_authenticate,
    }
}
