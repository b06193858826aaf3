//! What a DPoP key is bound to, and the checks that hold each binding.
//!
//! - **Authorization codes** (RFC 9449 §10): a `dpop_jkt` in the authorization
//!   request, or the key of a proof sent with the pushed request (§10.1),
//!   is kept in the grant context; the code is then redeemed only with a
//!   proof of that key.
//! - **Access tokens** (§6.1): every token issued with a proof carries
//!   `cnf.jkt` and is answered with `token_type=DPoP`; a resource takes it
//!   only with a proof of that key (`http::userinfo`).
//! - **Refresh tokens** (§5): a public client's refresh tokens are bound to
//!   the key of the token request that first issued them, and every refresh
//!   needs a proof of it. A confidential client's are not: it authenticates
//!   at every refresh, and may move to a new key (§5 leaves them unbound).

use super::dpop::Proof;
use super::error::{ErrorCode, ProtocolError};
use super::grant_context::GrantContext;
use super::params::Params;
use crate::model::Client;

/// Length of an RFC 7638 SHA-256 thumbprint in base64url.
const JKT_CHARS: usize = 43;

/// Whether `value` can be an RFC 7638 SHA-256 thumbprint.
pub fn is_jkt(value: &str) -> bool {
    value.len() == JKT_CHARS
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A grant bound to `bound` may be used only with a proof of that key.
///
/// No proof at all is `invalid_dpop_proof`; a proof of another key is
/// `invalid_grant`, the answer for a code or refresh token that is not this
/// caller's to use.
pub fn check(bound: Option<&str>, proof: Option<&Proof>, what: Bound) -> Result<(), ProtocolError> {
    match (bound, proof) {
        (None, _) => Ok(()),
        (Some(jkt), Some(proof)) if proof.jkt == jkt => Ok(()),
        (Some(_), Some(_)) => Err(ProtocolError::new(
            ErrorCode::InvalidGrant,
            what.other_key(),
        )),
        (Some(_), None) => Err(ProtocolError::new(
            ErrorCode::InvalidDpopProof,
            what.no_proof(),
        )),
    }
}

/// What a binding holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// An authorization code.
    Code,
    /// A refresh token.
    RefreshToken,
}

impl Bound {
    fn other_key(self) -> &'static str {
        match self {
            Bound::Code => "the code is bound to another DPoP key",
            Bound::RefreshToken => "the refresh token is bound to another DPoP key",
        }
    }

    fn no_proof(self) -> &'static str {
        match self {
            Bound::Code => "the code is bound to a DPoP key; send a DPoP proof of it",
            Bound::RefreshToken => {
                "the refresh token is bound to a DPoP key; send a DPoP proof of it"
            }
        }
    }
}

/// The key a new token family's refresh tokens are bound to (§5): a public
/// client's proof key, nothing for a confidential client.
pub fn refresh_key(client: &Client, proof: Option<&Proof>) -> Option<String> {
    proof.filter(|_| client.public).map(|p| p.jkt.clone())
}

/// The grant context a new family stores: the code's, with the refresh binding.
pub fn family_context(
    grant: &GrantContext,
    client: &Client,
    proof: Option<&Proof>,
) -> crate::error::Result<String> {
    let mut family = grant.clone();
    family.dpop_jkt = refresh_key(client, proof);
    serde_json::to_string(&family).map_err(|e| crate::error::Error::Internal(e.into()))
}

/// The parameters of a pushed request once its proof is taken into account
/// (RFC 9449 §10.1): a `dpop_jkt` must name the proof's key, and without one
/// the proof's key is added, so the code is bound either way.
pub fn pushed(mut params: Params, proof: Option<&Proof>) -> Result<Params, ProtocolError> {
    let Some(proof) = proof else {
        return Ok(params);
    };
    match params.get("dpop_jkt") {
        Some(jkt) if jkt == proof.jkt => {}
        Some(_) => {
            return Err(ProtocolError::new(
                ErrorCode::InvalidDpopProof,
                "dpop_jkt does not match the key of the DPoP proof",
            ));
        }
        None => params.push("dpop_jkt", &proof.jkt),
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proof(jkt: &str) -> Proof {
        Proof {
            jkt: jkt.to_owned(),
            jti: "j".into(),
            iat: 0,
        }
    }

    #[test]
    fn a_bound_grant_needs_a_proof_of_its_own_key() {
        let key = "k".repeat(43);
        assert!(check(None, None, Bound::Code).is_ok());
        assert!(check(None, Some(&proof("x")), Bound::Code).is_ok());
        assert!(check(Some(&key), Some(&proof(&key)), Bound::Code).is_ok());
        assert_eq!(
            check(Some(&key), Some(&proof("other")), Bound::RefreshToken)
                .unwrap_err()
                .code,
            ErrorCode::InvalidGrant
        );
        assert_eq!(
            check(Some(&key), None, Bound::Code).unwrap_err().code,
            ErrorCode::InvalidDpopProof
        );
    }

    #[test]
    fn only_public_clients_bind_their_refresh_tokens() {
        let public = crate::model::test_client(true, &["http://127.0.0.1/cb"]);
        let confidential = crate::model::test_client(false, &["https://rp.example/cb"]);
        let p = proof("key");
        assert_eq!(refresh_key(&public, Some(&p)).as_deref(), Some("key"));
        assert_eq!(refresh_key(&confidential, Some(&p)), None);
        assert_eq!(refresh_key(&public, None), None);
    }

    #[test]
    fn thumbprints_are_43_base64url_characters() {
        assert!(is_jkt(&"A".repeat(43)));
        assert!(!is_jkt(&"A".repeat(42)));
        assert!(!is_jkt(&format!("{}=", "A".repeat(42))));
    }
}
