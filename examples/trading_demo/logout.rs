//! Both logouts of the demo: RP-Initiated Logout 1.0 (the "Log out
//! everywhere" button) and the Back-Channel Logout 1.0 endpoint where Kagi
//! posts a logout token when one of its sessions ends.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use openidconnect::{
    JsonWebTokenType, LogoutRequest, Nonce, NormalizedJsonWebTokenType, PostLogoutRedirectUrl,
};

use super::app::{Demo, KagiToken, post_logout_redirect_uri, session_id};

/// The event a logout token must carry (Back-Channel Logout 1.0 §2.4).
const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// `POST /logout`: forgets the demo session and asks Kagi to end its own
/// (RP-Initiated Logout 1.0 §2, with `id_token_hint`).
pub(super) async fn logout(State(demo): State<Demo>, headers: HeaderMap) -> Response {
    let login = session_id(&headers).and_then(|id| {
        let mut sessions = demo.sessions();
        let session = sessions.get_mut(&id)?;
        session.last_result = Some("Logged out".to_owned());
        session.login.take()
    });
    let back = PostLogoutRedirectUrl::new(post_logout_redirect_uri(&demo.base_url));
    match (login, demo.end_session.clone(), back) {
        (Some(login), Some(endpoint), Ok(back)) => {
            let url = LogoutRequest::from(endpoint)
                .set_id_token_hint(&login.id_token)
                .set_post_logout_redirect_uri(back)
                .http_get_url();
            Redirect::to(url.as_str()).into_response()
        }
        _ => Redirect::to("/").into_response(),
    }
}

/// `POST /backchannel-logout`: Kagi says a session ended (Back-Channel
/// Logout 1.0 §2.5); every demo session logged in through it ends too.
pub(super) async fn backchannel_logout(State(demo): State<Demo>, body: String) -> Response {
    let (sub, sid) = match logout_token_subject(&demo, &body) {
        Ok(found) => found,
        Err(e) => {
            let body = serde_json::json!({ "error": "invalid_request", "error_description": e });
            return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
        }
    };
    for session in demo.sessions().values_mut() {
        let ended = session
            .login
            .as_ref()
            .is_some_and(|l| l.sub == sub && (sid.is_none() || l.sid == sid));
        if ended {
            session.login = None;
            session.last_result = Some("Logged out by Kagi (back-channel logout)".to_owned());
        }
    }
    ([(header::CACHE_CONTROL, "no-store")], "").into_response()
}

/// Validates a logout token (Back-Channel Logout 1.0 §2.6): signature from
/// Kagi's JWKS, `iss`, `aud`, `exp`, `typ` `logout+jwt`, the back-channel
/// event and no `nonce`. Returns its `sub` and `sid`.
fn logout_token_subject(demo: &Demo, body: &str) -> Result<(String, Option<String>), String> {
    let raw = url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "logout_token")
        .map(|(_, v)| v.into_owned())
        .ok_or("no logout_token")?;
    let token: KagiToken = raw.parse().map_err(|e| format!("unreadable: {e}"))?;
    let logout_type =
        NormalizedJsonWebTokenType::try_from(&JsonWebTokenType::new("logout+jwt".to_owned()))
            .map_err(|e| e.to_string())?;
    let verifier = demo
        .client
        .id_token_verifier()
        .set_allowed_jose_types([logout_type]);
    let no_nonce = |nonce: Option<&Nonce>| match nonce {
        Some(_) => Err("a logout token carries no nonce".to_owned()),
        None => Ok(()),
    };
    let claims = token
        .claims(&verifier, no_nonce)
        .map_err(|e| format!("invalid logout token: {e}"))?;
    let extra = claims.additional_claims();
    if !extra
        .events
        .as_ref()
        .is_some_and(|e| e.contains_key(BACKCHANNEL_EVENT))
    {
        return Err("not a back-channel logout event".to_owned());
    }
    Ok((claims.subject().to_string(), extra.sid.clone()))
}
