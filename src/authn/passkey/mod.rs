//! Passkeys (WebAuthn Level 3 through webauthn-rs): what registration, login
//! and step-up share.
//!
//! - The relying party ([`build_webauthn`]): RP ID and the exact origin
//!   allowlist from the config, no port wildcard (`docs/security.md#r24`).
//! - Ceremony state: serialised into `webauthn_ceremonies`, bound to the
//!   browser session, single use, [`CEREMONY_TTL_SECS`] (`docs/security.md#r21`).
//! - The gate for adding or deleting a passkey: an unspent step-up of this
//!   session younger than [`STEP_UP_TTL_SECS`]; under the `strongest` policy a
//!   customer who has a passkey must have stepped up with one (`docs/security.md#r17`).
//! - Facts webauthn-rs keeps private (AAGUID, flags) read from the
//!   authenticator data.
//!
//! The ceremonies themselves: `registration` (adding a passkey), `login`
//! (passkey login and step-up), `manage` (renaming and deleting), with
//! `aaguid` naming the authenticator's provider.

pub(crate) mod aaguid;
pub(crate) mod confirm;
pub(crate) mod evidence;
pub(crate) mod login;
pub(crate) mod manage;
pub(crate) mod registration;

use std::time::Duration;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;
use webauthn_rs::prelude::{RegisterPublicKeyCredential, WebauthnError};
use webauthn_rs::{Webauthn, WebauthnBuilder};

use crate::config::{Config, EnrollmentStepUp};
use crate::crypto::random;
use crate::error::{Error, Result};
use crate::model::Customer;
use crate::paths;
use crate::state::AppState;
use crate::store::sessions::{AuthEventRow, StepUpSpend};
use crate::store::unit::Unit;
use crate::store::webauthn_ceremonies::NewCeremony;

/// How long a started ceremony can be finished (WebAuthn's recommended
/// timeout, and the five minutes of `docs/product.md`, passkey registration step 4).
pub const CEREMONY_TTL_SECS: i64 = 300;
/// How long a step-up allows adding or deleting a passkey (`docs/product.md`,
/// passkey registration step 3; `docs/security.md#r17`: at most 10 minutes).
pub const STEP_UP_TTL_SECS: i64 = 600;
/// Longest nickname a customer may give a passkey.
pub const NICKNAME_MAX_CHARS: usize = 64;
/// The relying-party name authenticators may show.
const RP_NAME: &str = "Kagi";

/// Builds the relying party from `webauthn_rp_id` and `webauthn_origins`: the
/// first origin is the primary one, the others are appended, and no other
/// port or subdomain is accepted.
pub fn build_webauthn(config: &Config) -> anyhow::Result<Webauthn> {
    let (first, rest) = config
        .webauthn_origins
        .split_first()
        .ok_or_else(|| anyhow::anyhow!("webauthn_origins is empty"))?;
    let mut builder = WebauthnBuilder::new(&config.webauthn_rp_id, first).map_err(|e| {
        anyhow::anyhow!(
            "webauthn_rp_id `{}` does not fit origin `{first}`: {e}",
            config.webauthn_rp_id
        )
    })?;
    for origin in rest {
        builder = builder.append_allowed_origin(origin);
    }
    builder
        .rp_name(RP_NAME)
        .allow_any_port(false)
        .allow_subdomains(false)
        .timeout(Duration::from_secs(CEREMONY_TTL_SECS.unsigned_abs()))
        .build()
        .map_err(|e| anyhow::anyhow!("cannot set up WebAuthn: {e}"))
}

/// Base64url that tolerates padding and non-zero trailing bits, for user
/// handles written by other tools.
const LENIENT_B64URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The customer's WebAuthn user handle: the 16 random bytes of
/// `customers.webauthn_user_id`, as the UUID webauthn-rs wants. It carries no
/// personal data (WebAuthn L3 §14.6.1).
pub fn user_handle(customer: &Customer) -> Result<Uuid> {
    let bytes = LENIENT_B64URL
        .decode(customer.webauthn_user_id.trim_end_matches('='))
        .map_err(|e| Error::Internal(anyhow::anyhow!("stored WebAuthn user handle: {e}")))?;
    Uuid::from_slice(&bytes).map_err(|_| {
        Error::Internal(anyhow::anyhow!(
            "stored WebAuthn user handle is not 16 bytes"
        ))
    })
}

/// A credential id as stored and shown: unpadded base64url.
pub fn credential_id_text(id: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(id)
}

/// Which ceremony a stored state belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CeremonyKind {
    /// Adding a passkey.
    Registration,
    /// Discoverable login (button or autofill).
    Login,
    /// Passkey step-up inside a session.
    StepUp,
    /// Confirming one transaction (`confirm`).
    Confirm,
}

impl CeremonyKind {
    fn as_str(self) -> &'static str {
        match self {
            CeremonyKind::Registration => "registration",
            CeremonyKind::Login => "login",
            CeremonyKind::StepUp => "step_up",
            CeremonyKind::Confirm => "confirm",
        }
    }
}

/// Stores a ceremony state for session `sid`; returns the id the browser sends back.
pub(crate) async fn save_ceremony<T: Serialize>(
    state: &AppState,
    sid: &str,
    kind: CeremonyKind,
    customer_id: Option<&str>,
    value: &T,
) -> Result<String> {
    let now = state.clock.now();
    let id = random::handle();
    let json = serde_json::to_string(value).map_err(anyhow::Error::from)?;
    let new = NewCeremony {
        id: &id,
        sid,
        kind: kind.as_str(),
        customer_id,
        state: &json,
        expires_at: now + CEREMONY_TTL_SECS,
    };
    state.store.insert_ceremony(&new, now).await?;
    Ok(id)
}

/// Takes (deletes and returns) a live ceremony of session `sid`, with the
/// customer it was started for, in a write of its own.
pub(crate) async fn take_ceremony<T: DeserializeOwned>(
    state: &AppState,
    id: &str,
    sid: &str,
    kind: CeremonyKind,
) -> Result<Option<(Option<String>, T)>> {
    let mut unit = state.store.unit().await?;
    let taken = take_ceremony_in(state, &mut unit, id, sid, kind).await?;
    unit.commit().await?;
    Ok(taken)
}

/// [`take_ceremony`] inside the caller's unit of work.
pub(crate) async fn take_ceremony_in<T: DeserializeOwned>(
    state: &AppState,
    unit: &mut Unit,
    id: &str,
    sid: &str,
    kind: CeremonyKind,
) -> Result<Option<(Option<String>, T)>> {
    let now = state.clock.now();
    let Some(row) = unit.take_ceremony(id, sid, kind.as_str(), now).await? else {
        return Ok(None);
    };
    let value = serde_json::from_str(&row.state).map_err(anyhow::Error::from)?;
    Ok(Some((row.customer_id, value)))
}

/// The step-up that may allow adding or deleting a passkey now: this
/// session's, younger than [`STEP_UP_TTL_SECS`], and made with a passkey when
/// the policy is `strongest` and the customer has one.
pub(crate) fn step_up_spend<'a>(
    state: &AppState,
    sid: &'a str,
    has_passkeys: bool,
) -> StepUpSpend<'a> {
    StepUpSpend {
        sid,
        not_before: state.clock.now() - STEP_UP_TTL_SECS,
        passkey_only: has_passkeys
            && state.config.passkey_enrollment_step_up == EnrollmentStepUp::Strongest,
        method: None,
    }
}

/// Where to send a customer who needs a step-up before `return_to` (a local path).
///
/// That is the passkey step-up when only a passkey step-up will do (policy
/// `strongest`), else the email-code / authenticator-app step-up.
pub fn step_up_url(passkey_only: bool, return_to: &str) -> String {
    if passkey_only {
        passkey_step_up_url(return_to)
    } else {
        paths::with_query(paths::STEP_UP, &return_to_query(return_to))
    }
}

/// The passkey step-up page for a logged-in customer, returning to `return_to`
/// (a local path) afterwards: `/stepup/passkey?return_to=<urlencoded>`.
///
/// The OIDC endpoints send a session below `phr` here when a client asks for
/// a passkey (`docs/product.md#assurance`).
pub fn passkey_step_up_url(return_to: &str) -> String {
    paths::with_query(paths::STEP_UP_PASSKEY, &return_to_query(return_to))
}

fn return_to_query(return_to: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("return_to", return_to)
        .finish()
}

/// The newest passkey authentication (login or step-up) of session `sid` at or
/// after `not_before`, if any: what `acr=phr` needs (`docs/security.md#r2`).
pub async fn passkey_event_since(
    state: &AppState,
    sid: &str,
    not_before: i64,
) -> Result<Option<AuthEventRow>> {
    let events = state.store.session_auth_events(sid).await?;
    Ok(events
        .into_iter()
        .filter(|e| e.method == crate::authn::Method::Passkey.as_str() && e.at >= not_before)
        .max_by_key(|e| e.at))
}

/// What a registration's authenticator data says beyond what webauthn-rs exposes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AuthenticatorFacts {
    /// Authenticator model.
    pub aaguid: Uuid,
    /// BE flag: the credential may be synced.
    pub backup_eligible: bool,
    /// BS flag: the credential is synced now.
    pub backup_state: bool,
    /// Signature counter.
    pub counter: u32,
}

/// Reads the authenticator data of a registration response (WebAuthn L3
/// §6.1: rpIdHash 32 bytes, flags, counter 4 bytes, then the attested
/// credential data starting with the AAGUID). Call it only after webauthn-rs
/// accepted the response; `None` when the data is not shaped as expected.
pub(crate) fn registration_facts(reg: &RegisterPublicKeyCredential) -> Option<AuthenticatorFacts> {
    const FLAG_BE: u8 = 0x08;
    const FLAG_BS: u8 = 0x10;
    const FLAG_AT: u8 = 0x40;
    let object: serde_cbor_2::Value =
        serde_cbor_2::from_slice(&reg.response.attestation_object).ok()?;
    let serde_cbor_2::Value::Map(map) = object else {
        return None;
    };
    let Some(serde_cbor_2::Value::Bytes(auth_data)) =
        map.get(&serde_cbor_2::Value::Text("authData".into()))
    else {
        return None;
    };
    let flags = *auth_data.get(32)?;
    if flags & FLAG_AT == 0 {
        return None;
    }
    let counter = u32::from_be_bytes(auth_data.get(33..37)?.try_into().ok()?);
    let aaguid = Uuid::from_slice(auth_data.get(37..53)?).ok()?;
    Some(AuthenticatorFacts {
        aaguid,
        backup_eligible: flags & FLAG_BE != 0,
        backup_state: flags & FLAG_BS != 0,
        counter,
    })
}

/// The audit reason for a refused WebAuthn response.
pub(crate) fn failure_reason(e: &WebauthnError) -> &'static str {
    match e {
        WebauthnError::UserNotVerified => "user_not_verified",
        WebauthnError::UserNotPresent => "user_not_present",
        WebauthnError::CredentialBackupEligibilityInconsistent => "backup_eligibility_changed",
        WebauthnError::CredentialMayNotBeHardwareBound => "backup_state_without_eligibility",
        WebauthnError::CredentialPossibleCompromise => "counter_regression",
        WebauthnError::MismatchedChallenge => "challenge_mismatch",
        WebauthnError::InvalidRPOrigin => "origin_not_allowed",
        WebauthnError::InvalidRPIDHash => "rp_id_mismatch",
        WebauthnError::CredentialAlteredAlgFromRequest => "credential_excluded_or_algorithm",
        WebauthnError::AuthenticationFailure => "bad_signature",
        _ => "invalid_response",
    }
}

#[cfg(test)]
mod tests {
    use webauthn_rs::prelude::Url;

    use super::*;

    #[test]
    fn the_relying_party_accepts_the_configured_origin_only() {
        let config = Config::from_sources(vec![
            ("KAGI_ISSUER".into(), "https://id.broker.example".into()),
            ("KAGI_WEBAUTHN_RP_ID".into(), "broker.example".into()),
        ])
        .unwrap();
        let webauthn = build_webauthn(&config).unwrap();
        let origins: Vec<String> = webauthn
            .get_allowed_origins()
            .iter()
            .map(Url::to_string)
            .collect();
        assert_eq!(origins, ["https://id.broker.example/"]);
    }

    #[test]
    fn user_handles_decode_to_sixteen_bytes() {
        let mut customer = crate::model::Customer {
            id: "id".into(),
            customer_code: crate::model::CustomerCode::parse("C0001").unwrap(),
            name: "n".into(),
            password_hash: String::new(),
            webauthn_user_id: URL_SAFE_NO_PAD.encode([7u8; 16]),
            emails: Vec::new(),
            totp_enrolled: false,
            failed_logins: 0,
            locked_until: None,
            created_at: 0,
        };
        assert_eq!(user_handle(&customer).unwrap().as_bytes(), &[7u8; 16]);
        customer.webauthn_user_id = "short".into();
        assert!(user_handle(&customer).is_err());
    }

    #[test]
    fn step_up_links_carry_an_encoded_local_path() {
        assert_eq!(
            passkey_step_up_url("/authorize/continue?id=a b&x=1"),
            "/stepup/passkey?return_to=%2Fauthorize%2Fcontinue%3Fid%3Da+b%26x%3D1"
        );
    }
}
