//! Every path Kagi serves, spelled once.
//!
//! The route table (`http/mod.rs`), the redirects of the pages, the URLs the
//! protocol code builds (discovery, `return_to`, step-up links) and the
//! audiences of client assertions all name routes through these constants,
//! so a renamed route cannot leave a stale link behind. The templates keep
//! their literal paths; their tests (`templates/page_tests`) check the
//! rendered links. This module imports nothing, so every layer may use it.

/// OpenID Provider metadata (OIDC Discovery §4).
pub const DISCOVERY: &str = "/.well-known/openid-configuration";
/// The public signing keys (RFC 7517).
pub const JWKS: &str = "/jwks";
/// Liveness: the process answers.
pub const HEALTHZ: &str = "/healthz";
/// Readiness: the database answers.
pub const READYZ: &str = "/readyz";
/// Prometheus metrics.
pub const METRICS: &str = "/metrics";
/// The embedded CSS and JavaScript; the route pattern names the file.
pub const STATIC_FILE: &str = "/static/{file}";
/// Answered with an empty 404 so browsers stop asking.
pub const FAVICON: &str = "/favicon.ico";

/// The authorization endpoint (OIDC Core §3.1.2).
pub const AUTHORIZE: &str = "/authorize";
/// Where a stored authorization request resumes after a login or step-up.
pub const AUTHORIZE_CONTINUE: &str = "/authorize/continue";
/// The consent form's target.
pub const AUTHORIZE_CONSENT: &str = "/authorize/consent";
/// The consent form's "decline" target.
pub const AUTHORIZE_DECLINE: &str = "/authorize/decline";
/// The transaction confirmation's "cancel" target.
pub const AUTHORIZE_CANCEL: &str = "/authorize/cancel";
/// The token endpoint (OIDC Core §3.1.3).
pub const TOKEN: &str = "/token";
/// The userinfo endpoint (OIDC Core §5.3).
pub const USERINFO: &str = "/userinfo";
/// Pushed authorization requests (RFC 9126).
pub const PAR: &str = "/par";
/// Token revocation (RFC 7009).
pub const REVOKE: &str = "/revoke";
/// Token introspection (RFC 7662).
pub const INTROSPECT: &str = "/introspect";
/// RP-Initiated Logout (RP-Initiated Logout §2).
pub const END_SESSION: &str = "/session/end";
/// The logout confirmation form's target.
pub const END_SESSION_CONFIRM: &str = "/session/end/confirm";

/// The password step of the login.
pub const LOGIN: &str = "/login";
/// Choosing the address an email code goes to.
pub const LOGIN_EMAIL: &str = "/login/email";
/// Entering the emailed code.
pub const LOGIN_CODE: &str = "/login/code";
/// Entering an authenticator-app code.
pub const LOGIN_TOTP: &str = "/login/totp";
/// Logging out of the account pages.
pub const LOGOUT: &str = "/logout";
/// Step-up with a code (email or authenticator app).
pub const STEP_UP: &str = "/stepup";
/// Step-up with a passkey.
pub const STEP_UP_PASSKEY: &str = "/stepup/passkey";

/// The account page.
pub const ACCOUNT: &str = "/account";
/// Ending one of the customer's sessions.
pub const ACCOUNT_SESSIONS_END: &str = "/account/sessions/end";
/// Ending every session but this one.
pub const ACCOUNT_SESSIONS_END_OTHERS: &str = "/account/sessions/end-others";
/// Starting an authenticator-app enrolment.
pub const ACCOUNT_TOTP_START: &str = "/account/totp/start";
/// The authenticator-app enrolment page.
pub const ACCOUNT_TOTP: &str = "/account/totp";
/// Confirming an authenticator-app enrolment with a first code.
pub const ACCOUNT_TOTP_CONFIRM: &str = "/account/totp/confirm";
/// Asking to add a passkey.
pub const ACCOUNT_PASSKEYS_REGISTER: &str = "/account/passkeys/register";
/// The page that runs the passkey registration.
pub const ACCOUNT_PASSKEYS_CONFIRM: &str = "/account/passkeys/confirm";
/// The registration ceremony's options (WebAuthn).
pub const ACCOUNT_PASSKEYS_REGISTER_START: &str = "/account/passkeys/register/start";
/// The registration ceremony's answer (WebAuthn).
pub const ACCOUNT_PASSKEYS_REGISTER_FINISH: &str = "/account/passkeys/register/finish";
/// Renaming a passkey.
pub const ACCOUNT_PASSKEYS_RENAME: &str = "/account/passkeys/rename";
/// Deleting a passkey (`GET` asks, `POST` deletes).
pub const ACCOUNT_PASSKEYS_DELETE: &str = "/account/passkeys/delete";
/// The passkey login ceremony's options.
pub const PASSKEY_LOGIN_START: &str = "/passkey/login/start";
/// The passkey login ceremony's answer.
pub const PASSKEY_LOGIN_FINISH: &str = "/passkey/login/finish";
/// The passkey step-up ceremony's options.
pub const PASSKEY_STEP_UP_START: &str = "/passkey/stepup/start";
/// The passkey step-up ceremony's answer.
pub const PASSKEY_STEP_UP_FINISH: &str = "/passkey/stepup/finish";
/// The transaction confirmation ceremony's options.
pub const PASSKEY_CONFIRM_START: &str = "/passkey/confirm/start";
/// The transaction confirmation ceremony's answer.
pub const PASSKEY_CONFIRM_FINISH: &str = "/passkey/confirm/finish";

/// `path?query`; `query` must already be encoded.
pub fn with_query(path: &str, query: &str) -> String {
    format!("{path}?{query}")
}

/// The account page showing a notice (`notice=…`, a name from the catalogue).
pub fn account_notice(notice: &str) -> String {
    with_query(ACCOUNT, &format!("notice={notice}"))
}

/// The account page showing an error (`error=…`, a name from the catalogue).
pub fn account_error(error: &str) -> String {
    with_query(ACCOUNT, &format!("error={error}"))
}

/// Where a stored authorization request resumes: [`AUTHORIZE_CONTINUE`]
/// with the request's id.
pub fn authorize_continue(request_id: &str) -> String {
    with_query(AUTHORIZE_CONTINUE, &format!("request={request_id}"))
}
