//! RP-initiated logout: which end-session requests are honoured and how.
//!
//! The rules are OpenID Connect RP-Initiated Logout 1.0 §2–§3; what ending
//! a browser session then does to the relying parties is `oidc::backchannel`.
//!
//! The browser is only ever sent back to a `post_logout_redirect_uri` that
//! exactly matches one registered for the client named by a valid
//! `id_token_hint` or by `client_id`; anything else is refused with a page,
//! because an end-session request is an unauthenticated GET that anyone can
//! craft (RP-Initiated Logout 1.0 §3, §7).

use serde_json::json;

use super::error::Failure;
use super::jwt;
use super::params::Params;
use crate::audit::{AuditEvent, AuditKind, Outcome};
use crate::error::Result;
use crate::model::Client;
use crate::state::AppState;
use crate::store::sessions::SessionRow;

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
    pub fn from_params(params: &Params) -> Option<Self> {
        if params.any_repeated() {
            return None;
        }
        let get = |name: &str| {
            params
                .get(name)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
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
    /// Who a valid `id_token_hint` was issued for.
    pub hint: Option<Hint>,
}

/// The subject and session of a valid `id_token_hint`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hint {
    /// The customer.
    pub sub: String,
    /// The browser session the ID token was issued in.
    pub sid: Option<String>,
}

/// What to do with a checked request in this browser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// The hint names the logged-in customer: log out without asking.
    LogOut,
    /// The browser shows no session (a cross-site POST carries no
    /// `SameSite=Lax` cookie): end the one the hint names, then return.
    EndHinted,
    /// Ask the customer first (no hint, or a hint for someone else).
    Confirm,
    /// Nobody is logged in here and no hint names a session: just return.
    Return,
}

/// Checks the hint, the client and the redirect (RP-Initiated Logout 1.0 §2, §3).
pub async fn check(
    state: &AppState,
    req: &EndSessionRequest,
) -> std::result::Result<Checked, Failure<Refusal>> {
    let mut valid_hint = None;
    let mut client_id = req.client_id.clone();
    if let Some(hint) = &req.id_token_hint {
        // ID tokens only, not access or logout tokens; expiry is not checked (§2).
        let Ok(hint) = jwt::verify_id_token_hint(&state.keys, &state.config.issuer_str(), hint)
        else {
            return Err(Failure::Refused(Refusal::BadHint));
        };
        if client_id.as_ref().is_some_and(|id| *id != hint.client_id) {
            return Err(Failure::Refused(Refusal::ClientMismatch));
        }
        client_id = Some(hint.client_id);
        valid_hint = Some(Hint {
            sub: hint.sub,
            sid: hint.sid,
        });
    }
    let client = match &client_id {
        Some(id) => match state.store.find_client(id).await? {
            Some(client) => Some(client),
            None => return Err(Failure::Refused(Refusal::UnknownClient)),
        },
        None => None,
    };
    let redirect = match (&req.post_logout_redirect_uri, &client) {
        (None, _) => None,
        (Some(_), None) => return Err(Failure::Refused(Refusal::RedirectWithoutClient)),
        // Exact string comparison: no normalisation, no added query (§3; conformance "query added").
        (Some(uri), Some(client)) if is_registered_post_logout(client, uri) => Some(uri.clone()),
        (Some(_), Some(_)) => return Err(Failure::Refused(Refusal::UnregisteredRedirect)),
    };
    Ok(Checked {
        client,
        redirect,
        state: req.state.clone(),
        hint: valid_hint,
    })
}

/// Whether `uri` is, character for character, one of the client's registered
/// `post_logout_redirect_uri`s (RP-Initiated Logout 1.0 §3): nothing is
/// normalised, so no look-alike of a registered URI matches.
pub fn is_registered_post_logout(client: &Client, uri: &str) -> bool {
    client.post_logout_redirect_uris.iter().any(|r| r == uri)
}

/// Decides between logging out at once, asking, and simply returning.
pub fn next(checked: &Checked, session: &SessionRow) -> Next {
    let hint = checked.hint.as_ref();
    match (&session.customer_id, hint) {
        (None, Some(Hint { sid: Some(_), .. })) => Next::EndHinted,
        (None, _) => Next::Return,
        (Some(customer), Some(hint)) if *customer == hint.sub => Next::LogOut,
        _ => Next::Confirm,
    }
}

/// Ends the session a valid hint names, if it is still live and its
/// customer's; true when it ended (its tokens are revoked and its RPs told).
pub async fn end_hinted_session(state: &AppState, checked: &Checked) -> Result<bool> {
    let Some(Hint {
        sub,
        sid: Some(sid),
    }) = &checked.hint
    else {
        return Ok(false);
    };
    if !state
        .store
        .end_session(sid, Some(sub), state.clock.now())
        .await?
    {
        return Ok(false);
    }
    let mut event = AuditEvent::new(AuditKind::SessionEnded, Outcome::Info)
        .with_detail(json!({ "reason": "rp_logout_hint" }));
    event.customer_id = Some(sub.clone());
    if let Some(client) = &checked.client {
        event = event.with_client(client.client_id.as_str());
    }
    state.audit(event).await;
    super::backchannel::session_ended(state, sid, sub).await?;
    Ok(true)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs<const N: usize>(list: [(&str, &str); N]) -> Params {
        Params::from(list)
    }

    #[test]
    fn lookalikes_of_a_registered_post_logout_uri_never_match() {
        let mut client = crate::model::test_client(true, &[]);
        client.post_logout_redirect_uris = [
            "https://rp.example.com/cb",
            "http://127.0.0.1/callback",
            "http://[::1]/callback",
            "jp.example.app:/oauth",
        ]
        .map(str::to_owned)
        .to_vec();
        for bad in crate::oidc::redirect_uri::LOOKALIKES {
            assert!(!is_registered_post_logout(&client, bad), "{bad:?}");
        }
        // No port exception here: a loopback URI must match in full, too.
        assert!(!is_registered_post_logout(
            &client,
            "http://127.0.0.1:53117/callback"
        ));
        assert!(is_registered_post_logout(
            &client,
            "https://rp.example.com/cb"
        ));
    }

    #[test]
    fn state_is_appended_only_when_sent_and_the_registered_query_is_kept() {
        assert_eq!(
            return_url("https://rp.example.com/bye", None),
            "https://rp.example.com/bye"
        );
        assert_eq!(
            return_url("https://rp.example.com/bye", Some("a b&c")),
            "https://rp.example.com/bye?state=a+b%26c"
        );
        assert_eq!(
            return_url("https://rp.example.com/bye?x=1", Some("s")),
            "https://rp.example.com/bye?x=1&state=s"
        );
    }

    #[test]
    fn repeated_parameters_are_refused_and_empty_ones_are_absent() {
        assert_eq!(
            EndSessionRequest::from_params(&pairs([("state", "a"), ("state", "b")])),
            None
        );
        let req = EndSessionRequest::from_params(&pairs([
            ("state", ""),
            ("client_id", "c"),
            ("other", "x"),
        ]))
        .unwrap();
        assert_eq!(
            req,
            EndSessionRequest {
                client_id: Some("c".into()),
                ..Default::default()
            }
        );
    }
}
