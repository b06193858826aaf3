//! The token endpoint's write path (docs/write-path.md): one write
//! transaction per request, and concurrent exchanges of one refresh token
//! that end as if they had run one after the other.

use crate::both_backends;
use crate::helpers::customer::{CODE, EMAIL, PASSWORD, logged_in};
use crate::helpers::rp::Rp;
use crate::helpers::{Backend, TestApp};

both_backends!(
    a_refresh_rotation_finds_the_children_of_a_token_by_index,
    an_authorization_answered_from_the_session_commits_exactly_one_write_transaction,
    continuing_after_a_login_and_an_error_redirect_each_commit_one_write_transaction,
    the_password_step_commits_its_claims_then_its_verdict,
    concurrent_refreshes_of_one_token_leave_exactly_one_live_successor,
    each_token_request_commits_exactly_one_write_transaction
);

const WEB_CALLBACK: &str = "http://localhost:9/callback";
const RACERS: usize = 12;

async fn refresh(app: &TestApp, rp: &Rp, token: &str) -> (u16, serde_json::Value) {
    let answer = app
        .token(
            rp,
            &[("grant_type", "refresh_token"), ("refresh_token", token)],
        )
        .await;
    (answer.status, answer.json)
}

/// Refresh tokens of the family of `token` that are neither used nor expired.
async fn live_refresh_tokens(app: &TestApp, token: &str) -> i64 {
    let pool = crate::server::sqlx_pool(&app.db.url).await;
    let hash = kagi::crypto::random::hash_secret(token);
    let n = sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM refresh_tokens WHERE used_at IS NULL AND expires_at > 0 \
         AND family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1)",
    )
    .bind(hash)
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    n
}

async fn concurrent_refreshes_of_one_token_leave_exactly_one_live_successor(backend: Backend) {
    let app = std::sync::Arc::new(logged_in(backend).await.0);
    let rp = app.register_client("web", WEB_CALLBACK, &[]);
    let first = app.code_flow(&rp, &[]).await;
    let token = first.json["refresh_token"].as_str().unwrap().to_owned();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..RACERS {
        let (app, rp, token) = (app.clone(), rp.clone(), token.clone());
        set.spawn(async move { refresh(&app, &rp, &token).await });
    }
    let mut successors = Vec::new();
    while let Some(joined) = set.join_next().await {
        let (status, json) = joined.unwrap();
        // As if one after the other: the first spends the token, each
        // later one is a retry within the grace (RFC 9700 §4.14.2).
        assert_eq!(status, 200, "{json}");
        successors.push(json["refresh_token"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        live_refresh_tokens(&app, &token).await,
        1,
        "one live successor"
    );
    // The retired ones are simply invalid (no reuse, nothing revoked).
    let mut working = 0;
    for successor in &successors {
        if refresh(&app, &rp, successor).await.0 == 200 {
            working += 1;
        }
    }
    assert_eq!(working, 1, "exactly one answer's refresh token works");
}

async fn each_token_request_commits_exactly_one_write_transaction(backend: Backend) {
    let (app, _) = logged_in(backend).await;
    let rp = app.register_client("web", WEB_CALLBACK, &[]);
    let store = &app.state.store;
    let (verifier, challenge) = crate::helpers::rp::pkce_pair();
    let page = app
        .authorize(
            &rp,
            &[
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .await;
    let code = crate::helpers::rp::location_param(&page, "code").unwrap();

    let before = store.write_commits();
    let exchanged = app.exchange(&rp, &code, Some(&verifier)).await;
    assert_eq!(exchanged.status, 200, "{}", exchanged.json);
    assert_eq!(store.write_commits() - before, 1, "code redemption");

    let token = exchanged.json["refresh_token"].as_str().unwrap().to_owned();
    let before = store.write_commits();
    let (status, rotated) = refresh(&app, &rp, &token).await;
    assert_eq!(status, 200, "{rotated}");
    assert_eq!(store.write_commits() - before, 1, "refresh rotation");

    app.clock.advance(60);
    let before = store.write_commits();
    let (status, _) = refresh(&app, &rp, &token).await;
    assert_eq!(status, 400);
    assert_eq!(
        store.write_commits() - before,
        1,
        "reuse: revocation and its audit event"
    );

    let before = store.write_commits();
    let replay = app.exchange(&rp, &code, Some(&verifier)).await;
    assert_eq!(replay.status, 400);
    assert_eq!(
        store.write_commits() - before,
        1,
        "code replay: revocation and its audit event"
    );

    let kinds: Vec<String> = store
        .list_audit_events(None, 20)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    let issued = kinds.iter().filter(|k| *k == "tokens.issued").count();
    let reused = kinds
        .iter()
        .filter(|k| *k == "token.reuse_detected")
        .count();
    assert_eq!((issued, reused), (2, 2), "{kinds:?}");
}

async fn the_password_step_commits_its_claims_then_its_verdict(backend: Backend) {
    // docs/write-path.md: the claims must be committed before the hash they
    // guard; the verdict (audit, or settled counters and the new attempt) after.
    let app = TestApp::spawn(backend).await;
    app.customer().create().await;
    let store = &app.state.store;
    app.page("/login").await;
    let before = store.write_commits();
    let wrong = app
        .post(
            "/login",
            &[
                ("customer_code", CODE),
                ("password", "wrong horse"),
                ("return_to", "/account"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 200, "the form again");
    assert_eq!(
        store.write_commits() - before,
        2,
        "wrong password: claims, then the audit event"
    );

    let before = store.write_commits();
    let right = app
        .post(
            "/login",
            &[
                ("customer_code", CODE),
                ("password", PASSWORD),
                ("return_to", "/account"),
            ],
        )
        .await;
    assert_eq!(
        right.location.as_deref(),
        Some("/login/email"),
        "{}",
        right.html
    );
    assert_eq!(
        store.write_commits() - before,
        2,
        "right password: claims, then the attempt"
    );

    let otp = app.send_email_code(0, EMAIL).await;
    let before = store.write_commits();
    let done = app.post("/login/code", &[("code", &otp)]).await;
    assert_eq!(done.location.as_deref(), Some("/account"), "{}", done.html);
    assert_eq!(
        store.write_commits() - before,
        1,
        "email code: the try, the code, the session and the audit event"
    );
}

/// The commits `request` cost, and its answer.
async fn commits_of<F: std::future::Future<Output = crate::helpers::browser::Page>>(
    app: &TestApp,
    request: F,
) -> (u64, crate::helpers::browser::Page) {
    let before = app.state.store.write_commits();
    let page = request.await;
    (app.state.store.write_commits() - before, page)
}

/// The audit event kinds, newest first.
async fn audit_kinds(app: &TestApp) -> Vec<String> {
    let events = app.state.store.list_audit_events(None, 50).await.unwrap();
    events.into_iter().map(|e| e.kind).collect()
}

/// Pushes `extra` as an authorization request of `rp` (RFC 9126) and returns its `request_uri`.
async fn push(app: &TestApp, rp: &Rp, extra: &[(&str, &str)]) -> String {
    let (status, json) = app.par(rp, extra).await;
    assert_eq!(status, 201, "{json}");
    json["request_uri"].as_str().unwrap().to_owned()
}

async fn an_authorization_answered_from_the_session_commits_exactly_one_write_transaction(
    backend: Backend,
) {
    // A logged-in browser whose session was touched just now (no
    // `touch_session` write inside the measured requests).
    let (app, _) = logged_in(backend).await;
    let rp = app.register_client("web", WEB_CALLBACK, &[]);

    let (commits, page) = commits_of(&app, app.authorize(&rp, &[])).await;
    assert_eq!(page.status, 303, "{}", page.html);
    assert!(
        crate::helpers::rp::location_param(&page, "code").is_some(),
        "{:?}",
        page.location
    );
    assert_eq!(commits, 1, "code, session_clients and its audit event");

    let request_uri = push(&app, &rp, &[]).await;
    let query =
        serde_urlencoded::to_string([("client_id", "web"), ("request_uri", &request_uri)]).unwrap();
    let (commits, page) = commits_of(&app, app.page(&format!("/authorize?{query}"))).await;
    assert!(
        crate::helpers::rp::location_param(&page, "code").is_some(),
        "{:?}",
        page.location
    );
    assert_eq!(commits, 1, "the pushed request used up with the code");
    // Used up: the same request_uri again is an unknown request.
    let again = app.page(&format!("/authorize?{query}")).await;
    assert_eq!(again.status, 400);

    let kinds = audit_kinds(&app).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "code.issued").count(),
        2,
        "{kinds:?}"
    );
}

async fn continuing_after_a_login_and_an_error_redirect_each_commit_one_write_transaction(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    app.customer().create().await;
    let rp = app.register_client("web", WEB_CALLBACK, &[]);

    // An anonymous browser: the request is kept while the customer logs in.
    let first = app.authorize(&rp, &[]).await;
    let login = first.location.clone().unwrap();
    assert!(login.starts_with("/login?"), "{login}");
    let (commits, page) = commits_of(&app, app.authorize(&rp, &[("prompt", "none")])).await;
    assert_eq!(
        crate::helpers::rp::location_param(&page, "error").as_deref(),
        Some("login_required"),
        "{:?}",
        page.location
    );
    assert_eq!(commits, 1, "the refusal's audit event, awaited");
    assert!(
        audit_kinds(&app)
            .await
            .contains(&"authorization.denied".to_owned())
    );

    let return_to: String = url::Url::parse(&format!("http://x{login}"))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "return_to")
        .unwrap()
        .1
        .into_owned();
    assert!(return_to.starts_with("/authorize/continue?"), "{return_to}");
    app.log_in_with_email_code(CODE, PASSWORD, EMAIL).await;
    let (commits, page) = commits_of(&app, app.page(&return_to)).await;
    assert!(
        crate::helpers::rp::location_param(&page, "code").is_some(),
        "{:?}",
        page.location
    );
    assert_eq!(commits, 1, "the stored request used up with the code");
    let replayed = app.page(&return_to).await;
    assert_eq!(replayed.status, 400, "used up");
}

/// The rotation looks up the presented token's children by `parent_hash`;
/// without an index each rotation scanned every refresh token ever issued
/// (found by benches/run: the grant slowed down as tokens piled up).
async fn a_refresh_rotation_finds_the_children_of_a_token_by_index(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let pool = crate::server::sqlx_pool(&app.db.url).await;
    let query = "SELECT COUNT(*) FROM refresh_tokens WHERE parent_hash = 'x' \
                 AND used_at IS NOT NULL AND expires_at > 0";
    let plan: Vec<String> = match backend {
        Backend::Sqlite => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {query}")))
                .fetch_all(&pool)
                .await
                .unwrap();
            rows.iter()
                .map(|r| sqlx::Row::get::<String, _>(r, "detail"))
                .collect()
        }
        Backend::Postgres => {
            // An empty table is scanned whatever the indexes; forbid that to see the index.
            let mut conn = pool.acquire().await.unwrap();
            sqlx::query("SET enable_seqscan = off")
                .execute(&mut *conn)
                .await
                .unwrap();
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN {query}")))
                .fetch_all(&mut *conn)
                .await
                .unwrap();
            rows.iter()
                .map(|r| sqlx::Row::get::<String, _>(r, 0))
                .collect()
        }
    };
    assert!(
        plan.iter()
            .any(|line| line.contains("refresh_tokens_parent")),
        "{plan:?}"
    );
    pool.close().await;
}
