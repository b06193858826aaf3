//! The authorization requests of the demo and their answers: log in,
//! "Buy" (`phr` from the last 10 minutes) and "Withdraw" (a fresh passkey
//! check), each a code flow with PKCE, and the callback that checks the ID
//! token and decides.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use openidconnect::core::{CoreAuthPrompt, CoreAuthenticationFlow};
use openidconnect::{
    AuthorizationCode, CsrfToken, Nonce, PkceCodeChallenge, PkceCodeVerifier, Scope,
    TokenResponse as _,
};
use serde::Deserialize;

use super::app::{Demo, KagiToken, Login, SESSION_COOKIE, session_id};

/// How recent a passkey check must be for a trade.
const BUY_WINDOW_SECS: i64 = 600;
/// Clock difference tolerated between Kagi and the demo when checking that a
/// withdrawal's passkey check came after the click.
const CLOCK_SKEW_SECS: i64 = 5;
/// The `acr` of a passkey login (Kagi's `acr_phr`).
const PHR: &str = "phr";
/// The `claims` parameter that makes `phr` essential (OIDC Core §5.5.1.1).
const ESSENTIAL_PHR: &str = r#"{"id_token":{"acr":{"essential":true,"values":["phr"]}}}"#;

/// An authorization request on its way.
pub(super) struct Pending {
    state: String,
    nonce: String,
    verifier: String,
    action: Option<Action>,
    started_at: i64,
}

/// What the customer asked the demo to do.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Buy,
    Withdraw,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Self::Buy => "Buy",
            Self::Withdraw => "Withdraw",
        }
    }
}

/// What to ask Kagi for.
#[derive(Default)]
struct Ask {
    action: Option<Action>,
    essential_phr: bool,
    max_age: Option<u64>,
    prompt_none: bool,
}

/// Sends the browser to Kagi's authorization endpoint (code flow with PKCE).
fn start(demo: &Demo, headers: &HeaderMap, ask: Ask) -> Response {
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
    if ask.essential_phr {
        request = request.add_extra_param("claims", ESSENTIAL_PHR);
    }
    if let Some(age) = ask.max_age {
        request = request.set_max_age(Duration::from_secs(age));
    }
    if ask.prompt_none {
        request = request.add_prompt(CoreAuthPrompt::None);
    }
    let (url, state, nonce) = request.url();
    let id = session_id(headers).unwrap_or_else(|| CsrfToken::new_random().secret().clone());
    demo.sessions().entry(id.clone()).or_default().pending = Some(Pending {
        state: state.secret().clone(),
        nonce: nonce.secret().clone(),
        verifier: verifier.secret().clone(),
        action: ask.action,
        started_at: (demo.now)(),
    });
    let mut response = Redirect::to(url.as_str()).into_response();
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
        prompt_none: q.prompt.as_deref() == Some("none"),
        ..Ask::default()
    };
    start(&demo, &headers, ask)
}

/// `GET /buy`: a trade needs `phr` within the last 10 minutes.
pub(super) async fn buy(State(demo): State<Demo>, headers: HeaderMap) -> Response {
    let now = (demo.now)();
    match (demo.login_of(&headers), session_id(&headers)) {
        (Some(l), Some(id)) if l.acr == PHR && now - l.auth_time <= BUY_WINDOW_SECS => {
            demo.set_result(&id, verdict(Action::Buy, &l, now, now, false));
            Redirect::to("/").into_response()
        }
        _ => start(
            &demo,
            &headers,
            Ask {
                action: Some(Action::Buy),
                essential_phr: true,
                max_age: Some(BUY_WINDOW_SECS.unsigned_abs()),
                prompt_none: false,
            },
        ),
    }
}

/// `GET /withdraw`: always a fresh passkey check.
pub(super) async fn withdraw(State(demo): State<Demo>, headers: HeaderMap) -> Response {
    let ask = Ask {
        action: Some(Action::Withdraw),
        essential_phr: true,
        max_age: Some(0),
        prompt_none: false,
    };
    start(&demo, &headers, ask)
}

/// Whether `login` allows `action` asked for at `started_at`, as a sentence.
/// `came_back` says whether the customer just came back from Kagi.
fn verdict(action: Action, login: &Login, started_at: i64, now: i64, came_back: bool) -> String {
    let fresh = match action {
        Action::Buy => now - login.auth_time <= BUY_WINDOW_SECS,
        Action::Withdraw => login.auth_time + CLOCK_SKEW_SECS >= started_at,
    };
    let (name, at) = (action.name(), login.auth_time);
    if login.acr != PHR {
        format!("{name} refused: a passkey login (acr phr) is required")
    } else if !fresh {
        format!("{name} refused: the passkey check is too old")
    } else if came_back {
        format!("{name} accepted after a passkey check at Kagi (auth_time {at})")
    } else {
        format!("{name} accepted: the passkey check at auth_time {at} is under 10 minutes old")
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
    let login = match redeem(&demo, code, &pending).await {
        Ok(login) => login,
        Err(e) => return (StatusCode::BAD_GATEWAY, e).into_response(),
    };
    let result = pending
        .action
        .map(|action| verdict(action, &login, pending.started_at, (demo.now)(), true));
    let mut sessions = demo.sessions();
    let session = sessions.entry(id).or_default();
    session.login = Some(login);
    session.last_result = result;
    Redirect::to("/").into_response()
}

/// Exchanges the code (with the PKCE verifier) and checks the ID token.
async fn redeem(demo: &Demo, code: &str, pending: &Pending) -> Result<Login, String> {
    let tokens = demo
        .client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .map_err(|e| e.to_string())?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()))
        .request_async(&demo.http)
        .await
        .map_err(|e| format!("token request failed: {e}"))?;
    let raw = tokens.id_token().ok_or("no ID token")?.to_string();
    let id_token: KagiToken = raw
        .parse()
        .map_err(|e| format!("unreadable ID token: {e}"))?;
    let claims = id_token
        .claims(
            &demo.client.id_token_verifier(),
            &Nonce::new(pending.nonce.clone()),
        )
        .map_err(|e| format!("invalid ID token: {e}"))?;
    Ok(Login {
        sub: claims.subject().to_string(),
        sid: claims.additional_claims().sid.clone(),
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
    })
}
