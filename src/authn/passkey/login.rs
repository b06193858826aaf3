//! Logging in and stepping up with a passkey (`docs/product.md#logging-in`,
//! `docs/product.md#assurance`, the guide's rule 4; `docs/security.md#r2`,
//! `#r3`, `#r9`, `#r22` and `#r23`).
//!
//! Login is a discoverable-credential assertion: the customer types nothing,
//! the authenticator names the credential and the user handle
//! (`start_discoverable_authentication` → `identify_discoverable_authentication`
//! → `finish_discoverable_authentication_v2`). A step-up is an assertion
//! limited to the session customer's own credentials. Both require user
//! verification, refuse a changed backup-eligible flag and a counter that
//! did not grow, and save counter, backup state and last use in one atomic
//! update before the session records the event.

use serde_json::json;
use webauthn_rs::prelude::{
    AuthenticationResult, DiscoverableAuthentication, Passkey, PasskeyAuthentication,
    PublicKeyCredential, RequestChallengeResponse, WebauthnError,
};
use webauthn_rs_proto::{Mediation, UserVerificationPolicy};

use super::{self as passkey, CeremonyKind, credential_id_text};
use crate::audit::{AuditEvent, AuditKind, Outcome};
use crate::authn::Purpose;
use crate::authn::session::{self, Bound, PasskeyAssertion};
use crate::error::{Error, Result};
use crate::model::Customer;
use crate::state::AppState;
use crate::store::passkeys::{PasskeyUse, StoredPasskey};
use crate::store::sessions::SessionRow;
use crate::store::unit::Unit;
use crate::templates::Lang;

/// Options for `navigator.credentials.get`, and the ceremony id to send back.
#[derive(Debug)]
pub struct Challenge {
    /// Ceremony id.
    pub ceremony: String,
    /// `{"publicKey": {...}, "mediation"?: "conditional"}`.
    pub options: Box<RequestChallengeResponse>,
}

/// How an assertion ended.
#[derive(Debug, PartialEq, Eq)]
pub enum AssertionOutcome {
    /// Verified and recorded in the session, whose cookie value changed.
    Authenticated {
        /// The new cookie value.
        handle: String,
    },
    /// No registered passkey has this credential id (deleted, or never
    /// here): the page may tell the browser through `signalUnknownCredential`.
    UnknownCredential {
        /// The credential id, base64url.
        credential_id: String,
    },
    /// Refused (bad signature, no UV, changed BE flag, counter regression, ...); audited.
    Refused,
    /// No live ceremony of this session has this id.
    Expired,
}

/// Starts a discoverable login: no allowed credentials, UV required.
///
/// The button sends no `mediation`; the autofill request sends `conditional`
/// (webauthn-rs always sets it, `docs/architecture.md#crate-choices`).
pub async fn start_login(state: &AppState, sid: &str, conditional: bool) -> Result<Challenge> {
    let (mut options, auth) = state
        .webauthn
        .start_discoverable_authentication()
        .map_err(|e| Error::Internal(anyhow::anyhow!("cannot start a passkey login: {e}")))?;
    options.mediation = conditional.then_some(Mediation::Conditional);
    options.public_key.user_verification = UserVerificationPolicy::Required;
    let ceremony = passkey::save_ceremony(state, sid, CeremonyKind::Login, None, &auth).await?;
    Ok(Challenge {
        ceremony,
        options: Box::new(options),
    })
}

/// Finishes a discoverable login and binds the session to the passkey's owner.
///
/// The credential and its owner are read first; then one unit of work
/// spends the ceremony, checks the assertion, saves the counter, binds the
/// session and audits, and commits once (`docs/write-path.md`).
pub async fn finish_login(
    state: &AppState,
    session: &SessionRow,
    ceremony: &str,
    response: &PublicKeyCredential,
    ip: &str,
    lang: Lang,
) -> Result<AssertionOutcome> {
    let Opened {
        credential_id,
        found,
        unit,
        taken,
    } = open::<DiscoverableAuthentication>(state, session, ceremony, response, CeremonyKind::Login)
        .await?;
    let fail = Failure::new(state, ip, Purpose::Login);
    let Some((_, auth)) = taken else {
        return fail.expired(unit, None).await;
    };
    let handle = match state
        .webauthn
        .identify_discoverable_authentication(response)
    {
        Ok((handle, _)) => handle,
        Err(_) => {
            return fail
                .refuse(unit, None, &credential_id, "no_user_handle")
                .await;
        }
    };
    let Some((stored, customer)) = found else {
        return fail.unknown(unit, credential_id).await;
    };
    if passkey::user_handle(&customer)? != handle {
        return fail
            .refuse(
                unit,
                Some(&customer),
                &credential_id,
                "user_handle_mismatch",
            )
            .await;
    }
    let key: Passkey = serde_json::from_str(&stored.passkey).map_err(anyhow::Error::from)?;
    let result = state
        .webauthn
        .finish_discoverable_authentication_v2(response, auth, &key);
    let verified = Verified {
        stored: &stored,
        key,
        customer: &customer,
    };
    conclude(state, unit, session, verified, result, &fail, lang).await
}

/// Starts a passkey step-up for the session's customer: only their
/// credentials are allowed, UV required. `None` when they have no passkey.
pub async fn start_step_up(
    state: &AppState,
    sid: &str,
    customer: &Customer,
) -> Result<Option<Challenge>> {
    let Some(keys) = own_keys(state, customer).await? else {
        return Ok(None);
    };
    let (options, auth) = state
        .webauthn
        .start_passkey_authentication(&keys)
        .map_err(|e| Error::Internal(anyhow::anyhow!("cannot start a passkey step-up: {e}")))?;
    let ceremony =
        passkey::save_ceremony(state, sid, CeremonyKind::StepUp, Some(&customer.id), &auth).await?;
    Ok(Some(Challenge {
        ceremony,
        options: Box::new(options),
    }))
}

/// Finishes a passkey step-up: the same session and `sub`, a new cookie
/// value; one unit of work as in [`finish_login`].
pub async fn finish_step_up(
    state: &AppState,
    session: &SessionRow,
    customer: &Customer,
    ceremony: &str,
    response: &PublicKeyCredential,
    ip: &str,
    lang: Lang,
) -> Result<AssertionOutcome> {
    let Opened {
        credential_id,
        found,
        unit,
        taken,
    } = open::<PasskeyAuthentication>(state, session, ceremony, response, CeremonyKind::StepUp)
        .await?;
    let fail = Failure::new(state, ip, Purpose::StepUp);
    let auth = match taken {
        Some((Some(owner), auth)) if owner == customer.id => auth,
        _ => return fail.expired(unit, Some(customer)).await,
    };
    let stored = match found {
        Some((stored, _)) if stored.customer_id == customer.id => stored,
        _ => return fail.unknown(unit, credential_id).await,
    };
    if let Some(given) = &response.response.user_handle
        && given.as_slice() != passkey::user_handle(customer)?.as_bytes()
    {
        return fail
            .refuse(unit, Some(customer), &credential_id, "user_handle_mismatch")
            .await;
    }
    let key: Passkey = serde_json::from_str(&stored.passkey).map_err(anyhow::Error::from)?;
    let result = state
        .webauthn
        .finish_passkey_authentication(response, &auth);
    let verified = Verified {
        stored: &stored,
        key,
        customer,
    };
    conclude(state, unit, session, verified, result, &fail, lang).await
}

/// The customer's passkeys, the only credentials a step-up or a
/// confirmation allows; `None` when they have none.
pub(super) async fn own_keys(
    state: &AppState,
    customer: &Customer,
) -> Result<Option<Vec<Passkey>>> {
    let stored = state.store.customer_passkeys(&customer.id).await?;
    if stored.is_empty() {
        return Ok(None);
    }
    let keys = stored
        .iter()
        .map(|p| serde_json::from_str::<Passkey>(&p.passkey))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(anyhow::Error::from)?;
    Ok(Some(keys))
}

/// What both finishes start from: the credential the response names and
/// its owner (read before the unit opens, `docs/write-path.md`), the open
/// unit, and the ceremony taken in it.
pub(super) struct Opened<T> {
    pub(super) credential_id: String,
    pub(super) found: Option<(StoredPasskey, Customer)>,
    pub(super) unit: Unit,
    pub(super) taken: Option<(Option<String>, T)>,
}

pub(super) async fn open<T: serde::de::DeserializeOwned>(
    state: &AppState,
    session: &SessionRow,
    ceremony: &str,
    response: &PublicKeyCredential,
    kind: CeremonyKind,
) -> Result<Opened<T>> {
    let credential_id = credential_id_text(&response.raw_id);
    let found = owner(state, &credential_id).await?;
    let mut unit = state.store.unit().await?;
    let taken = passkey::take_ceremony_in(state, &mut unit, ceremony, &session.sid, kind).await?;
    Ok(Opened {
        credential_id,
        found,
        unit,
        taken,
    })
}

/// The registered passkey with this credential id and its owner.
async fn owner(state: &AppState, credential_id: &str) -> Result<Option<(StoredPasskey, Customer)>> {
    let Some(stored) = state.store.find_passkey(credential_id).await? else {
        return Ok(None);
    };
    let customer = state.store.find_customer(&stored.customer_id).await?;
    Ok(customer.map(|c| (stored, c)))
}

/// The credential an assertion claims to come from.
struct Verified<'a> {
    stored: &'a StoredPasskey,
    key: Passkey,
    customer: &'a Customer,
}

/// Applies Kagi's own checks to webauthn-rs's verdict, saves the new counter
/// and flags atomically and records the event in the session, all in `unit`.
async fn conclude(
    state: &AppState,
    mut unit: Unit,
    session: &SessionRow,
    verified: Verified<'_>,
    result: std::result::Result<AuthenticationResult, WebauthnError>,
    fail: &Failure<'_>,
    lang: Lang,
) -> Result<AssertionOutcome> {
    let Verified {
        stored,
        mut key,
        customer,
    } = verified;
    let id = stored.credential_id.as_str();
    let result = match result {
        Ok(result) => result,
        Err(e) => {
            return fail
                .refuse(unit, Some(customer), id, passkey::failure_reason(&e))
                .await;
        }
    };
    // webauthn-rs checks these for the discoverable login; the step-up
    // ceremony lets BE go from 0 to 1, which Kagi refuses as well, since
    // `hwk` would then describe a key that can now be copied.
    if !result.user_verified() {
        return fail
            .refuse(unit, Some(customer), id, "user_not_verified")
            .await;
    }
    if result.backup_eligible() != stored.backup_eligible {
        return fail
            .refuse(unit, Some(customer), id, "backup_eligibility_changed")
            .await;
    }
    key.update_credential(&result);
    let json = serde_json::to_string(&key).map_err(anyhow::Error::from)?;
    let used = PasskeyUse {
        credential_id: id,
        passkey: &json,
        backup_state: result.backup_state(),
        sign_count: i64::from(result.counter()),
    };
    if !unit.record_passkey_use(&used, state.clock.now()).await? {
        return fail
            .refuse(unit, Some(customer), id, "counter_regression")
            .await;
    }
    let assertion = PasskeyAssertion {
        purpose: fail.purpose,
        backup_eligible: stored.backup_eligible,
        credential_id: id,
    };
    match session::complete_passkey(state, unit, session, customer, &assertion, fail.ip, lang)
        .await?
    {
        Bound::Done(handle) => Ok(AssertionOutcome::Authenticated { handle }),
        // The binding wrote nothing; the counter update above is kept with
        // the refusal, since the authenticator did sign.
        Bound::NotBindable(unit) => {
            fail.refuse(unit, Some(customer), id, "session_not_bindable")
                .await
        }
    }
}

/// Audits refused assertions as `passkey.login_failed` with a reason, in the
/// request's unit, and commits it: the spent ceremony stays spent.
struct Failure<'a> {
    state: &'a AppState,
    ip: &'a str,
    purpose: Purpose,
}

impl<'a> Failure<'a> {
    fn new(state: &'a AppState, ip: &'a str, purpose: Purpose) -> Self {
        Self { state, ip, purpose }
    }

    async fn audit(
        &self,
        mut unit: Unit,
        customer: Option<&Customer>,
        detail: serde_json::Value,
    ) -> Result<()> {
        let mut event = AuditEvent::new(AuditKind::PasskeyLoginFailed, Outcome::Failure)
            .with_ip(self.ip)
            .with_detail(detail);
        if let Some(c) = customer {
            event = event.with_customer(&c.id, c.customer_code.as_str());
        }
        unit.audit(&event, self.state.clock.now()).await?;
        unit.commit().await
    }

    async fn refuse(
        &self,
        unit: Unit,
        customer: Option<&Customer>,
        credential_id: &str,
        reason: &str,
    ) -> Result<AssertionOutcome> {
        let detail = json!({
            "reason": reason,
            "purpose": self.purpose.as_str(),
            "credential_id": credential_id,
        });
        self.audit(unit, customer, detail).await?;
        Ok(AssertionOutcome::Refused)
    }

    async fn unknown(&self, unit: Unit, credential_id: String) -> Result<AssertionOutcome> {
        let detail = json!({
            "reason": "unknown_credential",
            "purpose": self.purpose.as_str(),
            "credential_id": credential_id,
        });
        self.audit(unit, None, detail).await?;
        Ok(AssertionOutcome::UnknownCredential { credential_id })
    }

    async fn expired(&self, unit: Unit, customer: Option<&Customer>) -> Result<AssertionOutcome> {
        let detail = json!({ "reason": "ceremony_unknown", "purpose": self.purpose.as_str() });
        self.audit(unit, customer, detail).await?;
        Ok(AssertionOutcome::Expired)
    }
}
