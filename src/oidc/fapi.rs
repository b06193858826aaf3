//! The FAPI 2.0 Security Profile (OpenID Final, February 2025) as a
//! per-client profile: `kagi client add ... --profile fapi2`.
//!
//! Each rule below names its section of the profile and where Kagi holds
//! it. Most are flags the registration sets and the ordinary code paths
//! already obey; what only a FAPI 2.0 client is held to is checked here.
//!
//! | rule | section | held by |
//! |---|---|---|
//! | confidential clients only | §5.3.2.1 item 3 | [`registration`] refuses `--public` |
//! | sender-constrained access tokens, by DPoP | §5.3.2.1 items 4–5 | `require_dpop`, the token endpoint (`http::token`) |
//! | client authentication by `private_key_jwt` | §5.3.2.1 item 6 | [`registration`] |
//! | the issuer, as a string, is the only `aud` of a client assertion | §5.3.2.1 item 8 | [`assertion_allowed`] |
//! | assertions with `iat`/`nbf` up to 10 s ahead accepted, beyond 60 s refused | §5.3.2.1 | `oidc::client_auth` (10 s, for every client) |
//! | no refresh token rotation unless a retry with the old token works | §5.3.2.1 item 9 | [`refresh_retry_grace`] (60 s for FAPI 2.0 clients) |
//! | authorization codes live at most 60 s | §5.3.2.1 item 11 | `code_ttl_secs` (at most 60, every client) |
//! | codes bound to the DPoP key (`dpop_jkt`, RFC 9449 §10) | §5.3.2.1 item 12 | `oidc::dpop_binding` |
//! | `response_type=code` only | §5.3.2.2 item 1 | `oidc::request` (every client) |
//! | pushed authorization requests required | §5.3.2.2 items 2–3 | `require_par` |
//! | PKCE with S256 required | §5.3.2.2 item 5 | `require_pkce`, S256 only (every client) |
//! | `iss` in the authorization response (RFC 9207) | §5.3.2.2 item 6 | `oidc::authorize` (every client) |
//! | `request_uri` lives less than 600 s | §5.3.2.2 item 8 | `oidc::par::PAR_TTL_SECS` (60 s) |
//! | redirect URIs: https, matched exactly | §5.3.2.2, RFC 9700 §4.1.3 | [`registration`]; `oidc::redirect_uri` |
//! | signing algorithms PS256, ES256 or EdDSA only | §5.4.1 | [`registration`] (ID tokens), [`assertion_allowed`] (assertions), `oidc::dpop::ALGS` (proofs) |

use jsonwebtoken::Algorithm;
use serde_json::Value;

use crate::model::{AuthMethod, Client, Profile, RedirectKind, RedirectUri, SigningAlg};

/// The signing algorithms FAPI 2.0 permits (§5.4.1), of those Kagi has.
pub const ALGS: [SigningAlg; 3] = [SigningAlg::Ps256, SigningAlg::Es256, SigningAlg::EdDsa];

/// The ID token algorithm of a FAPI 2.0 client registered without `--id-token-alg`.
pub const DEFAULT_ID_TOKEN_ALG: SigningAlg = SigningAlg::Es256;

/// The retry grace of a FAPI 2.0 client's refresh tokens: a rotated token
/// presented again within this long, while its successor is unused, still
/// works (§5.3.2.1 item 9 allows rotation only when such a retry succeeds;
/// the conformance suite retries 30 s later, so 30 s exactly would be a race).
pub const REFRESH_RETRY_GRACE_SECS: i64 = 60;

/// How long a rotated refresh token of `client` may be retried, given the
/// grace of an ordinary client.
pub fn refresh_retry_grace(client: &Client, ordinary: i64) -> i64 {
    match client.profile {
        Profile::Fapi2 => REFRESH_RETRY_GRACE_SECS.max(ordinary),
        Profile::Oidc => ordinary,
    }
}

/// What makes a client unfit for its profile, if anything.
pub fn registration(client: &Client) -> Result<(), &'static str> {
    if client.profile != Profile::Fapi2 {
        return Ok(());
    }
    if client.public {
        return Err("FAPI 2.0 allows confidential clients only (section 5.3.2.1)");
    }
    if client.auth_method != AuthMethod::PrivateKeyJwt {
        return Err("a FAPI 2.0 client authenticates with private_key_jwt (section 5.3.2.1)");
    }
    if !ALGS.contains(&client.id_token_alg) {
        return Err("a FAPI 2.0 client signs with PS256, ES256 or EdDSA (section 5.4.1)");
    }
    if !client.redirect_uris.iter().all(|u| {
        url::Url::parse(u.as_str())
            .is_ok_and(|url| RedirectUri::kind_of(&url) == Some(RedirectKind::Https))
    }) {
        return Err("a FAPI 2.0 client's redirect URIs must be https");
    }
    if !(client.require_par && client.require_pkce && client.require_dpop) {
        return Err("a FAPI 2.0 client requires PAR, PKCE and DPoP");
    }
    Ok(())
}

/// Whether a client assertion's `alg` and `aud` are allowed for `client`:
/// anything `oidc::client_auth` accepts for an ordinary client; for a
/// FAPI 2.0 client only PS256, ES256 or `EdDSA` (§5.4.1), and `aud` the
/// issuer as a single string (§5.3.2.1 item 8), not an array and not an
/// endpoint URL.
pub fn assertion_allowed(client: &Client, alg: Algorithm, aud: &Value, issuer: &str) -> bool {
    if client.profile != Profile::Fapi2 {
        return true;
    }
    ALGS.iter().any(|a| a.jws() == alg) && aud.as_str() == Some(issuer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_client;
    use serde_json::json;

    fn fapi_client() -> Client {
        let mut client = test_client(false, &["https://rp.example/cb"]);
        client.profile = Profile::Fapi2;
        client.auth_method = AuthMethod::PrivateKeyJwt;
        client.id_token_alg = SigningAlg::Es256;
        client.require_par = true;
        client.require_pkce = true;
        client.require_dpop = true;
        client
    }

    #[test]
    fn a_fapi2_client_is_confidential_with_private_key_jwt_strong_algs_and_https() {
        assert_eq!(registration(&fapi_client()), Ok(()));
        let mut public = fapi_client();
        public.public = true;
        assert!(registration(&public).is_err());
        let mut secret = fapi_client();
        secret.auth_method = AuthMethod::ClientSecretBasic;
        assert!(registration(&secret).is_err());
        let mut rs256 = fapi_client();
        rs256.id_token_alg = SigningAlg::Rs256;
        assert!(registration(&rs256).is_err());
        let mut loopback = test_client(false, &["http://127.0.0.1/cb"]);
        loopback.profile = Profile::Fapi2;
        loopback.auth_method = AuthMethod::PrivateKeyJwt;
        loopback.id_token_alg = SigningAlg::Es256;
        assert!(registration(&loopback).is_err());
        let mut no_dpop = fapi_client();
        no_dpop.require_dpop = false;
        assert!(registration(&no_dpop).is_err());
        assert_eq!(
            registration(&test_client(true, &["http://127.0.0.1/cb"])),
            Ok(())
        );
    }

    #[test]
    fn a_fapi2_assertion_names_the_issuer_alone_and_is_not_rs256() {
        let issuer = "https://id.example";
        let fapi = fapi_client();
        assert!(assertion_allowed(
            &fapi,
            Algorithm::ES256,
            &json!(issuer),
            issuer
        ));
        assert!(assertion_allowed(
            &fapi,
            Algorithm::PS256,
            &json!(issuer),
            issuer
        ));
        assert!(!assertion_allowed(
            &fapi,
            Algorithm::RS256,
            &json!(issuer),
            issuer
        ));
        assert!(!assertion_allowed(
            &fapi,
            Algorithm::ES256,
            &json!([issuer]),
            issuer
        ));
        assert!(!assertion_allowed(
            &fapi,
            Algorithm::ES256,
            &json!("https://id.example/token"),
            issuer
        ));
        let ordinary = test_client(false, &["https://rp.example/cb"]);
        assert!(assertion_allowed(
            &ordinary,
            Algorithm::RS256,
            &json!([issuer]),
            issuer
        ));
    }

    #[test]
    fn the_lifetimes_fapi2_bounds_hold_for_every_client() {
        const { assert!(super::super::par::PAR_TTL_SECS < 600) };
        let fapi = fapi_client();
        assert!(
            refresh_retry_grace(&fapi, 30) > 30,
            "the suite retries 30 s later"
        );
        assert_eq!(refresh_retry_grace(&test_client(false, &[]), 30), 30);
    }
}
