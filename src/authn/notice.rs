//! Notices mailed to customers (lock, login, passkey changes).
//!
//! They are rendered in the customer's page language and sent to every
//! registered address. A failure to send is logged and does not undo what it
//! reports.
//!
//! Notices are sent from a background task: the request that triggers one
//! (say, the fifth wrong password) must not take longer than the same request
//! without it, or the timing would tell an attacker the account exists.

use serde::Serialize;

use crate::model::Customer;
use crate::state::AppState;
use crate::templates::Lang;

/// Renders mail template `name` and sends it to every address of `customer`, in the background.
pub fn spawn_to_all(
    state: &AppState,
    customer: &Customer,
    name: &'static str,
    lang: Lang,
    ctx: impl Serialize,
) {
    // A minijinja Value owns its text, so the task borrows nothing from the caller.
    let ctx = minijinja::Value::from(minijinja::value::Serde(ctx));
    let state = state.clone();
    let to = customer.emails.clone();
    tokio::spawn(async move { send(&state, to, name, lang, ctx).await });
}

async fn send(
    state: &AppState,
    to: Vec<crate::model::Email>,
    name: &str,
    lang: Lang,
    ctx: minijinja::Value,
) {
    let (subject, body) = match state.templates.render_mail(name, lang, ctx) {
        Ok(rendered) => rendered,
        Err(e) => {
            tracing::error!(error = %e, mail.template = name, "could not render a notice");
            return;
        }
    };
    let mail = crate::mail::OutgoingMail { to, subject, body };
    if let Err(e) = state.mailer.send(&mail).await {
        tracing::error!(error = %e, mail.template = name, "could not send a notice");
    }
}
