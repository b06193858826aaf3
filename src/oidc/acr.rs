//! Assurance of a session for one request (`docs/product.md#assurance`): the `acr`, `amr` and
//! `auth_time` a token carries come from the session's authentication events.
//!
//! Only events inside the request's window count: younger than `max_age`, and
//! (after `prompt=login`) newer than the request itself. Among those, the
//! highest level wins (`phr` above the MFA value), and among equals the most
//! recent; `auth_time` is that event's time. A silent re-authorization thus
//! picks the same event and repeats the same `auth_time`.

use crate::store::sessions::AuthEventRow;

/// What a token may claim about how the customer authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assurance {
    /// `acr`.
    pub acr: String,
    /// `amr`.
    pub amr: Vec<String>,
    /// `auth_time`.
    pub auth_time: i64,
}

/// Which events a request accepts.
#[derive(Clone, Copy, Debug, Default)]
pub struct Window {
    /// Events before this time do not count (`max_age`, `prompt=login`).
    pub not_before: Option<i64>,
}

/// The rank of an `acr` value: `phr` = 2, the MFA value = 1, anything else 0.
pub fn rank(acr: &str, acr_phr: &str, acr_mfa: &str) -> u8 {
    if acr == acr_phr {
        2
    } else if acr == acr_mfa {
        1
    } else {
        0
    }
}

/// The best assurance among `events` inside `window`, if any event counts.
pub fn best(
    events: &[AuthEventRow],
    window: Window,
    acr_phr: &str,
    acr_mfa: &str,
) -> Option<Assurance> {
    events
        .iter()
        .filter(|e| window.not_before.is_none_or(|t| e.at >= t))
        .max_by_key(|e| (rank(&e.acr, acr_phr, acr_mfa), e.at))
        .map(|e| Assurance {
            acr: e.acr.clone(),
            amr: e.amr.clone(),
            auth_time: e.at,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(acr: &str, amr: &[&str], at: i64) -> AuthEventRow {
        AuthEventRow {
            method: "m".into(),
            acr: acr.into(),
            amr: amr.iter().map(|s| (*s).to_owned()).collect(),
            purpose: "login".into(),
            at,
        }
    }

    const PHR: &str = "phr";
    const MFA: &str = "urn:kagi:acr:mfa";

    #[test]
    fn a_passkey_event_outranks_a_later_password_event() {
        let events = [
            event(PHR, &["hwk", "user", "mfa"], 100),
            event(MFA, &["pwd", "otp", "mfa"], 200),
        ];
        let best = best(&events, Window::default(), PHR, MFA).unwrap();
        assert_eq!((best.acr.as_str(), best.auth_time), (PHR, 100));
        assert_eq!(best.amr, ["hwk", "user", "mfa"]);
    }

    #[test]
    fn events_outside_the_window_do_not_count() {
        let events = [
            event(PHR, &["swk", "user", "mfa"], 100),
            event(MFA, &["pwd", "otp", "mfa"], 200),
        ];
        let recent = best(
            &events,
            Window {
                not_before: Some(150),
            },
            PHR,
            MFA,
        )
        .unwrap();
        assert_eq!((recent.acr.as_str(), recent.auth_time), (MFA, 200));
        assert!(
            best(
                &events,
                Window {
                    not_before: Some(201)
                },
                PHR,
                MFA
            )
            .is_none()
        );
    }

    #[test]
    fn the_same_events_give_the_same_auth_time() {
        let events = [event(MFA, &["pwd", "otp", "mfa"], 100)];
        assert_eq!(
            best(&events, Window::default(), PHR, MFA),
            best(&events, Window::default(), PHR, MFA)
        );
    }
}
