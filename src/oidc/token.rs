//! The grants of the token endpoint (RFC 6749 §4.1.3, §6): the authorization
//! code and the refresh token, each answering with tokens or an RFC 6749 §5.2 error.

use serde_json::json;

use super::grant::GrantContext;
use super::pkce;
use super::request::param;
use super::tokens::{self, IssueFor, Issued};
use crate::audit::{AuditEvent, AuditKind, Outcome};
use crate::crypto::random;
use crate::error::{Error, Result};
use crate::model::Client;
use crate::state::AppState;
use crate::store::codes::Redemption;
use crate::store::tokens::FamilyRow;

/// A retry of a refresh within this many seconds, while its successor is
/// unused, gets new tokens instead of revoking the family (a lost response; RFC 9700 §4.14.2).
pub const REFRESH_RETRY_GRACE_SECS: i64 = 30;

/// An RFC 6749 §5.2 error.
#[derive(Debug, PartialEq, Eq)]
pub struct TokenError {
    /// Error code.
    pub error: &'static str,
    /// ASCII English description.
    pub description: &'static str,
}

const fn fail(error: &'static str, description: &'static str) -> TokenError {
    TokenError { error, description }
}

fn context(json: &str) -> Result<GrantContext> {
    serde_json::from_str(json).map_err(|e| Error::Internal(e.into()))
}

/// `grant_type=authorization_code`.
pub async fn exchange_code(
    state: &AppState,
    client: &Client,
    params: &[(String, String)],
) -> Result<Result<Issued, TokenError>> {
    let now = state.clock.now();
    let Some(code) = param(params, "code") else {
        return Ok(Err(fail("invalid_request", "code is required")));
    };
    let hash = random::hash_secret(code);
    let row = match state.store.redeem_code(&hash, now).await? {
        Redemption::Fresh(row) => row,
        Redemption::Unknown => return Ok(Err(fail("invalid_grant", "the code is invalid"))),
        Redemption::Replayed(row) => {
            // RFC 6749 §4.1.2: a code used twice revokes what it granted.
            let revoked = state.store.revoke_families_of_code(&hash, now).await?;
            let mut event = AuditEvent::new(AuditKind::TokenReuseDetected, Outcome::Failure)
                .with_client(&row.client_id)
                .with_detail(json!({ "token": "authorization_code", "families_revoked": revoked }));
            event.customer_id = Some(row.customer_id.clone());
            state.audit(event).await;
            return Ok(Err(fail("invalid_grant", "the code was already used")));
        }
    };
    if row.client_id != client.client_id.as_str() {
        return Ok(Err(fail(
            "invalid_grant",
            "the code was issued to another client",
        )));
    }
    if row.expires_at <= now {
        return Ok(Err(fail("invalid_grant", "the code has expired")));
    }
    match param(params, "redirect_uri") {
        Some(uri) if uri == row.redirect_uri => {}
        Some(_) => {
            return Ok(Err(fail(
                "invalid_grant",
                "redirect_uri does not match the authorization request",
            )));
        }
        None => return Ok(Err(fail("invalid_request", "redirect_uri is required"))),
    }
    match (&row.code_challenge, param(params, "code_verifier")) {
        (Some(challenge), Some(verifier)) if pkce::verify(challenge, verifier) => {}
        (Some(_), _) => {
            return Ok(Err(fail(
                "invalid_grant",
                "code_verifier does not match the code_challenge",
            )));
        }
        (None, Some(_)) => {
            return Ok(Err(fail(
                "invalid_grant",
                "code_verifier sent but no code_challenge was",
            )));
        }
        (None, None) => {}
    }
    let Some(customer) = state.store.find_customer(&row.customer_id).await? else {
        return Ok(Err(fail("invalid_grant", "the customer no longer exists")));
    };
    let grant = context(&row.grant_context)?;
    let family = FamilyRow {
        id: uuid::Uuid::new_v4().to_string(),
        client_id: row.client_id.clone(),
        customer_id: customer.id.clone(),
        sid: Some(row.sid.clone()),
        code_hash: Some(hash),
        grant_context: row.grant_context.clone(),
        created_at: now,
        expires_at: now + state.config.refresh_token_ttl_secs,
        revoked_at: None,
    };
    state.store.insert_family(&family).await?;
    let refresh = tokens::gets_refresh_token(client, &grant).then_some(None);
    let issued = tokens::issue(
        state,
        IssueFor {
            client,
            customer: &customer,
            grant: &grant,
            family: &family,
            with_nonce: true,
            refresh,
        },
    )
    .await?;
    audit_issued(state, client, &customer.id, "authorization_code").await;
    Ok(Ok(issued))
}

/// `grant_type=refresh_token`, rotating the token on every use.
pub async fn refresh(
    state: &AppState,
    client: &Client,
    params: &[(String, String)],
) -> Result<Result<Issued, TokenError>> {
    let now = state.clock.now();
    let Some(token) = param(params, "refresh_token") else {
        return Ok(Err(fail("invalid_request", "refresh_token is required")));
    };
    let hash = random::hash_secret(token);
    let invalid = Ok(Err(fail(
        "invalid_grant",
        "the refresh token is invalid or expired",
    )));
    let Some((refresh, family)) = state.store.find_refresh_token(&hash).await? else {
        return invalid;
    };
    if family.client_id != client.client_id.as_str()
        || family.revoked_at.is_some()
        || family.expires_at <= now
        || refresh.expires_at <= now
    {
        return invalid;
    }
    if !state.store.use_refresh_token(&hash, now).await? {
        let used_at = refresh.used_at.unwrap_or(now);
        let retry =
            now - used_at <= REFRESH_RETRY_GRACE_SECS && !state.store.successor_used(&hash).await?;
        if !retry {
            state.store.revoke_family(&family.id, now).await?;
            let mut event = AuditEvent::new(AuditKind::TokenReuseDetected, Outcome::Failure)
                .with_client(&family.client_id)
                .with_detail(json!({ "token": "refresh_token", "family": family.id }));
            event.customer_id = Some(family.customer_id.clone());
            state.audit(event).await;
            return Ok(Err(fail(
                "invalid_grant",
                "the refresh token was already used",
            )));
        }
        state.store.retire_successors(&hash, now).await?;
    }
    let Some(customer) = state.store.find_customer(&family.customer_id).await? else {
        return invalid;
    };
    let mut grant = context(&family.grant_context)?;
    if let Some(scope) = param(params, "scope") {
        let asked: Vec<String> = scope
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if !asked.iter().all(|s| grant.has_scope(s)) {
            return Ok(Err(fail(
                "invalid_scope",
                "a refresh cannot widen the granted scope",
            )));
        }
        grant.scope = asked;
    }
    let issued = tokens::issue(
        state,
        IssueFor {
            client,
            customer: &customer,
            grant: &grant,
            family: &family,
            with_nonce: false,
            refresh: Some(Some(&hash)),
        },
    )
    .await?;
    audit_issued(state, client, &customer.id, "refresh_token").await;
    Ok(Ok(issued))
}

async fn audit_issued(state: &AppState, client: &Client, customer_id: &str, grant_type: &str) {
    let mut event = AuditEvent::new(AuditKind::TokensIssued, Outcome::Success)
        .with_client(client.client_id.as_str())
        .with_detail(json!({ "grant_type": grant_type }));
    event.customer_id = Some(customer_id.to_owned());
    state.audit(event).await;
}
