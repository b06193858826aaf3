//! Property tests for the parsers that take raw input from the network:
//! whatever arrives, they answer without panicking, refuse what the
//! specifications refuse, and what they accept reads back as itself.

use proptest::prelude::*;

use crate::model::{ClientId, CustomerCode, Email, RedirectUri};
use crate::oidc::{pkce, request};

/// Parameter names the authorization endpoint reads, plus some it does not.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("client_id".to_owned()),
        Just("redirect_uri".to_owned()),
        Just("response_type".to_owned()),
        Just("scope".to_owned()),
        Just("state".to_owned()),
        Just("nonce".to_owned()),
        Just("prompt".to_owned()),
        Just("max_age".to_owned()),
        Just("claims".to_owned()),
        Just("acr_values".to_owned()),
        Just("code_challenge".to_owned()),
        Just("code_challenge_method".to_owned()),
        Just("response_mode".to_owned()),
        Just("ui_locales".to_owned()),
        Just("id_token_hint".to_owned()),
        Just("login_hint".to_owned()),
        Just("request".to_owned()),
        "[a-z_]{1,12}",
    ]
}

/// Values: well-formed ones, JSON fragments and arbitrary text.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("code".to_owned()),
        Just("openid".to_owned()),
        Just("openid profile".to_owned()),
        Just("none".to_owned()),
        Just("login consent".to_owned()),
        Just("S256".to_owned()),
        Just("plain".to_owned()),
        Just("0".to_owned()),
        Just("-5".to_owned()),
        Just(r#"{"id_token":{"acr":{"essential":true,"values":["phr"]}}}"#.to_owned()),
        Just(r#"{"userinfo":{"acr":{"essential":true,"value":7}}}"#.to_owned()),
        "[ -~]{0,40}",
        any::<String>(),
    ]
}

fn params() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((name(), value()), 0..12)
}

const REDIRECT: &str = "https://rp.example.com/cb";

/// The error codes the authorization endpoint may answer with (RFC 6749
/// §4.1.2.1, OIDC Core §3.1.2.6, RFC 9126).
const REGISTERED: &[&str] = &[
    "invalid_request",
    "unsupported_response_type",
    "invalid_scope",
    "request_not_supported",
    "request_uri_not_supported",
    "login_required",
    "consent_required",
    "interaction_required",
];

proptest! {
    #[test]
    fn authorization_parameters_parse_or_fail_with_a_registered_error(params in params(), public in any::<bool>()) {
        let client = crate::model::test_client(public, &[REDIRECT]);
        match request::parse(&client, REDIRECT, &params.clone().into()) {
            Ok(req) => {
                prop_assert!(req.scope.iter().any(|s| s == "openid"));
                let mut names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
                names.sort_unstable();
                prop_assert!(names.windows(2).all(|w| w[0] != w[1]), "a duplicate was accepted");
            }
            Err(e) => {
                prop_assert!(REGISTERED.contains(&e.code.as_str()), "{}", e.code);
                prop_assert!(e.description.is_ascii());
            }
        }
    }

    #[test]
    fn a_parameter_sent_twice_is_always_invalid_request(mut params in params(), extra in value()) {
        let client = crate::model::test_client(false, &[REDIRECT]);
        params.push(("scope".to_owned(), "openid".to_owned()));
        params.push(("scope".to_owned(), extra));
        let e = request::parse(&client, REDIRECT, &params.into()).unwrap_err();
        prop_assert_eq!(e.code.as_str(), "invalid_request");
    }

    #[test]
    fn identifiers_that_parse_read_back_as_themselves(raw in any::<String>()) {
        if let Ok(code) = CustomerCode::parse(&raw) {
            let again = CustomerCode::parse(code.as_str()).unwrap();
            prop_assert_eq!(again.as_str(), code.as_str());
        }
        if let Ok(email) = Email::parse(&raw) {
            let again = Email::parse(email.as_str()).unwrap();
            prop_assert_eq!(again.as_str(), email.as_str());
        }
        if let Ok(id) = ClientId::parse(&raw) {
            prop_assert_eq!(id.as_str(), raw.as_str());
        }
        for public in [false, true] {
            if let Ok(uri) = RedirectUri::parse(&raw, public) {
                prop_assert!(!uri.as_str().contains('#'), "a redirect URI never has a fragment");
                prop_assert!(!uri.as_str().chars().any(char::is_control));
            }
        }
    }

    #[test]
    fn pkce_accepts_exactly_the_verifier_that_made_the_challenge(verifier in "[A-Za-z0-9._~-]{43,128}", other in any::<String>()) {
        use base64::Engine as _;
        use sha2::Digest as _;
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
        prop_assert!(pkce::is_valid_challenge(&challenge));
        prop_assert!(pkce::verify(&challenge, &verifier));
        prop_assert!(!pkce::verify(&challenge, &other) || other == verifier);
    }

    #[test]
    fn a_form_body_is_read_only_with_the_sessions_token_and_never_twice(body in prop::collection::vec(any::<u8>(), 0..200), token in "[A-Za-z0-9]{8}") {
        #[derive(serde::Deserialize, Debug)]
        struct Form {
            #[serde(default)]
            #[expect(dead_code, reason = "read only to give the form a field")]
            code: String,
        }
        let session = crate::store::sessions::SessionRow {
            sid: "s".into(),
            customer_id: None,
            csrf_token: token.clone(),
            locale: None,
            created_at: 0,
            last_seen_at: 0,
            expires_at: 1,
        };
        // Arbitrary bytes: refused (they cannot carry this token) but never a panic.
        prop_assert!(crate::http::extract::check_form::<Form>(&session, &body).is_err());
        let right = format!("csrf={token}&code=1");
        prop_assert!(crate::http::extract::check_form::<Form>(&session, right.as_bytes()).is_ok());
        let twice = format!("csrf={token}&code=1&code=2");
        prop_assert!(crate::http::extract::check_form::<Form>(&session, twice.as_bytes()).is_err());
    }

    #[test]
    fn webauthn_json_of_any_shape_is_refused_without_a_panic(json in any::<String>(), bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = serde_json::from_str::<webauthn_rs::prelude::PublicKeyCredential>(&json);
        let _ = serde_json::from_slice::<webauthn_rs::prelude::RegisterPublicKeyCredential>(&bytes);
    }
}
