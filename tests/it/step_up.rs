//! The email-code / authenticator-app step-up: `GET /stepup` only shows the
//! form; the CSRF-checked `POST /stepup` starts it.

use kagi::authn::totp::{self, STEP_SECS};

use crate::both_backends;
use crate::helpers::browser::{attribute_after, unescape_html};
use crate::helpers::customer::{EMAIL, app_with_customer};
use crate::helpers::{Backend, TestApp};
use crate::passkeys::Web;

both_backends!(
    showing_the_step_up_page_changes_nothing,
    a_step_up_post_needs_the_csrf_token_and_a_factor,
    a_customer_with_an_app_steps_up_with_its_code_on_the_same_form
);

/// Rows of `table` whose `column` is `value`.
pub async fn count(app: &TestApp, table: &str, column: &str, value: &str) -> i64 {
    let pool = crate::server::sqlx_pool(&app.db.url).await;
    let sql = format!("SELECT COUNT(*) FROM {table} WHERE {column} = $1");
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(value)
        .fetch_one(&pool)
        .await
        .unwrap()
}

async fn showing_the_step_up_page_changes_nothing(backend: Backend) {
    let (app, sub) = app_with_customer(backend, &[]).await;
    let web = Web::of(&app);
    web.log_in().await;
    let mails = app.smtp.messages().len();
    let audit = app
        .state
        .store
        .list_audit_events(None, 500)
        .await
        .unwrap()
        .len();
    for link in [
        "/stepup",
        "/stepup?return_to=%2Faccount%2Ftotp",
        "/stepup?method=email&return_to=%2Faccount",
        "/stepup?method=totp",
    ] {
        let page = web.page(link).await;
        assert_eq!(page.status, 200, "{link}: {}", page.html);
        assert!(
            page.html.contains(r#"action="/stepup""#) && page.html.contains(r#"id="otp-send""#),
            "{link}"
        );
    }
    assert_eq!(
        count(&app, "login_attempts", "customer_id", &sub).await,
        0,
        "a GET starts no step-up"
    );
    assert_eq!(app.smtp.messages().len(), mails, "a GET mails nothing");
    assert_eq!(
        app.state
            .store
            .list_audit_events(None, 500)
            .await
            .unwrap()
            .len(),
        audit
    );

    // A step-up under way is not replaced by a GET another site triggers.
    let start = web.page("/stepup?return_to=%2Faccount%2Ftotp").await;
    let back =
        unescape_html(&attribute_after(&start.html, r#"name="return_to""#, "value").unwrap());
    let code = web
        .code_sent_by(
            "/stepup",
            &[("email_index", "0"), ("return_to", &back)],
            EMAIL,
        )
        .await;
    assert_eq!(count(&app, "login_attempts", "customer_id", &sub).await, 1);
    web.page("/stepup?return_to=%2Flogout").await;
    let done = web.form("/login/code", &[("code", &code)]).await;
    assert_eq!(
        done.location.as_deref(),
        Some("/account/totp"),
        "{}",
        done.html
    );
}

async fn a_step_up_post_needs_the_csrf_token_and_a_factor(backend: Backend) {
    let (app, sub) = app_with_customer(backend, &[]).await;
    let web = Web::of(&app);
    web.log_in().await;
    let forged = app
        .post_raw(
            "/stepup",
            &[("email_index", "0"), ("return_to", "/account")],
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.html);
    let empty = web.form("/stepup", &[("return_to", "/account")]).await;
    assert_eq!(empty.status, 400);
    assert_eq!(count(&app, "login_attempts", "customer_id", &sub).await, 0);
    // Logged out, the form leads to the login page and starts nothing.
    let stranger = Web::other(&app);
    let page = stranger.form("/stepup", &[("email_index", "0")]).await;
    assert_eq!(page.location.as_deref(), Some("/login"));
    assert_eq!(count(&app, "login_attempts", "customer_id", &sub).await, 0);
}

async fn a_customer_with_an_app_steps_up_with_its_code_on_the_same_form(backend: Backend) {
    let (app, _) = app_with_customer(backend, &[]).await;
    let web = Web::of(&app);
    web.log_in().await;
    // An operator enrols an authenticator app for the customer.
    let seed = app.enroll_totp("C0001234");

    let page = web.page("/stepup?return_to=%2Faccount%2Ftotp").await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(
        page.html.contains(r#"action="/stepup""#)
            && page.html.contains(r#"name="code""#)
            && page.html.contains(r#"id="otp-submit""#)
    );
    let switch = unescape_html(&attribute_after(&page.html, "stepup?method=", "href").unwrap());
    assert_eq!(switch, "/stepup?method=email&return_to=%2Faccount%2Ftotp");
    let email = web.page(&switch).await;
    assert!(
        email.html.contains(r#"name="email_index""#) && email.html.contains(r#"id="otp-send""#)
    );

    let wrong = web
        .form(
            "/stepup",
            &[("code", "000000"), ("return_to", "/account/totp")],
        )
        .await;
    assert_eq!(wrong.status, 200);
    let code = totp::code_at(&seed, app.clock.now() + STEP_SECS);
    let done = web
        .form(
            "/stepup",
            &[("code", &code), ("return_to", "/account/totp")],
        )
        .await;
    assert_eq!(
        done.location.as_deref(),
        Some("/account/totp"),
        "{}",
        done.html
    );
    let events = app
        .state
        .store
        .session_auth_events(&web.sid().await)
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| (e.method.as_str(), e.purpose.as_str()) == ("password_totp", "step_up")),
        "{events:?}"
    );
}
