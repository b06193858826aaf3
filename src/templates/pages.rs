//! What each hosted page's template reads: one `Serialize` struct per page.
//!
//! The structs live here, beside the template list, rather than in the
//! handlers: a struct is the contract of its template, several handlers fill
//! the same one (`factor_email.html` serves login and step-up), and the unit
//! tests in `page_tests/` render every page from these same types. Templates
//! are strict about undefined values, so a field a template reads and its
//! struct lacks fails those tests. A template that tests a name with
//! `is defined` gets it skipped when `None` (`step_up`); elsewhere `None` is
//! the template's "none".
//!
//! [`Frame`] is what `base.html` reads around every page; [`framed`] joins it
//! with a page's own context.

use minijinja::value::{Serde, Value, merge_maps};
use serde::Serialize;

/// What `base.html` reads on every page: the CSRF token, the language links
/// and the page's messages (catalogue keys).
#[derive(Debug, Serialize)]
pub struct Frame<'a> {
    /// The session's CSRF token, put into every form (empty on error pages).
    pub csrf: &'a str,
    /// Links to this page in each language.
    pub lang_urls: Option<LangUrls>,
    /// `role="alert"` message.
    pub error: Option<&'a str>,
    /// `role="status"` message.
    pub notice: Option<&'a str>,
}

/// The header's language links.
#[derive(Debug, Serialize)]
pub struct LangUrls {
    /// The page in Japanese.
    pub ja: String,
    /// The page in English.
    pub en: String,
}

/// `page`'s context with `frame` over it: the frame's names win, as a page
/// must not replace the CSRF token or the messages.
pub fn framed(frame: &Frame<'_>, page: &impl Serialize) -> Value {
    merge_maps([Value::from(Serde(page)), Value::from(Serde(frame))])
}

/// `login.html`: customer code and password, or a passkey.
#[derive(Debug, Serialize)]
pub struct LoginPage<'a> {
    /// The code typed so far, shown again after a failure.
    pub customer_code: &'a str,
    /// Where the login continues.
    pub return_to: &'a str,
    /// Whether the passkey button is shown.
    pub passkey_enabled: bool,
}

/// `factor_email.html`: the masked addresses a code can go to.
#[derive(Debug, Serialize)]
pub struct FactorEmailPage<'a> {
    /// `login` or `step_up`: the heading and lead to show.
    pub purpose: &'a str,
    /// The addresses, masked.
    pub emails: Vec<MaskedEmail>,
    /// Whether the link to an app code is shown.
    pub totp_available: bool,
    /// Set when the page serves a step-up rather than a login.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_up: Option<StepUp<'a>>,
}

/// One address on [`FactorEmailPage`].
#[derive(Debug, Serialize)]
pub struct MaskedEmail {
    /// Its position among the customer's addresses, the form's value.
    pub index: usize,
    /// The address with most of it hidden.
    pub masked: String,
}

/// A step-up form's continuation and its link to the other factor.
#[derive(Debug, Serialize)]
pub struct StepUp<'a> {
    /// Where the step-up continues.
    pub return_to: &'a str,
    /// The same step-up with the other factor.
    pub switch: String,
}

/// `factor_code.html`: enter the code mailed to `masked`.
#[derive(Debug, Serialize)]
pub struct FactorCodePage<'a> {
    /// `login` or `step_up`.
    pub purpose: &'a str,
    /// The address the code went to, masked.
    pub masked: String,
}

/// `factor_totp.html`: enter the authenticator app's code.
#[derive(Debug, Serialize)]
pub struct FactorTotpPage<'a> {
    /// `login` or `step_up`.
    pub purpose: &'a str,
    /// Whether the link to an email code is shown.
    pub email_available: bool,
    /// Set when the page serves a step-up rather than a login.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_up: Option<StepUp<'a>>,
}

/// `message.html`: a heading, a text and perhaps a link (catalogue keys).
#[derive(Debug, Serialize)]
pub struct MessagePage<'a> {
    /// Catalogue key of the heading.
    pub heading: &'a str,
    /// Catalogue key of the text.
    pub message: &'a str,
    /// A value shown under the text, such as a time.
    pub detail: Option<String>,
    /// A button to go on with.
    pub link: Option<Link<'a>>,
}

/// A link on [`MessagePage`].
#[derive(Debug, Serialize)]
pub struct Link<'a> {
    /// Where it goes.
    pub href: &'a str,
    /// Catalogue key of its label.
    pub label_key: &'a str,
}

/// `account.html`: the customer's addresses, factors, passkeys and sessions.
#[derive(Debug, Serialize)]
pub struct AccountPage<'a> {
    /// Whose account it is.
    pub customer: AccountHolder<'a>,
    /// The addresses, masked.
    pub emails: Vec<String>,
    /// Whether an authenticator app is set up.
    pub totp_enrolled: bool,
    /// The customer's live sessions.
    pub sessions: Vec<SessionItem<'a>>,
    /// The customer's passkeys.
    pub passkeys: Vec<PasskeyItem<'a>>,
    /// Whether passkeys can be added at all.
    pub passkeys_enabled: bool,
    /// Whether the customer has as many passkeys as allowed.
    pub passkeys_at_limit: bool,
    /// What the page's script passes to the WebAuthn Signal API.
    pub passkey_signal: Option<PasskeySignal<'a>>,
}

/// The names on [`AccountPage`].
#[derive(Debug, Serialize)]
pub struct AccountHolder<'a> {
    /// The customer's name.
    pub name: &'a str,
    /// The customer code.
    pub customer_code: &'a str,
}

/// One session on [`AccountPage`].
#[derive(Debug, Serialize)]
pub struct SessionItem<'a> {
    /// The session's id, the value of its "end" form.
    pub sid: &'a str,
    /// Whether it is the browser's own session.
    pub current: bool,
    /// When it began.
    pub created_at: String,
    /// When it was last used.
    pub last_seen_at: String,
    /// The browser, or `-`.
    pub user_agent: &'a str,
    /// The address, or `-`.
    pub ip: &'a str,
}

/// One passkey on [`AccountPage`] and [`PasskeyDeletePage`].
#[derive(Debug, Serialize)]
pub struct PasskeyItem<'a> {
    /// Its credential ID (base64url), the value of its forms.
    pub credential_id: &'a str,
    /// The authenticator's maker, from its AAGUID; empty when unknown.
    pub provider: &'a str,
    /// The customer's name for it; empty when none.
    pub nickname: &'a str,
    /// When it was registered.
    pub created_at: String,
    /// When it last logged in.
    pub last_used_at: Option<String>,
    /// Whether it may be synced.
    pub backup_eligible: bool,
    /// Whether it is synced.
    pub backup_state: bool,
}

/// The WebAuthn Signal API's arguments on [`AccountPage`].
#[derive(Debug, Serialize)]
pub struct PasskeySignal<'a> {
    /// The relying-party ID.
    pub rp_id: &'a str,
    /// The user handle, base64url.
    pub user_id: String,
    /// Every credential still registered, separated by spaces.
    pub credential_ids: String,
    /// The user name the authenticator shows.
    pub user_name: &'a str,
    /// The display name the authenticator shows.
    pub display_name: &'a str,
    /// Whether the names are signalled too (after a rename).
    pub details: bool,
}

/// `totp_enroll.html`: the QR code and secret of a new authenticator app.
#[derive(Debug, Serialize)]
pub struct TotpEnrollPage<'a> {
    /// The QR code as an SVG `data:` URI.
    pub qr_data_uri: &'a str,
    /// The secret in groups, for typing.
    pub secret: &'a str,
}

/// `logout.html`: asks before logging out.
#[derive(Debug, Default, Serialize)]
pub struct LogoutPage<'a> {
    /// The site that asked for the logout, if one did.
    pub client_name: Option<&'a str>,
    /// Where the form posts; `/logout` when `None`.
    pub action: Option<&'a str>,
    /// Hidden fields the form carries on.
    pub fields: Vec<HiddenField<'a>>,
}

/// A hidden form field on [`LogoutPage`].
#[derive(Debug, Serialize)]
pub struct HiddenField<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its value.
    pub value: &'a str,
}

/// `passkey_confirm.html`: explains the device's check before a registration.
#[derive(Debug, Serialize)]
pub struct PasskeyConfirmPage<'a> {
    /// Where to go once the passkey is registered.
    pub return_to: &'a str,
}

/// `passkey_stepup.html`: asks for a passkey again.
#[derive(Debug, Serialize)]
pub struct PasskeyStepUpPage<'a> {
    /// Where to go once the passkey is checked.
    pub return_to: &'a str,
    /// Whether the customer has a passkey to use.
    pub has_passkeys: bool,
}

/// `passkey_delete.html`: asks before deleting a passkey.
#[derive(Debug, Serialize)]
pub struct PasskeyDeletePage<'a> {
    /// The passkey to delete.
    pub passkey: PasskeyItem<'a>,
}
