//! The authorization endpoint's flow (OIDC Core §3.1.2).
//!
//! A request arrives ([`begin`]), waits server-side while the customer logs
//! in, steps up or answers a page ([`resume`], [`consent`], [`decline`]),
//! and ends with a code or an error for the client.
//!
//! Each answer is one write transaction (`docs/write-path.md`): the code
//! with its audit event, or the refusal's audit event, together with using
//! up the stored or pushed request it answers; or the request kept for the
//! browser's return. An unknown client or redirect URI is never redirected
//! to (RFC 6749 §4.1.2.1): it is [`Next::BadClient`], a page.

use serde_json::json;

use super::acr::Assurance;
use super::authorization_details::AuthorizationDetails;
use super::decision::{self, Decision};
use super::error::{ErrorCode, ProtocolError};
use super::grant_context::GrantContext;
use super::par;
use super::params::Params;
use super::request::{self, AuthorizationRequest, ResponseMode};
use crate::audit::{AuditEvent, AuditKind, Outcome};
use crate::crypto::random;
use crate::error::{Error, Result};
use crate::model::{Client, Customer};
use crate::state::AppState;
use crate::store::auth_requests::{AuthorizationWrite, RequestRow};
use crate::store::authorization_codes::CodeRow;
use crate::store::sessions::SessionRow;

/// How long a pending authorization request waits for the customer.
pub const REQUEST_TTL_SECS: i64 = 30 * 60;

/// What `http/authorize.rs` shows or sends next.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// The client or redirect URI is unknown: an error page, never a redirect.
    BadClient,
    /// The stored request is gone (used, expired, or another browser's).
    Expired,
    /// Send the authorization response to the client.
    Reply(Reply),
    /// Send the browser to this local path (login, step-up).
    Interact(String),
    /// Ask the customer to consent.
    Consent(Pending),
    /// Offer passkey registration (web client, no passkey, `phr` required).
    OfferPasskey(Pending),
    /// Show the transaction and ask for its passkey confirmation.
    Confirm(Transaction),
}

/// A stored request carrying a transaction to confirm (`docs/transactions.md`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    /// The stored request's id, sent with the confirmation.
    pub request_id: String,
    /// The client.
    pub client_id: String,
    /// The client's display name.
    pub client_name: String,
    /// The validated transaction.
    pub details: AuthorizationDetails,
    /// The client's `ui_locales`, for the page's language.
    pub ui_locales: Option<String>,
}

/// An authorization response (RFC 6749 §4.1.2, §4.1.2.1) and where it goes.
#[derive(Debug, PartialEq, Eq)]
pub struct Reply {
    /// The client's registered redirect URI, as sent.
    pub redirect_uri: String,
    /// How the response is delivered.
    pub response_mode: ResponseMode,
    /// The client's `state`, echoed byte for byte.
    pub state: Option<String>,
    /// The code, or the error.
    pub result: std::result::Result<String, ProtocolError>,
}

/// A stored request waiting on the customer's answer to a page.
#[derive(Debug, PartialEq, Eq)]
pub struct Pending {
    /// The stored request's id, posted back with the answer.
    pub request_id: String,
    /// The client's display name.
    pub client_name: String,
    /// The requested scope values.
    pub scope: Vec<String>,
    /// The client's `ui_locales`, for the page's language.
    pub ui_locales: Option<String>,
}

/// A request being answered and what its answer uses up.
struct Flow {
    row: RequestRow,
    req: AuthorizationRequest,
    client: Client,
    /// The stored or pushed request's id, used up by a final answer.
    take: Option<String>,
    /// The pushed request behind a stored one, used up with it.
    pushed: Option<String>,
    /// Whether the request must be kept for the browser's return (it arrived just now).
    new: bool,
}

/// `GET`/`POST /authorize`: validates the parameters (or the pushed
/// request a `request_uri` names, RFC 9126 §4) and decides.
pub async fn begin(state: &AppState, session: &SessionRow, params: Params) -> Result<Next> {
    let (params, pushed) = match params.get("request_uri").and_then(par::handle_of) {
        Some(handle) => match pushed(state, handle, params.get("client_id")).await? {
            Some((id, params)) => (params, Some(id)),
            None => return Ok(Next::BadClient),
        },
        None => (params, None),
    };
    let client = match params.get("client_id") {
        Some(id) => state.store.find_client(id).await?,
        None => None,
    };
    let (Some(redirect_uri), Some(client)) =
        (request::trusted_redirect(client.as_ref(), &params), client)
    else {
        if pushed.is_some() {
            // A pushed request is single use however it ends.
            write(state, pushed.as_deref(), AuthorizationWrite::default()).await?;
        }
        return Ok(Next::BadClient);
    };
    let mut req = match validate(&client, &redirect_uri, &params, pushed.is_some()) {
        Ok(req) => req,
        Err(reply) => return refuse(state, &client, (pushed.as_deref(), None), reply).await,
    };
    req.pushed_id.clone_from(&pushed);
    let row = new_row(state, session, &client, &req)?;
    let flow = Flow {
        row,
        req,
        client,
        take: pushed,
        pushed: None,
        new: true,
    };
    let decided =
        decision::decide(state, &flow.row, &flow.req, &flow.client, session, false).await?;
    answer(state, session, flow, decided).await
}

/// The validated request, or the error reply to send to the client.
fn validate(
    client: &Client,
    redirect_uri: &str,
    params: &Params,
    pushed: bool,
) -> std::result::Result<AuthorizationRequest, Reply> {
    let parsed = if client.require_par && !pushed {
        Err(ProtocolError::invalid_request(
            "this client must use pushed authorization requests",
        ))
    } else {
        request::parse(client, redirect_uri, params)
    };
    parsed.map_err(|e| Reply {
        redirect_uri: redirect_uri.to_owned(),
        response_mode: request::response_mode(params),
        state: params.string("state"),
        result: Err(e),
    })
}

/// The row that keeps a request that just arrived, should the browser have to come back for it.
fn new_row(
    state: &AppState,
    session: &SessionRow,
    client: &Client,
    req: &AuthorizationRequest,
) -> Result<RequestRow> {
    let now = state.clock.now();
    Ok(RequestRow {
        id: random::handle(),
        client_id: client.client_id.as_str().to_owned(),
        sid: Some(session.sid.clone()),
        params: serde_json::to_string(req).map_err(|e| Error::Internal(e.into()))?,
        pushed: false,
        created_at: now,
        expires_at: now + REQUEST_TTL_SECS,
    })
}

/// `GET /authorize/continue`: decides again after an interaction.
pub async fn resume(state: &AppState, session: &SessionRow, request_id: &str) -> Result<Next> {
    let Some(flow) = stored(state, session, request_id).await? else {
        return Ok(Next::Expired);
    };
    let decided =
        decision::decide(state, &flow.row, &flow.req, &flow.client, session, false).await?;
    answer(state, session, flow, decided).await
}

/// `POST /authorize/consent`: the customer's answer to the consent page.
pub async fn consent(
    state: &AppState,
    session: &SessionRow,
    request_id: &str,
    accepted: bool,
) -> Result<Next> {
    let Some(flow) = stored(state, session, request_id).await? else {
        return Ok(Next::Expired);
    };
    if !accepted {
        let denied = ProtocolError::new(ErrorCode::AccessDenied, "the customer did not consent");
        return answer(state, session, flow, Decision::Error(denied)).await;
    }
    if let Some(customer_id) = &session.customer_id {
        let scope = flow.req.scope.join(" ");
        let client_id = flow.client.client_id.as_str();
        let now = state.clock.now();
        state
            .store
            .save_consent(customer_id, client_id, &scope, now)
            .await?;
    }
    let decided =
        decision::decide(state, &flow.row, &flow.req, &flow.client, session, true).await?;
    answer(state, session, flow, decided).await
}

/// `POST /authorize/decline`: the customer declines to register a passkey
/// (`docs/product.md#assurance`), so the essential level cannot be met.
pub async fn decline(state: &AppState, session: &SessionRow, request_id: &str) -> Result<Next> {
    let Some(flow) = stored(state, session, request_id).await? else {
        return Ok(Next::Expired);
    };
    answer(state, session, flow, Decision::Error(decision::unmet())).await
}

/// `POST /authorize/cancel`: the customer cancels the transaction shown to
/// them, which the client learns as `access_denied` (RFC 6749 §4.1.2.1).
pub async fn cancel(state: &AppState, session: &SessionRow, request_id: &str) -> Result<Next> {
    let Some(flow) = stored(state, session, request_id).await? else {
        return Ok(Next::Expired);
    };
    let denied = ProtocolError::new(
        ErrorCode::AccessDenied,
        "the customer cancelled the transaction",
    );
    answer(state, session, flow, Decision::Error(denied)).await
}

/// The transaction a live request of this session asks to confirm, if any.
pub async fn transaction(
    state: &AppState,
    session: &SessionRow,
    request_id: &str,
) -> Result<Option<Transaction>> {
    Ok(stored(state, session, request_id)
        .await?
        .as_ref()
        .and_then(transaction_of))
}

fn transaction_of(flow: &Flow) -> Option<Transaction> {
    let value = flow.req.authorization_details.clone()?;
    Some(Transaction {
        request_id: flow.row.id.clone(),
        client_id: flow.client.client_id.as_str().to_owned(),
        client_name: flow.client.name.clone(),
        details: AuthorizationDetails::from_value(value).ok()?,
        ui_locales: flow.req.ui_locales.clone(),
    })
}

/// The parameters of a live pushed request of `client_id`, with its id.
async fn pushed(
    state: &AppState,
    handle: &str,
    client_id: Option<&str>,
) -> Result<Option<(String, Params)>> {
    let id = random::hash_secret(handle);
    let Some(row) = state.store.find_request(&id, state.clock.now()).await? else {
        return Ok(None);
    };
    if !row.pushed || client_id != Some(row.client_id.as_str()) {
        return Ok(None);
    }
    Ok(serde_json::from_str(&row.params).ok().map(|p| (id, p)))
}

/// A live request this browser's session started, with its client.
async fn stored(state: &AppState, session: &SessionRow, id: &str) -> Result<Option<Flow>> {
    let Some(row) = state.store.find_request(id, state.clock.now()).await? else {
        return Ok(None);
    };
    if row.pushed || row.sid.as_deref() != Some(session.sid.as_str()) {
        return Ok(None);
    }
    let Ok(req) = serde_json::from_str::<AuthorizationRequest>(&row.params) else {
        return Ok(None);
    };
    let Some(client) = state.store.find_client(&row.client_id).await? else {
        return Ok(None);
    };
    Ok(Some(Flow {
        take: Some(row.id.clone()),
        pushed: req.pushed_id.clone(),
        row,
        req,
        client,
        new: false,
    }))
}

/// Carries out a decision: a final answer (code or error) is written with
/// the request it uses up; an interaction keeps a request that just arrived.
async fn answer(
    state: &AppState,
    session: &SessionRow,
    flow: Flow,
    decided: Decision,
) -> Result<Next> {
    let pending = || Pending {
        request_id: flow.row.id.clone(),
        client_name: flow.client.name.clone(),
        scope: flow.req.scope.clone(),
        ui_locales: flow.req.ui_locales.clone(),
    };
    let next = match decided {
        Decision::Code(customer, assurance, txn) => {
            return issue_code(state, session, &flow, &customer, assurance, txn).await;
        }
        Decision::Error(e) => {
            let reply = reply_to(&flow.req, Err(e));
            let takes = (flow.take.as_deref(), flow.pushed.as_deref());
            return refuse(state, &flow.client, takes, reply).await;
        }
        Decision::Interact(path) => Next::Interact(path),
        Decision::Consent => Next::Consent(pending()),
        Decision::OfferPasskey => Next::OfferPasskey(pending()),
        Decision::Confirm => match transaction_of(&flow) {
            Some(t) => Next::Confirm(t),
            None => return Ok(Next::Expired),
        },
    };
    // Kept only when the browser must come back for it: a session that
    // already satisfies the request gets its code without storing it. A
    // pushed request is not used up here but by the flow's answer (the kept
    // row names it), so opening its request_uri again before the customer
    // has finished, a reload, still works (RFC 9126 §4; FAPI 2.0 test plan).
    if flow.new {
        let keep = AuthorizationWrite {
            keep: Some(&flow.row),
            ..AuthorizationWrite::default()
        };
        write(state, None, keep).await?;
    }
    Ok(next)
}

fn reply_to(
    req: &AuthorizationRequest,
    result: std::result::Result<String, ProtocolError>,
) -> Reply {
    Reply {
        redirect_uri: req.redirect_uri.clone(),
        response_mode: req.response_mode,
        state: req.state.clone(),
        result,
    }
}

/// Writes one answer, using up `take` in the same transaction; `false` when
/// `take` was already used up (a second tab, a replayed link).
async fn write(state: &AppState, take: Option<&str>, rest: AuthorizationWrite<'_>) -> Result<bool> {
    let write = AuthorizationWrite { take, ..rest };
    state
        .store
        .write_authorization(write, state.clock.now())
        .await
}

/// Sends `reply` (an error) to the client, recording the refusal.
async fn refuse(
    state: &AppState,
    client: &Client,
    (take, also_take): (Option<&str>, Option<&str>),
    reply: Reply,
) -> Result<Next> {
    let code = reply.result.as_ref().err().map(|e| e.code.as_str());
    let event = AuditEvent::new(AuditKind::AuthorizationDenied, Outcome::Failure)
        .with_client(client.client_id.as_str())
        .with_detail(json!({ "error": code }));
    let written = AuthorizationWrite {
        event: Some(&event),
        also_take,
        ..AuthorizationWrite::default()
    };
    Ok(if write(state, take, written).await? {
        Next::Reply(reply)
    } else {
        Next::Expired
    })
}

/// Issues a code bound to the client, redirect URI and PKCE challenge, with
/// its audit event and the session's sign-in to the client, in one transaction.
async fn issue_code(
    state: &AppState,
    session: &SessionRow,
    flow: &Flow,
    customer: &Customer,
    assurance: Assurance,
    txn: Option<String>,
) -> Result<Next> {
    let (req, client) = (&flow.req, &flow.client);
    let now = state.clock.now();
    let grant = GrantContext {
        scope: req.scope.clone(),
        nonce: req.nonce.clone(),
        acr: assurance.acr,
        amr: assurance.amr,
        auth_time: assurance.auth_time,
        sid: session.sid.clone(),
        id_token_claims: req.id_token_claims.clone(),
        userinfo_claims: req.userinfo_claims.clone(),
        authorization_details: req.authorization_details.clone(),
        txn,
        dpop_jkt: req.dpop_jkt.clone(),
    };
    let code = random::handle();
    let row = CodeRow {
        code_hash: random::hash_secret(&code),
        client_id: client.client_id.as_str().to_owned(),
        customer_id: customer.id.clone(),
        sid: session.sid.clone(),
        redirect_uri: req.redirect_uri.clone(),
        grant_context: serde_json::to_string(&grant).map_err(anyhow::Error::from)?,
        code_challenge: req.code_challenge.clone(),
        expires_at: now + state.config.code_ttl_secs,
    };
    let event = AuditEvent::new(AuditKind::CodeIssued, Outcome::Success)
        .with_customer(&customer.id, customer.customer_code.as_str())
        .with_client(client.client_id.as_str())
        .with_detail(json!({ "acr": grant.acr, "scope": grant.scope_string(), "txn": grant.txn }));
    let written = AuthorizationWrite {
        code: Some(&row),
        event: Some(&event),
        also_take: flow.pushed.as_deref(),
        ..AuthorizationWrite::default()
    };
    Ok(if write(state, flow.take.as_deref(), written).await? {
        Next::Reply(reply_to(req, Ok(code)))
    } else {
        Next::Expired
    })
}
