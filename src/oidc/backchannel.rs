//! Back-Channel Logout 1.0: telling relying parties that a session ended.
//!
//! When a browser session ends, its tokens are revoked and every relying
//! party it signed in to that registered a `backchannel_logout_uri` is sent
//! a logout token (§2.4) by POST (§2.5).
//!
//! Delivery runs in a background task so logging out never waits on an RP;
//! a failed delivery is retried a bounded number of times.

use std::time::Duration;

use serde_json::json;

use super::jwt;
use crate::audit::{AuditEvent, AuditKind, Outcome};
use crate::crypto::random;
use crate::error::Result;
use crate::model::Client;
use crate::outbound;
use crate::state::AppState;

/// The one event of a logout token (Back-Channel Logout 1.0 §2.4).
pub const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// A logout token is valid for two minutes: enough for delivery and clock
/// skew, short enough that a captured one is soon useless (§4: "preferably at most two minutes").
const LOGOUT_TOKEN_TTL_SECS: i64 = 120;
/// One delivery attempt may take this long (a slow RP must not hold the task).
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);
/// Waits before the retries of a failed delivery: three retries, about 15 s
/// in all, so a briefly unavailable RP still hears of the logout while the
/// task stays bounded (the specification leaves retrying to the OP).
const RETRY_DELAYS: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(4),
    Duration::from_secs(10),
];

/// Revokes the tokens of an ended browser session and notifies its RPs.
///
/// Every token family issued in session `sid` (of customer `sub`) is revoked,
/// and each RP it signed in to that registered a `backchannel_logout_uri`
/// gets a logout token, delivered in the background.
pub async fn session_ended(state: &AppState, sid: &str, sub: &str) -> Result<()> {
    let now = state.clock.now();
    let revoked = state.store.revoke_families_of_session(sid, now).await?;
    let mut notified = 0;
    for client_id in state.store.list_session_clients(sid).await? {
        let Some(client) = state.store.find_client(&client_id).await? else {
            continue;
        };
        let Some(uri) = client.backchannel_logout_uri.clone() else {
            continue;
        };
        let token = logout_token(state, &client, sub, sid, now)?;
        let delivery = Delivery {
            client_id,
            sub: sub.to_owned(),
            uri,
            token,
        };
        tokio::spawn(deliver(state.clone(), delivery));
        notified += 1;
    }
    tracing::info!(
        families.revoked = revoked,
        rp.notified = notified,
        "session ended"
    );
    Ok(())
}

/// A signed logout token (Back-Channel Logout 1.0 §2.4): `typ: logout+jwt`,
/// the client's ID token algorithm, `sub` and `sid`, the one event, no `nonce`.
pub fn logout_token(
    state: &AppState,
    client: &Client,
    sub: &str,
    sid: &str,
    now: i64,
) -> Result<String> {
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
///
/// The URI is fenced in like a `jwks_uri` (`outbound`): resolved once per
/// delivery, public addresses only unless `backchannel_logout_allow_private`,
/// no redirects, no proxy. A URI that fails those checks is not retried.
async fn deliver(state: AppState, delivery: Delivery) {
    let allow_private = state.config.backchannel_logout_allow_private;
    let http = match url::Url::parse(&delivery.uri) {
        Ok(url) => match outbound::checked(&url, allow_private).await {
            Ok(target) => target
                .client(DELIVERY_TIMEOUT)
                .map_err(|e| format!("{e:#}")),
            Err(e) => Err(format!("{e:#}")),
        },
        Err(e) => Err(e.to_string()),
    };
    let mut attempts = 0;
    let result = loop {
        attempts += 1;
        let failure = match &http {
            Ok(http) => match http
                .post(&delivery.uri)
                .form(&[("logout_token", delivery.token.as_str())])
                .send()
                .await
            {
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
