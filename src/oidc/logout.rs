//! Logout: which RP-initiated logout requests are honoured (OpenID Connect
//! RP-Initiated Logout 1.0 §2–§3), and what ending a browser session does to
//! the relying parties it signed in to (Back-Channel Logout 1.0 §2).
//!
//! The browser is only ever sent back to a `post_logout_redirect_uri` that
//! exactly matches one registered for the client named by a valid
//! `id_token_hint` or by `client_id`; anything else is refused with a page,
//! because an end-session request is an unauthenticated GET that anyone can
//! craft (RP-Initiated Logout 1.0 §3, §7).

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::jwt;
use super::request::param;
use crate::audit::{AuditEvent, AuditKind, Outcome};
use crate::crypto::random;
use crate::error::Result;
use crate::model::Client;
use crate::state::AppState;
use crate::store::sessions::SessionRow;

/// The one event of a logout token (Back-Channel Logout 1.0 §2.4).
pub const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// A logout token is valid for two minutes: enough for delivery and clock
/// skew, short enough that a captured one is soon useless (§2.4 asks for a short lifetime).
const LOGOUT_TOKEN_TTL_SECS: i64 = 120;
/// One delivery attempt may take this long (a slow RP must not hold the task).
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);
/// Waits before the retries of a failed delivery: three retries, about 15 s
/// in all, so a briefly unavailable RP still hears of the logout while the
/// task stays bounded (§2.8 leaves retrying to the OP).
const RETRY_DELAYS: [Duration; 3] = [Duration::from_secs(1), Duration::from_secs(4), Duration::from_secs(10)];

/// The parameters of an end-session request, as sent (RP-Initiated Logout 1.0 §2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndSessionRequest {
    /// An ID token Kagi issued; expired ones are accepted.
    pub id_token_hint: Option<String>,
    /// Where to send the browser afterwards.
    pub post_logout_redirect_uri: Option<String>,
    /// Opaque RP value echoed on the redirect.
    pub state: Option<String>,
    /// The RP, when it sends no hint (or as a cross-check of the hint's `aud`).
    pub client_id: Option<String>,
}

impl EndSessionRequest {
    /// Reads the parameters; `None` when one is sent twice. Empty values count as absent.
    pub fn from_params(params: &[(String, String)]) -> Option<Self> {
        let mut names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
        names.sort_unstable();
        if names.windows(2).any(|w| w[0] == w[1]) {
            return None;
        }
        let get = |name: &str| param(params, name).filter(|v| !v.is_empty()).map(str::to_owned);
        Some(Self {
            id_token_hint: get("id_token_hint"),
            post_logout_redirect_uri: get("post_logout_redirect_uri"),
            state: get("state"),
            client_id: get("client_id"),
        })
    }
}

/// Why an end-session request is refused; the browser gets a page, never a redirect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The hint is not an ID token Kagi signed (bad signature, `alg: none`, an RP's own JWT).
    BadHint,
    /// The hint's `aud` or `client_id` names no registered client.
    UnknownClient,
    /// `client_id` differs from the hint's audience.
    ClientMismatch,
    /// A redirect was asked for without a hint or `client_id` to check it against.
    RedirectWithoutClient,
    /// The redirect is not exactly one the client registered.
    UnregisteredRedirect,
}

impl Refusal {
    /// A short name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::BadHint => "bad_id_token_hint",
            Refusal::UnknownClient => "unknown_client",
            Refusal::ClientMismatch => "client_mismatch",
            Refusal::RedirectWithoutClient => "redirect_without_client",
            Refusal::UnregisteredRedirect => "unregistered_redirect",
        }
    }
}

/// An end-session request whose client and redirect were checked.
#[derive(Clone, Debug)]
pub struct Checked {
    /// The RP, if the request named one.
    pub client: Option<Client>,
    /// The registered `post_logout_redirect_uri` to return to.
    pub redirect: Option<String>,
    /// `state` to echo on the redirect.
    pub state: Option<String>,
    /// `sub` of a valid `id_token_hint`.
    pub hint_sub: Option<String>,
}

/// What to do with a checked request in this browser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// The hint names the logged-in customer: log out without asking.
    LogOut,
    /// Ask the customer first (no hint, or a hint for someone else).
    Confirm,
    /// Nobody is logged in here: nothing to end, just return.
    Return,
}

#[derive(Deserialize)]
struct HintClaims {
    sub: String,
    aud: serde_json::Value,
    azp: Option<String>,
}

/// The client an ID token was issued to: its single `aud`, or `azp` when it lists several.
fn audience(claims: &HintClaims) -> Option<String> {
    match &claims.aud {
        serde_json::Value::String(one) => Some(one.clone()),
        serde_json::Value::Array(many) => {
            let many: Vec<&str> = many.iter().filter_map(serde_json::Value::as_str).collect();
            match (many.as_slice(), claims.azp.as_deref()) {
                ([one], _) => Some((*one).to_owned()),
                (_, Some(azp)) if many.contains(&azp) => Some(azp.to_owned()),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Checks the hint, the client and the redirect (RP-Initiated Logout 1.0 §2, §3).
pub async fn check(state: &AppState, req: &EndSessionRequest) -> Result<std::result::Result<Checked, Refusal>> {
    let mut hint_sub = None;
    let mut client_id = req.client_id.clone();
    if let Some(hint) = &req.id_token_hint {
        // typ "JWT": ID tokens only, not access or logout tokens; expiry is not checked (§2).
        let Ok(claims) = jwt::verify_own::<HintClaims>(&state.keys, &state.config.issuer_str(), hint, Some("JWT"), false) else {
            return Ok(Err(Refusal::BadHint));
        };
        let Some(aud) = audience(&claims) else { return Ok(Err(Refusal::BadHint)) };
        if client_id.as_ref().is_some_and(|id| *id != aud) {
            return Ok(Err(Refusal::ClientMismatch));
        }
        client_id = Some(aud);
        hint_sub = Some(claims.sub);
    }
    let client = match &client_id {
        Some(id) => match state.store.find_client(id).await? {
            Some(client) => Some(client),
            None => return Ok(Err(Refusal::UnknownClient)),
        },
        None => None,
    };
    let redirect = match (&req.post_logout_redirect_uri, &client) {
        (None, _) => None,
        (Some(_), None) => return Ok(Err(Refusal::RedirectWithoutClient)),
        // Exact string comparison: no normalisation, no added query (§3; conformance "query added").
        (Some(uri), Some(client)) if client.post_logout_redirect_uris.iter().any(|r| r == uri) => Some(uri.clone()),
        (Some(_), Some(_)) => return Ok(Err(Refusal::UnregisteredRedirect)),
    };
    Ok(Ok(Checked { client, redirect, state: req.state.clone(), hint_sub }))
}

/// Decides between logging out at once, asking, and simply returning.
pub fn next(checked: &Checked, session: &SessionRow) -> Next {
    match (&session.customer_id, &checked.hint_sub) {
        (None, _) => Next::Return,
        (Some(customer), Some(sub)) if customer == sub => Next::LogOut,
        _ => Next::Confirm,
    }
}

/// The registered redirect with `state` appended, only if one was sent (§3).
pub fn return_url(redirect: &str, state: Option<&str>) -> String {
    match (state, url::Url::parse(redirect)) {
        (Some(value), Ok(mut url)) => {
            url.query_pairs_mut().append_pair("state", value);
            url.into()
        }
        _ => redirect.to_owned(),
    }
}

/// After browser session `sid` of customer `sub` ended: revokes every token
/// family issued in it and sends a logout token to each RP it signed in to
/// that registered a `backchannel_logout_uri` (delivered in the background).
pub async fn session_ended(state: &AppState, sid: &str, sub: &str) -> Result<()> {
    let now = state.clock.now();
    let revoked = state.store.revoke_families_of_session(sid, now).await?;
    let mut notified = 0;
    for client_id in state.store.list_session_clients(sid).await? {
        let Some(client) = state.store.find_client(&client_id).await? else { continue };
        let Some(uri) = client.backchannel_logout_uri.clone() else { continue };
        let token = logout_token(state, &client, sub, sid, now)?;
        let delivery = Delivery { client_id, sub: sub.to_owned(), uri, token };
        tokio::spawn(deliver(state.clone(), delivery));
        notified += 1;
    }
    tracing::info!(families.revoked = revoked, rp.notified = notified, "session ended");
    Ok(())
}

/// A signed logout token (Back-Channel Logout 1.0 §2.4): `typ: logout+jwt`,
/// the client's ID token algorithm, `sub` and `sid`, the one event, no `nonce`.
pub fn logout_token(state: &AppState, client: &Client, sub: &str, sid: &str, now: i64) -> Result<String> {
    let claims = json!({
        "iss": state.config.issuer_str(),
        "aud": client.client_id.as_str(),
        "iat": now,
        "exp": now + LOGOUT_TOKEN_TTL_SECS,
        "jti": random::handle(),
        "sub": sub,
        "sid": sid,
        "events": { BACKCHANNEL_EVENT: {} },
    });
    jwt::sign(&state.keys, client.id_token_alg, "logout+jwt", &claims)
}

/// One logout token on its way to one RP.
struct Delivery {
    client_id: String,
    sub: String,
    uri: String,
    token: String,
}

/// POSTs `logout_token` (§2.5), retrying a non-2xx answer or a network error
/// after each of [`RETRY_DELAYS`]; the outcome is logged and audited, the token never.
async fn deliver(state: AppState, delivery: Delivery) {
    let http = reqwest::Client::builder().timeout(DELIVERY_TIMEOUT).redirect(reqwest::redirect::Policy::none()).build();
    let mut attempts = 0;
    let result = loop {
        attempts += 1;
        let failure = match &http {
            Ok(http) => match http.post(&delivery.uri).form(&[("logout_token", delivery.token.as_str())]).send().await {
                Ok(response) if response.status().is_success() => break Ok(()),
                Ok(response) => format!("HTTP {}", response.status().as_u16()),
                Err(e) => e.without_url().to_string(),
            },
            Err(e) => e.to_string(),
        };
        match RETRY_DELAYS.get(attempts - 1) {
            Some(delay) if http.is_ok() => tokio::time::sleep(*delay).await,
            _ => break Err(failure),
        }
    };
    let (kind, outcome) = match &result {
        Ok(()) => {
            tracing::info!(client.id = %delivery.client_id, attempts, "back-channel logout delivered");
            (AuditKind::BackchannelLogoutSent, Outcome::Success)
        }
        Err(why) => {
            tracing::warn!(client.id = %delivery.client_id, attempts, error = %why, "back-channel logout not delivered");
            (AuditKind::BackchannelLogoutFailed, Outcome::Failure)
        }
    };
    let mut event = AuditEvent::new(kind, outcome)
        .with_client(&delivery.client_id)
        .with_detail(json!({ "attempts": attempts, "error": result.err() }));
    event.customer_id = Some(delivery.sub);
    state.audit(event).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn state_is_appended_only_when_sent_and_the_registered_query_is_kept() {
        assert_eq!(return_url("https://rp.example.com/bye", None), "https://rp.example.com/bye");
        assert_eq!(return_url("https://rp.example.com/bye", Some("a b&c")), "https://rp.example.com/bye?state=a+b%26c");
        assert_eq!(return_url("https://rp.example.com/bye?x=1", Some("s")), "https://rp.example.com/bye?x=1&state=s");
    }

    #[test]
    fn repeated_parameters_are_refused_and_empty_ones_are_absent() {
        assert_eq!(EndSessionRequest::from_params(&pairs(&[("state", "a"), ("state", "b")])), None);
        let req = EndSessionRequest::from_params(&pairs(&[("state", ""), ("client_id", "c"), ("other", "x")])).unwrap();
        assert_eq!(req, EndSessionRequest { client_id: Some("c".into()), ..Default::default() });
    }

    #[test]
    fn the_client_of_a_hint_is_its_single_audience_or_its_azp() {
        let claims = |aud: serde_json::Value, azp: Option<&str>| HintClaims { sub: "s".into(), aud, azp: azp.map(str::to_owned) };
        assert_eq!(audience(&claims(json!("c"), None)).as_deref(), Some("c"));
        assert_eq!(audience(&claims(json!(["c"]), None)).as_deref(), Some("c"));
        assert_eq!(audience(&claims(json!(["c", "d"]), Some("d"))).as_deref(), Some("d"));
        assert_eq!(audience(&claims(json!(["c", "d"]), Some("e"))), None);
        assert_eq!(audience(&claims(json!(["c", "d"]), None)), None);
        assert_eq!(audience(&claims(json!(7), None)), None);
    }
}
