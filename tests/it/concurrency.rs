//! Bursts against every limit Kagi keeps: N requests at once must behave
//! like the same N requests one after another, on one node or spread over
//! two nodes sharing the database (docs/security.md, limits are claimed
//! before the work they guard).

use kagi::templates::Lang;

use crate::both_backends;
use crate::helpers::browser::Page;
use crate::helpers::customer::{EMAIL, PASSWORD, WORK_EMAIL};
use crate::helpers::{Backend, TestApp};

both_backends!(
    two_hundred_wrong_passwords_at_once_lock_once_and_are_throttled_after_twenty,
    twenty_wrong_passwords_at_once_from_many_accounts_share_the_throttle,
    a_right_password_racing_wrong_ones_still_logs_in_and_is_not_counted,
    twenty_wrong_email_codes_at_once_get_five_tries_between_them,
    ten_resends_at_once_send_five_codes_and_leave_one_live,
    twenty_wrong_authenticator_codes_at_once_lock_the_factor_once,
    one_authenticator_code_sent_ten_times_at_once_logs_in_once
);

/// Two nodes on one database; the first one holds the customer.
async fn two_nodes(backend: Backend) -> (TestApp, TestApp) {
    // Room for a burst of 200 on a loaded test machine: the point is what
    // the limits do, not how the pool copes with overload (that is a 503,
    // tested in resilience.rs).
    let pool = [
        ("KAGI_DATABASE_MAX_CONNECTIONS", "16"),
        ("KAGI_DATABASE_ACQUIRE_TIMEOUT_SECS", "60"),
    ];
    let first = TestApp::spawn_with(backend, &pool).await;
    first.customer().emails(&[EMAIL, WORK_EMAIL]).create().await;
    // Both nodes mail through the first node's SMTP listener, so every mail is counted.
    let smtp = first.smtp.url();
    let second = TestApp::spawn_on(
        first.db.clone(),
        first.dir.clone(),
        &[("KAGI_SMTP_URL", &smtp)],
    )
    .await;
    (first, second)
}

/// POSTs `fields` (with `csrf`) to `path` `n` times at once, alternating
/// between the two nodes, all with `first`'s cookies (one browser).
async fn burst(
    n: usize,
    (first, second): (&TestApp, &TestApp),
    path: &str,
    fields: &[(&str, &str)],
) -> Vec<Page> {
    let csrf = first.page("/logout").await.csrf();
    let mut form: Vec<(String, String)> = vec![("csrf".into(), csrf)];
    form.extend(
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let node = if i % 2 == 0 { first } else { second };
            let url = format!("http://localhost:{}{path}", node.addr.port());
            let (http, form) = (first.http.clone(), form.clone());
            tokio::spawn(async move {
                Page::from(http.post(url).form(&form).send().await.unwrap()).await
            })
        })
        .collect();
    let mut pages = Vec::with_capacity(n);
    for task in tasks {
        pages.push(task.await.unwrap());
    }
    pages
}

/// Two nodes, the customer's app enrolled by the operator and the password
/// given: the login waits for the app's code, which is returned.
async fn waiting_for_the_app(backend: Backend) -> (TestApp, TestApp, String) {
    let (a, b) = two_nodes(backend).await;
    let secret = a.enroll_totp("C0001234");
    a.submit_password("C0001234", PASSWORD).await;
    let right = kagi::authn::totp::code_at(&secret, a.clock.now());
    (a, b, right)
}

fn count(pages: &[Page], app: &TestApp, key: &str) -> usize {
    pages.iter().filter(|p| p.shows(app, Lang::Ja, key)).count()
}

async fn scalar(app: &TestApp, sql: &'static str, bind: &str) -> i64 {
    let pool = crate::server::sqlx_pool(&app.db.url).await;
    sqlx::query_scalar::<_, i64>(sql)
        .bind(bind.to_owned())
        .fetch_one(&pool)
        .await
        .unwrap()
}

/// Waits until the lock mails went out, then a little longer, and counts them.
async fn lock_mails(app: &TestApp, to: &str) -> usize {
    app.smtp.wait_for(to, 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    app.smtp
        .messages()
        .iter()
        .filter(|m| m.to.iter().any(|t| t == to))
        .count()
}

async fn two_hundred_wrong_passwords_at_once_lock_once_and_are_throttled_after_twenty(
    backend: Backend,
) {
    let (a, b) = two_nodes(backend).await;
    a.page("/login").await;
    let fields = [
        ("customer_code", "C0001234"),
        ("password", "not my password"),
        ("return_to", "/account"),
    ];
    let pages = burst(200, (&a, &b), "/login", &fields).await;
    let throttled = pages.iter().filter(|p| p.status == 429).count();
    let failed = pages
        .iter()
        .filter(|p| p.status == 200 && p.shows(&a, Lang::Ja, "login.failed"))
        .count();
    assert_eq!(
        (failed, throttled),
        (20, 180),
        "only the throttle's 20 attempts are hashed"
    );

    // As 20 in a row: 5 failures lock for 15 minutes, the 15 others meet the lock.
    assert_eq!(
        scalar(
            &a,
            "SELECT failed_logins FROM customers WHERE customer_code = $1",
            "C0001234"
        )
        .await,
        5
    );
    let until = scalar(
        &a,
        "SELECT locked_until FROM customers WHERE customer_code = $1",
        "C0001234",
    )
    .await;
    // Each node has its own test clock, started when it was spawned.
    let (earliest, latest) = (
        a.clock.now().min(b.clock.now()),
        a.clock.now().max(b.clock.now()),
    );
    assert!(
        (earliest + 15 * 60 - 5..=latest + 15 * 60 + 5).contains(&until),
        "a first lock of 15 minutes, not {}",
        until - earliest
    );
    let audit = a
        .state
        .store
        .list_audit_events(Some("C0001234"), 500)
        .await
        .unwrap();
    assert_eq!(
        audit.iter().filter(|e| e.kind == "account.locked").count(),
        1,
        "one lock"
    );
    for to in [EMAIL, WORK_EMAIL] {
        assert_eq!(lock_mails(&a, to).await, 1, "one lock mail to {to}");
    }
    let after = a.submit_password("C0001234", PASSWORD).await;
    assert_eq!(after.status, 429, "the throttle holds after the burst");
}

async fn twenty_wrong_passwords_at_once_from_many_accounts_share_the_throttle(backend: Backend) {
    let (a, b) = two_nodes(backend).await;
    a.page("/login").await;
    let csrf = a.page("/logout").await.csrf();
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let node = if i % 2 == 0 { &a } else { &b };
            let url = format!("http://localhost:{}/login", node.addr.port());
            let form = vec![
                ("csrf".to_owned(), csrf.clone()),
                ("customer_code".to_owned(), format!("NOBODY{i:02}")),
                ("password".to_owned(), "whatever pw".to_owned()),
            ];
            let http = a.http.clone();
            tokio::spawn(async move {
                http.post(url)
                    .form(&form)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        20,
        "{statuses:?}"
    );
}

async fn a_right_password_racing_wrong_ones_still_logs_in_and_is_not_counted(backend: Backend) {
    let (a, b) = two_nodes(backend).await;
    // Four failures in a row, then the right password and three wrong ones at once.
    for _ in 0..4 {
        a.submit_password("C0001234", "not my password").await;
    }
    a.page("/login").await;
    let right = [
        ("customer_code", "C0001234"),
        ("password", PASSWORD),
        ("return_to", "/account"),
    ];
    let pages = burst(1, (&a, &b), "/login", &right).await;
    assert_eq!(
        pages[0].location.as_deref(),
        Some("/login/email"),
        "the fifth attempt is allowed"
    );
    assert_eq!(
        scalar(
            &a,
            "SELECT failed_logins FROM customers WHERE customer_code = $1",
            "C0001234"
        )
        .await,
        0
    );
    let pool = crate::server::sqlx_pool(&a.db.url).await;
    let locked: Option<i64> =
        sqlx::query_scalar("SELECT locked_until FROM customers WHERE customer_code = $1")
            .bind("C0001234")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        locked, None,
        "a right fifth password lifts the lock its claim set"
    );
}

async fn twenty_wrong_email_codes_at_once_get_five_tries_between_them(backend: Backend) {
    let (a, b) = two_nodes(backend).await;
    a.submit_password("C0001234", PASSWORD).await;
    let code = a.send_email_code(0, EMAIL).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let pages = burst(20, (&a, &b), "/login/code", &[("code", wrong)]).await;
    assert_eq!(count(&pages, &a, "code.wrong"), 4);
    assert_eq!(count(&pages, &a, "code.dead"), 1);
    assert_eq!(count(&pages, &a, "code.expired"), 15);
    let right = a.post("/login/code", &[("code", &code)]).await;
    assert!(
        right.location.is_none(),
        "the code died at five wrong tries"
    );
}

async fn ten_resends_at_once_send_five_codes_and_leave_one_live(backend: Backend) {
    let (a, b) = two_nodes(backend).await;
    a.submit_password("C0001234", PASSWORD).await;
    let pages = burst(10, (&a, &b), "/login/email", &[("email_index", "0")]).await;
    assert_eq!(pages.iter().filter(|p| p.status == 303).count(), 5);
    assert_eq!(pages.iter().filter(|p| p.status == 429).count(), 5);
    let pool = crate::server::sqlx_pool(&a.db.url).await;
    let live: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM email_codes e JOIN login_attempts l ON l.id = e.attempt_id \
         JOIN customers c ON c.id = l.customer_id WHERE c.customer_code = $1 AND e.spent_at IS NULL",
    )
    .bind("C0001234")
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(live, 1, "a resend spends the code before it");
    let mails = a.smtp.wait_for(EMAIL, 5).await;
    let codes: Vec<String> = mails
        .iter()
        .map(|m| crate::helpers::browser::six_digits(&m.body))
        .collect();
    let mut accepted = 0;
    // Four dead codes cost four tries; the live one still has the fifth.
    for code in &codes {
        if a.post("/login/code", &[("code", code)])
            .await
            .location
            .as_deref()
            == Some("/account")
        {
            accepted += 1;
            break;
        }
    }
    assert_eq!(accepted, 1, "the one live code works");
}

async fn twenty_wrong_authenticator_codes_at_once_lock_the_factor_once(backend: Backend) {
    let (a, b, right) = waiting_for_the_app(backend).await;
    let wrong = if right == "123456" {
        "654321"
    } else {
        "123456"
    };
    let pages = burst(20, (&a, &b), "/login/totp", &[("code", wrong)]).await;
    assert_eq!(count(&pages, &a, "totp.wrong"), 4);
    assert_eq!(count(&pages, &a, "totp.locked"), 16);
    let audit = a
        .state
        .store
        .list_audit_events(Some("C0001234"), 100)
        .await
        .unwrap();
    assert_eq!(
        audit.iter().filter(|e| e.kind == "totp.locked").count(),
        1,
        "locked once"
    );
    let refused = a.post("/login/totp", &[("code", &right)]).await;
    assert!(refused.location.is_none() && refused.shows(&a, Lang::Ja, "totp.locked"));
}

async fn one_authenticator_code_sent_ten_times_at_once_logs_in_once(backend: Backend) {
    let (a, b, right) = waiting_for_the_app(backend).await;
    let pages = burst(10, (&a, &b), "/login/totp", &[("code", &right)]).await;
    let logged_in = pages
        .iter()
        .filter(|p| p.location.as_deref() == Some("/account"))
        .count();
    assert_eq!(
        logged_in,
        1,
        "{:?}",
        pages
            .iter()
            .map(|p| (p.status, p.location.clone()))
            .collect::<Vec<_>>()
    );
}
