//! Hosted login: password + email code or TOTP, lockout, throttling,
//! sessions, CSRF and languages (`docs/product.md#logging-in`, `docs/security.md`).

use kagi::templates::Lang;

use crate::both_backends;
use crate::helpers::browser::{Page, six_digits};
use crate::helpers::customer::{EMAIL, PASSWORD, WORK_EMAIL, app_with_customer, base32_decode};
use crate::helpers::{Backend, TestApp};

both_backends!(
    password_and_email_code_log_in_with_a_rotated_session_and_mfa_assurance,
    a_login_notification_is_mailed_when_configured_and_has_no_link,
    an_unknown_customer_code_looks_exactly_like_a_wrong_password,
    five_wrong_passwords_lock_the_account_and_mail_every_address,
    a_lock_expires_after_its_period,
    many_failures_from_one_address_are_throttled_across_accounts,
    an_email_code_is_single_use_and_dies_after_five_wrong_tries,
    an_email_code_expires_after_ten_minutes,
    a_resend_replaces_the_old_code_and_resends_are_limited,
    a_code_sent_for_one_browser_does_not_work_in_another,
    password_and_authenticator_app_log_in_and_a_replayed_code_is_refused,
    five_wrong_authenticator_codes_lock_the_factor_but_email_still_works,
    a_form_without_the_sessions_csrf_token_is_refused,
    pages_are_japanese_by_default_and_english_on_request,
    logout_ends_the_session_on_the_server,
    sessions_end_after_an_idle_hour,
    a_customer_sees_their_sessions_and_can_end_another,
    after_a_factor_change_the_customer_can_end_every_other_session,
    enrolling_an_authenticator_app_needs_a_fresh_step_up_and_tells_every_address,
    replacing_the_authenticator_app_needs_a_step_up_with_the_old_one,
    a_login_continues_only_to_local_paths,
    a_weaker_password_hash_is_upgraded_at_login,
    a_broken_database_gives_an_error_page_not_a_crash
);

async fn password_and_email_code_log_in_with_a_rotated_session_and_mfa_assurance(backend: Backend) {
    let (app, sub) = app_with_customer(backend, &[]).await;
    let login = app.page("/login").await;
    assert_eq!(login.status, 200);
    assert!(
        login.html.contains("id=\"login-submit\"") && login.html.contains("name=\"customer_code\"")
    );
    let first_cookie = login
        .set_cookies
        .iter()
        .find(|c| c.starts_with("__Host-kagi_session="))
        .unwrap()
        .clone();
    for flag in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(first_cookie.contains(flag), "{first_cookie} lacks {flag}");
    }
    assert!(!first_cookie.contains("Domain"), "{first_cookie}");

    let after_password = app
        .post(
            "/login",
            &[
                ("customer_code", "c0001234"),
                ("password", PASSWORD),
                ("return_to", "/account"),
            ],
        )
        .await;
    assert_eq!(after_password.status, 303);
    assert_eq!(after_password.location.as_deref(), Some("/login/email"));
    let choice = app.page("/login/email").await;
    assert!(
        choice.html.contains("taro*****") && choice.html.contains("taro*****"),
        "{}",
        choice.html
    );
    assert!(
        !choice.html.contains(EMAIL),
        "the full address is never shown"
    );
    assert!(
        choice.html.contains("name=\"email_index\"") && choice.html.contains("id=\"otp-send\"")
    );

    let code = app.send_email_code(1, WORK_EMAIL).await;
    let entry = app.page("/login/code").await;
    assert!(entry.html.contains("id=\"otp-submit\"") && entry.html.contains("name=\"code\""));
    let mail = app.smtp.wait_for(WORK_EMAIL, 1).await.remove(0);
    assert!(
        !mail.body.contains("http") && !mail.body.contains("://"),
        "no links in mail: {}",
        mail.body
    );
    assert!(
        app.smtp
            .messages()
            .iter()
            .all(|m| !m.to.iter().any(|t| t == EMAIL)),
        "only the chosen address gets the code"
    );

    let done = app.post("/login/code", &[("code", &code)]).await;
    assert_eq!(done.status, 303, "{}", done.html);
    assert_eq!(done.location.as_deref(), Some("/account"));
    let new_cookie = done
        .set_cookies
        .iter()
        .find(|c| c.starts_with("__Host-kagi_session="))
        .expect("a new session id at login");
    assert_ne!(cookie_value(new_cookie), cookie_value(&first_cookie));

    let account = app.page("/account").await;
    assert_eq!(account.status, 200, "{}", account.html);
    assert!(account.html.contains("山田 太郎") && account.html.contains("C0001234"));

    let sid: String = sqlx_scalar(
        &app,
        "SELECT sid FROM sessions WHERE customer_id = $1",
        &sub,
    )
    .await;
    let events = app.state.store.session_auth_events(&sid).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].method, "password_email");
    assert_eq!(events[0].acr, "urn:kagi:acr:mfa");
    assert_eq!(events[0].amr, ["pwd", "otp", "mfa"]);
    let audit = app
        .state
        .store
        .list_audit_events(Some("C0001234"), 10)
        .await
        .unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.kind == "login.succeeded" && e.detail["method"] == "password_email")
    );
    assert!(audit.iter().any(|e| e.kind == "email_code.sent"));
}

fn cookie_value(set_cookie: &str) -> &str {
    set_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
}

async fn sqlx_scalar(app: &TestApp, sql: &'static str, bind: &str) -> String {
    let pool = crate::server::sqlx_pool(&app.db.url).await;
    sqlx::query_scalar(sql)
        .bind(bind)
        .fetch_one(&pool)
        .await
        .unwrap()
}

async fn a_login_notification_is_mailed_when_configured_and_has_no_link(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("KAGI_LOGIN_NOTIFICATION", "true")]).await;
    app.customer().emails(&[EMAIL, WORK_EMAIL]).create().await;
    app.log_in_with_email_code("C0001234", PASSWORD, EMAIL)
        .await;
    // EMAIL got the code first; both addresses then get the notice.
    let notice = app.smtp.wait_for(WORK_EMAIL, 1).await.remove(0);
    assert!(!notice.body.contains("://"), "{}", notice.body);
    assert_eq!(app.smtp.wait_for(EMAIL, 2).await.len(), 2);
    let quiet = TestApp::spawn(backend).await;
    quiet.customer().emails(&[EMAIL, WORK_EMAIL]).create().await;
    quiet
        .log_in_with_email_code("C0001234", PASSWORD, EMAIL)
        .await;
    // A later mail to the second address must be the first it gets: no notice went before it.
    quiet.post("/logout", &[]).await;
    quiet.submit_password("C0001234", PASSWORD).await;
    let code = quiet.send_email_code(1, WORK_EMAIL).await;
    let first = quiet.smtp.wait_for(WORK_EMAIL, 1).await.remove(0);
    assert!(
        first.body.contains(&code),
        "off by default: the first mail is the code, not a notice"
    );
}

async fn an_unknown_customer_code_looks_exactly_like_a_wrong_password(backend: Backend) {
    let (app, _) = app_with_customer(backend, &[]).await;
    let unknown = app.submit_password("NOSUCH99", PASSWORD).await;
    let wrong = app.submit_password("C0001234", "wrong password!").await;
    assert_eq!(unknown.status, wrong.status);
    assert!(unknown.shows(&app, Lang::Ja, "login.failed"));
    let normalise = |html: &str, code: &str| {
        let csrf_at = html.find("name=\"csrf\"").unwrap();
        let mut out = html.replace(code, "CODE");
        let token =
            crate::helpers::browser::attribute_after(html, "name=\"csrf\"", "value").unwrap();
        out = out.replace(&token, "TOKEN");
        let _ = csrf_at;
        out
    };
    assert_eq!(
        normalise(&unknown.html, "NOSUCH99"),
        normalise(&wrong.html, "C0001234")
    );
    let audit = app.state.store.list_audit_events(None, 10).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.kind == "login.failed" && e.detail["reason"] == "unknown_customer")
    );
    assert!(
        audit
            .iter()
            .any(|e| e.kind == "login.failed" && e.detail["reason"] == "wrong_password")
    );
}

async fn five_wrong_passwords_lock_the_account_and_mail_every_address(backend: Backend) {
    let (app, _) = app_with_customer(backend, &[]).await;
    for _ in 0..5 {
        let page = app.submit_password("C0001234", "not my password").await;
        assert!(page.shows(&app, Lang::Ja, "login.failed"));
    }
    for to in [EMAIL, WORK_EMAIL] {
        let mail = app.smtp.wait_for(to, 1).await.remove(0);
        assert!(!mail.body.contains("://"), "{}", mail.body);
    }
    let locked = app.submit_password("C0001234", PASSWORD).await;
    assert_eq!(locked.status, 200);
    assert!(
        locked.shows(&app, Lang::Ja, "login.failed"),
        "the right password does not open a locked account"
    );
    assert!(locked.location.is_none());
    let audit = app
        .state
        .store
        .list_audit_events(Some("C0001234"), 20)
        .await
        .unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.kind == "account.locked" && e.detail["failures"] == 5)
    );

    assert!(
        app.cli(
            &["--json", "user", "unlock", "--customer-code", "C0001234"],
            None
        )
        .success
    );
    let open = app.submit_password("C0001234", PASSWORD).await;
    assert_eq!(open.location.as_deref(), Some("/login/email"));
}

async fn a_lock_expires_after_its_period(backend: Backend) {
    let (app, _) = app_with_customer(backend, &[]).await;
    for _ in 0..5 {
        app.submit_password("C0001234", "not my password").await;
    }
    app.clock.advance(15 * 60 - 1);
    assert!(
        app.submit_password("C0001234", PASSWORD)
            .await
            .location
            .is_none(),
        "still locked"
    );
    app.clock.advance(2);
    assert_eq!(
        app.submit_password("C0001234", PASSWORD)
            .await
            .location
            .as_deref(),
        Some("/login/email")
    );
}

async fn many_failures_from_one_address_are_throttled_across_accounts(backend: Backend) {
    let (app, _) = app_with_customer(backend, &[]).await;
    for i in 0..20 {
        let page = app
            .submit_password(&format!("NOBODY{i:02}"), "whatever pw")
            .await;
        assert_eq!(page.status, 200);
    }
    let throttled = app.submit_password("C0001234", PASSWORD).await;
    assert_eq!(throttled.status, 429);
    assert!(throttled.shows(&app, Lang::Ja, "login.rate_limited"));
    app.clock.advance(15 * 60 + 1);
    assert_eq!(
        app.submit_password("C0001234", PASSWORD)
            .await
            .location
            .as_deref(),
        Some("/login/email")
    );
}

async fn an_email_code_is_single_use_and_dies_after_five_wrong_tries(backend: Backend) {
    let (app, _) = app_with_customer(backend, &[]).await;
    app.submit_password("C0001234", PASSWORD).await;
    let code = app.send_email_code(0, EMAIL).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..4 {
        let page = app.post("/login/code", &[("code", wrong)]).await;
        assert!(page.shows(&app, Lang::Ja, "code.wrong"), "{}", page.html);
    }
    let fifth = app.post("/login/code", &[("code", wrong)]).await;
    assert!(fifth.shows(&app, Lang::Ja, "code.dead"));
    let right_too_late = app.post("/login/code", &[("code", &code)]).await;
    assert!(right_too_late.location.is_none(), "a dead code never works");
    assert!(right_too_late.shows(&app, Lang::Ja, "code.expired"));

    // Back, resend: a new code works once.
    let again = app.send_email_code(0, EMAIL).await;
    assert_eq!(
        app.post("/login/code", &[("code", &again)])
            .await
            .location
            .as_deref(),
        Some("/account")
    );
    let reuse = app.post("/login/code", &[("code", &again)]).await;
    assert!(reuse.location.is_none(), "a used code is refused");
}

async fn an_email_code_expires_after_ten_minutes(backend: Backend) {
    let (app, _) = app_with_customer(backend, &[]).await;
    app.submit_password("C0001234", PASSWORD).await;
    let code = app.send_email_code(0, EMAIL).await;
    app.clock.advance(10 * 60);
    let page = app.post("/login/code", &[("code", &code)]).await;
    assert!(page.location.is_none());
}

async fn a_resend_replaces_the_old_code_and_resends_are_limited(backend: Backend) {
    let (app, _) = app_with_customer(backend, &[]).await;
    app.submit_password("C0001234", PASSWORD).await;
    let first = app.send_email_code(0, EMAIL).await;
    let second = app.send_email_code(0, EMAIL).await;
    if first != second {
        let old = app.post("/login/code", &[("code", &first)]).await;
        assert!(old.location.is_none(), "the replaced code is dead");
    }
    for _ in 0..3 {
        app.send_email_code(0, EMAIL).await;
    }
    let sixth = app.post("/login/email", &[("email_index", "0")]).await;
    assert_eq!(sixth.status, 429);
    assert!(sixth.shows(&app, Lang::Ja, "code.resend_limited"));
}

async fn a_code_sent_for_one_browser_does_not_work_in_another(backend: Backend) {
    let (app, _) = app_with_customer(backend, &[]).await;
    app.submit_password("C0001234", PASSWORD).await;
    let code = app.send_email_code(0, EMAIL).await;
    let other = TestApp::spawn_on(app.db.clone(), app.dir.clone(), &[]).await;
    other.submit_password("C0001234", PASSWORD).await;
    let page = other.post("/login/code", &[("code", &code)]).await;
    assert!(
        page.location.is_none(),
        "codes are bound to the attempt that asked for them"
    );
}

async fn password_and_authenticator_app_log_in_and_a_replayed_code_is_refused(backend: Backend) {
    let (app, sub) = app_with_customer(backend, &[]).await;
    let secret = app.enroll_totp("C0001234");
    let page = app.submit_password("C0001234", PASSWORD).await;
    assert_eq!(page.location.as_deref(), Some("/login/totp"));
    let code = kagi::authn::totp::code_at(&secret, app.clock.now());
    let done = app.post("/login/totp", &[("code", &code)]).await;
    assert_eq!(done.location.as_deref(), Some("/account"), "{}", done.html);
    let sid: String = sqlx_scalar(
        &app,
        "SELECT sid FROM sessions WHERE customer_id = $1",
        &sub,
    )
    .await;
    let events = app.state.store.session_auth_events(&sid).await.unwrap();
    assert_eq!(
        (events[0].method.as_str(), events[0].amr.clone()),
        (
            "password_totp",
            vec!["pwd".to_owned(), "otp".into(), "mfa".into()]
        )
    );

    let thief = TestApp::spawn_on(app.db.clone(), app.dir.clone(), &[]).await;
    thief.clock.advance(app.clock.now() - thief.clock.now());
    thief.submit_password("C0001234", PASSWORD).await;
    let replay = thief.post("/login/totp", &[("code", &code)]).await;
    assert!(replay.location.is_none(), "a TOTP code is accepted once");
    assert!(replay.shows(&thief, Lang::Ja, "totp.wrong"));
}

async fn five_wrong_authenticator_codes_lock_the_factor_but_email_still_works(backend: Backend) {
    let (app, _) = app_with_customer(backend, &[]).await;
    let secret = app.enroll_totp("C0001234");
    app.submit_password("C0001234", PASSWORD).await;
    let right = kagi::authn::totp::code_at(&secret, app.clock.now());
    let wrong = if right == "123456" {
        "654321"
    } else {
        "123456"
    };
    for _ in 0..4 {
        assert!(app.post("/login/totp", &[("code", wrong)]).await.shows(
            &app,
            Lang::Ja,
            "totp.wrong"
        ));
    }
    assert!(
        app.post("/login/totp", &[("code", wrong)])
            .await
            .shows(&app, Lang::Ja, "totp.locked")
    );
    let refused = app.post("/login/totp", &[("code", &right)]).await;
    assert!(refused.location.is_none() && refused.shows(&app, Lang::Ja, "totp.locked"));
    let code = app.send_email_code(0, EMAIL).await;
    assert_eq!(
        app.post("/login/code", &[("code", &code)])
            .await
            .location
            .as_deref(),
        Some("/account")
    );
}

async fn a_form_without_the_sessions_csrf_token_is_refused(backend: Backend) {
    let (app, _) = app_with_customer(backend, &[]).await;
    app.page("/login").await;
    let none = app
        .post_raw(
            "/login",
            &[("customer_code", "C0001234"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(none.status, 403);
    let forged = app
        .post_raw(
            "/login",
            &[
                ("csrf", "forged"),
                ("customer_code", "C0001234"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(forged.status, 403);
    assert!(
        forged.html.contains("<html"),
        "a readable page, not plain text"
    );
    let audit = app.state.store.list_audit_events(None, 10).await.unwrap();
    assert!(
        audit.iter().all(|e| e.kind != "login.failed"),
        "nothing was attempted"
    );
}

async fn pages_are_japanese_by_default_and_english_on_request(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ja = app.page("/login").await;
    assert!(ja.html.contains("lang=\"ja\""));
    let en = app.page("/login?lang=en").await;
    assert!(en.html.contains("lang=\"en\""));
    let sticky = app.page("/login").await;
    assert!(
        sticky.html.contains("lang=\"en\""),
        "the choice sticks to the session"
    );
    let fresh = TestApp::spawn(backend).await;
    assert!(
        fresh
            .page_in("/login", "en-US,en;q=0.9")
            .await
            .html
            .contains("lang=\"en\"")
    );
    assert!(
        fresh
            .page("/login?ui_locales=fr%20en")
            .await
            .html
            .contains("lang=\"en\""),
        "unknown locales fall back"
    );
}

async fn logout_ends_the_session_on_the_server(backend: Backend) {
    let (app, _) = app_with_customer(backend, &[]).await;
    let done = app
        .log_in_with_email_code("C0001234", PASSWORD, EMAIL)
        .await;
    let cookie = done
        .set_cookies
        .iter()
        .find(|c| c.starts_with("__Host-kagi_session="))
        .unwrap()
        .clone();
    let confirm = app.page("/logout").await;
    assert!(confirm.html.contains("id=\"logout-confirm\""));
    assert_eq!(
        app.page("/account").await.status,
        200,
        "a GET does not log out"
    );
    let out = app.post("/logout", &[]).await;
    assert_eq!(out.status, 200);
    assert!(out.set_cookies.iter().any(|c| c.contains("Max-Age=0")));
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .resolve("localhost", app.addr)
        .build()
        .unwrap()
        .get(app.url("/account"))
        .header("cookie", cookie.split(';').next().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 303, "the old cookie is dead");
}

async fn sessions_end_after_an_idle_hour(backend: Backend) {
    let (app, _) = app_with_customer(backend, &[]).await;
    app.log_in_with_email_code("C0001234", PASSWORD, EMAIL)
        .await;
    app.clock.advance(3599);
    assert_eq!(app.page("/account").await.status, 200);
    app.clock.advance(3601);
    let page = app.page("/account").await;
    assert_eq!(page.status, 303);
    assert!(page.location.unwrap().starts_with("/login?return_to="));
}

async fn a_customer_sees_their_sessions_and_can_end_another(backend: Backend) {
    let (app, _) = app_with_customer(backend, &[]).await;
    app.log_in_with_email_code("C0001234", PASSWORD, EMAIL)
        .await;
    let other = TestApp::spawn_on(app.db.clone(), app.dir.clone(), &[]).await;
    other
        .log_in_with_email_code("C0001234", PASSWORD, EMAIL)
        .await;
    let account = app.page("/account").await;
    let other_sid =
        crate::helpers::browser::attribute_after(&account.html, "name=\"sid\"", "value")
            .expect("the other session has an end button");
    let ended = app
        .post("/account/sessions/end", &[("sid", &other_sid)])
        .await;
    assert_eq!(
        ended.location.as_deref(),
        Some("/account?notice=session_ended")
    );
    assert_eq!(
        other.page("/account").await.status,
        303,
        "the other browser is logged out"
    );
    assert_eq!(app.page("/account").await.status, 200, "this one is not");
}

async fn after_a_factor_change_the_customer_can_end_every_other_session(backend: Backend) {
    let (app, _) = app_with_customer(backend, &[]).await;
    app.log_in_with_email_code("C0001234", PASSWORD, EMAIL)
        .await;
    let phone = TestApp::spawn_on(app.db.clone(), app.dir.clone(), &[]).await;
    phone
        .log_in_with_email_code("C0001234", PASSWORD, EMAIL)
        .await;
    let tablet = TestApp::spawn_on(app.db.clone(), app.dir.clone(), &[]).await;
    tablet
        .log_in_with_email_code("C0001234", PASSWORD, EMAIL)
        .await;
    let account = app.page("/account").await;
    assert!(account.html.contains("id=\"end-other-sessions\""));
    let done = app.post("/account/sessions/end-others", &[]).await;
    assert_eq!(
        done.location.as_deref(),
        Some("/account?notice=others_ended")
    );
    assert_eq!(phone.page("/account").await.status, 303);
    assert_eq!(tablet.page("/account").await.status, 303);
    let after = app.page("/account").await;
    assert_eq!(after.status, 200);
    assert!(
        !after.html.contains("id=\"end-other-sessions\""),
        "only this session is left"
    );
}

/// Mails to `to` whose subject is catalogue key `key` in Japanese.
fn mails_titled(app: &TestApp, to: &str, key: &str) -> usize {
    let subject = app.state.templates.text(Lang::Ja, key);
    app.smtp
        .messages()
        .iter()
        .filter(|m| m.to.iter().any(|t| t == to) && m.subject == subject)
        .count()
}

/// Completes the step-up that `POST /account/totp/start` asked for, by email code.
async fn step_up_by_email(app: &TestApp) -> Page {
    // GET only shows the form; the POST starts the step-up and mails the code.
    let step = app.page("/stepup?return_to=%2Faccount%2Ftotp").await;
    assert_eq!(step.status, 200, "{}", step.html);
    let before = app
        .smtp
        .messages()
        .iter()
        .filter(|m| m.to.iter().any(|t| t == EMAIL))
        .count();
    let sent = app
        .post(
            "/stepup",
            &[("email_index", "0"), ("return_to", "/account/totp")],
        )
        .await;
    assert_eq!(
        sent.location.as_deref(),
        Some("/login/code"),
        "{}",
        sent.html
    );
    let code = six_digits(
        &app.smtp
            .wait_for(EMAIL, before + 1)
            .await
            .remove(before)
            .body,
    );
    app.post("/login/code", &[("code", &code)]).await
}

async fn enrolling_an_authenticator_app_needs_a_fresh_step_up_and_tells_every_address(
    backend: Backend,
) {
    let (app, _) = app_with_customer(backend, &[]).await;
    app.log_in_with_email_code("C0001234", PASSWORD, EMAIL)
        .await;
    let start = app.post("/account/totp/start", &[]).await;
    assert_eq!(
        start.location.as_deref(),
        Some("/stepup?return_to=%2Faccount%2Ftotp"),
        "a login alone is not enough"
    );
    let stepped = step_up_by_email(&app).await;
    assert_eq!(stepped.location.as_deref(), Some("/account/totp"));
    assert!(
        stepped
            .set_cookies
            .iter()
            .any(|c| c.starts_with("__Host-kagi_session=")),
        "a new session id after a step-up"
    );
    assert_eq!(
        app.post("/account/totp/start", &[])
            .await
            .location
            .as_deref(),
        Some("/account/totp")
    );
    let page = app.page("/account/totp").await;
    assert!(page.html.contains("data:image/svg+xml;base64,"));
    let shown = page
        .html
        .split("<code class=\"secret\">")
        .nth(1)
        .unwrap()
        .split("</code>")
        .next()
        .unwrap();
    let secret = base32_decode(&shown.replace(' ', ""));
    let wrong = app
        .post("/account/totp/confirm", &[("code", "000000")])
        .await;
    if wrong.location.is_none() {
        assert!(wrong.shows(&app, Lang::Ja, "totp.wrong"));
    }
    let code = kagi::authn::totp::code_at(&secret, app.clock.now());
    let done = app.post("/account/totp/confirm", &[("code", &code)]).await;
    assert_eq!(
        done.location.as_deref(),
        Some("/account?notice=totp_enrolled"),
        "{}",
        done.html
    );
    let audit = app
        .state
        .store
        .list_audit_events(Some("C0001234"), 10)
        .await
        .unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.kind == "totp.enrolled" && e.detail["replaced"] == false)
    );
    for to in [EMAIL, WORK_EMAIL] {
        for _ in 0..50 {
            if mails_titled(&app, to, "mail.totp_enrolled.subject") > 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(
            mails_titled(&app, to, "mail.totp_enrolled.subject"),
            1,
            "a notice to {to}"
        );
    }
    // The step-up is spent: another enrolment (a replacement) needs another one.
    assert_eq!(
        app.post("/account/totp/start", &[])
            .await
            .location
            .as_deref(),
        Some("/stepup?return_to=%2Faccount%2Ftotp")
    );
    // The next login asks for the app, and the confirming code does not log in.
    let next = TestApp::spawn_on(app.db.clone(), app.dir.clone(), &[]).await;
    assert_eq!(
        next.submit_password("C0001234", PASSWORD)
            .await
            .location
            .as_deref(),
        Some("/login/totp")
    );
    let replay = next.post("/login/totp", &[("code", &code)]).await;
    assert!(replay.location.is_none() && replay.shows(&next, Lang::Ja, "totp.wrong"));
}

async fn replacing_the_authenticator_app_needs_a_step_up_with_the_old_one(backend: Backend) {
    let (app, _) = app_with_customer(backend, &[]).await;
    let old = app.enroll_totp("C0001234");
    app.submit_password("C0001234", PASSWORD).await;
    let code = kagi::authn::totp::code_at(&old, app.clock.now());
    assert_eq!(
        app.post("/login/totp", &[("code", &code)])
            .await
            .location
            .as_deref(),
        Some("/account")
    );
    assert_eq!(
        app.post("/account/totp/start", &[])
            .await
            .location
            .as_deref(),
        Some("/stepup?return_to=%2Faccount%2Ftotp")
    );
    // An emailed code proves the mailbox, not the app being replaced.
    assert_eq!(
        step_up_by_email(&app).await.location.as_deref(),
        Some("/account/totp")
    );
    assert_eq!(
        app.post("/account/totp/start", &[])
            .await
            .location
            .as_deref(),
        Some("/stepup?return_to=%2Faccount%2Ftotp")
    );
    app.clock.advance(30);
    let step = app.page("/stepup?return_to=%2Faccount%2Ftotp").await;
    assert!(
        step.html.contains(r#"action="/stepup""#) && step.html.contains(r#"id="otp-submit""#),
        "{}",
        step.html
    );
    let code = kagi::authn::totp::code_at(&old, app.clock.now());
    assert_eq!(
        app.post(
            "/stepup",
            &[("code", &code), ("return_to", "/account/totp")]
        )
        .await
        .location
        .as_deref(),
        Some("/account/totp")
    );
    assert_eq!(
        app.post("/account/totp/start", &[])
            .await
            .location
            .as_deref(),
        Some("/account/totp")
    );
}

async fn a_login_continues_only_to_local_paths(backend: Backend) {
    let (app, _) = app_with_customer(backend, &[]).await;
    app.page("/login").await;
    app.post(
        "/login",
        &[
            ("customer_code", "C0001234"),
            ("password", PASSWORD),
            ("return_to", "https://evil.example/"),
        ],
    )
    .await;
    let code = app.send_email_code(0, EMAIL).await;
    assert_eq!(
        app.post("/login/code", &[("code", &code)])
            .await
            .location
            .as_deref(),
        Some("/account")
    );
    let prefilled = TestApp::spawn(backend)
        .await
        .page("/login?login_hint=C0009999")
        .await;
    assert!(prefilled.html.contains("value=\"C0009999\""));
}

async fn a_weaker_password_hash_is_upgraded_at_login(backend: Backend) {
    let (app, sub) = app_with_customer(backend, &[]).await;
    let weak = {
        use argon2::password_hash::PasswordHasher as _;
        argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(8192, 1, 1, None).unwrap(),
        )
        .hash_password(PASSWORD.as_bytes())
        .unwrap()
        .to_string()
    };
    app.state
        .store
        .update_password_hash(&sub, &weak, app.clock.now())
        .await
        .unwrap();
    app.submit_password("C0001234", PASSWORD).await;
    let stored: String = sqlx_scalar(
        &app,
        "SELECT password_hash FROM customers WHERE id = $1",
        &sub,
    )
    .await;
    assert!(
        stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{stored}"
    );
}

async fn a_broken_database_gives_an_error_page_not_a_crash(backend: Backend) {
    let (app, _) = app_with_customer(backend, &[]).await;
    let pool = crate::server::sqlx_pool(&app.db.url).await;
    sqlx::query("DROP TABLE rate_limits")
        .execute(&pool)
        .await
        .unwrap();
    let page = app.submit_password("C0001234", PASSWORD).await;
    assert_eq!(page.status, 500);
    assert!(page.html.contains("<html") && page.shows(&app, Lang::Ja, "error.internal"));
    assert_eq!(
        app.get("/healthz").await.status(),
        200,
        "the server lives on"
    );
}

#[test]
fn six_digit_codes_are_found_in_mail_text() {
    assert_eq!(six_digits("コード: 123456 (10分)"), "123456");
}
