//! Discovery, JWKS, health, metrics and headers, seen from outside.

use std::collections::HashSet;

use crate::both_backends;
use crate::helpers::{Backend, TestApp};

both_backends!(
    discovery_names_this_issuer_and_its_assurance_levels,
    jwks_publishes_one_public_signing_key_per_algorithm_with_unique_kids,
    health_is_ok_and_readiness_follows_the_database,
    metrics_count_requests_by_route_and_report_the_pool,
    every_response_carries_the_security_headers,
    restarting_the_server_keeps_customers_clients_and_keys,
    two_nodes_on_one_database_and_keys_folder_publish_the_same_keys,
    expired_rows_are_purged_and_live_ones_kept
);

async fn discovery_names_this_issuer_and_its_assurance_levels(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.get("/.well-known/openid-configuration").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert!(
        response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
    let doc: serde_json::Value = response.json().await.unwrap();
    assert_eq!(doc["issuer"], app.base);
    assert_eq!(doc["jwks_uri"], app.url("/jwks"));
    assert_eq!(
        doc["acr_values_supported"],
        serde_json::json!(["phr", "urn:kagi:acr:mfa"])
    );
    assert_eq!(
        doc["subject_types_supported"],
        serde_json::json!(["public"])
    );
    let algs = doc["id_token_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    assert!(algs.contains(&serde_json::json!("RS256")));
}

async fn jwks_publishes_one_public_signing_key_per_algorithm_with_unique_kids(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.get("/jwks").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=600")
    );
    let text = response.text().await.unwrap();
    let set: serde_json::Value = serde_json::from_str(&text).unwrap();
    let keys = set["keys"].as_array().unwrap();
    let algs: HashSet<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    assert_eq!(algs, HashSet::from(["RS256", "ES256", "PS256", "EdDSA"]));
    let kids: HashSet<&str> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(kids.len(), keys.len(), "kids are unique");
    for key in keys {
        assert_eq!(key["use"], "sig");
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            assert!(key.get(private).is_none(), "JWKS leaks `{private}`: {key}");
        }
    }
    let rsa = keys.iter().find(|k| k["alg"] == "RS256").unwrap();
    let modulus = base64_len(rsa["n"].as_str().unwrap());
    assert_eq!(modulus, 256, "RSA-2048");
    // The relying-party library we test with accepts the set as it is.
    let parsed: openidconnect::core::CoreJsonWebKeySet = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed.keys().len(), 4);
}

fn base64_len(b64url: &str) -> usize {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(b64url)
        .unwrap()
        .len()
}

async fn health_is_ok_and_readiness_follows_the_database(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.get("/readyz").await.status(), 200);
    app.state.store.close().await; // the database goes away
    assert_eq!(app.get("/readyz").await.status(), 503);
    assert_eq!(app.get("/healthz").await.status(), 200);
}

async fn metrics_count_requests_by_route_and_report_the_pool(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.get("/jwks").await;
    app.get("/jwks").await;
    app.get("/no/such/page/123").await;
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        text.contains(r#"kagi_http_requests_total{route="/jwks",method="GET",status="200"} 2"#),
        "{text}"
    );
    assert!(
        text.contains(r#"kagi_http_requests_total{route="unmatched",method="GET",status="404"} 1"#),
        "{text}"
    );
    assert!(
        !text.contains("/no/such/page"),
        "raw paths never become labels"
    );
    assert!(
        text.contains(r#"kagi_http_request_duration_seconds_count{route="/jwks"} 2"#),
        "{text}"
    );
    assert!(text.contains("kagi_db_pool_max_connections 4"), "{text}");
}

async fn every_response_carries_the_security_headers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for path in ["/jwks", "/healthz", "/nowhere"] {
        let response = app.get(path).await;
        let h = response.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
            "{path}: {csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert!(h.contains_key("x-request-id"));
    }
}

async fn restarting_the_server_keeps_customers_clients_and_keys(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.cli(
        &[
            "--json",
            "user",
            "add",
            "--customer-code",
            "R1234",
            "--name",
            "Restart",
            "--email",
            "r@example.jp",
            "--password-stdin",
        ],
        Some("a long enough password\n"),
    );
    assert!(user.success, "{user:?}");
    let client = app.cli(
        &[
            "--json",
            "client",
            "add",
            "--client-id",
            "keep",
            "--name",
            "Keep",
            "--redirect-uri",
            "https://rp.example.com/cb",
        ],
        None,
    );
    assert!(client.success, "{client:?}");
    let jwks_before = app.get("/jwks").await.text().await.unwrap();
    let (db, dir) = app.stop().await;

    let again = TestApp::spawn_on(db, dir, &[]).await;
    let jwks_after_restart = again.get("/jwks").await.text().await.unwrap();
    assert_eq!(
        kids(&jwks_before),
        kids(&jwks_after_restart),
        "no new keys after a restart"
    );
    let code = kagi::model::CustomerCode::parse("R1234").unwrap();
    let customer = again
        .state
        .store
        .find_customer_by_code(&code)
        .await
        .unwrap()
        .expect("customer survived");
    assert_eq!(customer.id, user.json()["sub"]);
    assert!(
        again
            .state
            .store
            .find_client("keep")
            .await
            .unwrap()
            .is_some(),
        "client survived"
    );
}

async fn two_nodes_on_one_database_and_keys_folder_publish_the_same_keys(backend: Backend) {
    let first = TestApp::spawn(backend).await;
    let second = TestApp::spawn_on(first.db.clone(), first.dir.clone(), &[]).await;
    let a = first.get("/jwks").await.text().await.unwrap();
    let b = second.get("/jwks").await.text().await.unwrap();
    assert_eq!(kids(&a), kids(&b));
    assert_eq!(kids(&a).len(), 4);
}

async fn expired_rows_are_purged_and_live_ones_kept(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let now = app.clock.now();
    let pool = sqlx_pool(&app.db.url).await;
    for (key, expires) in [("old", now - 1), ("live", now + 600)] {
        sqlx::query(
            "INSERT INTO rate_limits (key, window_start, hits, expires_at) VALUES ($1, $2, 1, $3)",
        )
        .bind(key)
        .bind(now - 60)
        .bind(expires)
        .execute(&pool)
        .await
        .unwrap();
    }
    let purged = app.state.store.purge_expired(now).await.unwrap();
    assert_eq!(purged, vec![("rate_limits", 1)]);
    let left: Vec<String> = sqlx::query_scalar("SELECT key FROM rate_limits")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(left, vec!["live".to_owned()]);
}

/// A pool of the test's own on the app's database, for arranging rows directly.
pub async fn sqlx_pool(url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap()
}

/// The kids of a JWKS document, sorted.
pub fn kids(jwks: &str) -> Vec<String> {
    let set: serde_json::Value = serde_json::from_str(jwks).unwrap();
    let mut kids: Vec<String> = set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    kids.sort();
    kids
}
