//! The grants of the token endpoint (RFC 6749 §4.1.3, §6): the authorization
//! code and the refresh token, each answering with tokens or an RFC 6749 §5.2 error.

use serde_json::json;

use super::dpop::{self, Proof};
use super::dpop_binding::{self, Bound};
use super::error::{ErrorCode, Failure, ProtocolError};
use super::grant_context::GrantContext;
use super::issue::{self, IssueFor, Issued};
use super::params::Params;
use super::pkce;
use crate::audit::{AuditEvent, AuditKind, Outcome};
use crate::crypto::random;
use crate::error::{Error, Result};
use crate::model::Client;
use crate::state::AppState;
use crate::store::authorization_codes::{CodeRow, Redemption};
use crate::store::token_families::{FamilyRow, Rotate, Rotation};

/// A retry of a refresh within this many seconds, while its successor is
/// unused, gets new tokens instead of revoking the family (a lost response; RFC 9700 §4.14.2).
pub const REFRESH_RETRY_GRACE_SECS: i64 = 30;

const fn fail(code: ErrorCode, description: &'static str) -> ProtocolError {
    ProtocolError::new(code, description)
}

/// A token request (RFC 6749 §4.1.3, §6), by grant type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenRequest {
    /// `grant_type=authorization_code`.
    AuthorizationCode(CodeGrant),
    /// `grant_type=refresh_token`.
    RefreshToken(RefreshGrant),
}

/// The parameters of `grant_type=authorization_code` (RFC 6749 §4.1.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeGrant {
    /// The code.
    pub code: String,
    /// Must equal the authorization request's; checked once the code is found.
    pub redirect_uri: Option<String>,
    /// The PKCE verifier (RFC 7636 §4.5).
    pub code_verifier: Option<String>,
}

/// The parameters of `grant_type=refresh_token` (RFC 6749 §6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshGrant {
    /// The refresh token.
    pub refresh_token: String,
    /// A narrower scope for this response.
    pub scope: Option<String>,
}

impl TokenRequest {
    /// Reads the grant type and the parameters it requires.
    pub fn parse(params: &Params) -> std::result::Result<Self, ProtocolError> {
        let required = |name: &str, missing: &'static str| {
            params
                .string(name)
                .ok_or(ProtocolError::invalid_request(missing))
        };
        match params.get("grant_type") {
            Some("authorization_code") => Ok(Self::AuthorizationCode(CodeGrant {
                code: required("code", "code is required")?,
                redirect_uri: params.string("redirect_uri"),
                code_verifier: params.string("code_verifier"),
            })),
            Some("refresh_token") => Ok(Self::RefreshToken(RefreshGrant {
                refresh_token: required("refresh_token", "refresh_token is required")?,
                scope: params.string("scope"),
            })),
            Some(_) => Err(fail(
                ErrorCode::UnsupportedGrantType,
                "only authorization_code and refresh_token are supported",
            )),
            None => Err(ProtocolError::invalid_request("grant_type is required")),
        }
    }
}

/// Runs the grant of `req` for the authenticated `client`.
///
/// With the request's checked DPoP proof, if it carried one (RFC 9449 §5), the access
/// token is then bound to the proof's key, and the proof's `jti` is claimed
/// in the grant's own write transaction (`docs/write-path.md`).
pub async fn grant(
    state: &AppState,
    client: &Client,
    req: &TokenRequest,
    proof: Option<&Proof>,
) -> std::result::Result<Issued, Failure> {
    match req {
        TokenRequest::AuthorizationCode(grant) => exchange_code(state, client, grant, proof).await,
        TokenRequest::RefreshToken(grant) => refresh(state, client, grant, proof).await,
    }
}

fn context(json: &str) -> Result<GrantContext> {
    serde_json::from_str(json).map_err(|e| Error::Internal(e.into()))
}

/// `grant_type=authorization_code` (RFC 6749 §4.1.3).
///
/// The code's bindings (client, `redirect_uri`, PKCE verifier) are checked
/// before anything is written: a request that fails them is refused and leaves
/// the code as it was, so whoever merely saw a code can neither spend it nor,
/// by replaying it, revoke what its client was issued. Only a presentation
/// that passes them and finds the code spent is a replay.
async fn exchange_code(
    state: &AppState,
    client: &Client,
    req: &CodeGrant,
    proof: Option<&Proof>,
) -> std::result::Result<Issued, Failure> {
    let now = state.clock.now();
    let hash = random::hash_secret(&req.code);
    let Some(found) = state.store.find_code(&hash).await? else {
        return Err(Failure::Refused(fail(
            ErrorCode::InvalidGrant,
            "the code is invalid",
        )));
    };
    let row = found.code;
    check_bindings(&row, client, req)?;
    let grant = context(&row.grant_context)?;
    // The DPoP key is one more binding: a failure leaves the code unspent.
    dpop_binding::check(grant.dpop_jkt.as_deref(), proof, Bound::Code)?;
    if found.used_at.is_some() {
        return replayed(state, &row, now).await;
    }
    if row.expires_at <= now {
        return Err(Failure::Refused(fail(
            ErrorCode::InvalidGrant,
            "the code has expired",
        )));
    }
    let Some(customer) = state.store.find_customer(&row.customer_id).await? else {
        return Err(Failure::Refused(fail(
            ErrorCode::InvalidGrant,
            "the customer no longer exists",
        )));
    };
    let mut family = family_of(&row, now, state.config.refresh_token_ttl_secs);
    family.grant_context = dpop_binding::family_context(&grant, client, proof)?;
    let refresh = issue::gets_refresh_token(client, &grant).then_some(None);
    // Signed before the transaction, so the writer is held only for the writes.
    let (issued, rows) = issue::sign(
        state,
        IssueFor {
            client,
            customer: &customer,
            grant: &grant,
            family: &family,
            with_nonce: true,
            refresh,
            dpop_jkt: proof.map(|p| p.jkt.as_str()),
        },
    )?;
    let event = issued_event(client, &customer.id, "authorization_code");
    let claim = proof.map(|p| p.claim(state.config.dpop_proof_window_secs));
    let redeemed = state
        .store
        .take_code(
            &hash,
            client.client_id.as_str(),
            now,
            (&family, &rows),
            &event,
            claim.as_ref(),
        )
        .await?;
    match redeemed {
        Redemption::Taken => Ok(issued),
        // A concurrent redemption spent it between the read and the update.
        Redemption::AlreadySpent => replayed(state, &row, now).await,
        Redemption::ProofReplayed => Err(dpop::REPLAYED.into()),
    }
}

/// The token family a code grants, alive for `ttl` seconds from `now`.
fn family_of(row: &CodeRow, now: i64, ttl: i64) -> FamilyRow {
    FamilyRow {
        id: uuid::Uuid::new_v4().to_string(),
        client_id: row.client_id.clone(),
        customer_id: row.customer_id.clone(),
        sid: Some(row.sid.clone()),
        code_hash: Some(row.code_hash.clone()),
        grant_context: row.grant_context.clone(),
        created_at: now,
        expires_at: now + ttl,
        revoked_at: None,
    }
}

/// The code was issued to this client for this `redirect_uri` and PKCE challenge.
fn check_bindings(
    row: &CodeRow,
    client: &Client,
    req: &CodeGrant,
) -> std::result::Result<(), ProtocolError> {
    if row.client_id != client.client_id.as_str() {
        // The same answer as for an unknown code: nothing tells another client the code exists.
        return Err(fail(ErrorCode::InvalidGrant, "the code is invalid"));
    }
    match &req.redirect_uri {
        Some(uri) if *uri == row.redirect_uri => {}
        Some(_) => {
            return Err(fail(
                ErrorCode::InvalidGrant,
                "redirect_uri does not match the authorization request",
            ));
        }
        None => return Err(fail(ErrorCode::InvalidRequest, "redirect_uri is required")),
    }
    match (&row.code_challenge, &req.code_verifier) {
        (Some(challenge), Some(verifier)) if pkce::verify(challenge, verifier) => Ok(()),
        (Some(_), _) => Err(fail(
            ErrorCode::InvalidGrant,
            "code_verifier does not match the code_challenge",
        )),
        (None, Some(_)) => Err(fail(
            ErrorCode::InvalidGrant,
            "code_verifier sent but no code_challenge was",
        )),
        (None, None) => Ok(()),
    }
}

/// A spent code presented again by its own client: refused, and what it
/// granted is revoked (RFC 6749 §4.1.2).
async fn replayed(
    state: &AppState,
    row: &CodeRow,
    now: i64,
) -> std::result::Result<Issued, Failure> {
    state
        .store
        .revoke_families_of_code(&row.code_hash, now, |revoked| {
            let mut event = AuditEvent::new(AuditKind::TokenReuseDetected, Outcome::Failure)
                .with_client(&row.client_id)
                .with_detail(json!({ "token": "authorization_code", "families_revoked": revoked }));
            event.customer_id = Some(row.customer_id.clone());
            event
        })
        .await?;
    Err(fail(ErrorCode::InvalidGrant, "the code was already used").into())
}

/// `grant_type=refresh_token` (RFC 6749 §6), rotating the token on every use.
///
/// A `scope` narrower than the grant's applies to this response only: its
/// `scope`, access token and so userinfo. The new refresh token keeps the
/// original scope ("identical to that of the refresh token included by the
/// client", RFC 6749 §6), so a later refresh may ask for it all again.
async fn refresh(
    state: &AppState,
    client: &Client,
    req: &RefreshGrant,
    proof: Option<&Proof>,
) -> std::result::Result<Issued, Failure> {
    let now = state.clock.now();
    let hash = random::hash_secret(&req.refresh_token);
    let invalid = || {
        Err(Failure::Refused(fail(
            ErrorCode::InvalidGrant,
            "the refresh token is invalid or expired",
        )))
    };
    let Some((refresh, family)) = state.store.find_refresh_token(&hash).await? else {
        return invalid();
    };
    if family.client_id != client.client_id.as_str()
        || family.revoked_at.is_some()
        || family.expires_at <= now
        || refresh.expires_at <= now
    {
        return invalid();
    }
    let mut grant = context(&family.grant_context)?;
    // Checked before the token is spent, so a bad request does not cost the client its grant.
    dpop_binding::check(grant.dpop_jkt.as_deref(), proof, Bound::RefreshToken)?;
    if let Some(scope) = requested_scope(&grant, req.scope.as_deref())? {
        grant.scope = scope;
    }
    let Some(customer) = state.store.find_customer(&family.customer_id).await? else {
        return invalid();
    };
    let (issued, rows) = issue::sign(
        state,
        IssueFor {
            client,
            customer: &customer,
            grant: &grant,
            family: &family,
            with_nonce: false,
            refresh: Some(Some(&hash)),
            dpop_jkt: proof.map(|p| p.jkt.as_str()),
        },
    )?;
    let mut reuse_event = AuditEvent::new(AuditKind::TokenReuseDetected, Outcome::Failure)
        .with_client(&family.client_id)
        .with_detail(json!({ "token": "refresh_token", "family": family.id }));
    reuse_event.customer_id = Some(family.customer_id.clone());
    let claim = proof.map(|p| p.claim(state.config.dpop_proof_window_secs));
    // Claiming the DPoP proof, spending the token, the reuse rule (RFC 9700
    // §4.14.2) with its retry grace, and storing the new tokens and the audit
    // event are one transaction.
    let rotation = state
        .store
        .rotate_refresh_token(Rotate {
            token_hash: &hash,
            family_id: &family.id,
            now,
            retry_grace: super::fapi::refresh_retry_grace(client, REFRESH_RETRY_GRACE_SECS),
            issued: &rows,
            issued_event: &issued_event(client, &customer.id, "refresh_token"),
            reuse_event: &reuse_event,
            dpop: claim.as_ref(),
        })
        .await?;
    match rotation {
        Rotation::Rotated => Ok(issued),
        Rotation::Invalid => invalid(),
        Rotation::Reused => Err(fail(
            ErrorCode::InvalidGrant,
            "the refresh token was already used",
        )
        .into()),
        Rotation::ProofReplayed => Err(dpop::REPLAYED.into()),
    }
}

/// The `scope` a refresh asks for, `None` when it asks for the grant's own
/// (no `scope`, or an empty one). Every value must have been granted
/// (RFC 6749 §6), and `openid` must stay, since every answer carries an ID token.
fn requested_scope(
    grant: &GrantContext,
    scope: Option<&str>,
) -> std::result::Result<Option<Vec<String>>, ProtocolError> {
    let mut asked: Vec<String> = Vec::new();
    for value in scope.unwrap_or_default().split(' ') {
        if !value.is_empty() && !asked.iter().any(|a| a == value) {
            asked.push(value.to_owned());
        }
    }
    if asked.is_empty() {
        return Ok(None);
    }
    if !asked.iter().all(|s| grant.has_scope(s)) {
        return Err(fail(
            ErrorCode::InvalidScope,
            "a refresh cannot widen the granted scope",
        ));
    }
    if !asked.iter().any(|s| s == "openid") {
        return Err(fail(ErrorCode::InvalidScope, "scope must contain openid"));
    }
    Ok(Some(asked))
}

/// The audit event recorded with the tokens of a grant.
fn issued_event(client: &Client, customer_id: &str, grant_type: &str) -> AuditEvent {
    let mut event = AuditEvent::new(AuditKind::TokensIssued, Outcome::Success)
        .with_client(client.client_id.as_str())
        .with_detail(json!({ "grant_type": grant_type }));
    event.customer_id = Some(customer_id.to_owned());
    event
}
