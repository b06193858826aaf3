//! The authorization request (OIDC Core §3.1.2.1), validated once and kept
//! server-side while the customer logs in.
//!
//! Validation runs in two phases, because errors may only be redirected to a
//! redirect URI that is known to belong to the client (RFC 6749 §4.1.2.1):
//! [`trusted_redirect`] checks `client_id` and `redirect_uri` (failures are
//! shown as a page), then [`parse`] checks the rest (failures are redirected
//! to the client with `error`, `state` and `iss`).

use serde::{Deserialize, Serialize};

use super::authorization_details::AuthorizationDetails;
use super::error::{ErrorCode, ProtocolError};
use super::params::{Params, REPEATED};
use super::{pkce, redirect_uri};
use crate::model::Client;

/// How the authorization response is delivered (OAuth 2.0 Multiple Response Types; Form Post Response Mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseMode {
    /// Parameters in the redirect URI's query.
    Query,
    /// An auto-submitting HTML form `POST`ed to the redirect URI.
    FormPost,
}

const fn err(code: ErrorCode, description: &'static str) -> ProtocolError {
    ProtocolError::new(code, description)
}

/// A validated authorization request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    /// The client.
    pub client_id: String,
    /// The redirect URI exactly as sent (already matched).
    pub redirect_uri: String,
    /// Delivery of the response.
    pub response_mode: ResponseMode,
    /// Requested scope values.
    pub scope: Vec<String>,
    /// Opaque client state, echoed byte for byte.
    pub state: Option<String>,
    /// Replay protection value for the ID token.
    pub nonce: Option<String>,
    /// PKCE S256 challenge.
    pub code_challenge: Option<String>,
    /// `prompt=none`.
    pub prompt_none: bool,
    /// `prompt=login` (or `max_age=0`).
    pub prompt_login: bool,
    /// `prompt=consent`.
    pub prompt_consent: bool,
    /// Maximum authentication age in seconds.
    pub max_age: Option<i64>,
    /// Prefill for the customer code (never an error).
    pub login_hint: Option<String>,
    /// Raw `id_token_hint`.
    pub id_token_hint: Option<String>,
    /// Raw `ui_locales`.
    pub ui_locales: Option<String>,
    /// Voluntary `acr_values`.
    pub acr_values: Vec<String>,
    /// Essential `acr` values from `claims.id_token.acr`.
    pub essential_acr: Option<Vec<String>>,
    /// Claims asked for in the ID token (`claims.id_token` names).
    pub id_token_claims: Vec<String>,
    /// Claims asked for at userinfo (`claims.userinfo` names).
    pub userinfo_claims: Vec<String>,
    /// The transaction to confirm (RFC 9396), validated; absent in requests
    /// stored before the column existed, hence the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_details: Option<serde_json::Value>,
    /// The DPoP key the code is to be bound to (RFC 9449 §10).
    #[serde(default)]
    pub dpop_jkt: Option<String>,
    /// The pushed request (its stored id) this one came from, used up when
    /// the flow is answered (`oidc::authorize`); set there, never parsed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed_id: Option<String>,
}

/// Checks `client_id` and `redirect_uri`; on success errors may be redirected there.
pub fn trusted_redirect(client: Option<&Client>, params: &Params) -> Option<String> {
    let client = client?;
    let requested = params.get("redirect_uri")?;
    let once = !params.is_repeated("redirect_uri") && !params.is_repeated("client_id");
    (once && redirect_uri::is_registered(client, requested)).then(|| requested.to_owned())
}

/// The response mode asked for, defaulting to `query` when absent or unknown.
///
/// A client may send `response_mode` only inside a request object (OIDC Core
/// §6.1). Kagi refuses request objects with `request_not_supported`, but that
/// error must still reach the client the way it asked, or a `form_post`
/// client never reads it. So when `response_mode` is absent outside, it is
/// read from the object's payload, unverified. That is safe: it only picks
/// how the error is delivered, and the error still goes only to the
/// `redirect_uri` checked outside the object.
pub fn response_mode(params: &Params) -> ResponseMode {
    let outside = params.get("response_mode");
    let inside = || params.get("request").and_then(request_object_response_mode);
    match outside.map(str::to_owned).or_else(inside).as_deref() {
        Some("form_post") => ResponseMode::FormPost,
        _ => ResponseMode::Query,
    }
}

/// `response_mode` from the payload of a compact JWS (RFC 7515 §7.1), if any.
fn request_object_response_mode(jwt: &str) -> Option<String> {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("response_mode")?.as_str().map(str::to_owned)
}

/// Validates everything but the client and redirect URI (checked before).
pub fn parse(
    client: &Client,
    redirect_uri: &str,
    params: &Params,
) -> Result<AuthorizationRequest, ProtocolError> {
    if params.any_repeated() {
        return Err(REPEATED);
    }
    if params.get("request").is_some() {
        return Err(err(
            ErrorCode::RequestNotSupported,
            "request objects are not supported; send plain parameters or use PAR",
        ));
    }
    if params.get("request_uri").is_some() {
        return Err(err(
            ErrorCode::RequestUriNotSupported,
            "request_uri is accepted only from this server's PAR endpoint",
        ));
    }
    match params.get("response_mode") {
        None | Some("query" | "form_post") => {}
        Some(_) => {
            return Err(err(
                ErrorCode::InvalidRequest,
                "response_mode must be query or form_post",
            ));
        }
    }
    match params.get("response_type") {
        Some("code") => {}
        None => return Err(err(ErrorCode::InvalidRequest, "response_type is required")),
        Some(_) => {
            return Err(err(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            ));
        }
    }
    let scope: Vec<String> = params
        .get("scope")
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if !scope.iter().any(|s| s == "openid") {
        return Err(err(ErrorCode::InvalidScope, "scope must contain openid"));
    }
    let code_challenge = pkce_challenge(client, params)?;
    let (prompt_none, mut prompt_login, prompt_consent) = prompts(params)?;
    let max_age = match params.get("max_age") {
        None => None,
        Some(v) => Some(v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or(err(
            ErrorCode::InvalidRequest,
            "max_age must be a non-negative integer",
        ))?),
    };
    if max_age == Some(0) {
        prompt_login = true; // OIDC Core §3.1.2.1: max_age=0 is a fresh login
    }
    let claims = claims(params)?;
    let authorization_details = params
        .get("authorization_details")
        .map(|raw| AuthorizationDetails::parse(raw, &client.authorization_details_types))
        .transpose()?
        .map(|details| details.value().clone());
    let dpop_jkt = params.get("dpop_jkt").map(str::to_owned);
    if dpop_jkt
        .as_deref()
        .is_some_and(|jkt| !super::dpop_binding::is_jkt(jkt))
    {
        return Err(err(
            ErrorCode::InvalidRequest,
            "dpop_jkt must be an RFC 7638 SHA-256 thumbprint",
        ));
    }
    Ok(AuthorizationRequest {
        client_id: client.client_id.as_str().to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        response_mode: response_mode(params),
        scope,
        state: params.get("state").map(str::to_owned),
        nonce: params.get("nonce").map(str::to_owned),
        code_challenge,
        prompt_none,
        prompt_login,
        prompt_consent,
        max_age,
        login_hint: params
            .get("login_hint")
            .map(|h| h.chars().take(64).collect()),
        id_token_hint: params.get("id_token_hint").map(str::to_owned),
        ui_locales: params.get("ui_locales").map(str::to_owned),
        acr_values: params
            .get("acr_values")
            .unwrap_or_default()
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        essential_acr: claims.essential_acr,
        id_token_claims: claims.id_token,
        userinfo_claims: claims.userinfo,
        authorization_details,
        dpop_jkt,
        pushed_id: None,
    })
}

fn pkce_challenge(client: &Client, params: &Params) -> Result<Option<String>, ProtocolError> {
    match (
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    ) {
        (None, Some(_)) => Err(err(
            ErrorCode::InvalidRequest,
            "code_challenge_method without code_challenge",
        )),
        (None, None) if client.require_pkce => Err(err(
            ErrorCode::InvalidRequest,
            "this client must use PKCE with S256",
        )),
        (None, None) => Ok(None),
        (Some(_), None | Some("plain")) => Err(err(
            ErrorCode::InvalidRequest,
            "code_challenge_method must be S256",
        )),
        (Some(c), Some("S256")) if pkce::is_valid_challenge(c) => Ok(Some(c.to_owned())),
        (Some(_), Some("S256")) => Err(err(
            ErrorCode::InvalidRequest,
            "code_challenge is not a base64url SHA-256 value",
        )),
        (Some(_), Some(_)) => Err(err(
            ErrorCode::InvalidRequest,
            "code_challenge_method must be S256",
        )),
    }
}

fn prompts(params: &Params) -> Result<(bool, bool, bool), ProtocolError> {
    let values: Vec<&str> = params
        .get("prompt")
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    let none = values.contains(&"none");
    if none && values.len() > 1 {
        return Err(err(
            ErrorCode::InvalidRequest,
            "prompt=none cannot be combined with other values",
        ));
    }
    Ok((none, values.contains(&"login"), values.contains(&"consent")))
}

#[derive(Default)]
struct Claims {
    essential_acr: Option<Vec<String>>,
    id_token: Vec<String>,
    userinfo: Vec<String>,
}

/// Parses the `claims` parameter (OIDC Core §5.5).
fn claims(params: &Params) -> Result<Claims, ProtocolError> {
    let Some(raw) = params.get("claims") else {
        return Ok(Claims::default());
    };
    let bad = err(
        ErrorCode::InvalidRequest,
        "claims is not a valid claims request object",
    );
    let value: serde_json::Value = serde_json::from_str(raw).map_err(|_| bad)?;
    let object = value.as_object().ok_or(bad)?;
    let names = |member: &str| -> Result<Vec<String>, ProtocolError> {
        match object.get(member) {
            None | Some(serde_json::Value::Null) => Ok(Vec::new()),
            Some(serde_json::Value::Object(m)) => Ok(m.keys().cloned().collect()),
            Some(_) => Err(bad),
        }
    };
    // An essential `acr` may be asked for the ID token or for userinfo
    // (OIDC Core §5.5.1.1); when both are, a value must satisfy both.
    let id_token_acr = essential_acr(object.get("id_token"));
    let userinfo_acr = essential_acr(object.get("userinfo"));
    let essential_acr = match (id_token_acr, userinfo_acr) {
        (Some(a), Some(b)) => {
            let both: Vec<String> = a.iter().filter(|v| b.contains(v)).cloned().collect();
            Some(if both.is_empty() { a } else { both })
        }
        (a, b) => a.or(b),
    };
    Ok(Claims {
        essential_acr,
        id_token: names("id_token")?,
        userinfo: names("userinfo")?,
    })
}

/// The values of an essential `acr` request in one member of `claims`.
fn essential_acr(member: Option<&serde_json::Value>) -> Option<Vec<String>> {
    let spec = member?.get("acr")?;
    if spec.get("essential").and_then(serde_json::Value::as_bool) != Some(true) {
        return None;
    }
    let mut values: Vec<String> = spec
        .get("values")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if let Some(one) = spec.get("value").and_then(|v| v.as_str()) {
        values.push(one.to_owned());
    }
    (!values.is_empty()).then_some(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(public: bool) -> Client {
        crate::model::test_client(public, &["https://rp.example.com/cb"])
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn params(list: &[(&str, &str)]) -> Params {
        Params::from(pairs(list))
    }

    const BASE: &[(&str, &str)] = &[
        ("client_id", "c"),
        ("redirect_uri", "https://rp.example.com/cb"),
        ("response_type", "code"),
        ("scope", "openid"),
    ];

    fn with(extra: &[(&str, &str)]) -> Params {
        let mut all = pairs(BASE);
        for (k, v) in extra {
            all.retain(|(key, _)| key != k);
            all.push(((*k).to_owned(), (*v).to_owned()));
        }
        Params::from(all)
    }

    /// An unsigned request object (`alg: none`) carrying `claims`.
    fn request_object(claims: &str) -> String {
        use base64::Engine as _;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64(claims))
    }

    #[test]
    fn response_mode_only_inside_a_request_object_still_delivers_its_error_by_form_post() {
        let object = request_object(r#"{"response_mode":"form_post","state":"s"}"#);
        let p = with(&[("request", &object)]);
        assert_eq!(response_mode(&p), ResponseMode::FormPost);
        assert_eq!(
            parse(&client(false), "https://rp.example.com/cb", &p).map(|_| ()),
            Err(err(
                ErrorCode::RequestNotSupported,
                "request objects are not supported; send plain parameters or use PAR"
            ))
        );
    }

    #[test]
    fn response_mode_outside_the_request_object_wins_and_garbage_inside_means_query() {
        let object = request_object(r#"{"response_mode":"form_post"}"#);
        assert_eq!(
            response_mode(&with(&[("request", &object), ("response_mode", "query")])),
            ResponseMode::Query
        );
        for garbage in [
            "not-a-jwt",
            "a.%%%.b",
            &request_object("[1]"),
            &request_object(r#"{"response_mode":7}"#),
        ] {
            assert_eq!(
                response_mode(&with(&[("request", garbage)])),
                ResponseMode::Query,
                "{garbage}"
            );
        }
    }

    #[test]
    fn bad_requests_get_the_error_codes_the_specs_name() {
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        let table: &[(&[(&str, &str)], &str)] = &[
            (&[("response_type", "token")], "unsupported_response_type"),
            (
                &[("response_type", "id_token token")],
                "unsupported_response_type",
            ),
            (&[("scope", "profile")], "invalid_scope"),
            (&[("prompt", "none login")], "invalid_request"),
            (&[("max_age", "-1")], "invalid_request"),
            (
                &[
                    ("code_challenge", challenge),
                    ("code_challenge_method", "plain"),
                ],
                "invalid_request",
            ),
            (&[("code_challenge", challenge)], "invalid_request"),
            (&[("code_challenge_method", "S256")], "invalid_request"),
            (
                &[("request", "eyJhbGciOiJub25lIn0.e30.")],
                "request_not_supported",
            ),
            (
                &[("request_uri", "https://rp.example.com/req")],
                "request_uri_not_supported",
            ),
            (&[("claims", "{not json")], "invalid_request"),
            (&[("response_mode", "fragment")], "invalid_request"),
        ];
        for (extra, expected) in table {
            let got = parse(&client(false), "https://rp.example.com/cb", &with(extra)).unwrap_err();
            assert_eq!(got.code.as_str(), *expected, "{extra:?}");
            assert!(got.description.is_ascii() && !got.description.contains(['"', '\\']));
        }
        let missing = params(BASE).without(&["response_type"]);
        assert_eq!(
            parse(&client(false), "https://rp.example.com/cb", &missing)
                .unwrap_err()
                .code
                .as_str(),
            "invalid_request"
        );
        let mut twice = params(BASE);
        twice.push("scope", "openid");
        assert_eq!(
            parse(&client(false), "https://rp.example.com/cb", &twice)
                .unwrap_err()
                .code
                .as_str(),
            "invalid_request"
        );
    }

    #[test]
    fn public_clients_must_send_an_s256_challenge() {
        assert_eq!(
            parse(&client(true), "https://rp.example.com/cb", &params(BASE))
                .unwrap_err()
                .code
                .as_str(),
            "invalid_request"
        );
        let ok = with(&[
            (
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            ),
            ("code_challenge_method", "S256"),
        ]);
        assert!(parse(&client(true), "https://rp.example.com/cb", &ok).is_ok());
    }

    #[test]
    fn an_essential_acr_is_read_from_the_claims_parameter() {
        let claims = r#"{"id_token":{"acr":{"essential":true,"values":["phr"]},"email":null},"userinfo":{"name":{"essential":true}}}"#;
        let req = parse(
            &client(false),
            "https://rp.example.com/cb",
            &with(&[("claims", claims)]),
        )
        .unwrap();
        assert_eq!(req.essential_acr, Some(vec!["phr".to_owned()]));
        assert!(req.id_token_claims.contains(&"email".to_owned()));
        assert_eq!(req.userinfo_claims, vec!["name".to_owned()]);
        let voluntary = parse(
            &client(false),
            "https://rp.example.com/cb",
            &with(&[("acr_values", "phr urn:kagi:acr:mfa")]),
        )
        .unwrap();
        assert_eq!(voluntary.essential_acr, None);
        assert_eq!(
            voluntary.acr_values,
            vec!["phr".to_owned(), "urn:kagi:acr:mfa".to_owned()]
        );
    }

    #[test]
    fn max_age_zero_means_a_fresh_login_and_state_is_kept_verbatim() {
        let state = "a".repeat(1000) + "-._~";
        let req = parse(
            &client(false),
            "https://rp.example.com/cb",
            &with(&[("max_age", "0"), ("state", &state), ("extra", "ignored")]),
        )
        .unwrap();
        assert!(req.prompt_login);
        assert_eq!(req.state.as_deref(), Some(state.as_str()));
    }
}
