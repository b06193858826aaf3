//! Confirming one transaction with a passkey (`docs/transactions.md`).
//!
//! The ceremony is a step-up limited to the session customer's own
//! credentials, user verification required, with one difference: its
//! challenge is not random alone but 16 random bytes followed by the SHA-256
//! of the transaction's canonical JSON, so the signature covers the
//! transaction the customer was shown ("dynamic linking"). webauthn-rs
//! draws its own random challenge and keeps it private; Kagi replaces it in
//! the options sent to the browser and in the serialised state it stores, so
//! webauthn-rs then checks the returned `clientDataJSON` against Kagi's
//! challenge like any other.
//!
//! The finish spends the ceremony, checks the assertion, saves the counter
//! and records the evidence (`store::transaction_confirmations`) with its
//! audit event in one unit of work; it does not touch the session, whose
//! level the confirmation neither raises nor needs.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use webauthn_rs::prelude::{Passkey, PasskeyAuthentication, PublicKeyCredential};
use webauthn_rs_proto::UserVerificationPolicy;

use super::evidence::{self, NONCE_BYTES};
use super::login::{Challenge, Opened, open, own_keys};
use super::{self as passkey, CeremonyKind};
use crate::audit::{AuditEvent, AuditKind, Outcome};
use crate::authn::{AuthEvent, Purpose};
use crate::crypto::random;
use crate::error::{Error, Result};
use crate::model::Customer;
use crate::state::AppState;
use crate::store::passkeys::PasskeyUse;
use crate::store::sessions::SessionRow;
use crate::store::transaction_confirmations::ConfirmationRow;
use crate::store::unit::Unit;

/// The transaction being confirmed, as the authorization flow hands it over.
#[derive(Clone, Copy, Debug)]
pub struct Transaction<'a> {
    /// The stored authorization request it belongs to.
    pub request_id: &'a str,
    /// The client it is for.
    pub client_id: &'a str,
    /// Its RFC 8785 canonical JSON.
    pub canonical_details: &'a str,
    /// SHA-256 of `canonical_details`.
    pub digest: [u8; 32],
}

/// What the ceremony keeps between start and finish.
#[derive(Serialize, Deserialize)]
struct ConfirmState {
    request_id: String,
    /// base64url of the challenge sent.
    challenge: String,
    auth: PasskeyAuthentication,
}

/// How a confirmation ended.
#[derive(Debug, PartialEq, Eq)]
pub enum ConfirmOutcome {
    /// Verified and recorded; `txn` names its evidence.
    Confirmed {
        /// The confirmation's id.
        txn: String,
    },
    /// Refused (bad signature, no UV, another customer's key, a second
    /// confirmation of one request, ...); audited.
    Refused,
    /// No live confirmation ceremony of this session for this request.
    Expired,
}

/// Starts the confirmation of `tx` by the session's customer; `None` when
/// they have no passkey.
pub async fn start(
    state: &AppState,
    sid: &str,
    customer: &Customer,
    tx: &Transaction<'_>,
) -> Result<Option<Challenge>> {
    let Some(keys) = own_keys(state, customer).await? else {
        return Ok(None);
    };
    let (mut options, auth) = state
        .webauthn
        .start_passkey_authentication(&keys)
        .map_err(|e| Error::Internal(anyhow::anyhow!("cannot start a confirmation: {e}")))?;
    let nonce: [u8; NONCE_BYTES] = random::bytes();
    let challenge = evidence::challenge(&nonce, &tx.digest);
    options.public_key.challenge = challenge.clone();
    options.public_key.user_verification = UserVerificationPolicy::Required;
    let kept = ConfirmState {
        request_id: tx.request_id.to_owned(),
        challenge: URL_SAFE_NO_PAD.encode(&challenge),
        auth: with_challenge(auth, &challenge)?,
    };
    let ceremony =
        passkey::save_ceremony(state, sid, CeremonyKind::Confirm, Some(&customer.id), &kept)
            .await?;
    Ok(Some(Challenge {
        ceremony,
        options: Box::new(options),
    }))
}

/// webauthn-rs's authentication state with `challenge` in place of its own.
///
/// The state is only reachable through its serialised form (the
/// `danger-allow-state-serialisation` feature Kagi already uses to keep
/// ceremonies in the database); a layout without `/ast/challenge` is an
/// error, never a silently unbound ceremony (tested below).
fn with_challenge(auth: PasskeyAuthentication, challenge: &[u8]) -> Result<PasskeyAuthentication> {
    let mut value = serde_json::to_value(&auth).map_err(anyhow::Error::from)?;
    let slot = value.pointer_mut("/ast/challenge").ok_or_else(|| {
        Error::Internal(anyhow::anyhow!(
            "webauthn-rs authentication state has no /ast/challenge"
        ))
    })?;
    *slot = Value::String(URL_SAFE_NO_PAD.encode(challenge));
    Ok(serde_json::from_value(value).map_err(anyhow::Error::from)?)
}

/// Finishes the confirmation of `tx`: one unit of work as described above.
#[allow(clippy::too_many_arguments)]
pub async fn finish(
    state: &AppState,
    session: &SessionRow,
    customer: &Customer,
    ceremony: &str,
    response: &PublicKeyCredential,
    tx: &Transaction<'_>,
    ip: &str,
) -> Result<ConfirmOutcome> {
    let Opened {
        credential_id,
        found,
        unit,
        taken,
    } = open::<ConfirmState>(state, session, ceremony, response, CeremonyKind::Confirm).await?;
    let fail = Refusal {
        state,
        customer,
        ip,
        request_id: tx.request_id,
        credential_id: &credential_id,
    };
    let kept = match taken {
        Some((Some(owner), kept)) if owner == customer.id && kept.request_id == tx.request_id => {
            kept
        }
        _ => {
            fail.audit(unit, "ceremony_unknown").await?;
            return Ok(ConfirmOutcome::Expired);
        }
    };
    let stored = match found {
        Some((stored, _)) if stored.customer_id == customer.id => stored,
        _ => return fail.refuse(unit, "unknown_credential").await,
    };
    if let Some(given) = &response.response.user_handle
        && given.as_slice() != passkey::user_handle(customer)?.as_bytes()
    {
        return fail.refuse(unit, "user_handle_mismatch").await;
    }
    let mut key: Passkey = serde_json::from_str(&stored.passkey).map_err(anyhow::Error::from)?;
    let result = match state
        .webauthn
        .finish_passkey_authentication(response, &kept.auth)
    {
        Ok(result) => result,
        Err(e) => return fail.refuse(unit, passkey::failure_reason(&e)).await,
    };
    if !result.user_verified() {
        return fail.refuse(unit, "user_not_verified").await;
    }
    if result.backup_eligible() != stored.backup_eligible {
        return fail.refuse(unit, "backup_eligibility_changed").await;
    }
    let Some(public_key) = evidence::public_key_jwk(key.get_public_key()) else {
        return fail.refuse(unit, "unsupported_key_type").await;
    };
    key.update_credential(&result);
    let json = serde_json::to_string(&key).map_err(anyhow::Error::from)?;
    let now = state.clock.now();
    let used = PasskeyUse {
        credential_id: &stored.credential_id,
        passkey: &json,
        backup_state: result.backup_state(),
        sign_count: i64::from(result.counter()),
    };
    let mut unit = unit;
    if !unit.record_passkey_use(&used, now).await? {
        return fail.refuse(unit, "counter_regression").await;
    }
    let event = AuthEvent::passkey(stored.backup_eligible, Purpose::StepUp, &state.config, now);
    let assertion = &response.response;
    let row = ConfirmationRow {
        txn: uuid::Uuid::new_v4().to_string(),
        request_id: tx.request_id.to_owned(),
        sid: session.sid.clone(),
        customer_id: customer.id.clone(),
        client_id: tx.client_id.to_owned(),
        authorization_details: tx.canonical_details.to_owned(),
        challenge: kept.challenge,
        credential_id: stored.credential_id.clone(),
        public_key: public_key.to_string(),
        authenticator_data: URL_SAFE_NO_PAD.encode(&assertion.authenticator_data),
        client_data_json: URL_SAFE_NO_PAD.encode(&assertion.client_data_json),
        signature: URL_SAFE_NO_PAD.encode(&assertion.signature),
        amr: serde_json::to_string(&event.amr).map_err(anyhow::Error::from)?,
        confirmed_at: now,
    };
    if !unit.insert_confirmation(&row).await? {
        return fail.refuse(unit, "already_confirmed").await;
    }
    let audited = AuditEvent::new(AuditKind::TransactionConfirmed, Outcome::Success)
        .with_customer(&customer.id, customer.customer_code.as_str())
        .with_client(tx.client_id)
        .with_ip(ip)
        .with_detail(json!({
            "txn": row.txn,
            "credential_id": row.credential_id,
            "authorization_details": serde_json::from_str::<Value>(tx.canonical_details)
                .unwrap_or(Value::Null),
        }));
    unit.audit(&audited, now).await?;
    unit.commit().await?;
    Ok(ConfirmOutcome::Confirmed { txn: row.txn })
}

/// Audits a refused confirmation in the request's unit and commits it: the
/// spent ceremony stays spent.
struct Refusal<'a> {
    state: &'a AppState,
    customer: &'a Customer,
    ip: &'a str,
    request_id: &'a str,
    credential_id: &'a str,
}

impl Refusal<'_> {
    async fn audit(&self, mut unit: Unit, reason: &str) -> Result<()> {
        let event = AuditEvent::new(AuditKind::TransactionConfirmationFailed, Outcome::Failure)
            .with_customer(&self.customer.id, self.customer.customer_code.as_str())
            .with_ip(self.ip)
            .with_detail(json!({
                "reason": reason,
                "credential_id": self.credential_id,
                "request": self.request_id,
            }));
        unit.audit(&event, self.state.clock.now()).await?;
        unit.commit().await
    }

    async fn refuse(&self, unit: Unit, reason: &str) -> Result<ConfirmOutcome> {
        self.audit(unit, reason).await?;
        Ok(ConfirmOutcome::Refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn the_stored_state_carries_kagis_challenge_in_place_of_webauthn_rs_own() {
        let webauthn = passkey::build_webauthn(&Config::from_sources(Vec::new()).unwrap()).unwrap();
        // A ceremony needs a credential to allow; none is used here, so an
        // empty list is refused by webauthn-rs and the discoverable state
        // (the same AuthenticationState inside) stands in.
        let (_, auth) = webauthn.start_discoverable_authentication().unwrap();
        let value = serde_json::to_value(&auth).unwrap();
        let ast = value
            .pointer("/ast")
            .expect("discoverable state wraps ast")
            .clone();
        let state: PasskeyAuthentication = serde_json::from_value(json!({ "ast": ast })).unwrap();
        let challenge = evidence::challenge(&[1; NONCE_BYTES], &[2; 32]);
        let replaced = with_challenge(state, &challenge).unwrap();
        let back = serde_json::to_value(&replaced).unwrap();
        assert_eq!(
            back.pointer("/ast/challenge").and_then(Value::as_str),
            Some(URL_SAFE_NO_PAD.encode(&challenge).as_str())
        );
    }
}
