//! `--profile fapi2`: the FAPI 2.0 Security Profile per client (`oidc::fapi`),
//! run with the `openidconnect` crate, and every rule's refusal.

use openidconnect::core::{CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, IssuerUrl, Nonce, OAuth2TokenResponse as _, PkceCodeVerifier,
    RedirectUrl, TokenResponse as _,
};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::customer::logged_in;
use crate::helpers::dpop::DpopKey;
use crate::helpers::rp::{jwt_claims, location_param, pkce_pair};
use crate::helpers::{Backend, TestApp};
use kagi::model::SigningAlg;

both_backends!(
    client_add_with_profile_fapi2_refuses_what_the_profile_forbids,
    the_openidconnect_crate_completes_a_fapi2_flow_with_par_pkce_private_key_jwt_and_dpop,
    a_fapi2_client_is_refused_everything_the_profile_forbids_with_the_right_error,
    a_request_uri_opened_again_before_login_still_completes_once_even_after_it_expires
);

const CALLBACK: &str = "https://rp.example.com/cb";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A client's signing key for `private_key_jwt`.
struct ClientKey {
    alg: SigningAlg,
    kid: String,
    encoding: jsonwebtoken::EncodingKey,
    jwk: Value,
}

impl ClientKey {
    fn new(alg: SigningAlg, kid: &str) -> Self {
        let pem = kagi::crypto::keys::generate_pem(alg).unwrap();
        let material = kagi::crypto::keys::from_pem(alg, &pem).unwrap();
        let mut jwk = serde_json::to_value(&material.jwk).unwrap();
        jwk["kid"] = json!(kid);
        jwk.as_object_mut().unwrap().remove("alg");
        Self {
            alg,
            kid: kid.to_owned(),
            encoding: material.encoding,
            jwk,
        }
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = jsonwebtoken::Header::new(self.alg.jws());
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

/// The FAPI 2.0 form of an assertion: `aud` the issuer as a string.
fn assertion_claims(app: &TestApp, client_id: &str) -> Value {
    let now = app.clock.now();
    json!({
        "iss": client_id, "sub": client_id, "aud": app.base,
        "jti": uuid::Uuid::new_v4().to_string(), "iat": now, "nbf": now, "exp": now + 60,
    })
}

/// Registers a FAPI 2.0 client with an ES256 key and an RSA key.
fn register(app: &TestApp, client_id: &str) -> (ClientKey, ClientKey) {
    let ec = ClientKey::new(SigningAlg::Es256, "ec");
    let rsa = ClientKey::new(SigningAlg::Rs256, "rsa");
    let jwks = json!({ "keys": [ec.jwk, rsa.jwk] }).to_string();
    let out = app.cli(
        &[
            "--json",
            "client",
            "add",
            "--client-id",
            client_id,
            "--name",
            "Broker partner",
            "--redirect-uri",
            CALLBACK,
            "--profile",
            "fapi2",
            "--jwks",
            &jwks,
        ],
        None,
    );
    assert!(out.success, "{out:?}");
    assert_eq!(out.json()["client_secret"], Value::Null);
    (ec, rsa)
}

/// `POST path` with a client assertion (and `DPoP` headers): status and JSON.
async fn post(
    app: &TestApp,
    path: &str,
    assertion: &str,
    form: &[(&str, &str)],
    proofs: &[&str],
) -> (u16, Value) {
    let mut fields = form.to_vec();
    fields.extend([
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion),
    ]);
    let mut request = reqwest::Client::new().post(app.url(path)).form(&fields);
    for proof in proofs {
        request = request.header("DPoP", *proof);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Pushes a request for `client_id` (PKCE S256, `extra` added): (status, JSON, verifier).
async fn push(
    app: &TestApp,
    key: &ClientKey,
    client_id: &str,
    extra: &[(&str, &str)],
) -> (u16, Value, String) {
    let (verifier, challenge) = pkce_pair();
    let mut form = vec![
        ("response_type", "code"),
        ("scope", "openid"),
        ("redirect_uri", CALLBACK),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("nonce", "n-0S6_WzA2Mj"),
        ("state", "af0ifjsldkj"),
    ];
    for (k, v) in extra {
        form.retain(|(name, _)| name != k);
        form.push((k, v));
    }
    form.retain(|(_, v)| !v.is_empty());
    let assertion = key.sign(&assertion_claims(app, client_id));
    let (status, json) = post(app, "/par", &assertion, &form, &[]).await;
    (status, json, verifier)
}

/// The authorization code for a pushed request.
async fn code_of(app: &TestApp, client_id: &str, request_uri: &str) -> Option<String> {
    let encoded: String = url::form_urlencoded::byte_serialize(request_uri.as_bytes()).collect();
    let page = app
        .page(&format!(
            "/authorize?client_id={client_id}&request_uri={encoded}"
        ))
        .await;
    page.location.as_ref()?;
    location_param(&page, "code")
}

async fn client_add_with_profile_fapi2_refuses_what_the_profile_forbids(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let key = ClientKey::new(SigningAlg::Es256, "k");
    let jwks = json!({ "keys": [key.jwk] }).to_string();
    let base = [
        "--json",
        "client",
        "add",
        "--name",
        "N",
        "--profile",
        "fapi2",
    ];
    let add = |id: &str, extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend(["--client-id", id]);
        args.extend_from_slice(extra);
        app.cli(&args, None)
    };
    for (why, extra) in [
        ("public", vec!["--redirect-uri", CALLBACK, "--public"]),
        (
            "a secret",
            vec![
                "--redirect-uri",
                CALLBACK,
                "--auth-method",
                "client_secret_basic",
            ],
        ),
        (
            "RS256",
            vec![
                "--redirect-uri",
                CALLBACK,
                "--jwks",
                &jwks,
                "--id-token-alg",
                "RS256",
            ],
        ),
        (
            "loopback",
            vec!["--redirect-uri", "http://127.0.0.1/cb", "--jwks", &jwks],
        ),
        ("no keys", vec!["--redirect-uri", CALLBACK]),
    ] {
        let out = add("refused", &extra);
        assert!(!out.success, "{why}: {out:?}");
        assert!(out.json()["error"].is_string(), "{why}");
    }
    let bad = add(
        "bad",
        &[
            "--redirect-uri",
            CALLBACK,
            "--jwks",
            &jwks,
            "--profile",
            "fapi3",
        ],
    );
    assert!(!bad.success);
    let out = add("fapi", &["--redirect-uri", CALLBACK, "--jwks", &jwks]);
    assert!(out.success, "{out:?}");
    let client = app.state.store.find_client("fapi").await.unwrap().unwrap();
    assert!(client.require_par && client.require_pkce && client.require_dpop);
    assert_eq!(client.id_token_alg, SigningAlg::Es256);
    assert_eq!(client.profile, kagi::model::Profile::Fapi2);
}

async fn the_openidconnect_crate_completes_a_fapi2_flow_with_par_pkce_private_key_jwt_and_dpop(
    backend: Backend,
) {
    let (app, customer) = logged_in(backend).await;
    let (key, _) = register(&app, "partner");
    let dpop = DpopKey::new();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .resolve("localhost", app.addr)
        .build()
        .unwrap();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.base.clone()).unwrap(), &http)
            .await
            .unwrap();
    let client =
        CoreClient::from_provider_metadata(metadata, ClientId::new("partner".into()), None)
            .set_redirect_uri(RedirectUrl::new(CALLBACK.to_owned()).unwrap());

    // PAR with a DPoP proof (RFC 9449 §10.1), then the front channel with client_id and request_uri.
    let (verifier, challenge) = pkce_pair();
    let par_proof = dpop.proof("POST", &app.url("/par"), app.clock.now(), None);
    let form = [
        ("response_type", "code"),
        ("scope", "openid"),
        ("redirect_uri", CALLBACK),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("nonce", "fapi-nonce"),
        ("state", "fapi-state"),
    ];
    let assertion = key.sign(&assertion_claims(&app, "partner"));
    let (status, pushed) = post(&app, "/par", &assertion, &form, &[&par_proof]).await;
    assert_eq!(status, 201, "{pushed}");
    assert!(
        pushed["expires_in"].as_i64().unwrap() < 600,
        "FAPI 2.0 §5.3.2.2"
    );
    let code = code_of(&app, "partner", pushed["request_uri"].as_str().unwrap())
        .await
        .expect("a code");

    // The token request through the crate, with the assertion and a DPoP proof added.
    let token_url = app.url("/token");
    let proof = dpop.proof("POST", &token_url, app.clock.now(), None);
    let dpop_http = |request: openidconnect::HttpRequest| {
        let http = http.clone();
        let proof = proof.clone();
        async move {
            let (parts, body) = request.into_parts();
            let response = http
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .header("DPoP", proof)
                .body(body)
                .send()
                .await?;
            let mut builder = axum::http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            Ok::<_, reqwest::Error>(builder.body(response.bytes().await?.to_vec()).unwrap())
        }
    };
    let assertion = key.sign(&assertion_claims(&app, "partner"));
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(PkceCodeVerifier::new(verifier))
        .add_extra_param("client_assertion_type", JWT_BEARER)
        .add_extra_param("client_assertion", assertion)
        .request_async(&dpop_http)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    // The crate lowercases token types it does not know; RFC 9449 §5 says `DPoP`.
    assert!(tokens.token_type().as_ref().eq_ignore_ascii_case("DPoP"));
    let verifier = client
        .id_token_verifier()
        .set_allowed_algs(vec![CoreJwsSigningAlgorithm::EcdsaP256Sha256]);
    let claims = tokens
        .id_token()
        .unwrap()
        .claims(&verifier, &Nonce::new("fapi-nonce".into()))
        .unwrap();
    assert_eq!(claims.subject().as_str(), customer.sub);
    let at = tokens.access_token().secret();
    assert_eq!(jwt_claims(at)["cnf"]["jkt"], dpop.jkt());
    assert_eq!(app.userinfo_dpop(&dpop, at).await.status, 200);
    assert_eq!(app.userinfo_with("Bearer", at, &[]).await.status, 401);

    // A refresh is DPoP too, and the old refresh token may be retried (§5.3.2.1).
    let refresh = tokens.refresh_token().unwrap().secret().clone();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];
    for attempt in ["first", "retry"] {
        let assertion = key.sign(&assertion_claims(&app, "partner"));
        let proof = dpop.proof("POST", &token_url, app.clock.now(), None);
        let (status, json) = post(&app, "/token", &assertion, &form, &[&proof]).await;
        assert_eq!(
            (status, json["token_type"].as_str()),
            (200, Some("DPoP")),
            "{attempt}: {json}"
        );
    }
}

async fn a_fapi2_client_is_refused_everything_the_profile_forbids_with_the_right_error(
    backend: Backend,
) {
    let (app, _) = logged_in(backend).await;
    let (key, rsa) = register(&app, "partner");
    let dpop = DpopKey::new();

    // §5.3.2.2: PAR only.
    let (verifier, challenge) = pkce_pair();
    let page = app
        .page(&format!(
            "/authorize?client_id=partner&redirect_uri={}&response_type=code&scope=openid&state=s&code_challenge={challenge}&code_challenge_method=S256",
            url::form_urlencoded::byte_serialize(CALLBACK.as_bytes()).collect::<String>()
        ))
        .await;
    assert_eq!(
        location_param(&page, "error").as_deref(),
        Some("invalid_request")
    );
    let _ = verifier;
    // §5.3.2.2: PKCE S256, response_type code.
    for (why, extra, error) in [
        (
            "no challenge",
            vec![("code_challenge", ""), ("code_challenge_method", "")],
            "invalid_request",
        ),
        (
            "plain",
            vec![("code_challenge_method", "plain")],
            "invalid_request",
        ),
        (
            "code id_token",
            vec![("response_type", "code id_token")],
            "unsupported_response_type",
        ),
    ] {
        let (status, json, _) = push(&app, &key, "partner", &extra).await;
        assert_eq!(
            (status, json["error"].as_str()),
            (400, Some(error)),
            "{why}: {json}"
        );
    }

    // §5.3.2.1 item 8 and §5.4.1: the assertion's aud and alg.
    let mut claims = assertion_claims(&app, "partner");
    for (why, aud) in [
        ("token endpoint", json!(app.url("/token"))),
        ("PAR endpoint", json!(app.url("/par"))),
        ("array", json!([app.base])),
    ] {
        claims["aud"] = aud;
        claims["jti"] = json!(uuid::Uuid::new_v4().to_string());
        let (status, json) = post(
            &app,
            "/par",
            &key.sign(&claims),
            &[("scope", "openid")],
            &[],
        )
        .await;
        assert_eq!(
            (status, json["error"].as_str()),
            (401, Some("invalid_client")),
            "{why}"
        );
    }
    let rs256 = rsa.sign(&assertion_claims(&app, "partner"));
    let (status, json) = post(&app, "/par", &rs256, &[("scope", "openid")], &[]).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (401, Some("invalid_client")),
        "RS256"
    );

    // §5.3.2.1 items 4–5: no token without a DPoP proof; the code stays.
    let (status, pushed, verifier) = push(&app, &key, "partner", &[]).await;
    assert_eq!(status, 201);
    let code = code_of(&app, "partner", pushed["request_uri"].as_str().unwrap())
        .await
        .unwrap();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CALLBACK),
        ("code_verifier", verifier.as_str()),
    ];
    let assertion = |app: &TestApp| key.sign(&assertion_claims(app, "partner"));
    let (status, json) = post(&app, "/token", &assertion(&app), &form, &[]).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (400, Some("invalid_dpop_proof"))
    );
    let missing_verifier = &form[..3];
    let proof = app.token_proof(&dpop);
    let (status, json) = post(
        &app,
        "/token",
        &assertion(&app),
        missing_verifier,
        &[&proof],
    )
    .await;
    assert_eq!(
        (status, json["error"].as_str()),
        (400, Some("invalid_grant")),
        "PKCE"
    );

    // §5.3.2.1 item 11: a code lives at most 60 s.
    app.clock.advance(61);
    let proof = app.token_proof(&dpop);
    let (status, json) = post(&app, "/token", &assertion(&app), &form, &[&proof]).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (400, Some("invalid_grant")),
        "{json}"
    );

    // §5.3.2.2: a request_uri lives less than 600 s (here 60); then it is an error page.
    let (_, pushed, _) = push(&app, &key, "partner", &[]).await;
    app.clock.advance(61);
    assert!(
        code_of(&app, "partner", pushed["request_uri"].as_str().unwrap())
            .await
            .is_none()
    );
}

async fn a_request_uri_opened_again_before_login_still_completes_once_even_after_it_expires(
    backend: Backend,
) {
    use crate::helpers::customer::{CODE, EMAIL, PASSWORD};
    let app = TestApp::spawn(backend).await;
    app.customer().create().await;
    let (key, _) = register(&app, "partner");
    let (status, pushed, _) = push(&app, &key, "partner", &[]).await;
    assert_eq!(status, 201);
    let encoded: String =
        url::form_urlencoded::byte_serialize(pushed["request_uri"].as_str().unwrap().as_bytes())
            .collect();
    let open = format!("/authorize?client_id=partner&request_uri={encoded}");
    let first = app.page(&open).await;
    let second = app.page(&open).await;
    let return_to = |page: &crate::helpers::browser::Page| {
        let location = page
            .location
            .clone()
            .unwrap_or_else(|| panic!("{}", page.html));
        let url = url::Url::parse(&format!("http://x{location}")).unwrap();
        url.query_pairs()
            .find(|(k, _)| k == "return_to")
            .map(|(_, v)| v.into_owned())
            .unwrap()
    };
    let (first_continue, second_continue) = (return_to(&first), return_to(&second));
    assert_ne!(
        first_continue, second_continue,
        "each opening keeps its own request"
    );
    // Logging in may take longer than the request_uri's 60 s, purge included.
    app.clock.advance(90);
    app.state
        .store
        .purge_expired(app.clock.now())
        .await
        .unwrap();
    app.post(
        "/login",
        &[
            ("customer_code", CODE),
            ("password", PASSWORD),
            ("return_to", &second_continue),
        ],
    )
    .await;
    let otp = app.send_email_code(0, EMAIL).await;
    let done = app.post("/login/code", &[("code", &otp)]).await;
    let resumed = app.page(done.location.as_deref().unwrap()).await;
    assert!(
        location_param(&resumed, "code").is_some(),
        "{:?}",
        resumed.location
    );
    // The flow's answer used the pushed request up: the other opening and a
    // third one get no code.
    let stale = app.page(&first_continue).await;
    assert!(stale.location.is_none(), "{:?}", stale.location);
    let third = app.page(&open).await;
    assert_eq!((third.status, third.location), (400, None));
}
