//! The account page (`/account`).
//!
//! Profile, masked addresses, "Password settings" with the passkey and authenticator-app rows, and the customer's
//! sessions with "end this session" (`docs/security.md#r38`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{Messages, redirect, render};
use crate::authn::session;
use crate::authn::totp::enrollment::{self as totp_enrollment, Confirmation};
use crate::clock::rfc3339;
use crate::http::error::PageError;
use crate::http::extract::{Browser, CsrfForm, LoggedIn, PageQuery};
use crate::model::Customer;
use crate::paths;
use crate::state::AppState;
use crate::store::passkeys::PasskeySummary;
use crate::templates::pages::{
    AccountHolder, AccountPage, PasskeyItem, PasskeySignal, SessionItem, TotpEnrollPage,
};

/// Notices the account page can show after a redirect (catalogue keys by name).
const NOTICES: &[(&str, &str)] = &[
    ("session_ended", "account.session_ended"),
    ("totp_enrolled", "totp.enrolled"),
    ("others_ended", "account.other_sessions_ended"),
    ("passkey_registered", "passkey.registered"),
    ("passkey_removed", "passkey.removed"),
    ("passkey_renamed", "passkey.renamed"),
];

/// Errors the account page can show after a redirect (catalogue keys by name).
const ERRORS: &[(&str, &str)] = &[
    ("passkey_limit", "passkey.limit"),
    ("passkey_nickname", "passkey.nickname_too_long"),
];

fn lookup(table: &[(&str, &'static str)], name: Option<String>) -> Option<&'static str> {
    let name = name?;
    table.iter().find(|(n, _)| *n == name).map(|(_, key)| *key)
}

/// Query of the account page.
#[derive(Debug, Default, Deserialize)]
pub struct AccountQuery {
    #[serde(default)]
    notice: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// `GET /account`.
pub async fn show(
    State(state): State<AppState>,
    LoggedIn { browser, customer }: LoggedIn,
    PageQuery(q): PageQuery<AccountQuery>,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let sessions = state
        .store
        .list_customer_sessions(&customer.id, now, state.config.session_idle_timeout_secs)
        .await?;
    let sessions = sessions
        .iter()
        .map(|s| SessionItem {
            sid: &s.sid,
            current: s.sid == browser.session.sid,
            created_at: rfc3339(s.created_at),
            last_seen_at: rfc3339(s.last_seen_at),
            user_agent: s.user_agent.as_deref().unwrap_or("-"),
            ip: s.ip.as_deref().unwrap_or("-"),
        })
        .collect();
    let stored = state.store.list_passkeys(&customer.id).await?;
    let notice = lookup(NOTICES, q.notice);
    let signal = passkey_signal(
        &state,
        &customer,
        &stored,
        notice == Some("passkey.renamed"),
    )?;
    let ctx = AccountPage {
        customer: AccountHolder {
            name: &customer.name,
            customer_code: customer.customer_code.as_str(),
        },
        emails: customer.emails.iter().map(|e| e.masked()).collect(),
        totp_enrolled: customer.totp_enrolled,
        sessions,
        passkeys: stored.iter().map(passkey_item).collect(),
        passkeys_enabled: true,
        passkeys_at_limit: stored.len() >= state.config.max_passkeys as usize,
        passkey_signal: Some(signal),
    };
    render(
        &state,
        &browser,
        "account.html",
        StatusCode::OK,
        ctx,
        Messages {
            error: lookup(ERRORS, q.error),
            notice,
        },
    )
}

/// What the page's script passes to the WebAuthn Signal API (WebAuthn L3
/// §5.1.10, `docs/security.md#r25`): the exact list of credentials still
/// registered, after every listing and deletion, and the user's names after
/// a rename.
fn passkey_signal<'a>(
    state: &'a AppState,
    customer: &'a Customer,
    stored: &[PasskeySummary],
    details: bool,
) -> Result<PasskeySignal<'a>, PageError> {
    use base64::Engine as _;
    let handle = crate::authn::passkey::user_handle(customer)?;
    let ids: Vec<&str> = stored.iter().map(|p| p.credential_id.as_str()).collect();
    Ok(PasskeySignal {
        rp_id: &state.config.webauthn_rp_id,
        user_id: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(handle.as_bytes()),
        credential_ids: ids.join(" "),
        user_name: customer.customer_code.as_str(),
        display_name: &customer.name,
        details,
    })
}

/// A stored passkey as the account and deletion pages show it.
pub(super) fn passkey_item(p: &PasskeySummary) -> PasskeyItem<'_> {
    PasskeyItem {
        credential_id: &p.credential_id,
        provider: &p.provider,
        nickname: &p.nickname,
        created_at: rfc3339(p.created_at),
        last_used_at: p.last_used_at.map(rfc3339),
        backup_eligible: p.backup_eligible,
        backup_state: p.backup_state,
    }
}

/// "End this session".
#[derive(Deserialize)]
pub struct EndSessionForm {
    #[serde(default)]
    sid: String,
}

async fn logged_in(state: &AppState, browser: &Browser) -> Result<Option<Customer>, PageError> {
    match &browser.session.customer_id {
        Some(id) => Ok(state.store.find_customer(id).await?),
        None => Ok(None),
    }
}

/// `POST /account/sessions/end`: ends one of the customer's sessions.
pub async fn end_session(
    State(state): State<AppState>,
    CsrfForm { browser, form }: CsrfForm<EndSessionForm>,
) -> Result<Response, PageError> {
    let Some(customer) = logged_in(&state, &browser).await? else {
        return Ok(redirect(&browser, paths::LOGIN));
    };
    let ended = session::end(
        &state,
        &form.sid,
        &customer,
        &browser.ip,
        "ended_from_account",
    )
    .await?;
    if ended {
        // The relying parties of that session log out too, and its tokens die.
        crate::oidc::backchannel::session_ended(&state, &form.sid, &customer.id).await?;
    }
    Ok(redirect(&browser, &paths::account_notice("session_ended")))
}

/// `POST /account/sessions/end-others`: ends every other session of the
/// customer, offered after a factor changes (`docs/security.md#r38`).
pub async fn end_other_sessions(
    State(state): State<AppState>,
    CsrfForm {
        browser,
        form: EmptyForm {},
    }: CsrfForm<EmptyForm>,
) -> Result<Response, PageError> {
    let Some(customer) = logged_in(&state, &browser).await? else {
        return Ok(redirect(&browser, paths::LOGIN));
    };
    let now = state.clock.now();
    let sessions = state
        .store
        .list_customer_sessions(&customer.id, now, state.config.session_idle_timeout_secs)
        .await?;
    for other in sessions.iter().filter(|s| s.sid != browser.session.sid) {
        if session::end(
            &state,
            &other.sid,
            &customer,
            &browser.ip,
            "ended_other_sessions",
        )
        .await?
        {
            crate::oidc::backchannel::session_ended(&state, &other.sid, &customer.id).await?;
        }
    }
    Ok(redirect(&browser, &paths::account_notice("others_ended")))
}

/// An empty form (only the CSRF token).
#[derive(Deserialize)]
pub struct EmptyForm {}

/// `POST /account/totp/start`: prepares a new authenticator-app secret once
/// this session holds the step-up it needs (else that step-up first).
pub async fn totp_start(
    State(state): State<AppState>,
    CsrfForm {
        browser,
        form: EmptyForm {},
    }: CsrfForm<EmptyForm>,
) -> Result<Response, PageError> {
    let Some(customer) = logged_in(&state, &browser).await? else {
        return Ok(redirect(&browser, paths::LOGIN));
    };
    if let Some(step_up) =
        totp_enrollment::step_up_needed(&state, &browser.session.sid, &customer).await?
    {
        return Ok(redirect(&browser, &step_up));
    }
    totp_enrollment::start(&state, &customer).await?;
    Ok(redirect(&browser, paths::ACCOUNT_TOTP))
}

fn enroll_page(
    state: &AppState,
    browser: &Browser,
    shown: &totp_enrollment::Shown,
    messages: Messages,
) -> Result<Response, PageError> {
    let ctx = TotpEnrollPage {
        qr_data_uri: &shown.qr_data_uri,
        secret: &shown.secret,
    };
    render(
        state,
        browser,
        "totp_enroll.html",
        StatusCode::OK,
        ctx,
        messages,
    )
}

/// `GET /account/totp`: the QR code and secret of the pending enrolment.
pub async fn totp_show(
    State(state): State<AppState>,
    LoggedIn { browser, customer }: LoggedIn,
) -> Result<Response, PageError> {
    match totp_enrollment::pending(&state, &customer).await? {
        Some(shown) => enroll_page(&state, &browser, &shown, Messages::default()),
        None => Ok(redirect(&browser, paths::ACCOUNT)),
    }
}

/// The first code from the newly set-up app.
#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    code: String,
}

/// `POST /account/totp/confirm`: enrols the app once it shows a right code.
pub async fn totp_confirm(
    State(state): State<AppState>,
    CsrfForm { browser, form }: CsrfForm<ConfirmForm>,
) -> Result<Response, PageError> {
    let Some(customer) = logged_in(&state, &browser).await? else {
        return Ok(redirect(&browser, paths::LOGIN));
    };
    let context = (browser.ip.as_str(), browser.lang);
    let sid = &browser.session.sid;
    match totp_enrollment::confirm(&state, &customer, sid, &form.code, context).await? {
        Confirmation::Enrolled => Ok(redirect(&browser, &paths::account_notice("totp_enrolled"))),
        Confirmation::Wrong(shown) => {
            enroll_page(&state, &browser, &shown, Messages::error("totp.wrong"))
        }
        Confirmation::NothingPending => Ok(redirect(&browser, paths::ACCOUNT)),
        Confirmation::StepUpRequired => {
            let to = totp_enrollment::step_up_needed(&state, sid, &customer).await?;
            Ok(redirect(&browser, to.as_deref().unwrap_or(paths::ACCOUNT)))
        }
    }
}
