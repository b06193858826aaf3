//! A representative context for each page.

use minijinja::context;
use minijinja::value::Value;

/// What every caller passes to every page.
pub(super) fn common() -> Value {
    context! {
        csrf => "csrf-token-123",
        lang_urls => context! { ja => "/login?ui_locales=ja", en => "/login?ui_locales=en" },
        error => (),
        notice => (),
    }
}

/// A representative context for each page, with its contract markers.
pub(super) fn pages() -> Vec<(&'static str, Value, Vec<&'static str>)> {
    vec![
        (
            "login",
            context! {
                customer_code => "12345678",
                return_to => "/authorize/continue",
                passkey_enabled => true,
                ..common()
            },
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
            context! {
                purpose => "login",
                emails => vec![
                    context! { index => 0, masked => "abcd*****" },
                    context! { index => 1, masked => "ef@g*****" },
                ],
                totp_available => true,
                ..common()
            },
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
            context! { purpose => "step_up", masked => "abcd*****", ..common() },
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
            context! { purpose => "login", email_available => true, ..common() },
            vec![
                r#"action="/login/totp""#,
                r#"name="code""#,
                r#"<button type="submit" id="otp-submit""#,
                r#"href="/login/email""#,
            ],
        ),
        (
            "message",
            context! {
                heading => "login.locked.heading",
                message => "login.locked",
                detail => "2026-05-15 10:30",
                link => context! { href => "/login", label_key => "nav.login" },
                ..common()
            },
            vec!["2026-05-15 10:30", r#"href="/login""#],
        ),
        (
            "account",
            context! {
                customer => context! { name => "岩井 太郎", customer_code => "12345678" },
                emails => vec!["abcd*****", "0123*****"],
                totp_enrolled => false,
                sessions => vec![
                    context! {
                        sid => "sid-current", current => true,
                        created_at => "2026-05-01 09:00", last_seen_at => "2026-05-01 09:05",
                        user_agent => "Safari on iPhone", ip => "192.0.2.1",
                    },
                    context! {
                        sid => "sid-other", current => false,
                        created_at => "2026-04-30 20:00", last_seen_at => "2026-04-30 21:00",
                        user_agent => "Edge on Windows", ip => "198.51.100.7",
                    },
                ],
                passkeys => vec![
                    context! {
                        credential_id => "cred-1", provider => "iCloud Keychain",
                        nickname => "iPhone", created_at => "2026-04-01 10:00",
                        last_used_at => "2026-05-01 09:00",
                        backup_eligible => true, backup_state => true,
                    },
                    context! {
                        credential_id => "cred-2", provider => "Windows Hello",
                        nickname => (), created_at => "2026-04-02 10:00",
                        last_used_at => (),
                        backup_eligible => false, backup_state => false,
                    },
                ],
                passkeys_enabled => true,
                passkeys_at_limit => false,
                passkey_signal => context! {
                    rp_id => "broker.example", user_id => "AAECAwQFBgcICQoLDA0ODw",
                    credential_ids => "cred-1 cred-2", user_name => "12345678",
                    display_name => "岩井 太郎", details => false,
                },
                ..common()
            },
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
            context! {
                qr_data_uri => "data:image/svg+xml;base64,PHN2Zy8+",
                secret => "JBSW Y3DP EHPK 3PXP",
                ..common()
            },
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
            context! { client_name => "PlusNet", ..common() },
            vec![
                r#"action="/logout""#,
                "PlusNet",
                r#"<button type="submit" id="logout-confirm""#,
                r#"href="/account""#,
            ],
        ),
        (
            "passkey_confirm",
            context! { return_to => "/account", ..common() },
            vec![
                r#"<button type="button" id="passkey-register-confirm""#,
                r#"<meta name="csrf-token" content="csrf-token-123">"#,
                r#"id="passkey-messages""#,
                "<noscript>",
            ],
        ),
        (
            "passkey_stepup",
            context! { has_passkeys => true, return_to => "/authorize/continue?x=1", ..common() },
            vec![
                r#"<button type="button" id="passkey-login""#,
                r#"data-passkey="stepup""#,
                r#"data-return-to="/authorize/continue?x=1""#,
            ],
        ),
        (
            "passkey_delete",
            context! {
                passkey => context! {
                    credential_id => "cred-1", provider => "", nickname => "",
                    created_at => "2026-04-01 10:00",
                },
                ..common()
            },
            vec![
                r#"action="/account/passkeys/delete""#,
                r#"name="credential_id" value="cred-1""#,
                r#"<button type="submit" id="passkey-delete-confirm""#,
            ],
        ),
        (
            "factor_email",
            context! {
                purpose => "step_up",
                emails => vec![context! { index => 0, masked => "abcd*****" }],
                totp_available => true,
                step_up => context! { return_to => "/account/totp", switch => "/stepup?method=totp&return_to=%2Faccount%2Ftotp" },
                ..common()
            },
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
            context! {
                purpose => "step_up",
                email_available => true,
                step_up => context! { return_to => "/account", switch => "/stepup?method=email&return_to=%2Faccount" },
                ..common()
            },
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
