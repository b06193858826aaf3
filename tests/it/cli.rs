//! The command-line contract (`docs/product.md#interface-contract`): JSON
//! shapes, validation, exit codes.

use crate::both_backends;
use crate::helpers::{Backend, TestApp, run_cli};

both_backends!(
    user_add_prints_the_new_subject_and_stores_an_argon2id_hash,
    user_add_refuses_bad_input_with_a_clear_message_and_a_failing_exit,
    client_add_prints_a_secret_for_confidential_clients_and_none_for_public_ones,
    client_add_gives_a_private_key_jwt_client_no_secret,
    client_add_refuses_unsafe_registrations,
    operator_actions_appear_in_the_audit_trail
);

const PASSWORD: &str = "correct horse battery\n";

fn add_user(
    app: &TestApp,
    code: &str,
    emails: &[&str],
    password: &str,
) -> crate::helpers::CliOutput {
    let mut args = vec![
        "--json",
        "user",
        "add",
        "--customer-code",
        code,
        "--name",
        "山田 太郎",
    ];
    for e in emails {
        args.extend(["--email", e]);
    }
    args.push("--password-stdin");
    app.cli(&args, Some(password))
}

async fn user_add_prints_the_new_subject_and_stores_an_argon2id_hash(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let out = add_user(
        &app,
        "c0001234",
        &["taro@example.jp", "taro.work@example.com"],
        PASSWORD,
    );
    assert!(out.success, "{out:?}");
    let json = out.json();
    let sub = json["sub"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(sub).is_ok(), "{json}");
    let code = kagi::model::CustomerCode::parse("C0001234").unwrap();
    let customer = app
        .state
        .store
        .find_customer_by_code(&code)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(customer.id, sub);
    assert!(
        customer
            .password_hash
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$")
    );
    assert!(kagi::crypto::password::verify(
        &"correct horse battery".to_owned().into(),
        &customer.password_hash
    ));
    let emails: Vec<&str> = customer.emails.iter().map(|e| e.as_str()).collect();
    assert_eq!(emails, ["taro@example.jp", "taro.work@example.com"]);
    assert_eq!(
        customer.webauthn_user_id.len(),
        22,
        "16 random bytes, base64url"
    );
    assert!(!customer.webauthn_user_id.contains("C0001234"));
}

async fn user_add_refuses_bad_input_with_a_clear_message_and_a_failing_exit(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert!(add_user(&app, "DUP1", &["a@example.jp"], PASSWORD).success);
    let cases: &[(&str, &[&str], &str, &str)] = &[
        ("DUP1", &["b@example.jp"], PASSWORD, "already registered"),
        ("no spaces", &["a@example.jp"], PASSWORD, "customer code"),
        (
            "OK22",
            &["not-an-address"],
            PASSWORD,
            "not an email address",
        ),
        (
            "OK23",
            &["a@x.jp", "b@x.jp", "c@x.jp", "d@x.jp"],
            PASSWORD,
            "at most three",
        ),
        ("OK24", &["a@example.jp"], "short\n", "at least 8"),
    ];
    for (code, emails, password, message) in cases {
        let out = add_user(&app, code, emails, password);
        assert!(!out.success, "{code} was accepted: {out:?}");
        assert!(
            out.stderr.contains(message),
            "{code}: stderr `{}` lacks `{message}`",
            out.stderr
        );
        assert!(out.json()["error"].as_str().unwrap().contains(message));
        assert!(!out.stderr.contains("panicked"), "{out:?}");
    }
}

async fn client_add_prints_a_secret_for_confidential_clients_and_none_for_public_ones(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let web = app.cli(
        &[
            "--json",
            "client",
            "add",
            "--client-id",
            "trading",
            "--name",
            "Trading",
            "--redirect-uri",
            "https://trade.example.com/cb",
            "--require-acr",
            "phr",
            "--require-acr-from",
            "2026-05-15",
        ],
        None,
    );
    assert!(web.success, "{web:?}");
    let json = web.json();
    assert_eq!(json["client_id"], "trading");
    let secret = json["client_secret"].as_str().unwrap();
    assert!(secret.len() >= 43, "256-bit secret");
    let stored = app
        .state
        .store
        .find_client("trading")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.secret_hash.as_deref(),
        Some(kagi::crypto::random::hash_secret(secret).as_str()),
        "only the hash is stored"
    );
    assert_eq!(stored.require_acr.as_deref(), Some("phr"));
    assert_eq!(stored.require_acr_from, Some(1_778_770_800)); // 2026-05-15T00:00+09:00
    assert_eq!(stored.auth_method.as_str(), "client_secret_basic");

    let native = app.cli(
        &[
            "--json",
            "client",
            "add",
            "--client-id",
            "app",
            "--name",
            "App",
            "--public",
            "--redirect-uri",
            "http://127.0.0.1/callback",
            "--redirect-uri",
            "jp.example.broker:/oauth",
        ],
        None,
    );
    assert!(native.success, "{native:?}");
    assert_eq!(native.json()["client_secret"], serde_json::Value::Null);
    let stored = app.state.store.find_client("app").await.unwrap().unwrap();
    assert!(stored.public && stored.require_pkce);
    assert_eq!(stored.auth_method.as_str(), "none");
}

async fn client_add_gives_a_private_key_jwt_client_no_secret(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let jwks = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;
    let base = [
        "client",
        "add",
        "--name",
        "Signed",
        "--redirect-uri",
        "https://rp.example.com/cb",
        "--auth-method",
        "private_key_jwt",
        "--jwks",
        jwks,
    ];
    let mut json_args = vec!["--json", "--client-id", "signed"];
    json_args.splice(1..1, base);
    let out = app.cli(&json_args, None);
    assert!(out.success, "{out:?}");
    let json = out.json();
    assert_eq!(json["client_id"], "signed");
    assert_eq!(
        json["client_secret"],
        serde_json::Value::Null,
        "a key-authenticated client has no secret"
    );
    let stored = app
        .state
        .store
        .find_client("signed")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.secret_hash, None, "no secret is stored");
    assert_eq!(stored.auth_method.as_str(), "private_key_jwt");

    let mut text_args = vec!["--client-id", "signed-too"];
    text_args.splice(0..0, base);
    let text = app.cli(&text_args, None);
    assert!(text.success, "{text:?}");
    assert!(
        !text.stdout.contains("client_secret"),
        "no secret line: {}",
        text.stdout
    );
    assert!(text.stdout.contains("signed-too"), "{}", text.stdout);
    assert_eq!(
        app.state
            .store
            .find_client("signed-too")
            .await
            .unwrap()
            .unwrap()
            .secret_hash,
        None
    );
}

async fn client_add_refuses_unsafe_registrations(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cases: &[(&[&str], &str)] = &[
        (
            &["--redirect-uri", "http://rp.example.com/cb"],
            "must be https",
        ),
        (
            &["--redirect-uri", "jp.example.app:/cb"],
            "public (native) clients only",
        ),
        (
            &["--redirect-uri", "https://rp.example.com/cb#x"],
            "fragment",
        ),
        (
            &[
                "--redirect-uri",
                "https://rp.example.com/cb",
                "--public",
                "--auth-method",
                "client_secret_basic",
            ],
            "`none`",
        ),
        (
            &[
                "--redirect-uri",
                "https://rp.example.com/cb",
                "--auth-method",
                "none",
            ],
            "--public",
        ),
        (
            &[
                "--redirect-uri",
                "https://rp.example.com/cb",
                "--auth-method",
                "private_key_jwt",
            ],
            "--jwks",
        ),
        (
            &[
                "--redirect-uri",
                "https://rp.example.com/cb",
                "--id-token-alg",
                "HS256",
            ],
            "HS256",
        ),
        (
            &[
                "--redirect-uri",
                "https://rp.example.com/cb",
                "--backchannel-logout-uri",
                "http://rp.example.com/bc",
            ],
            "https",
        ),
    ];
    for (extra, message) in cases {
        let mut args = vec!["--json", "client", "add", "--client-id", "x", "--name", "X"];
        args.extend_from_slice(extra);
        let out = app.cli(&args, None);
        assert!(!out.success, "{extra:?} was accepted");
        assert!(
            out.stderr.contains(message),
            "{extra:?}: `{}` lacks `{message}`",
            out.stderr
        );
    }
    assert!(app.state.store.find_client("x").await.unwrap().is_none());
}

async fn operator_actions_appear_in_the_audit_trail(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert!(add_user(&app, "AUD1", &["a@example.jp"], PASSWORD).success);
    assert!(add_user(&app, "AUD2", &["b@example.jp"], PASSWORD).success);
    assert!(
        app.cli(
            &["--json", "user", "unlock", "--customer-code", "aud1"],
            None
        )
        .success
    );
    let out = app.cli(&["--json", "audit", "--customer-code", "AUD1"], None);
    assert!(out.success, "{out:?}");
    let kinds: Vec<String> = out.json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["customer.unlocked", "customer.created"]);
    let passkeys = app.cli(
        &["--json", "user", "passkeys", "--customer-code", "AUD1"],
        None,
    );
    assert_eq!(passkeys.json()["passkeys"], serde_json::json!([]));
    let removed = app.cli(
        &[
            "--json",
            "user",
            "remove-passkeys",
            "--customer-code",
            "AUD1",
        ],
        None,
    );
    assert_eq!(removed.json()["removed"], 0);
    let missing = app.cli(
        &["--json", "user", "unlock", "--customer-code", "NOPE9"],
        None,
    );
    assert!(
        !missing.success && missing.stderr.contains("no customer has code NOPE9"),
        "{missing:?}"
    );
}

#[test]
fn a_bad_setting_stops_the_server_before_it_binds_and_names_the_variable() {
    let env = vec![
        ("KAGI_MAX_PASSKEYS".to_owned(), "lots".to_owned()),
        ("KAGI_LISTEN".to_owned(), "127.0.0.1:1".to_owned()),
    ];
    let out = run_cli(&env, &["serve"], None);
    assert!(!out.success);
    assert!(out.stderr.contains("KAGI_MAX_PASSKEYS"), "{}", out.stderr);
}

#[test]
fn migrate_creates_the_schema_on_a_fresh_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("sub/kagi.db").display()
    );
    let out = run_cli(
        &[("KAGI_DATABASE_URL".to_owned(), url)],
        &["--json", "migrate"],
        None,
    );
    assert!(out.success, "{out:?}");
    assert_eq!(
        out.json(),
        serde_json::json!({ "migrated": true, "backend": "sqlite" })
    );
    assert!(dir.path().join("sub/kagi.db").exists());
}
