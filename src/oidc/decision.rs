//! The authorization decision (OIDC Core §3.1.2): given a validated request
//! and the browser's session, what happens next.
//!
//! Either a code is due, the browser must log in or step up, the customer
//! is asked for consent, or the client is answered with an error. The
//! decision writes nothing; `oidc::authorize` carries it out. It runs at
//! `/authorize` and again at `/authorize/continue` after each interaction,
//! always from the request kept server-side.

use super::acr::{self, Assurance, Window};
use super::error::{ErrorCode, Failure, ProtocolError};
use super::request::AuthorizationRequest;
use crate::authn::passkey::passkey_step_up_url;
use crate::error::Result;
use crate::model::{Client, Customer};
use crate::paths;
use crate::state::AppState;
use crate::store::auth_requests::RequestRow;
use crate::store::sessions::SessionRow;

/// What the decision asks for.
#[derive(Debug)]
pub enum Decision {
    /// Issue a code to this customer at this assurance, for the confirmed
    /// transaction `txn` if the request carries one.
    Code(Box<Customer>, Assurance, Option<String>),
    /// Answer the client with this error.
    Error(ProtocolError),
    /// Send the browser to this local path (login, step-up).
    Interact(String),
    /// Show the consent page.
    Consent,
    /// Offer passkey registration (web client, no passkey, `phr` required).
    OfferPasskey,
    /// Show the transaction and ask for a passkey assertion made for it.
    Confirm,
}

/// Decides the next step for `req` (kept as `row`) in `session`.
/// `consented` is true when the customer just accepted the consent page.
pub async fn decide(
    state: &AppState,
    row: &RequestRow,
    req: &AuthorizationRequest,
    client: &Client,
    session: &SessionRow,
    consented: bool,
) -> Result<Decision> {
    let now = state.clock.now();
    let resume = paths::authorize_continue(&row.id);
    let customer = match &session.customer_id {
        Some(id) => state.store.find_customer(id).await?,
        None => None,
    };
    let login_path = || {
        let mut q = vec![("return_to", resume.clone()), ("reauth", "1".to_owned())];
        if let Some(hint) = &req.login_hint {
            q.push(("login_hint", hint.clone()));
        }
        if let Some(locales) = &req.ui_locales {
            q.push(("ui_locales", locales.clone()));
        }
        format!(
            "{}?{}",
            paths::LOGIN,
            serde_urlencoded::to_string(q).unwrap_or_default()
        )
    };
    // A hint that is not one of Kagi's ID tokens is refused whoever is logged in.
    let hinted = match hint_subject(state, req).await {
        Ok(hinted) => hinted,
        Err(Failure::Refused(refused)) => return Ok(Decision::Error(refused)),
        Err(Failure::Internal(e)) => return Err(e),
    };
    if req.authorization_details.is_some() && req.prompt_none {
        // A transaction is confirmed by the customer's hand every time
        // (`docs/transactions.md`), which `prompt=none` rules out.
        return Ok(Decision::Error(ProtocolError::new(
            ErrorCode::InteractionRequired,
            "a transaction needs the customer's passkey confirmation",
        )));
    }
    let Some(customer) = customer else {
        return Ok(if req.prompt_none {
            Decision::Error(login_required())
        } else {
            Decision::Interact(login_path())
        });
    };
    match hinted {
        Some(sub) if sub != customer.id && req.prompt_none => {
            return Ok(Decision::Error(login_required()));
        }
        Some(sub) if sub != customer.id => return Ok(Decision::Interact(login_path())),
        _ => {}
    }
    if req.authorization_details.is_some() {
        return transaction(state, row, req, client, customer, session, consented).await;
    }
    let window = Window {
        not_before: [
            req.prompt_login.then_some(row.created_at),
            req.max_age.map(|m| now - m),
        ]
        .into_iter()
        .flatten()
        .max(),
    };
    let (phr, mfa) = (state.config.acr_phr.as_str(), state.config.acr_mfa.as_str());
    let events = state.store.session_auth_events(&session.sid).await?;
    let Some(best) = acr::best(&events, window, phr, mfa) else {
        if req.prompt_none {
            return Ok(Decision::Error(login_required()));
        }
        // Re-authenticate with the same method class (`docs/product.md#assurance`): a passkey
        // session is asked for its passkey again, others for the password.
        let had_passkey =
            acr::best(&events, Window::default(), phr, mfa).is_some_and(|b| b.acr == phr);
        return Ok(Decision::Interact(if had_passkey {
            passkey_step_up_url(&resume)
        } else {
            login_path()
        }));
    };
    let required = required_acr(req, client, now, phr, mfa);
    let reported = match required.as_deref() {
        None => best.clone(),
        Some(values) => match satisfied(values, &best, phr, mfa) {
            Some(acr) => Assurance {
                acr,
                ..best.clone()
            },
            None => return step_up(state, req, client, &customer, values, &resume, phr).await,
        },
    };
    consent_or_code(state, req, client, customer, reported, None, consented).await
}

/// The last step of every path to a code: consent when the client needs it.
async fn consent_or_code(
    state: &AppState,
    req: &AuthorizationRequest,
    client: &Client,
    customer: Customer,
    reported: Assurance,
    txn: Option<String>,
    consented: bool,
) -> Result<Decision> {
    if !consented
        && (req.prompt_consent || !client.first_party)
        && !has_consent(state, &customer, client, req).await?
    {
        return Ok(if req.prompt_none {
            Decision::Error(ProtocolError::new(
                ErrorCode::ConsentRequired,
                "consent is required",
            ))
        } else {
            Decision::Consent
        });
    }
    Ok(Decision::Code(Box::new(customer), reported, txn))
}

/// A request carrying `authorization_details` (`docs/transactions.md`): a
/// code only after a passkey assertion made for this very request, whatever
/// the session reached before; its `acr`, `amr` and `auth_time` are the
/// assertion's. Without a passkey the customer is offered one (web clients)
/// and never an emailed or app code, which a relay could phish.
async fn transaction(
    state: &AppState,
    row: &RequestRow,
    req: &AuthorizationRequest,
    client: &Client,
    customer: Customer,
    session: &SessionRow,
    consented: bool,
) -> Result<Decision> {
    match state.store.confirmation_for_request(&row.id).await? {
        Some(c) if c.customer_id == customer.id && c.sid == session.sid => {
            let amr: Vec<String> = serde_json::from_str(&c.amr)
                .map_err(|e| crate::error::Error::Internal(e.into()))?;
            let reported = Assurance {
                acr: state.config.acr_phr.clone(),
                amr,
                auth_time: c.confirmed_at,
            };
            consent_or_code(
                state,
                req,
                client,
                customer,
                reported,
                Some(c.txn),
                consented,
            )
            .await
        }
        // Confirmed, then the session changed hands: this customer did not sign it.
        Some(_) => Ok(Decision::Error(ProtocolError::new(
            ErrorCode::AccessDenied,
            "the transaction was confirmed by another login",
        ))),
        None => {
            let has_passkey = !state.store.list_passkeys(&customer.id).await?.is_empty();
            Ok(match (has_passkey, client.public) {
                (true, _) => Decision::Confirm,
                (false, false) => Decision::OfferPasskey,
                (false, true) => Decision::Error(unmet()),
            })
        }
    }
}

/// `unmet_authentication_requirements` (OIDC UAR 1.0): the essential level cannot be reached.
pub fn unmet() -> ProtocolError {
    ProtocolError::new(
        ErrorCode::UnmetAuthenticationRequirements,
        "the requested authentication level cannot be met",
    )
}

fn login_required() -> ProtocolError {
    ProtocolError::new(ErrorCode::LoginRequired, "the customer must log in")
}

/// The customer the request's `id_token_hint` names, if it has one; an error
/// unless it is an ID token Kagi issued to a registered client.
async fn hint_subject(
    state: &AppState,
    req: &AuthorizationRequest,
) -> std::result::Result<Option<String>, Failure> {
    let Some(raw) = &req.id_token_hint else {
        return Ok(None);
    };
    let refused = ProtocolError::new(
        ErrorCode::InvalidRequest,
        "id_token_hint is not a valid ID token of this issuer",
    );
    let Ok(hint) = super::jwt::verify_id_token_hint(&state.keys, &state.config.issuer_str(), raw)
    else {
        return Err(refused.into());
    };
    match state.store.find_client(&hint.client_id).await? {
        Some(_) => Ok(Some(hint.sub)),
        None => Err(refused.into()),
    }
}

/// The `acr` values a code may be issued for: the request's essential
/// values and the client's `require_acr` (once its start date has passed),
/// whichever is stricter.
///
/// A request may narrow what the client demands but never lower it: values
/// ranked below the client's floor are dropped, and if none is left the
/// client's own value is required. Otherwise a request carrying
/// `claims={"id_token":{"acr":{"essential":true,"values":["<mfa>"]}}}` would
/// satisfy a client that demands a passkey with a password and a relayed code.
fn required_acr(
    req: &AuthorizationRequest,
    client: &Client,
    now: i64,
    phr: &str,
    mfa: &str,
) -> Option<Vec<String>> {
    let active = client.require_acr_from.is_none_or(|from| from <= now);
    let floor = client.require_acr.as_ref().filter(|_| active);
    match (&req.essential_acr, floor) {
        (None, None) => None,
        (Some(values), None) => Some(values.clone()),
        (None, Some(floor)) => Some(vec![floor.clone()]),
        (Some(values), Some(floor)) => {
            let floor_rank = acr::rank(floor, phr, mfa);
            let at_least_floor: Vec<String> = values
                .iter()
                .filter(|v| *v == floor || (floor_rank > 0 && acr::rank(v, phr, mfa) >= floor_rank))
                .cloned()
                .collect();
            Some(if at_least_floor.is_empty() {
                vec![floor.clone()]
            } else {
                at_least_floor
            })
        }
    }
}

/// The requested value `best` satisfies, if any: itself, or a lower known
/// level it implies (`phr` satisfies a request for the MFA value).
fn satisfied(values: &[String], best: &Assurance, phr: &str, mfa: &str) -> Option<String> {
    if values.contains(&best.acr) {
        return Some(best.acr.clone());
    }
    let have = acr::rank(&best.acr, phr, mfa);
    values
        .iter()
        .filter(|v| (1..=have).contains(&acr::rank(v, phr, mfa)))
        .max_by_key(|v| acr::rank(v, phr, mfa))
        .cloned()
}

/// The session is below an essential `acr`: step up with a passkey when the
/// customer has one, offer registration to web clients, else tell the client.
async fn step_up(
    state: &AppState,
    req: &AuthorizationRequest,
    client: &Client,
    customer: &Customer,
    values: &[String],
    resume: &str,
    phr: &str,
) -> Result<Decision> {
    if !values.iter().any(|v| v == phr) {
        return Ok(Decision::Error(unmet()));
    }
    let has_passkey = !state.store.list_passkeys(&customer.id).await?.is_empty();
    Ok(match (has_passkey, req.prompt_none, client.public) {
        (true, true, _) => Decision::Error(ProtocolError::new(
            ErrorCode::InteractionRequired,
            "a passkey step-up is required",
        )),
        (true, false, _) => Decision::Interact(passkey_step_up_url(resume)),
        // Passkeys are registered only on the web (`docs/product.md#guide-rules`, rule 1): a native client is told.
        (false, _, true) | (false, true, _) => Decision::Error(unmet()),
        (false, false, false) => Decision::OfferPasskey,
    })
}

async fn has_consent(
    state: &AppState,
    customer: &Customer,
    client: &Client,
    req: &AuthorizationRequest,
) -> Result<bool> {
    if req.prompt_consent {
        return Ok(false);
    }
    let granted = state
        .store
        .find_consent(&customer.id, client.client_id.as_str())
        .await?;
    Ok(granted.is_some_and(|scope| req.scope.iter().all(|s| scope.split(' ').any(|g| g == s))))
}
