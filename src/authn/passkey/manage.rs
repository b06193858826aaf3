//! Managing registered passkeys on the account page.
//!
//! Renaming needs no step-up (a nickname is only a label). Deleting needs a
//! fresh step-up, spent by the deletion, and mails a notice to every address
//! (`docs/product.md#notices`, `docs/security.md#r20`).

use serde_json::json;

use super::registration::send_notice;
use super::{NICKNAME_MAX_CHARS, step_up_spend};
use crate::audit::{AuditEvent, AuditKind, Outcome};
use crate::error::Result;
use crate::model::Customer;
use crate::state::AppState;
use crate::store::passkeys::DeleteOutcome;
use crate::store::sessions::SessionRow;
use crate::templates::Lang;

/// The result of a rename.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RenameOutcome {
    /// The nickname is saved.
    Renamed,
    /// Longer than [`NICKNAME_MAX_CHARS`].
    TooLong,
    /// The customer has no such passkey.
    NotFound,
}

/// The result of a deletion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoveOutcome {
    /// Deleted and announced.
    Removed,
    /// No unspent, fresh step-up in this session: step up first.
    StepUpRequired {
        /// The step-up must be made with a passkey (policy `strongest`).
        passkey_only: bool,
    },
    /// The customer has no such passkey.
    NotFound,
}

/// A nickname as stored: trimmed, without control characters; `None` when too long.
pub fn clean_nickname(raw: &str) -> Option<String> {
    let cleaned: String = raw.trim().chars().filter(|c| !c.is_control()).collect();
    (cleaned.chars().count() <= NICKNAME_MAX_CHARS).then_some(cleaned)
}

/// Gives one of the customer's passkeys a nickname (empty clears it).
pub async fn rename(
    state: &AppState,
    customer: &Customer,
    credential_id: &str,
    nickname: &str,
    ip: &str,
) -> Result<RenameOutcome> {
    let Some(nickname) = clean_nickname(nickname) else {
        return Ok(RenameOutcome::TooLong);
    };
    if !state
        .store
        .rename_passkey(&customer.id, credential_id, &nickname)
        .await?
    {
        return Ok(RenameOutcome::NotFound);
    }
    let event = AuditEvent::new(AuditKind::PasskeyRenamed, Outcome::Success)
        .with_customer(&customer.id, customer.customer_code.as_str())
        .with_ip(ip)
        .with_detail(json!({ "credential_id": credential_id }));
    state.audit(event).await;
    Ok(RenameOutcome::Renamed)
}

/// Deletes one of the customer's passkeys, spending a fresh step-up.
pub async fn remove(
    state: &AppState,
    session: &SessionRow,
    customer: &Customer,
    credential_id: &str,
    ip: &str,
    lang: Lang,
) -> Result<RemoveOutcome> {
    let owned = state.store.list_passkeys(&customer.id).await?;
    if !owned.iter().any(|p| p.credential_id == credential_id) {
        return Ok(RemoveOutcome::NotFound);
    }
    let spend = step_up_spend(state, &session.sid, true);
    let now = state.clock.now();
    let provider = match state
        .store
        .delete_passkey(&customer.id, credential_id, &spend, now)
        .await?
    {
        DeleteOutcome::Deleted { provider } => provider,
        DeleteOutcome::NotFound => return Ok(RemoveOutcome::NotFound),
        DeleteOutcome::NoStepUp => {
            let event = AuditEvent::new(AuditKind::StepUpRequired, Outcome::Info)
                .with_customer(&customer.id, customer.customer_code.as_str())
                .with_ip(ip)
                .with_detail(
                    json!({ "action": "passkey.remove", "passkey_only": spend.passkey_only }),
                );
            state.audit(event).await;
            return Ok(RemoveOutcome::StepUpRequired {
                passkey_only: spend.passkey_only,
            });
        }
    };
    let event = AuditEvent::new(AuditKind::PasskeyRemoved, Outcome::Success)
        .with_customer(&customer.id, customer.customer_code.as_str())
        .with_ip(ip)
        .with_detail(
            json!({ "credential_id": credential_id, "provider": provider, "by": "customer" }),
        );
    state.audit(event).await;
    send_notice(state, customer, "passkey_removed", &provider, lang);
    Ok(RemoveOutcome::Removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nicknames_are_trimmed_cleaned_and_limited_to_64_characters() {
        assert_eq!(clean_nickname("  iPhone\u{7} ").as_deref(), Some("iPhone"));
        assert_eq!(
            clean_nickname(&"鍵".repeat(64)).map(|n| n.chars().count()),
            Some(64)
        );
        assert_eq!(clean_nickname(&"鍵".repeat(65)), None);
    }
}
