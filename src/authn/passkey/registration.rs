//! Adding a passkey: `docs/product.md`, passkey registration steps 3 to 6;
//! `docs/security.md#r17` to `#r21`.
//!
//! `start` needs an unspent step-up of this session (it does not spend it)
//! and a free place under `max_passkeys`, and answers WebAuthn creation
//! options shaped for usernameless login. `finish` verifies the response
//! against the stored ceremony and stores the passkey while spending the
//! step-up, in one transaction that also takes the slot that enforces the
//! cap; then every registered address gets a notice.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use webauthn_rs::prelude::{
    COSEAlgorithm, CreationChallengeResponse, CredentialID, Passkey, PasskeyRegistration,
    RegisterPublicKeyCredential,
};
use webauthn_rs_proto::{
    AttestationConveyancePreference, AuthenticatorSelectionCriteria, ResidentKeyRequirement,
    UserVerificationPolicy,
};

use super::aaguid;
use super::{
    self as passkey, CEREMONY_TTL_SECS, CeremonyKind, credential_id_text, registration_facts,
    step_up_spend,
};
use crate::audit::{AuditEvent, AuditKind, Outcome};
use crate::authn::notice;
use crate::error::{Error, Result};
use crate::model::Customer;
use crate::state::AppState;
use crate::store::passkeys::{InsertOutcome, NewPasskey};
use crate::store::sessions::SessionRow;
use crate::templates::Lang;
use crate::templates::mails::PasskeyChangeMail;

/// The COSE algorithms offered: ES256 (-7) and RS256 (-257, Windows Hello).
/// webauthn-rs would also offer ES384, which the broker's platforms do not use.
pub const ALGORITHMS: [i64; 2] = [-7, -257];

/// The result of asking to start a registration.
#[derive(Debug)]
pub enum StartOutcome {
    /// Creation options for `navigator.credentials.create`, and the ceremony id to send back.
    Options {
        /// Ceremony id.
        ceremony: String,
        /// `{"publicKey": {...}}`.
        options: Box<CreationChallengeResponse>,
    },
    /// No unspent, fresh step-up in this session: step up first.
    StepUpRequired {
        /// The step-up must be made with a passkey (policy `strongest`).
        passkey_only: bool,
    },
    /// The customer already has `max_passkeys` passkeys.
    Limit,
}

/// The result of finishing a registration.
#[derive(Debug, PartialEq, Eq)]
pub enum FinishOutcome {
    /// Stored and announced.
    Registered,
    /// The step-up was spent or expired meanwhile.
    StepUpRequired {
        /// The step-up must be made with a passkey (policy `strongest`).
        passkey_only: bool,
    },
    /// The cap was reached meanwhile (e.g. by a registration on another device).
    Limit,
    /// This credential is already registered, to this or another customer.
    Duplicate,
    /// No live ceremony of this session has this id (finished, expired, another browser's).
    Expired,
    /// The response did not verify.
    Failed,
}

/// Step 4's options: creation options for a new passkey of `customer`, after
/// checking the gate and the cap.
pub async fn start(
    state: &AppState,
    session: &SessionRow,
    customer: &Customer,
    ip: &str,
) -> Result<StartOutcome> {
    let stored = state.store.customer_passkeys(&customer.id).await?;
    if stored.len() >= state.config.max_passkeys as usize {
        return Ok(StartOutcome::Limit);
    }
    let spend = step_up_spend(state, &session.sid, !stored.is_empty());
    if !state.store.has_step_up(&spend).await? {
        let event = AuditEvent::new(AuditKind::StepUpRequired, Outcome::Info)
            .with_customer(&customer.id, customer.customer_code.as_str())
            .with_ip(ip)
            .with_detail(json!({ "action": "passkey.add", "passkey_only": spend.passkey_only }));
        state.audit(event).await;
        return Ok(StartOutcome::StepUpRequired {
            passkey_only: spend.passkey_only,
        });
    }
    let exclude: Vec<CredentialID> = stored
        .iter()
        .filter_map(|p| URL_SAFE_NO_PAD.decode(&p.credential_id).ok())
        .collect();
    let (mut options, registration) = state
        .webauthn
        .start_passkey_registration(
            passkey::user_handle(customer)?,
            customer.customer_code.as_str(),
            &customer.name,
            Some(exclude),
        )
        .map_err(|e| Error::Internal(anyhow::anyhow!("cannot start a registration: {e}")))?;
    shape_options(&mut options);
    let ceremony = passkey::save_ceremony(
        state,
        &session.sid,
        CeremonyKind::Registration,
        Some(&customer.id),
        &registration,
    )
    .await?;
    Ok(StartOutcome::Options {
        ceremony,
        options: Box::new(options),
    })
}

/// Forces what webauthn-rs leaves loose (`docs/architecture.md#crate-choices`): a discoverable
/// credential (`residentKey: required`, `requireResidentKey: true`), user
/// verification, no attestation, ES256/RS256 only, a 5-minute timeout.
fn shape_options(options: &mut CreationChallengeResponse) {
    let public_key = &mut options.public_key;
    let selection =
        public_key
            .authenticator_selection
            .get_or_insert(AuthenticatorSelectionCriteria {
                authenticator_attachment: None,
                resident_key: None,
                require_resident_key: true,
                user_verification: UserVerificationPolicy::Required,
            });
    selection.resident_key = Some(ResidentKeyRequirement::Required);
    selection.require_resident_key = true;
    selection.user_verification = UserVerificationPolicy::Required;
    public_key.attestation = Some(AttestationConveyancePreference::None);
    public_key
        .pub_key_cred_params
        .retain(|p| ALGORITHMS.contains(&p.alg));
    public_key.timeout = Some(u32::try_from(CEREMONY_TTL_SECS * 1000).unwrap_or(300_000));
}

/// Steps 5 and 6: verifies the authenticator's response and stores the passkey.
pub async fn finish(
    state: &AppState,
    session: &SessionRow,
    customer: &Customer,
    ceremony: &str,
    response: &RegisterPublicKeyCredential,
    ip: &str,
    lang: Lang,
) -> Result<FinishOutcome> {
    let refuse = |reason: &'static str| refused(state, customer, ip, reason);
    let taken = passkey::take_ceremony::<PasskeyRegistration>(
        state,
        ceremony,
        &session.sid,
        CeremonyKind::Registration,
    )
    .await?;
    let Some((Some(owner), registration)) = taken else {
        refuse("ceremony_unknown").await;
        return Ok(FinishOutcome::Expired);
    };
    if owner != customer.id {
        refuse("ceremony_of_another_customer").await;
        return Ok(FinishOutcome::Expired);
    }
    let key = match state
        .webauthn
        .finish_passkey_registration(response, &registration)
    {
        Ok(key) => key,
        Err(e) => {
            refuse(passkey::failure_reason(&e)).await;
            return Ok(FinishOutcome::Failed);
        }
    };
    if !matches!(
        key.cred_algorithm(),
        COSEAlgorithm::ES256 | COSEAlgorithm::RS256
    ) {
        refuse("algorithm_not_offered").await;
        return Ok(FinishOutcome::Failed);
    }
    // credProps is the browser's unsigned word; a credential it says is not
    // discoverable could never serve the usernameless login.
    if response.extensions.cred_props.as_ref().and_then(|p| p.rk) == Some(false) {
        refuse("not_discoverable").await;
        return Ok(FinishOutcome::Failed);
    }
    store(state, session, customer, &key, response, ip, lang).await
}

async fn store(
    state: &AppState,
    session: &SessionRow,
    customer: &Customer,
    key: &Passkey,
    response: &RegisterPublicKeyCredential,
    ip: &str,
    lang: Lang,
) -> Result<FinishOutcome> {
    let Some(facts) = registration_facts(response) else {
        refused(state, customer, ip, "authenticator_data").await;
        return Ok(FinishOutcome::Failed);
    };
    let provider = aaguid::provider_name(&facts.aaguid).unwrap_or("");
    let credential_id = credential_id_text(key.cred_id());
    let json = serde_json::to_string(key).map_err(anyhow::Error::from)?;
    let aaguid_text = facts.aaguid.hyphenated().to_string();
    let new = NewPasskey {
        credential_id: &credential_id,
        customer_id: &customer.id,
        passkey: &json,
        aaguid: &aaguid_text,
        provider,
        backup_eligible: facts.backup_eligible,
        backup_state: facts.backup_state,
        sign_count: i64::from(facts.counter),
    };
    let has_passkeys = !state.store.list_passkeys(&customer.id).await?.is_empty();
    let spend = step_up_spend(state, &session.sid, has_passkeys);
    let now = state.clock.now();
    let outcome = state
        .store
        .insert_passkey(&new, &spend, state.config.max_passkeys, now)
        .await?;
    match outcome {
        InsertOutcome::Inserted => {}
        InsertOutcome::NoStepUp => {
            refused(state, customer, ip, "step_up_missing").await;
            return Ok(FinishOutcome::StepUpRequired {
                passkey_only: spend.passkey_only,
            });
        }
        InsertOutcome::Limit => {
            refused(state, customer, ip, "limit").await;
            return Ok(FinishOutcome::Limit);
        }
        InsertOutcome::Duplicate => {
            refused(state, customer, ip, "credential_already_registered").await;
            return Ok(FinishOutcome::Duplicate);
        }
    }
    let event = AuditEvent::new(AuditKind::PasskeyAdded, Outcome::Success)
        .with_customer(&customer.id, customer.customer_code.as_str())
        .with_ip(ip)
        .with_detail(json!({
            "credential_id": credential_id,
            "aaguid": aaguid_text,
            "provider": provider,
            "backup_eligible": facts.backup_eligible,
            "backup_state": facts.backup_state,
        }));
    state.audit(event).await;
    send_notice(state, customer, "passkey_added", provider, lang);
    Ok(FinishOutcome::Registered)
}

/// Mails notice `template` (passkey added or removed) to every address.
pub(crate) fn send_notice(
    state: &AppState,
    customer: &Customer,
    template: &'static str,
    provider: &str,
    lang: Lang,
) {
    let provider = if provider.is_empty() {
        state.templates.text(lang, "passkey.provider_unknown")
    } else {
        provider.to_owned()
    };
    let ctx = PasskeyChangeMail {
        name: &customer.name,
        provider,
        at: crate::clock::rfc3339(state.clock.now()),
    };
    notice::spawn_to_all(state, customer, template, lang, ctx);
}

async fn refused(state: &AppState, customer: &Customer, ip: &str, reason: &str) {
    let event = AuditEvent::new(AuditKind::PasskeyRegistrationFailed, Outcome::Failure)
        .with_customer(&customer.id, customer.customer_code.as_str())
        .with_ip(ip)
        .with_detail(json!({ "reason": reason }));
    state.audit(event).await;
}
