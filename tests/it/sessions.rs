//! Which requests open a browser session, and how long an anonymous one
//! lives: only pages with a form open one, it ends 30 minutes after its last
//! use unless a login promotes it, and the purge deletes it.

use crate::both_backends;
use crate::helpers::customer::app_with_customer;
use crate::helpers::{Backend, TestApp};
use crate::passkeys::Web;

both_backends!(
    documents_health_checks_and_static_files_open_no_session,
    a_login_page_opens_one_short_lived_session_that_use_and_login_extend,
    behind_a_trusted_proxy_the_address_it_appended_is_recorded
);

/// Every session row: (customer, created, last seen, end).
async fn sessions(app: &TestApp) -> Vec<(Option<String>, i64, i64, i64)> {
    let pool = crate::server::sqlx_pool(&app.db.url).await;
    sqlx::query_as("SELECT customer_id, created_at, last_seen_at, expires_at FROM sessions ORDER BY created_at, sid")
        .fetch_all(&pool)
        .await
        .unwrap()
}

fn sets_session_cookie(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .any(|v| {
            v.to_str()
                .unwrap_or_default()
                .starts_with("__Host-kagi_session=")
        })
}

async fn documents_health_checks_and_static_files_open_no_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // No cookie store: every request comes without a cookie, like a crawler's.
    let client = reqwest::Client::builder()
        .resolve("localhost", app.addr)
        .build()
        .unwrap();
    let paths = [
        "/healthz",
        "/readyz",
        "/.well-known/openid-configuration",
        "/jwks",
        "/static/kagi.js",
        "/static/kagi.css",
        "/static/form_post.js",
        "/favicon.ico",
        "/metrics",
        "/no/such/page",
    ];
    for _ in 0..5 {
        for path in paths {
            let response = client.get(app.url(path)).send().await.unwrap();
            assert!(
                response.status().as_u16() < 500,
                "{path}: {}",
                response.status()
            );
            assert!(
                !sets_session_cookie(&response),
                "{path} set a session cookie"
            );
        }
    }
    assert!(
        sessions(&app).await.is_empty(),
        "{:?}",
        sessions(&app).await
    );
}

async fn a_login_page_opens_one_short_lived_session_that_use_and_login_extend(backend: Backend) {
    let (app, sub) = app_with_customer(backend, &[]).await;
    let anonymous_life = 30 * 60;

    // Each cookieless visit opens at most one session, anonymous and short.
    let client = reqwest::Client::builder()
        .resolve("localhost", app.addr)
        .build()
        .unwrap();
    for _ in 0..3 {
        client.get(app.url("/login")).send().await.unwrap();
    }
    let rows = sessions(&app).await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    for (customer, created, _, end) in &rows {
        assert_eq!((customer.as_deref(), end - created), (None, anonymous_life));
    }
    app.state
        .store
        .purge_expired(app.clock.now() + anonymous_life + 1)
        .await
        .unwrap();
    assert!(
        sessions(&app).await.is_empty(),
        "the purge removes expired anonymous sessions"
    );

    // A browser keeps its one session while it is used.
    let web = Web::other(&app);
    web.page("/login").await;
    web.page("/login?lang=en").await;
    let first = web.cookie().unwrap();
    assert_eq!(sessions(&app).await.len(), 1);
    for _ in 0..3 {
        app.clock.advance(20 * 60);
        web.page("/login").await;
        assert_eq!(
            web.cookie().unwrap(),
            first,
            "the session is alive after 20 minutes of rest"
        );
        let (_, _, seen, end) = sessions(&app).await[0].clone();
        assert_eq!(
            (seen, end),
            (app.clock.now(), app.clock.now() + anonymous_life)
        );
    }

    // Logging in gives it the full lifetime from then on.
    web.log_in().await;
    let now = app.clock.now();
    let rows = sessions(&app).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].0.as_deref(), rows[0].3),
        (
            Some(sub.as_str()),
            now + app.state.config.session_lifetime_secs
        )
    );

    // A visitor who goes away: the session is dead after 30 minutes and
    // purged, while the logged-in one stays.
    let idle = Web::other(&app);
    idle.page("/login").await;
    let abandoned = idle.cookie().unwrap();
    assert_eq!(sessions(&app).await.len(), 2);
    app.clock.advance(anonymous_life + 1);
    app.state
        .store
        .purge_expired(app.clock.now())
        .await
        .unwrap();
    let rows = sessions(&app).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0.as_deref(), Some(sub.as_str()));
    idle.page("/login").await;
    assert_ne!(
        idle.cookie().unwrap(),
        abandoned,
        "a new session replaces the expired one"
    );
}

async fn behind_a_trusted_proxy_the_address_it_appended_is_recorded(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("KAGI_TRUST_FORWARDED_FOR", "true"),
            ("KAGI_TRUSTED_PROXY_HOPS", "2"),
        ],
    )
    .await;
    let client = reqwest::Client::builder()
        .resolve("localhost", app.addr)
        .build()
        .unwrap();
    // The client wrote 6.6.6.6; the CDN appended the client's address, the load balancer the CDN's.
    for forwarded in [
        Some("6.6.6.6, 203.0.113.7, 198.51.100.2"),
        Some("198.51.100.2"),
        None,
    ] {
        let mut request = client.get(app.url("/login"));
        if let Some(value) = forwarded {
            request = request.header("x-forwarded-for", value);
        }
        request.send().await.unwrap();
    }
    let pool = crate::server::sqlx_pool(&app.db.url).await;
    let mut ips: Vec<String> = sqlx::query_scalar("SELECT ip FROM sessions")
        .fetch_all(&pool)
        .await
        .unwrap();
    ips.sort();
    // Too few entries, or none: the socket peer.
    assert_eq!(ips, ["127.0.0.1", "127.0.0.1", "203.0.113.7"]);
}
