//! Passkey pages and routes.
//!
//! Registration from the account page (`docs/product.md`, passkey registration steps 2 to 6),
//! renaming and deleting, and the passkey step-up page that the OIDC
//! endpoints send a session below `phr` to (`docs/product.md#assurance`, `docs/passkeys.md`).
//!
//! The pages work as plain forms; the WebAuthn ceremonies themselves need
//! the script (`/static/kagi.js`) and its JSON endpoints in [`super::passkey_api`].

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::passkey_api::{self as api, confirm_path};
use super::{Messages, redirect, render};
use crate::authn::passkey::manage::{self as passkey_manage, RemoveOutcome, RenameOutcome};
use crate::authn::passkey::{self, step_up_url};
use crate::authn::return_to;
use crate::http::error::PageError;
use crate::http::extract::{Browser, CsrfForm, LoggedIn, PageQuery};
use crate::http::pages::account::passkey_item;
use crate::model::Customer;
use crate::paths;
use crate::state::AppState;
use crate::templates::pages::{PasskeyConfirmPage, PasskeyDeletePage, PasskeyStepUpPage};

/// Every passkey route.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(paths::ACCOUNT_PASSKEYS_REGISTER, post(register))
        .route(paths::ACCOUNT_PASSKEYS_CONFIRM, get(confirm))
        .route(
            paths::ACCOUNT_PASSKEYS_REGISTER_START,
            post(api::register_start),
        )
        .route(
            paths::ACCOUNT_PASSKEYS_REGISTER_FINISH,
            post(api::register_finish),
        )
        .route(paths::ACCOUNT_PASSKEYS_RENAME, post(rename))
        .route(
            paths::ACCOUNT_PASSKEYS_DELETE,
            get(delete_confirm).post(delete),
        )
        .route(paths::PASSKEY_LOGIN_START, post(api::login_start))
        .route(paths::PASSKEY_LOGIN_FINISH, post(api::login_finish))
        .route(paths::STEP_UP_PASSKEY, get(step_up))
        .route(paths::PASSKEY_STEP_UP_START, post(api::step_up_start))
        .route(paths::PASSKEY_STEP_UP_FINISH, post(api::step_up_finish))
        .route(paths::PASSKEY_CONFIRM_START, post(api::confirm_start))
        .route(paths::PASSKEY_CONFIRM_FINISH, post(api::confirm_finish))
}

async fn logged_in(state: &AppState, browser: &Browser) -> Result<Option<Customer>, PageError> {
    match &browser.session.customer_id {
        Some(id) => Ok(state.store.find_customer(id).await?),
        None => Ok(None),
    }
}

fn local(state: &AppState, raw: Option<&str>) -> String {
    return_to::continuation(&state.config.issuer, raw, paths::ACCOUNT)
}

/// Where a customer goes next on the way to registering: the account page at
/// the cap, a step-up without a fresh one, else the confirmation page.
async fn next_step(
    state: &AppState,
    browser: &Browser,
    customer: &Customer,
    return_to: &str,
) -> Result<Option<Response>, PageError> {
    let count = state.store.list_passkeys(&customer.id).await?.len();
    if count >= state.config.max_passkeys as usize {
        return Ok(Some(redirect(
            browser,
            &paths::account_error("passkey_limit"),
        )));
    }
    let spend = passkey::step_up_spend(state, &browser.session.sid, count > 0);
    if !state.store.has_step_up(&spend).await? {
        let to = step_up_url(spend.passkey_only, &confirm_path(return_to));
        return Ok(Some(redirect(browser, &to)));
    }
    Ok(None)
}

/// The "Register" form (only the CSRF token, and where to continue).
#[derive(Deserialize)]
pub struct RegisterForm {
    #[serde(default)]
    return_to: Option<String>,
}

/// `POST /account/passkeys/register` (`#passkey-register`, passkey registration step 2): on to
/// the step-up (step 3) or, with a fresh one, the confirmation page.
pub async fn register(
    State(state): State<AppState>,
    CsrfForm { browser, form }: CsrfForm<RegisterForm>,
) -> Result<Response, PageError> {
    let Some(customer) = logged_in(&state, &browser).await? else {
        return Ok(redirect(&browser, paths::LOGIN));
    };
    let return_to = local(&state, form.return_to.as_deref());
    if let Some(detour) = next_step(&state, &browser, &customer, &return_to).await? {
        return Ok(detour);
    }
    Ok(redirect(&browser, &confirm_path(&return_to)))
}

/// Query of the confirmation page.
#[derive(Debug, Default, Deserialize)]
pub struct ConfirmQuery {
    #[serde(default)]
    return_to: Option<String>,
}

/// `GET /account/passkeys/confirm` (passkey registration step 4): explains the device's own check.
///
/// `#passkey-register-confirm` starts the ceremony. This is also the entry
/// point for flows that offer registration and then continue at `return_to`.
pub async fn confirm(
    State(state): State<AppState>,
    LoggedIn { browser, customer }: LoggedIn,
    PageQuery(q): PageQuery<ConfirmQuery>,
) -> Result<Response, PageError> {
    let return_to = local(&state, q.return_to.as_deref());
    if let Some(detour) = next_step(&state, &browser, &customer, &return_to).await? {
        return Ok(detour);
    }
    let ctx = PasskeyConfirmPage {
        return_to: &return_to,
    };
    render(
        &state,
        &browser,
        "passkey_confirm.html",
        StatusCode::OK,
        ctx,
        Messages::default(),
    )
}

/// The rename form.
#[derive(Deserialize)]
pub struct RenameForm {
    #[serde(default)]
    credential_id: String,
    #[serde(default)]
    nickname: String,
}

/// `POST /account/passkeys/rename`: sets a passkey's nickname.
pub async fn rename(
    State(state): State<AppState>,
    CsrfForm { browser, form }: CsrfForm<RenameForm>,
) -> Result<Response, PageError> {
    let Some(customer) = logged_in(&state, &browser).await? else {
        return Ok(redirect(&browser, paths::LOGIN));
    };
    let outcome = passkey_manage::rename(
        &state,
        &customer,
        &form.credential_id,
        &form.nickname,
        &browser.ip,
    )
    .await?;
    let to = match outcome {
        RenameOutcome::Renamed => paths::account_notice("passkey_renamed"),
        RenameOutcome::TooLong => paths::account_error("passkey_nickname"),
        RenameOutcome::NotFound => paths::ACCOUNT.to_owned(),
    };
    Ok(redirect(&browser, &to))
}

/// The delete form, and the query of its confirmation page.
#[derive(Debug, Default, Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    credential_id: String,
}

/// `POST /account/passkeys/delete`: deletes a passkey, or first sends the
/// customer through a step-up that returns to the confirmation page.
pub async fn delete(
    State(state): State<AppState>,
    CsrfForm { browser, form }: CsrfForm<DeleteForm>,
) -> Result<Response, PageError> {
    let Some(customer) = logged_in(&state, &browser).await? else {
        return Ok(redirect(&browser, paths::LOGIN));
    };
    let outcome = passkey_manage::remove(
        &state,
        &browser.session,
        &customer,
        &form.credential_id,
        &browser.ip,
        browser.lang,
    )
    .await?;
    match outcome {
        RemoveOutcome::Removed => Ok(redirect(
            &browser,
            &paths::account_notice("passkey_removed"),
        )),
        RemoveOutcome::NotFound => Ok(redirect(&browser, paths::ACCOUNT)),
        RemoveOutcome::StepUpRequired { passkey_only } => {
            let back = format!(
                "{}?{}",
                paths::ACCOUNT_PASSKEYS_DELETE,
                url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("credential_id", &form.credential_id)
                    .finish()
            );
            Ok(redirect(&browser, &step_up_url(passkey_only, &back)))
        }
    }
}

/// `GET /account/passkeys/delete?credential_id=...`: asks to confirm a
/// deletion (where the step-up returns to; a GET never deletes).
pub async fn delete_confirm(
    State(state): State<AppState>,
    LoggedIn { browser, customer }: LoggedIn,
    PageQuery(q): PageQuery<DeleteForm>,
) -> Result<Response, PageError> {
    let passkeys = state.store.list_passkeys(&customer.id).await?;
    let Some(found) = passkeys.iter().find(|p| p.credential_id == q.credential_id) else {
        return Ok(redirect(&browser, paths::ACCOUNT));
    };
    let ctx = PasskeyDeletePage {
        passkey: passkey_item(found),
    };
    render(
        &state,
        &browser,
        "passkey_delete.html",
        StatusCode::OK,
        ctx,
        Messages::default(),
    )
}

/// `GET /stepup/passkey?return_to=<local path>`: asks for a passkey again.
///
/// The logged-in customer presses `#passkey-login`, then continues at
/// `return_to` in the same session with a new cookie value
/// (`docs/security.md#r9`).
pub async fn step_up(
    State(state): State<AppState>,
    LoggedIn { browser, customer }: LoggedIn,
    PageQuery(q): PageQuery<ConfirmQuery>,
) -> Result<Response, PageError> {
    let return_to = local(&state, q.return_to.as_deref());
    let has_passkeys = !state.store.list_passkeys(&customer.id).await?.is_empty();
    let ctx = PasskeyStepUpPage {
        return_to: &return_to,
        has_passkeys,
    };
    render(
        &state,
        &browser,
        "passkey_stepup.html",
        StatusCode::OK,
        ctx,
        Messages::default(),
    )
}
