//! The trading demo's web app: a confidential OpenID Connect client of Kagi,
//! built on the `openidconnect` crate, whose "Buy" and "Withdraw" are each
//! confirmed with a passkey that signs the order or withdrawal itself
//! (`docs/transactions.md`).
//!
//! `main.rs` runs it from environment variables; the browser tests
//! (`tests/it/browser/demo.rs`, `tests/it/browser/transactions.rs`) build
//! the same router against a test Kagi.
//!
//! - "Withdraw" pushes a withdrawal (amount and destination) and "Buy" a limit
//!   order as RFC 9396 `authorization_details` by PAR (RFC 9126); Kagi shows
//!   it and asks for a passkey assertion bound to it, every time. Before
//!   "executing", the demo checks that the token response grants exactly the
//!   details it asked for, and shows the confirmation's `txn`.
//! - Two debug links send a tampered withdrawal and one of an unknown type in
//!   the front channel, to show that Kagi refuses them before any page.
//! - "Log out" is RP-Initiated Logout 1.0: the demo forgets its session and
//!   sends the browser to Kagi's `end_session_endpoint`, which ends the Kagi
//!   session and comes back. `/backchannel-logout` receives Kagi's logout
//!   tokens (Back-Channel Logout 1.0 §2.5), so a logout at Kagi, or from
//!   another relying party, ends the demo's session too.
//!
//! This file holds the configuration, the state and the routes; `flow.rs`
//! the authorization requests and their answers, `details.rs` the
//! transactions the demo asks for, `par.rs` the pushed request, `logout.rs`
//! both logouts, `page.rs` the page. Sessions live in memory, keyed by a
//! random `demo_session` cookie; a real site would also protect its forms
//! with CSRF tokens and remember logout token `jti`s against replay.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::http::{HeaderMap, header};
use axum::routing::{get, post};
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreClaimName, CoreClaimType, CoreClientAuthMethod,
    CoreErrorResponseType, CoreGenderClaim, CoreGrantType, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreJwsSigningAlgorithm,
    CoreResponseMode, CoreResponseType, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreSubjectIdentifierType, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AdditionalProviderMetadata, ClientId, ClientSecret, EndSessionUrl,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, ExtraTokenFields, IdToken, IdTokenFields,
    IssuerUrl, LogoutProviderMetadata, ProviderMetadata, RedirectUrl, StandardErrorResponse,
    StandardTokenResponse,
};
use serde::{Deserialize, Serialize};

use super::flow::{self, Pending};

/// The demo session cookie.
pub(super) const SESSION_COOKIE: &str = "demo_session";

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

/// The PAR endpoint (RFC 9126 §5), which the core metadata lacks.
#[derive(Clone, Debug, Deserialize, Serialize)]
struct ParMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pushed_authorization_request_endpoint: Option<String>,
}

impl AdditionalProviderMetadata for ParMetadata {}

/// Kagi's discovery document as the demo reads it: the core fields, the
/// end session endpoint and the PAR endpoint.
type Metadata = ProviderMetadata<
    LogoutProviderMetadata<ParMetadata>,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// `authorization_details` of a token response (RFC 9396 §7): what Kagi
/// actually granted, which the core token fields drop.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub(super) struct GrantedDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) authorization_details: Option<serde_json::Value>,
}

impl ExtraTokenFields for GrantedDetails {}

/// A token response with Kagi's ID token claims and the granted details.
pub(super) type KagiTokenResponse = StandardTokenResponse<
    IdTokenFields<
        KagiClaims,
        GrantedDetails,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;

type Client = openidconnect::Client<
    KagiClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    KagiTokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// `sid` (ID and logout tokens), `txn` (the ID token of a confirmed
/// transaction, `docs/transactions.md#tokens`) and `events` (logout
/// tokens), which the core claims lack.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub(super) struct KagiClaims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) txn: Option<String>,
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
    /// Kagi's PAR endpoint, if it announces one.
    pub(super) par_endpoint: Option<String>,
    /// The client secret again, for `client_secret_basic` at the PAR endpoint.
    pub(super) client_secret: ClientSecret,
    pub(super) issuer: String,
    pub(super) base_url: String,
    pub(super) http: reqwest::Client,
    sessions: Arc<Mutex<HashMap<String, Session>>>,
}

/// One browser's session at the demo.
#[derive(Default)]
pub(super) struct Session {
    pub(super) pending: Option<Pending>,
    pub(super) login: Option<Login>,
    pub(super) last_result: Option<String>,
    /// The `txn` of the last transaction the demo accepted.
    pub(super) last_txn: Option<String>,
}

/// What the last ID token said.
#[derive(Clone)]
pub(super) struct Login {
    pub(super) sub: String,
    pub(super) sid: Option<String>,
    /// The confirmation's id when the login confirmed a transaction.
    pub(super) txn: Option<String>,
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
    let metadata = Metadata::discover_async(issuer, &http).await.map_err(|e| {
        format!(
            "cannot read {}/.well-known/openid-configuration: {e}",
            config.issuer
        )
    })?;
    let extra = metadata.additional_metadata();
    let end_session = extra.end_session_endpoint.clone();
    let par_endpoint = extra
        .additional_metadata
        .pushed_authorization_request_endpoint
        .clone();
    let redirect = RedirectUrl::new(redirect_uri(&config.base_url)).map_err(|e| e.to_string())?;
    let client_secret = ClientSecret::new(config.client_secret);
    let client = Client::from_provider_metadata(
        metadata,
        ClientId::new(config.client_id),
        Some(client_secret.clone()),
    )
    .set_redirect_uri(redirect);
    let demo = Demo {
        client: Arc::new(client),
        end_session,
        par_endpoint,
        client_secret,
        issuer: config.issuer,
        base_url: config.base_url,
        http,
        sessions: Arc::default(),
    };
    Ok(Router::new()
        .route("/", get(super::page::home))
        .route("/login", get(flow::login))
        .route("/buy", get(flow::buy))
        .route("/withdraw", get(flow::withdraw))
        .route("/withdraw/tampered", get(flow::withdraw_tampered))
        .route("/withdraw/unknown-type", get(flow::withdraw_unknown_type))
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

    /// Sets the result line; a `txn` shown belongs to an earlier result, so it goes.
    pub(super) fn set_result(&self, id: &str, result: String) {
        let mut sessions = self.sessions();
        let session = sessions.entry(id.to_owned()).or_default();
        session.last_result = Some(result);
        session.last_txn = None;
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
