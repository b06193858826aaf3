//! A representative context for each page, built from the same types the
//! handlers fill (`templates::pages`), so a field a template reads and its
//! type lacks fails these tests.

use minijinja::value::Value;
use serde::Serialize;

use crate::templates::pages::{
    AccountHolder, AccountPage, FactorCodePage, FactorEmailPage, FactorTotpPage, Frame, LangUrls,
    Link, LoginPage, LogoutPage, MaskedEmail, MessagePage, PasskeyConfirmPage, PasskeyDeletePage,
    PasskeyItem, PasskeySignal, PasskeyStepUpPage, SessionItem, StepUp, TotpEnrollPage, framed,
};

/// What every caller passes to every page.
pub(super) fn common() -> Value {
    Value::from(minijinja::value::Serde(frame()))
}

fn frame() -> Frame<'static> {
    Frame {
        csrf: "csrf-token-123",
        lang_urls: Some(LangUrls {
            ja: "/login?ui_locales=ja".to_owned(),
            en: "/login?ui_locales=en".to_owned(),
        }),
        error: None,
        notice: None,
    }
}

/// `ctx` inside the common frame, as `http::pages::render` passes it.
pub(super) fn page(ctx: impl Serialize) -> Value {
    framed(&frame(), &ctx)
}

fn email(index: usize, masked: &str) -> MaskedEmail {
    MaskedEmail {
        index,
        masked: masked.to_owned(),
    }
}

fn passkey(
    credential_id: &'static str,
    provider: &'static str,
    nickname: &'static str,
    created_at: &str,
    last_used_at: Option<&str>,
    synced: bool,
) -> PasskeyItem<'static> {
    PasskeyItem {
        credential_id,
        provider,
        nickname,
        created_at: created_at.to_owned(),
        last_used_at: last_used_at.map(str::to_owned),
        backup_eligible: synced,
        backup_state: synced,
    }
}

fn session(
    sid: &'static str,
    current: bool,
    at: [&str; 2],
    user_agent: &'static str,
    ip: &'static str,
) -> SessionItem<'static> {
    SessionItem {
        sid,
        current,
        created_at: at[0].to_owned(),
        last_seen_at: at[1].to_owned(),
        user_agent,
        ip,
    }
}

/// The account page of a customer with two sessions and two passkeys.
pub(super) fn account() -> AccountPage<'static> {
    AccountPage {
        customer: AccountHolder {
            name: "岩井 太郎",
            customer_code: "12345678",
        },
        emails: vec!["abcd*****".to_owned(), "0123*****".to_owned()],
        totp_enrolled: false,
        sessions: vec![
            session(
                "sid-current",
                true,
                ["2026-05-01 09:00", "2026-05-01 09:05"],
                "Safari on iPhone",
                "192.0.2.1",
            ),
            session(
                "sid-other",
                false,
                ["2026-04-30 20:00", "2026-04-30 21:00"],
                "Edge on Windows",
                "198.51.100.7",
            ),
        ],
        passkeys: vec![
            passkey(
                "cred-1",
                "iCloud Keychain",
                "iPhone",
                "2026-04-01 10:00",
                Some("2026-05-01 09:00"),
                true,
            ),
            passkey(
                "cred-2",
                "Windows Hello",
                "",
                "2026-04-02 10:00",
                None,
                false,
            ),
        ],
        passkeys_enabled: true,
        passkeys_at_limit: false,
        passkey_signal: Some(PasskeySignal {
            rp_id: "broker.example",
            user_id: "AAECAwQFBgcICQoLDA0ODw".to_owned(),
            credential_ids: "cred-1 cred-2".to_owned(),
            user_name: "12345678",
            display_name: "岩井 太郎",
            details: false,
        }),
    }
}

/// A representative context for each page, with its contract markers.
pub(super) fn pages() -> Vec<(&'static str, Value, Vec<&'static str>)> {
    vec![
        (
            "login",
            page(LoginPage {
                customer_code: "12345678",
                return_to: "/authorize/continue",
                passkey_enabled: true,
            }),
            vec![
                r#"action="/login""#,
                r#"name="customer_code""#,
                r#"id="customer_code""#,
                r#"autocomplete="username webauthn""#,
                r#"name="password""#,
                r#"id="password""#,
                r#"autocomplete="current-password""#,
                r#"name="return_to""#,
                r#"<button type="submit" id="login-submit""#,
                r#"<button type="button" id="passkey-login""#,
            ],
        ),
        (
            "factor_email",
            page(FactorEmailPage {
                purpose: "login",
                emails: vec![email(0, "abcd*****"), email(1, "ef@g*****")],
                totp_available: true,
                step_up: None,
            }),
            vec![
                r#"action="/login/email""#,
                r#"name="email_index""#,
                r#"value="0" checked"#,
                "abcd*****",
                "ef@g*****",
                r#"<button type="submit" id="otp-send""#,
                r#"href="/login/totp""#,
            ],
        ),
        (
            "factor_code",
            page(FactorCodePage {
                purpose: "step_up",
                masked: "abcd*****".to_owned(),
            }),
            vec![
                r#"action="/login/code""#,
                r#"name="code""#,
                r#"id="code""#,
                r#"inputmode="numeric""#,
                r#"autocomplete="one-time-code""#,
                r#"pattern="[0-9]{6}""#,
                r#"maxlength="6""#,
                r#"<button type="submit" id="otp-submit""#,
                r#"href="/login/email""#,
            ],
        ),
        (
            "factor_totp",
            page(FactorTotpPage {
                purpose: "login",
                email_available: true,
                step_up: None,
            }),
            vec![
                r#"action="/login/totp""#,
                r#"name="code""#,
                r#"<button type="submit" id="otp-submit""#,
                r#"href="/login/email""#,
            ],
        ),
        (
            "message",
            page(MessagePage {
                heading: "login.locked.heading",
                message: "login.locked",
                detail: Some("2026-05-15 10:30".to_owned()),
                link: Some(Link {
                    href: "/login",
                    label_key: "nav.login",
                }),
            }),
            vec!["2026-05-15 10:30", r#"href="/login""#],
        ),
        (
            "account",
            page(account()),
            vec![
                "岩井 太郎",
                "12345678",
                "abcd*****",
                r#"class="passkey-item""#,
                r#"data-credential-id="cred-1""#,
                r#"data-credential-ids="cred-1 cred-2""#,
                r#"action="/account/passkeys/rename""#,
                r#"action="/account/passkeys/delete""#,
                r#"action="/account/passkeys/register""#,
                r#"<button type="submit" id="passkey-register""#,
                r#"action="/account/totp/start""#,
                r#"action="/account/sessions/end""#,
                r#"name="sid" value="sid-other""#,
                r#"href="/logout""#,
            ],
        ),
        (
            "totp_enroll",
            page(TotpEnrollPage {
                qr_data_uri: "data:image/svg+xml;base64,PHN2Zy8+",
                secret: "JBSW Y3DP EHPK 3PXP",
            }),
            vec![
                "<img src=\"data:image",
                "<code class=\"secret\">JBSW Y3DP EHPK 3PXP</code>",
                r#"action="/account/totp/confirm""#,
                r#"name="code""#,
                r#"<button type="submit" id="otp-submit""#,
            ],
        ),
        (
            "logout",
            page(LogoutPage {
                client_name: Some("PlusNet"),
                ..LogoutPage::default()
            }),
            vec![
                r#"action="/logout""#,
                "PlusNet",
                r#"<button type="submit" id="logout-confirm""#,
                r#"href="/account""#,
            ],
        ),
        (
            "passkey_confirm",
            page(PasskeyConfirmPage {
                return_to: "/account",
            }),
            vec![
                r#"<button type="button" id="passkey-register-confirm""#,
                r#"<meta name="csrf-token" content="csrf-token-123">"#,
                r#"id="passkey-messages""#,
                "<noscript>",
            ],
        ),
        (
            "passkey_stepup",
            page(PasskeyStepUpPage {
                has_passkeys: true,
                return_to: "/authorize/continue?x=1",
            }),
            vec![
                r#"<button type="button" id="passkey-login""#,
                r#"data-passkey="stepup""#,
                r#"data-return-to="/authorize/continue?x=1""#,
            ],
        ),
        (
            "passkey_delete",
            page(PasskeyDeletePage {
                passkey: passkey("cred-1", "", "", "2026-04-01 10:00", None, false),
            }),
            vec![
                r#"action="/account/passkeys/delete""#,
                r#"name="credential_id" value="cred-1""#,
                r#"<button type="submit" id="passkey-delete-confirm""#,
            ],
        ),
        (
            "factor_email",
            page(FactorEmailPage {
                purpose: "step_up",
                emails: vec![email(0, "abcd*****")],
                totp_available: true,
                step_up: Some(StepUp {
                    return_to: "/account/totp",
                    switch: "/stepup?method=totp&return_to=%2Faccount%2Ftotp".to_owned(),
                }),
            }),
            vec![
                r#"action="/stepup""#,
                r#"name="return_to" value="/account/totp""#,
                r#"name="email_index""#,
                r#"<button type="submit" id="otp-send""#,
                r#"href="/stepup?method=totp&amp;return_to=%2Faccount%2Ftotp""#,
            ],
        ),
        (
            "factor_totp",
            page(FactorTotpPage {
                purpose: "step_up",
                email_available: true,
                step_up: Some(StepUp {
                    return_to: "/account",
                    switch: "/stepup?method=email&return_to=%2Faccount".to_owned(),
                }),
            }),
            vec![
                r#"action="/stepup""#,
                r#"name="return_to""#,
                r#"name="code""#,
                r#"<button type="submit" id="otp-submit""#,
                r#"href="/stepup?method=email&amp;return_to=%2Faccount""#,
            ],
        ),
    ]
}
