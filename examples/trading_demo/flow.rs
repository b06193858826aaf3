//! The authorization requests of the demo and their answers: log in, and
//! "Buy" and "Withdraw", each a transaction pushed by PAR that Kagi has the
//! customer confirm with a passkey; every request a code flow with PKCE, and
//! the callback that checks the ID token and the granted details and decides.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use openidconnect::core::{CoreAuthPrompt, CoreAuthenticationFlow};
use openidconnect::{
    AuthorizationCode, CsrfToken, Nonce, PkceCodeChallenge, PkceCodeVerifier, Scope,
    TokenResponse as _,
};
use serde::Deserialize;
use serde_json::Value;

use super::app::{Demo, Login, SESSION_COOKIE, session_id};
use super::details;
use super::par::{PushError, push};

/// The `acr` of a passkey login (Kagi's `acr_phr`), which a confirmed
/// transaction also reports.
const PHR: &str = "phr";

/// An authorization request on its way.
pub(super) struct Pending {
    state: String,
    nonce: String,
    verifier: String,
    action: Option<Action>,
    /// The `authorization_details` asked for, to compare with the grant.
    details: Option<Value>,
}

/// What the customer asked the demo to do.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Buy,
    Withdraw,
    /// Debug: a withdrawal altered on its way.
    TamperedWithdrawal,
    /// Debug: a type no client is registered for.
    Transfer,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Self::Buy => "Buy",
            Self::Withdraw => "Withdraw",
            Self::TamperedWithdrawal => "Tampered withdrawal",
            Self::Transfer => "Transfer",
        }
    }
}

/// How the request reaches Kagi.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Channel {
    /// In the browser's URL (a login).
    Front,
    /// Pushed by PAR; the browser carries only the `request_uri`.
    Pushed,
}

/// What to ask Kagi for.
struct Ask {
    action: Option<Action>,
    details: Option<Value>,
    channel: Channel,
    prompt_none: bool,
}

/// Sends the browser to Kagi's authorization endpoint (code flow with
/// PKCE), after pushing the request when it is a transaction.
async fn start(demo: &Demo, headers: &HeaderMap, ask: Ask) -> Response {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = demo
        .client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge);
    if let Some(details) = &ask.details {
        request = request.add_extra_param("authorization_details", details.to_string());
    }
    if ask.prompt_none {
        request = request.add_prompt(CoreAuthPrompt::None);
    }
    let (url, state, nonce) = request.url();
    let id = session_id(headers).unwrap_or_else(|| CsrfToken::new_random().secret().clone());
    let target = match ask.channel {
        Channel::Front => url,
        Channel::Pushed => match push(demo, &url).await {
            Ok(target) => target,
            Err(PushError::Refused(error)) => {
                let name = ask.action.map_or("Login", Action::name);
                demo.set_result(&id, format!("{name} refused by Kagi at PAR: {error}"));
                return with_session_cookie(Redirect::to("/").into_response(), &id);
            }
            Err(PushError::Failed(e)) => return (StatusCode::BAD_GATEWAY, e).into_response(),
        },
    };
    demo.sessions().entry(id.clone()).or_default().pending = Some(Pending {
        state: state.secret().clone(),
        nonce: nonce.secret().clone(),
        verifier: verifier.secret().clone(),
        action: ask.action,
        details: ask.details,
    });
    with_session_cookie(Redirect::to(target.as_str()).into_response(), &id)
}

fn with_session_cookie(mut response: Response, id: &str) -> Response {
    if let Ok(cookie) = format!("{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax").parse() {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// Query of `/login`.
#[derive(Deserialize)]
pub(super) struct LoginQuery {
    #[serde(default)]
    prompt: Option<String>,
}

/// `GET /login` (`?prompt=none` checks the Kagi session without any page).
pub(super) async fn login(
    State(demo): State<Demo>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let ask = Ask {
        action: None,
        details: None,
        channel: Channel::Front,
        prompt_none: q.prompt.as_deref() == Some("none"),
    };
    start(&demo, &headers, ask).await
}

/// A transaction pushed by PAR.
fn transaction(action: Action, details: Value) -> Ask {
    Ask {
        action: Some(action),
        details: Some(details),
        channel: Channel::Pushed,
        prompt_none: false,
    }
}

/// `GET /buy`: the limit order, confirmed with a passkey at Kagi every time.
pub(super) async fn buy(State(demo): State<Demo>, headers: HeaderMap) -> Response {
    start(&demo, &headers, transaction(Action::Buy, details::order())).await
}

/// `GET /withdraw`: the withdrawal, confirmed with a passkey at Kagi every time.
pub(super) async fn withdraw(State(demo): State<Demo>, headers: HeaderMap) -> Response {
    let ask = transaction(Action::Withdraw, details::withdrawal());
    start(&demo, &headers, ask).await
}

/// A transaction sent in the browser's URL instead of by PAR, as a page an
/// attacker altered would send it; Kagi must refuse it before any page.
fn front_channel(action: Action, details: Value) -> Ask {
    Ask {
        channel: Channel::Front,
        ..transaction(action, details)
    }
}

/// `GET /withdraw/tampered` (debug): the withdrawal with an extra member.
pub(super) async fn withdraw_tampered(State(demo): State<Demo>, headers: HeaderMap) -> Response {
    let ask = front_channel(Action::TamperedWithdrawal, details::tampered_withdrawal());
    start(&demo, &headers, ask).await
}

/// `GET /withdraw/unknown-type` (debug): a type no client is registered for.
pub(super) async fn withdraw_unknown_type(
    State(demo): State<Demo>,
    headers: HeaderMap,
) -> Response {
    let ask = front_channel(Action::Transfer, details::unknown_type());
    start(&demo, &headers, ask).await
}

/// What the demo makes of a transaction's grant, as a sentence: `Ok` when
/// it "executes" the transaction, `Err` when it refuses.
fn verdict(action: Action, asked: &Value, grant: &Grant) -> Result<String, String> {
    let name = action.name();
    let txn = grant.login.txn.as_deref();
    if grant.login.acr != PHR {
        Err(format!(
            "{name} refused: Kagi did not report a passkey confirmation (acr phr)"
        ))
    } else if let Some(why) = details::refusal(asked, grant.details.as_ref(), txn) {
        Err(format!("{name} refused: {why}"))
    } else {
        Ok(format!(
            "{name} accepted: {}, confirmed with a passkey at Kagi (auth_time {})",
            details::summary(asked),
            grant.login.auth_time
        ))
    }
}

/// `GET /callback`: the authorization response (OIDC Core §3.1.2.5).
pub(super) async fn callback(
    State(demo): State<Demo>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(id) = session_id(&headers) else {
        return Redirect::to("/").into_response();
    };
    // Only the answer to our own request is used up (OIDC Core §3.1.2.7):
    // a forged callback with another `state` leaves it waiting.
    let pending = demo.sessions().get_mut(&id).and_then(|s| {
        let ours = s.pending.as_ref()?.state == *q.get("state")?;
        if ours { s.pending.take() } else { None }
    });
    let Some(pending) = pending else {
        return (StatusCode::BAD_REQUEST, "state mismatch").into_response();
    };
    // RFC 9207: the response names its issuer; a mix-up attack's would differ.
    if q.get("iss").is_some_and(|iss| *iss != demo.issuer) {
        return (StatusCode::BAD_REQUEST, "wrong issuer").into_response();
    }
    let asked = pending.action.map_or("Login", Action::name);
    if let Some(error) = q.get("error") {
        demo.set_result(&id, format!("{asked} refused by Kagi: {error}"));
        return Redirect::to("/").into_response();
    }
    let Some(code) = q.get("code") else {
        return (StatusCode::BAD_REQUEST, "no code").into_response();
    };
    let grant = match redeem(&demo, code, &pending).await {
        Ok(grant) => grant,
        Err(e) => return (StatusCode::BAD_GATEWAY, e).into_response(),
    };
    // The txn is shown only for a transaction the demo "executed".
    let (result, txn) = match (pending.action, &pending.details) {
        (Some(action), Some(details)) => match verdict(action, details, &grant) {
            Ok(accepted) => (Some(accepted), grant.login.txn.clone()),
            Err(refused) => (Some(refused), None),
        },
        _ => (None, None),
    };
    let mut sessions = demo.sessions();
    let session = sessions.entry(id).or_default();
    session.login = Some(grant.login);
    session.last_result = result;
    session.last_txn = txn;
    Redirect::to("/").into_response()
}

/// What the code bought: the login its ID token describes and the
/// `authorization_details` of the token response.
struct Grant {
    login: Login,
    details: Option<Value>,
}

/// Exchanges the code (with the PKCE verifier) and checks the ID token.
async fn redeem(demo: &Demo, code: &str, pending: &Pending) -> Result<Grant, String> {
    let tokens = demo
        .client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .map_err(|e| e.to_string())?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()))
        .request_async(&demo.http)
        .await
        .map_err(|e| format!("token request failed: {e}"))?;
    let id_token = tokens.id_token().ok_or("no ID token")?.clone();
    let claims = id_token
        .claims(
            &demo.client.id_token_verifier(),
            &Nonce::new(pending.nonce.clone()),
        )
        .map_err(|e| format!("invalid ID token: {e}"))?;
    let login = Login {
        sub: claims.subject().to_string(),
        sid: claims.additional_claims().sid.clone(),
        txn: claims.additional_claims().txn.clone(),
        acr: claims
            .auth_context_ref()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        amr: claims
            .auth_method_refs()
            .map(|v| v.iter().map(|a| a.to_string()).collect())
            .unwrap_or_default(),
        auth_time: claims
            .auth_time()
            .map(|t| t.timestamp())
            .unwrap_or_default(),
        id_token: id_token.clone(),
    };
    let details = tokens
        .extra_fields()
        .extra_fields()
        .authorization_details
        .clone();
    Ok(Grant { login, details })
}
