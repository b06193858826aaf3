//! Newtypes that are valid by construction: raw strings stop at the edge
//! (CLI arguments, HTTP extractors) and everything past it takes these.

use std::fmt;

use serde::Serialize;
use url::Url;

use crate::error::{Error, Result};

/// A broker customer code: 4 to 32 ASCII letters, digits or hyphens, letters kept in capitals
/// so that `ab12` and `AB12` name the same customer.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct CustomerCode(String);

impl CustomerCode {
    /// Parses user input, trimming surrounding white space.
    pub fn parse(raw: &str) -> Result<Self> {
        let code = raw.trim();
        let ok = (4..=32).contains(&code.len())
            && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !ok {
            return Err(Error::Invalid(
                "a customer code is 4 to 32 letters, digits or hyphens".into(),
            ));
        }
        Ok(Self(code.to_ascii_uppercase()))
    }

    /// The normalised code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CustomerCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An email address, checked for shape only (delivery proves the rest).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Email(String);

impl Email {
    /// Parses an address: one `@`, a non-empty local part, a dotted domain, no spaces, at most 254 bytes.
    pub fn parse(raw: &str) -> Result<Self> {
        let raw = raw.trim();
        let invalid = || Error::Invalid(format!("`{raw}` is not an email address"));
        let (local, domain) = raw.split_once('@').ok_or_else(invalid)?;
        let shape_ok = !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
            && raw.len() <= 254
            && !raw
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>');
        if !shape_ok {
            return Err(invalid());
        }
        Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address as shown on pages to choose where a code goes: the first
    /// four characters of the local part and stars (`abcd*****`), so a
    /// shoulder-surfer or a session thief learns little.
    pub fn masked(&self) -> String {
        let local = self.0.split('@').next().unwrap_or_default();
        let shown: String = local.chars().take(4).collect();
        format!("{shown}*****")
    }
}

/// An OAuth client identifier: 1 to 128 visible ASCII characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct ClientId(String);

impl ClientId {
    /// Parses a client id.
    pub fn parse(raw: &str) -> Result<Self> {
        let ok = (1..=128).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic());
        if !ok {
            return Err(Error::Invalid(
                "a client id is 1 to 128 visible ASCII characters".into(),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What kind of place a redirect URI sends the browser to (RFC 8252 §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedirectKind {
    /// `https://…`: web apps and claimed https links of native apps.
    Https,
    /// `http://127.0.0.1`, `http://[::1]` or `http://localhost`, any port: native apps and development.
    Loopback,
    /// A private-use scheme such as `com.example.app:/callback` (native apps only).
    PrivateUse,
}

/// A registered redirect URI: absolute, without fragment, of a known [`RedirectKind`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RedirectUri(String);

impl RedirectUri {
    /// Parses a redirect URI for a client; `public` clients may also use private-use schemes.
    pub fn parse(raw: &str, public: bool) -> Result<Self> {
        let invalid = |why: &str| Error::Invalid(format!("redirect URI `{raw}`: {why}"));
        // The WHATWG parser would drop or rewrite these, so the registered
        // string would not be the URI it stands for; matching is by string.
        if !raw.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') {
            return Err(invalid(
                "must be printable ASCII without spaces or backslashes (percent-encode the rest)",
            ));
        }
        let url = Url::parse(raw).map_err(|e| invalid(&e.to_string()))?;
        if url.fragment().is_some() {
            return Err(invalid("must not have a fragment (RFC 6749 §3.1.2)"));
        }
        match Self::kind_of(&url) {
            Some(RedirectKind::PrivateUse) if !public => Err(invalid(
                "private-use schemes are for public (native) clients only",
            )),
            Some(_) => Ok(Self(raw.to_owned())),
            None => Err(invalid(
                "must be https, http on a loopback host, or a reverse-DNS private-use scheme",
            )),
        }
    }

    /// The kind of a parsed URL, or `None` when no client may use it.
    pub fn kind_of(url: &Url) -> Option<RedirectKind> {
        match url.scheme() {
            "https" if url.host().is_some() => Some(RedirectKind::Https),
            "http" if is_loopback_host(url) => Some(RedirectKind::Loopback),
            // RFC 8252 §7.1: a reverse domain name the app controls, so it contains a dot.
            s if s.contains('.') && url.host().is_none() => Some(RedirectKind::PrivateUse),
            _ => None,
        }
    }

    /// The URI exactly as registered.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

/// A registered client for unit tests: `public` decides the auth method and PKCE.
#[cfg(test)]
pub(crate) fn test_client(public: bool, redirect_uris: &[&str]) -> Client {
    Client {
        client_id: ClientId("c".into()),
        name: "c".into(),
        secret_hash: None,
        public,
        auth_method: if public {
            AuthMethod::None
        } else {
            AuthMethod::ClientSecretBasic
        },
        redirect_uris: redirect_uris
            .iter()
            .map(|u| RedirectUri((*u).to_owned()))
            .collect(),
        post_logout_redirect_uris: vec![],
        backchannel_logout_uri: None,
        require_acr: None,
        require_acr_from: None,
        require_pkce: public,
        id_token_alg: SigningAlg::Rs256,
        jwks: None,
        jwks_uri: None,
        first_party: true,
        require_par: false,
        authorization_details_types: vec![],
        require_dpop: false,
        profile: Profile::Oidc,
        created_at: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_codes_are_normalised_to_capitals() {
        assert_eq!(CustomerCode::parse(" ab12-x ").unwrap().as_str(), "AB12-X");
        for bad in [
            "",
            "abc",
            "has space",
            "ｆｕｌｌ",
            &"x".repeat(33),
            "semi;colon",
        ] {
            assert!(CustomerCode::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn emails_are_masked_to_four_characters_and_stars() {
        let email = Email::parse("abcdefg@Example.COM").unwrap();
        assert_eq!(email.as_str(), "abcdefg@example.com");
        assert_eq!(email.masked(), "abcd*****");
        assert_eq!(Email::parse("ab@x.jp").unwrap().masked(), "ab*****");
        for bad in [
            "", "no-at", "a@b", "@x.jp", "a b@x.jp", "a@.x", "a@x.", "<a@x.jp>",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn redirect_uris_follow_rfc_8252_by_client_type() {
        let table: &[(&str, bool, bool)] = &[
            ("https://rp.example.com/cb", false, true),
            ("http://127.0.0.1:4000/cb", false, true),
            ("http://[::1]/cb", true, true),
            ("http://localhost:3000/cb", false, true),
            ("com.example.app:/oauth", true, true),
            ("com.example.app:/oauth", false, false),
            ("http://rp.example.com/cb", false, false),
            ("https://rp.example.com/cb#frag", false, false),
            ("javascript:alert(1)", true, false),
            ("myapp:/cb", true, false),
            ("not a url", true, false),
            ("https://rp.example.com/c\tb", false, false),
            ("https://rp.example.com/cb\n", false, false),
            ("https://rp.example.com\\cb", false, false),
            ("https://rp.example.com/ cb", false, false),
            ("https://rp.example.com/\u{FF0F}cb", false, false),
        ];
        for (uri, public, ok) in table {
            assert_eq!(
                RedirectUri::parse(uri, *public).is_ok(),
                *ok,
                "{uri} public={public}"
            );
        }
    }
}

/// A JWS algorithm Kagi signs with; each signing key serves exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (the OIDC default).
    Rs256,
    /// RSASSA-PSS with SHA-256.
    Ps256,
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// Ed25519.
    EdDsa,
}

impl SigningAlg {
    /// Every algorithm, in the order keys are generated and listed.
    pub const ALL: [SigningAlg; 4] = [
        SigningAlg::Rs256,
        SigningAlg::Es256,
        SigningAlg::Ps256,
        SigningAlg::EdDsa,
    ];

    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::Rs256 => "RS256",
            SigningAlg::Ps256 => "PS256",
            SigningAlg::Es256 => "ES256",
            SigningAlg::EdDsa => "EdDSA",
        }
    }

    /// Parses a JOSE name.
    pub fn parse(raw: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == raw)
            .ok_or_else(|| {
                Error::Invalid(format!("`{raw}` is not one of RS256, ES256, PS256, EdDSA"))
            })
    }
}

/// How a client authenticates at the token endpoint (OIDC Core §9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    /// HTTP Basic with client id and secret.
    ClientSecretBasic,
    /// Client id and secret in the form body.
    ClientSecretPost,
    /// A JWT signed with the client's private key (RFC 7523).
    PrivateKeyJwt,
    /// No authentication: public clients, which must use PKCE.
    None,
}

impl AuthMethod {
    /// The registered name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
            AuthMethod::None => "none",
        }
    }

    /// Parses a registered name.
    pub fn parse(raw: &str) -> Result<Self> {
        [Self::ClientSecretBasic, Self::ClientSecretPost, Self::PrivateKeyJwt, Self::None]
            .into_iter()
            .find(|m| m.as_str() == raw)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "`{raw}` is not one of client_secret_basic, client_secret_post, private_key_jwt, none"
                ))
            })
    }
}

/// The security profile a client is held to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Profile {
    /// An ordinary OpenID Connect client: the rules of `docs/protocol.md`.
    #[default]
    Oidc,
    /// The FAPI 2.0 Security Profile on top of them (`oidc::fapi`).
    Fapi2,
}

impl Profile {
    /// The name stored and given to `--profile`; `None` for the ordinary profile.
    pub fn as_str(self) -> Option<&'static str> {
        match self {
            Profile::Oidc => None,
            Profile::Fapi2 => Some("fapi2"),
        }
    }

    /// Parses a stored or given name; `None` (no profile) is the ordinary one.
    pub fn parse(raw: Option<&str>) -> Result<Self> {
        match raw {
            None => Ok(Profile::Oidc),
            Some("fapi2") => Ok(Profile::Fapi2),
            Some(other) => Err(Error::Invalid(format!(
                "`{other}` is not a profile Kagi knows (fapi2)"
            ))),
        }
    }
}

/// A registered customer, as stored.
#[derive(Clone, Debug)]
pub struct Customer {
    /// Stable subject identifier (a UUID); the OIDC `sub`.
    pub id: String,
    /// The broker's customer code.
    pub customer_code: CustomerCode,
    /// Display name.
    pub name: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// WebAuthn user handle (16 random bytes, base64url).
    pub webauthn_user_id: String,
    /// Registered addresses, in order (at most three).
    pub emails: Vec<Email>,
    /// Whether an authenticator app is enrolled.
    pub totp_enrolled: bool,
    /// Consecutive wrong passwords.
    pub failed_logins: i64,
    /// End of the current lock, if any.
    pub locked_until: Option<i64>,
    /// Creation time.
    pub created_at: i64,
}

/// A registered relying party, as stored.
#[derive(Clone, Debug)]
pub struct Client {
    /// Client identifier.
    pub client_id: ClientId,
    /// Display name shown on consent and logout pages.
    pub name: String,
    /// SHA-256 of the client secret (see `crypto::random::hash_secret`); `None` for public clients.
    pub secret_hash: Option<String>,
    /// Public (native) client: no secret, PKCE required.
    pub public: bool,
    /// Token endpoint authentication method.
    pub auth_method: AuthMethod,
    /// Registered redirect URIs, matched exactly (loopback: any port).
    pub redirect_uris: Vec<RedirectUri>,
    /// Where RP-initiated logout may return to.
    pub post_logout_redirect_uris: Vec<String>,
    /// Back-channel logout endpoint.
    pub backchannel_logout_uri: Option<String>,
    /// `acr` this client requires, if any.
    pub require_acr: Option<String>,
    /// Unix time from which `require_acr` applies.
    pub require_acr_from: Option<i64>,
    /// Whether PKCE is required (always for public clients).
    pub require_pkce: bool,
    /// ID token signing algorithm.
    pub id_token_alg: SigningAlg,
    /// JWK set (JSON) for `private_key_jwt`.
    pub jwks: Option<String>,
    /// URL of the client's JWK set for `private_key_jwt`.
    pub jwks_uri: Option<String>,
    /// The broker's own client: no consent page.
    pub first_party: bool,
    /// Only pushed authorization requests are accepted (RFC 9126 §5).
    pub require_par: bool,
    /// The `authorization_details` types it may send (RFC 9396 §2).
    pub authorization_details_types: Vec<String>,
    /// Every token request must carry a DPoP proof (RFC 9449 §5).
    pub require_dpop: bool,
    /// The security profile the client is held to.
    pub profile: Profile,
    /// Registration time.
    pub created_at: i64,
}
