//! How customers prove who they are.
//!
//! Each method ends in an [`AuthEvent`] that the browser session records;
//! `acr`, `amr` and `auth_time` of every token are derived from those events
//! (`docs/product.md#assurance`).

pub(crate) mod email_code;
pub(crate) mod lockout;
pub(crate) mod login;
pub(crate) mod notice;
pub mod passkey;
pub(crate) mod return_to;
pub(crate) mod second_factor;
pub(crate) mod session;
pub mod totp;

use serde::Serialize;

use crate::config::Config;
use crate::store::sessions::AuthEventRow;

/// How the customer authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Method {
    /// A WebAuthn assertion with user verification.
    Passkey,
    /// Password and an authenticator-app code.
    PasswordTotp,
    /// Password and an emailed code.
    PasswordEmail,
}

impl Method {
    /// The stored name, also the catalogue suffix (`method.<name>`).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Passkey => "passkey",
            Method::PasswordTotp => "password_totp",
            Method::PasswordEmail => "password_email",
        }
    }
}

/// Why the customer authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// To start a session.
    Login,
    /// To prove again, inside a session, before a sensitive action.
    StepUp,
}

impl Purpose {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Login => "login",
            Purpose::StepUp => "step_up",
        }
    }

    /// Parses a stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "login" => Some(Purpose::Login),
            "step_up" => Some(Purpose::StepUp),
            _ => None,
        }
    }
}

/// One completed authentication: what a session records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthEvent {
    /// The method used.
    pub method: Method,
    /// The `acr` it reaches.
    pub acr: String,
    /// Its RFC 8176 `amr` values.
    pub amr: Vec<String>,
    /// Login or step-up.
    pub purpose: Purpose,
    /// When (unix seconds).
    pub at: i64,
}

impl AuthEvent {
    /// The event as the store records it.
    pub fn row(&self) -> AuthEventRow {
        AuthEventRow {
            method: self.method.as_str().to_owned(),
            acr: self.acr.clone(),
            amr: self.amr.clone(),
            purpose: self.purpose.as_str().to_owned(),
            at: self.at,
        }
    }

    /// The event for password + a one-time code: `acr` is the MFA value and
    /// `amr` is `["pwd", "otp", "mfa"]` whichever code it was; the detail
    /// (email or TOTP) stays in `method`, the audit trail and the session.
    pub fn password_and_code(method: Method, purpose: Purpose, config: &Config, at: i64) -> Self {
        Self {
            method,
            acr: config.acr_mfa.clone(),
            amr: vec!["pwd".into(), "otp".into(), "mfa".into()],
            purpose,
            at,
        }
    }

    /// The event for a WebAuthn assertion with user presence and user
    /// verification: `acr` is the phishing-resistant value (`phr`), `amr` is
    /// `["hwk", "user", "mfa"]` for a device-bound key (BE flag clear) and
    /// `["swk", "user", "mfa"]` for a syncable one (RFC 8176 §2; `docs/product.md#assurance`).
    /// Never `phrh` (no attestation proves the hardware) and never `fido`.
    pub fn passkey(backup_eligible: bool, purpose: Purpose, config: &Config, at: i64) -> Self {
        let key = if backup_eligible { "swk" } else { "hwk" };
        Self {
            method: Method::Passkey,
            acr: config.acr_phr.clone(),
            amr: vec![key.into(), "user".into(), "mfa".into()],
            purpose,
            at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_and_code_logins_reach_the_mfa_level_with_registered_amr_values() {
        let config = Config::from_sources(Vec::new()).unwrap();
        for method in [Method::PasswordEmail, Method::PasswordTotp] {
            let event = AuthEvent::password_and_code(method, Purpose::Login, &config, 1);
            assert_eq!(event.acr, "urn:kagi:acr:mfa");
            assert_eq!(event.amr, ["pwd", "otp", "mfa"]);
            assert_ne!(event.acr, "phr", "a code never satisfies phr");
        }
    }

    #[test]
    fn passkey_logins_reach_phr_with_hwk_or_swk_by_the_backup_eligible_flag() {
        let config = Config::from_sources(Vec::new()).unwrap();
        let bound = AuthEvent::passkey(false, Purpose::Login, &config, 1);
        assert_eq!((bound.method, bound.acr.as_str()), (Method::Passkey, "phr"));
        assert_eq!(bound.amr, ["hwk", "user", "mfa"]);
        let synced = AuthEvent::passkey(true, Purpose::StepUp, &config, 1);
        assert_eq!(synced.amr, ["swk", "user", "mfa"]);
        assert_eq!(synced.purpose, Purpose::StepUp);
        for event in [bound, synced] {
            assert!(!event.amr.iter().any(|v| v == "fido") && event.acr != "phrh");
        }
    }
}
