//! What the bench does to an OP: log a browser in (Kagi: password + TOTP;
//! the peer: its interaction finished by the peer script without UI), then
//! the measured operations, the same requests on both sides.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64};
use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom as _, SystemRandom};
use serde::Deserialize;
use serde_json::json;

use crate::http::{Conn, Jar, Origin, Req, csrf_input, csrf_meta, encode, local_path, query_param};
use crate::passkey::Passkey;
use crate::totp;

/// A registered client.
#[derive(Clone, Debug, Deserialize)]
pub struct ClientCfg {
    pub id: String,
    pub secret: String,
}

impl ClientCfg {
    pub fn basic(&self) -> String {
        let enc = |s: &str| encode(&[("", s)])[1..].to_owned();
        let pair = format!("{}:{}", enc(&self.id), enc(&self.secret));
        format!("Basic {}", STANDARD.encode(pair))
    }
}

/// A Kagi customer made by `benches/run` through the CLI.
#[derive(Clone, Debug, Deserialize)]
pub struct KagiUser {
    pub code: String,
    pub password: String,
    pub email: String,
    pub totp_uri: String,
}

/// The endpoints of one OP, read from its discovery document.
#[derive(Clone, Debug)]
pub struct Op {
    pub name: &'static str,
    pub origin: Origin,
    /// `http://localhost:PORT`: the issuer, and the WebAuthn origin.
    pub issuer: String,
    pub authorize: String,
    pub token: String,
    pub userinfo: String,
    pub jwks: String,
    pub redirect_uri: String,
}

fn path_of(url: &str) -> Result<String> {
    let rest = url
        .split_once("://")
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow!("not a URL: {url}"))?;
    Ok(rest
        .find('/')
        .map_or_else(|| "/".to_owned(), |i| rest[i..].to_owned()))
}

impl Op {
    pub async fn discover(name: &'static str, origin: Origin, redirect_uri: &str) -> Result<Self> {
        let mut conn = Conn::new(&origin);
        let doc = conn
            .send(Req::get("/.well-known/openid-configuration"))
            .await?
            .expect(200, "discovery")?
            .json()?;
        let url = |key: &str| -> Result<String> {
            path_of(
                doc[key]
                    .as_str()
                    .ok_or_else(|| anyhow!("{name}: no {key} in discovery"))?,
            )
        };
        Ok(Self {
            name,
            issuer: doc["issuer"].as_str().unwrap_or_default().to_owned(),
            authorize: url("authorization_endpoint")?,
            token: url("token_endpoint")?,
            userinfo: url("userinfo_endpoint")?,
            jwks: url("jwks_uri")?,
            redirect_uri: redirect_uri.to_owned(),
            origin,
        })
    }
}

pub fn random_b64(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    SystemRandom::new().fill(&mut bytes).expect("OS randomness");
    B64.encode(bytes)
}

/// Tokens from one code exchange.
#[derive(Debug)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub id_token: String,
}

/// `GET /authorize` for a browser whose session `jar` already holds, ending
/// in the client's redirect with a code; `login_hint` only for the peer's
/// first, interactive, request. Redirects inside the OP are followed (at most 8).
pub async fn authorize(
    conn: &mut Conn,
    op: &Op,
    client: &ClientCfg,
    jar: &mut Jar,
    login_hint: Option<&str>,
) -> Result<(String, String)> {
    let verifier = random_b64(32);
    let challenge = B64.encode(digest(&SHA256, verifier.as_bytes()));
    let state = random_b64(12);
    let nonce = random_b64(12);
    let mut fields = vec![
        ("client_id", client.id.as_str()),
        ("redirect_uri", op.redirect_uri.as_str()),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", state.as_str()),
        ("nonce", nonce.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    if let Some(hint) = login_hint {
        fields.push(("login_hint", hint));
    }
    let mut path = format!("{}?{}", op.authorize, encode(&fields));
    for _ in 0..8 {
        let resp = conn.send(Req::get(&path).cookies(jar)).await?;
        jar.update(&resp);
        let Some(location) = resp
            .location
            .clone()
            .filter(|_| matches!(resp.status, 302 | 303))
        else {
            bail!(
                "{}: authorize answered {} {}",
                op.name,
                resp.status,
                crate::http::short(&resp.text())
            );
        };
        if location.starts_with(&op.redirect_uri) {
            if query_param(&location, "state").as_deref() != Some(state.as_str()) {
                bail!("{}: state not returned: {location}", op.name);
            }
            let code = query_param(&location, "code")
                .ok_or_else(|| anyhow!("{}: no code in {location}", op.name))?;
            return Ok((code, verifier));
        }
        path = local_path(&location, &op.origin)
            .ok_or_else(|| anyhow!("{}: authorize led away to {location}", op.name))?;
    }
    bail!("{}: too many redirects at authorize", op.name)
}

/// `POST /token` with `grant_type=authorization_code`.
pub async fn exchange(
    conn: &mut Conn,
    op: &Op,
    client: &ClientCfg,
    code: &str,
    verifier: &str,
) -> Result<Tokens> {
    let req = Req::form(
        &op.token,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &op.redirect_uri),
            ("code_verifier", verifier),
        ],
    )
    .header("authorization", client.basic());
    let body = conn.send(req).await?.expect(200, "token (code)")?.json()?;
    let field = |k: &str| body[k].as_str().map(str::to_owned);
    Ok(Tokens {
        access_token: field("access_token")
            .ok_or_else(|| anyhow!("{}: no access_token", op.name))?,
        id_token: field("id_token").ok_or_else(|| anyhow!("{}: no id_token", op.name))?,
        refresh_token: field("refresh_token"),
    })
}

/// The measured full flow: authorize with the SSO cookie, then the code exchange.
pub async fn code_flow(
    conn: &mut Conn,
    op: &Op,
    client: &ClientCfg,
    jar: &mut Jar,
) -> Result<Tokens> {
    let (code, verifier) = authorize(conn, op, client, jar, None).await?;
    exchange(conn, op, client, &code, &verifier).await
}

/// `POST /token` with `grant_type=refresh_token`; returns the rotated refresh token.
pub async fn refresh(conn: &mut Conn, op: &Op, client: &ClientCfg, token: &str) -> Result<String> {
    let req = Req::form(
        &op.token,
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .header("authorization", client.basic());
    let body = conn
        .send(req)
        .await?
        .expect(200, "token (refresh)")?
        .json()?;
    if body["access_token"].as_str().is_none() {
        bail!("{}: refresh without access_token", op.name);
    }
    Ok(body["refresh_token"].as_str().unwrap_or(token).to_owned())
}

/// `GET /userinfo` with a bearer token.
pub async fn userinfo(conn: &mut Conn, op: &Op, access_token: &str) -> Result<()> {
    let req = Req::get(&op.userinfo).header("authorization", format!("Bearer {access_token}"));
    let body = conn.send(req).await?.expect(200, "userinfo")?.json()?;
    if body["sub"].as_str().is_none() {
        bail!("{}: userinfo without sub", op.name);
    }
    Ok(())
}

#[expect(
    clippy::disallowed_methods,
    reason = "TOTP codes are computed from the wall clock, as an authenticator app does"
)]
fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Kagi: customer code + password, up to the second-factor page (the
/// argon2id-bound step). Returns the browser and where it was sent.
pub async fn kagi_password(conn: &mut Conn, user: &KagiUser) -> Result<(Jar, String)> {
    let mut jar = Jar::default();
    let page = conn
        .send(Req::get("/login"))
        .await?
        .expect(200, "GET /login")?;
    jar.update(&page);
    let csrf = csrf_input(&page.text())?;
    let form = [
        ("csrf", csrf.as_str()),
        ("customer_code", user.code.as_str()),
        ("password", user.password.as_str()),
        ("return_to", "/account"),
    ];
    let resp = conn
        .send(Req::form("/login", &form).cookies(&jar))
        .await?
        .expect(303, "POST /login")?;
    jar.update(&resp);
    Ok((jar, resp.location.unwrap_or_default()))
}

/// Kagi: a full password + TOTP login; the jar then holds the SSO session.
/// Each TOTP step is accepted once per customer, so each customer logs in once.
pub async fn kagi_login(conn: &mut Conn, user: &KagiUser) -> Result<Jar> {
    let (mut jar, next) = kagi_password(conn, user).await?;
    if next != "/login/totp" {
        bail!(
            "password step of {} led to {next}, not /login/totp",
            user.code
        );
    }
    let page = conn
        .send(Req::get("/login/totp").cookies(&jar))
        .await?
        .expect(200, "GET /login/totp")?;
    let csrf = csrf_input(&page.text())?;
    let code = totp::code(&totp::seed(&user.totp_uri)?, now_secs());
    let form = [("csrf", csrf.as_str()), ("code", code.as_str())];
    let resp = conn
        .send(Req::form("/login/totp", &form).cookies(&jar))
        .await?
        .expect(303, "POST /login/totp")?;
    jar.update(&resp);
    Ok(jar)
}

/// A session's CSRF token, read from the logout page (any session sees it).
async fn csrf_of(conn: &mut Conn, jar: &Jar) -> Result<String> {
    let page = conn
        .send(Req::get("/logout").cookies(jar))
        .await?
        .expect(200, "GET /logout")?;
    csrf_input(&page.text())
}

/// Kagi: logs `user` in, steps up with an email code read from the outbox,
/// and registers a passkey.
pub async fn kagi_register_passkey(
    conn: &mut Conn,
    op: &Op,
    user: &KagiUser,
    outbox: &Path,
) -> Result<Passkey> {
    let mut jar = kagi_login(conn, user).await?;
    // `GET /stepup` only shows the form; `POST /stepup` starts the step-up and mails the code.
    let step_up = conn
        .send(Req::get("/stepup?return_to=%2Faccount%2Fpasskeys%2Fconfirm").cookies(&jar))
        .await?
        .expect(200, "GET /stepup")?;
    jar.update(&step_up);
    let csrf = csrf_of(conn, &jar).await?;
    let seen = outbox_files(outbox);
    let form = [
        ("csrf", csrf.as_str()),
        ("email_index", "0"),
        ("return_to", "/account/passkeys/confirm"),
    ];
    let sent = conn
        .send(Req::form("/stepup", &form).cookies(&jar))
        .await?
        .expect(303, "POST /stepup")?;
    jar.update(&sent);
    let code = wait_for_code(outbox, &seen, &user.email).await?;
    let done = conn
        .send(Req::form("/login/code", &[("csrf", &csrf), ("code", &code)]).cookies(&jar))
        .await?
        .expect(303, "POST /login/code (step-up)")?;
    jar.update(&done);
    let csrf = csrf_of(conn, &jar).await?;
    let start = conn
        .send(
            Req::json("/account/passkeys/register/start", &json!({}))
                .header("x-csrf-token", &csrf)
                .cookies(&jar),
        )
        .await?
        .expect(200, "register/start")?
        .json()?;
    let (passkey, credential) = Passkey::create(&op.issuer, &start["options"]["publicKey"])?;
    let body = json!({ "ceremony": start["ceremony"], "credential": credential });
    conn.send(
        Req::json("/account/passkeys/register/finish", &body)
            .header("x-csrf-token", &csrf)
            .cookies(&jar),
    )
    .await?
    .expect(200, "register/finish")?;
    Ok(passkey)
}

/// Kagi: one discoverable passkey login from a fresh browser: the login
/// page (session + CSRF token), then start and finish.
pub async fn kagi_passkey_login(conn: &mut Conn, passkey: &Passkey) -> Result<()> {
    let mut jar = Jar::default();
    let page = conn
        .send(Req::get("/login"))
        .await?
        .expect(200, "GET /login")?;
    jar.update(&page);
    let csrf = csrf_meta(&page.text()).or_else(|_| csrf_input(&page.text()))?;
    let start = conn
        .send(
            Req::json("/passkey/login/start", &json!({ "conditional": false }))
                .header("x-csrf-token", &csrf)
                .cookies(&jar),
        )
        .await?
        .expect(200, "passkey/login/start")?;
    jar.update(&start);
    let start = start.json()?;
    let credential = passkey.get(&start["options"]["publicKey"])?;
    let body =
        json!({ "ceremony": start["ceremony"], "credential": credential, "return_to": "/account" });
    let done = conn
        .send(
            Req::json("/passkey/login/finish", &body)
                .header("x-csrf-token", &csrf)
                .cookies(&jar),
        )
        .await?
        .expect(200, "passkey/login/finish")?
        .json()?;
    if done["redirect"].as_str().is_none() {
        bail!("passkey login finished without a redirect: {done}");
    }
    Ok(())
}

fn outbox_files(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

/// Waits (at most 10 s) for a new outbox mail to `to` and returns its 6-digit code.
async fn wait_for_code(dir: &Path, seen: &[std::path::PathBuf], to: &str) -> Result<String> {
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        for path in outbox_files(dir) {
            if seen.contains(&path) || path.extension().is_none_or(|e| e != "eml") {
                continue;
            }
            let raw =
                std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
            if !raw.contains(to) {
                continue;
            }
            if let Some(code) = six_digits(&mail_body(&raw)) {
                return Ok(code);
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!("no email code for {to} in {}", dir.display())
}

/// The decoded text body of a single-part mail (7bit, base64 or quoted-printable).
fn mail_body(raw: &str) -> String {
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .or_else(|| raw.split_once("\n\n"))
        .unwrap_or((raw, ""));
    let head = head.to_ascii_lowercase();
    if head.contains("content-transfer-encoding: base64") {
        let clean: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        return STANDARD
            .decode(clean)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
    }
    if head.contains("content-transfer-encoding: quoted-printable") {
        let joined = body.replace("=\r\n", "").replace("=\n", "");
        let mut out = Vec::new();
        let bytes = joined.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let hex = (bytes[i] == b'=' && i + 2 < bytes.len())
                .then(|| u8::from_str_radix(&joined[i + 1..i + 3], 16).ok())
                .flatten();
            match hex {
                Some(b) => {
                    out.push(b);
                    i += 3;
                }
                None => {
                    out.push(bytes[i]);
                    i += 1;
                }
            }
        }
        return String::from_utf8_lossy(&out).into_owned();
    }
    body.to_owned()
}

fn six_digits(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    (0..bytes.len()).find_map(|i| {
        let run = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        let starts = i == 0 || !bytes[i - 1].is_ascii_digit();
        (starts && run == 6).then(|| text[i..i + 6].to_owned())
    })
}
