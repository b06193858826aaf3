//! Pushed authorization requests (RFC 9126), revocation (RFC 7009),
//! introspection (RFC 7662), RP-initiated logout and back-channel logout,
//! driven over HTTP as a relying party and a browser would. This module
//! holds the shared helpers; each submodule one area.

mod backchannel;
mod hints;
mod logout;
mod par;
mod tokens;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::browser::Page;
use crate::helpers::customer::{Customer, logged_in};
use crate::helpers::{Backend, TestApp};

const CALLBACK: &str = "https://rp.example.com/cb";
const BYE: &str = "https://rp.example.com/bye";
const PAR_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// A client registered through the CLI.
struct Client {
    id: String,
    secret: String,
}

/// The answer of a back-channel endpoint: status and JSON body (`Null` when empty).
struct Answer {
    status: u16,
    json: Value,
    cache_control: Option<String>,
}

/// Registers a confidential client with [`CALLBACK`] and [`BYE`], plus `extra` arguments.
fn add_client(app: &TestApp, id: &str, extra: &[&str]) -> Client {
    let mut args = vec![
        "--json",
        "client",
        "add",
        "--client-id",
        id,
        "--name",
        "Trading",
        "--redirect-uri",
        CALLBACK,
        "--post-logout-redirect-uri",
        BYE,
    ];
    args.extend_from_slice(extra);
    let out = app.cli(&args, None);
    assert!(out.success, "{out:?}");
    let secret = out.json()["client_secret"].as_str().unwrap().to_owned();
    Client {
        id: id.to_owned(),
        secret,
    }
}

fn query(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap()
}

/// `GET /authorize` in the logged-in browser with exactly `pairs`.
async fn authorize_raw(app: &TestApp, pairs: &[(&str, &str)]) -> Page {
    app.page(&format!("/authorize?{}", query(pairs))).await
}

/// `GET /authorize` with the usual parameters plus `extra`.
async fn authorize(app: &TestApp, client: &Client, extra: &[(&str, &str)]) -> Page {
    let mut pairs = vec![
        ("client_id", client.id.as_str()),
        ("redirect_uri", CALLBACK),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", "st4te"),
        ("nonce", "n0nce"),
    ];
    pairs.extend_from_slice(extra);
    authorize_raw(app, &pairs).await
}

/// A parameter of a redirect's `Location`.
fn location_param(page: &Page, name: &str) -> Option<String> {
    let location = page
        .location
        .as_deref()
        .unwrap_or_else(|| panic!("no redirect: {} {}", page.status, page.html));
    let url = url::Url::parse(location).unwrap();
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// POSTs a form to a back-channel endpoint, with HTTP Basic when `client` is given.
async fn post_form(
    app: &TestApp,
    path: &str,
    client: Option<&Client>,
    form: &[(&str, &str)],
) -> Answer {
    let mut request = reqwest::Client::new().post(app.url(path)).form(form);
    if let Some(client) = client {
        request = request.basic_auth(&client.id, Some(&client.secret));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let cache_control = response
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        json,
        cache_control,
    }
}

/// Redeems the code of an authorization redirect.
async fn redeem(app: &TestApp, client: &Client, page: &Page) -> Value {
    assert_eq!(page.status, 303, "{}", page.html);
    let code = location_param(page, "code").unwrap_or_else(|| panic!("{:?}", page.location));
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CALLBACK),
    ];
    let answer = post_form(app, "/token", Some(client), &form).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    answer.json
}

/// A whole code flow in the logged-in browser: the token response.
async fn code_flow(app: &TestApp, client: &Client) -> Value {
    let page = authorize(app, client, &[]).await;
    redeem(app, client, &page).await
}

async fn refresh(app: &TestApp, client: &Client, token: &Value) -> Answer {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", token["refresh_token"].as_str().unwrap()),
    ];
    post_form(app, "/token", Some(client), &form).await
}

async fn userinfo_status(app: &TestApp, token: &Value) -> u16 {
    let response = reqwest::Client::new()
        .get(app.url("/userinfo"))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

async fn push(app: &TestApp, client: &Client, extra: &[(&str, &str)]) -> Answer {
    let mut form = vec![
        ("response_type", "code"),
        ("redirect_uri", CALLBACK),
        ("scope", "openid"),
        ("state", "pushed-state"),
        ("nonce", "pushed-nonce"),
    ];
    for (name, value) in extra {
        form.retain(|(k, _)| k != name);
        form.push((name, value));
    }
    post_form(app, "/par", Some(client), &form).await
}

fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// Whether the browser's session is gone: `prompt=none` answers `login_required`.
async fn assert_logged_out(app: &TestApp, client: &Client) {
    let page = authorize(app, client, &[("prompt", "none")]).await;
    assert_eq!(
        location_param(&page, "error").as_deref(),
        Some("login_required")
    );
}

/// `GET /session/end` in the browser.
async fn end_session(app: &TestApp, pairs: &[(&str, &str)]) -> Page {
    app.page(&format!("/session/end?{}", query(pairs))).await
}
