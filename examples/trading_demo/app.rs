//! The trading demo's web app: a confidential OpenID Connect client of Kagi,
//! built on the `openidconnect` crate, whose "Buy" and "Withdraw" demand a
//! passkey (`acr=phr`).
//!
//! `main.rs` runs it from environment variables; the browser tests
//! (`tests/it/browser/demo.rs`) build the same router against a test Kagi.
//!
//! - "Buy" needs `phr` from an authentication in the last 10 minutes. Below
//!   that it asks Kagi again with an essential `acr` claim and `max_age=600`;
//!   Kagi steps up in the same session (`docs/product.md#assurance`).
//! - "Withdraw" always asks for a fresh passkey check (`max_age=0` and the
//!   essential claim) and accepts only an `auth_time` from after the click.
//! - "Log out" is RP-Initiated Logout 1.0: the demo forgets its session and
//!   sends the browser to Kagi's `end_session_endpoint`, which ends the Kagi
//!   session and comes back. `/backchannel-logout` receives Kagi's logout
//!   tokens (Back-Channel Logout 1.0 §2.5), so a logout at Kagi, or from
//!   another relying party, ends the demo's session too.
//!
//! This file holds the configuration, the state and the routes; `flow.rs`
//! the authorization requests and their answers, `logout.rs` both logouts,
//! `page.rs` the page. Sessions live in memory, keyed by a random
//! `demo_session` cookie; a real site would also protect its forms with CSRF
//! tokens and remember logout token `jti`s against replay.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::http::{HeaderMap, header};
use axum::routing::{get, post};
use openidconnect::core::{
    CoreClient, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AdditionalClaims, ClientId, ClientSecret, EndSessionUrl, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IdToken, IssuerUrl, ProviderMetadataWithLogout, RedirectUrl,
};
use serde::{Deserialize, Serialize};

use super::flow::{self, Pending};

/// The demo session cookie.
pub(super) const SESSION_COOKIE: &str = "demo_session";

/// The current time in unix seconds: the system clock in `main.rs`, Kagi's
/// test clock in the browser tests (so both sides agree on `auth_time`).
pub type Now = Arc<dyn Fn() -> i64 + Send + Sync>;

/// What the demo needs to know to talk to Kagi.
pub struct DemoConfig {
    /// Kagi's issuer URL (its discovery document is read at start).
    pub issuer: String,
    /// Where browsers reach the demo, without a trailing slash.
    pub base_url: String,
    /// The client id Kagi registered.
    pub client_id: String,
    /// The client secret Kagi printed once.
    pub client_secret: String,
    /// The clock.
    pub now: Now,
}

/// The redirect URI to register with Kagi (`--redirect-uri`).
pub fn redirect_uri(base_url: &str) -> String {
    format!("{base_url}/callback")
}

/// Where Kagi sends the browser after logout (`--post-logout-redirect-uri`).
pub fn post_logout_redirect_uri(base_url: &str) -> String {
    format!("{base_url}/")
}

/// Where Kagi posts logout tokens (`--backchannel-logout-uri`).
pub fn backchannel_logout_uri(base_url: &str) -> String {
    format!("{base_url}/backchannel-logout")
}

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// `sid` (ID and logout tokens) and `events` (logout tokens), which the
/// core claims lack.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub(super) struct KagiClaims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) events: Option<serde_json::Map<String, serde_json::Value>>,
}

impl AdditionalClaims for KagiClaims {}

/// An ID token or a logout token of Kagi: both are JWTs with these claims.
pub(super) type KagiToken = IdToken<
    KagiClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// The demo's state: the OpenID Connect client and the sessions.
#[derive(Clone)]
pub(super) struct Demo {
    pub(super) client: Arc<Client>,
    pub(super) end_session: Option<EndSessionUrl>,
    pub(super) issuer: String,
    pub(super) base_url: String,
    pub(super) http: reqwest::Client,
    sessions: Arc<Mutex<HashMap<String, Session>>>,
    pub(super) now: Now,
}

/// One browser's session at the demo.
#[derive(Default)]
pub(super) struct Session {
    pub(super) pending: Option<Pending>,
    pub(super) login: Option<Login>,
    pub(super) last_result: Option<String>,
}

/// What the last ID token said.
#[derive(Clone)]
pub(super) struct Login {
    pub(super) sub: String,
    pub(super) sid: Option<String>,
    pub(super) acr: String,
    pub(super) amr: Vec<String>,
    pub(super) auth_time: i64,
    pub(super) id_token: KagiToken,
}

/// Reads Kagi's discovery document and builds the demo's routes.
pub async fn router(config: DemoConfig) -> Result<Router, String> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let issuer = IssuerUrl::new(config.issuer.clone()).map_err(|e| e.to_string())?;
    let metadata = ProviderMetadataWithLogout::discover_async(issuer, &http)
        .await
        .map_err(|e| {
            format!(
                "cannot read {}/.well-known/openid-configuration: {e}",
                config.issuer
            )
        })?;
    let end_session = metadata.additional_metadata().end_session_endpoint.clone();
    let redirect = RedirectUrl::new(redirect_uri(&config.base_url)).map_err(|e| e.to_string())?;
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(config.client_id),
        Some(ClientSecret::new(config.client_secret)),
    )
    .set_redirect_uri(redirect);
    let demo = Demo {
        client: Arc::new(client),
        end_session,
        issuer: config.issuer,
        base_url: config.base_url,
        http,
        sessions: Arc::default(),
        now: config.now,
    };
    Ok(Router::new()
        .route("/", get(super::page::home))
        .route("/login", get(flow::login))
        .route("/buy", get(flow::buy))
        .route("/withdraw", get(flow::withdraw))
        .route("/callback", get(flow::callback))
        .route("/logout", post(super::logout::logout))
        .route(
            "/backchannel-logout",
            post(super::logout::backchannel_logout),
        )
        .with_state(demo))
}

impl Demo {
    pub(super) fn sessions(&self) -> MutexGuard<'_, HashMap<String, Session>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn login_of(&self, headers: &HeaderMap) -> Option<Login> {
        let id = session_id(headers)?;
        self.sessions().get(&id).and_then(|s| s.login.clone())
    }

    pub(super) fn set_result(&self, id: &str, result: String) {
        self.sessions()
            .entry(id.to_owned())
            .or_default()
            .last_result = Some(result);
    }
}

/// The demo session cookie's value.
pub(super) fn session_id(headers: &HeaderMap) -> Option<String> {
    let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
    cookies.split(';').find_map(|c| {
        c.trim()
            .strip_prefix(SESSION_COOKIE)
            .and_then(|rest| rest.strip_prefix('='))
            .map(str::to_owned)
    })
}
