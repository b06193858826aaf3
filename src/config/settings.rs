//! The settings table: every key Kagi reads, declared once with its type, its
//! documented default, its help text and the rule its value must meet.
//!
//! The [`settings!`] invocation below is the only place a key is named. From
//! it come [`SETTINGS`] (what loading, `kagi config check`, the example file
//! and the documentation test walk through) and [`Settings`], the typed shape
//! the file and environment are read into. A key's default is written only as
//! the text in its row: loading puts that text into the table before reading
//! it (see `load.rs`), so the value in force and the documented default
//! cannot drift apart. Defaults in parentheses, such as `(unset)` or
//! `(issuer host)`, are not values: their keys have an `Option` type and are
//! worked out in `validate.rs`, which also holds the rules that tie one key
//! to another.

use std::fmt::Display;
use std::path::PathBuf;

use serde::Deserialize;

use super::{ConfigError, EnrollmentStepUp, LogFormat, bad};

/// How a setting's text from the environment is turned into a TOML value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Free text.
    Text,
    /// A non-negative whole number.
    Integer,
    /// `true` or `false`.
    Boolean,
    /// A comma-separated list of text values.
    List,
}

/// One configuration key: its file name, kind, default (as shown in the README) and purpose.
#[derive(Clone, Copy, Debug)]
pub struct Setting {
    /// The key in the TOML file; the environment variable is `KAGI_` + this in capitals.
    pub key: &'static str,
    /// How an environment value is parsed.
    pub kind: Kind,
    /// The default, as documented.
    pub default: &'static str,
    /// What the setting does.
    pub help: &'static str,
}

impl Setting {
    /// The environment variable that overrides this key.
    pub fn env_name(&self) -> String {
        format!("KAGI_{}", self.key.to_ascii_uppercase())
    }
}

/// The [`Kind`] of each Rust type a setting may have, so a row names its type
/// once and its kind follows.
trait SettingType {
    const KIND: Kind;
}

macro_rules! kinds {
    ($($kind:ident: $($ty:ty),+;)+) => {
        $($(impl SettingType for $ty { const KIND: Kind = Kind::$kind; })+)+
    };
}

kinds! {
    Text: String, PathBuf, EnrollmentStepUp, LogFormat;
    Integer: u32, u64, i64, usize;
    Boolean: bool;
    List: Vec<String>;
}

impl<T: SettingType> SettingType for Option<T> {
    const KIND: Kind = T::KIND;
}

/// Declares the settings: each row is
/// `/// help` `key: Type = "default"`, optionally followed by `, check RULE`,
/// where `RULE` is called with a reference to the value and returns the
/// reason it is refused.
macro_rules! settings {
    ($(
        $(#[doc = $doc:literal])+
        $key:ident: $ty:ty = $default:literal $(, check $check:expr)?;
    )+) => {
        /// Every configuration key Kagi reads, in README order.
        pub const SETTINGS: &[Setting] = &[$(
            Setting {
                key: stringify!($key),
                kind: <$ty as SettingType>::KIND,
                default: $default,
                // Each `///` line arrives with its leading space; joined, only
                // the first one is left over.
                help: concat!($($doc),+).trim_ascii_start(),
            },
        )+];

        /// The file and environment read into Rust types, each key once,
        /// before the rules that tie keys together (`validate.rs`).
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub(super) struct Settings {
            $(
                $(#[doc = $doc])+
                pub(super) $key: $ty,
            )+
        }

        impl Settings {
            /// Applies each key's own rule, in table order.
            pub(super) fn check(&self) -> Result<(), ConfigError> {
                $($(
                    ($check)(&self.$key).map_err(|why| bad(stringify!($key), why))?;
                )?)+
                Ok(())
            }
        }
    };
}

settings! {
    /// Issuer URL: https, or http on localhost for development. Every endpoint URL derives from it.
    issuer: String = "http://localhost:8080";
    /// Socket address the server binds.
    listen: String = "127.0.0.1:8080";
    /// `sqlite://PATH` (embedded, WAL; the file and its folder are created) or `postgres://...` for several nodes.
    database_url: String = "sqlite://data/kagi.db";
    /// Upper bound of the database pool.
    database_max_connections: u32 = "16";
    /// How long a request waits for a database connection; past it the request is answered 503 with `Retry-After`.
    database_acquire_timeout_secs: i64 = "5", check seconds(300);
    /// `/readyz` answers 503 if the database has not answered within this long, whatever the pool is doing.
    readiness_timeout_secs: i64 = "1", check seconds(60);
    /// Folder of the signing keys; generated there on first start.
    keys_dir: PathBuf = "keys";
    /// SMTP server, e.g. `smtps://user:pass@host:465` or `smtp://host:587?tls=required`; unset writes mail to `outbox_dir`.
    smtp_url: Option<String> = "(unset)";
    /// Sender of every mail.
    mail_from: String = "Kagi <no-reply@localhost>", check not_empty;
    /// Where mail goes when `smtp_url` is unset.
    outbox_dir: PathBuf = "outbox";
    /// WebAuthn relying-party ID: the issuer's host or a registrable suffix of it.
    webauthn_rp_id: Option<String> = "(issuer host)";
    /// Comma-separated origins allowed in WebAuthn ceremonies.
    webauthn_origins: Option<Vec<String>> = "(issuer origin)";
    /// PEM certificate chain for built-in TLS; set together with `tls_key`.
    tls_cert: Option<PathBuf> = "(unset)";
    /// PEM private key for built-in TLS.
    tls_key: Option<PathBuf> = "(unset)";
    /// A connection must deliver a request's whole header (and finish its TLS handshake) within this long of opening, or of the first byte after an idle spell; else it is closed.
    header_read_timeout_secs: i64 = "10", check seconds(3600);
    /// An idle keep-alive connection is closed after this long without a request.
    keep_alive_timeout_secs: i64 = "60", check seconds(3600);
    /// Most client connections held at once; at the cap the oldest one not in a request is closed for the newcomer. Default 1024, or fewer if the open-file limit is lower: the limit minus 64 minus 3 per database connection.
    max_connections: Option<u32> = "(from the open-file limit)", check unset_or_positive;
    /// Most passkeys one customer may register (the broker's rule is 3).
    max_passkeys: u32 = "3", check within(1, 20, "");
    /// `otp`: adding a passkey needs an email code or TOTP; `strongest`: a customer with a passkey must use it.
    passkey_enrollment_step_up: EnrollmentStepUp = "otp";
    /// `acr` value of a passkey login.
    acr_phr: String = "phr", check not_empty;
    /// `acr` value of password + second factor.
    acr_mfa: String = "urn:kagi:acr:mfa", check not_empty;
    /// A browser session ends after this long without use.
    session_idle_timeout_secs: i64 = "3600", check seconds(86_400);
    /// A browser session ends this long after login, used or not (at most 24 h).
    session_lifetime_secs: i64 = "43200", check seconds(86_400);
    /// Lifetime of an authorization code (at most 60 s).
    code_ttl_secs: i64 = "60", check seconds(60);
    /// Lifetime of an ID token.
    id_token_ttl_secs: i64 = "300", check seconds(86_400);
    /// Lifetime of an access token.
    access_token_ttl_secs: i64 = "600", check seconds(86_400);
    /// Longest lifetime of an access token granted for one confirmed transaction (`authorization_details`); the shorter of this and `access_token_ttl_secs` applies. Such grants get no refresh token.
    transaction_token_ttl_secs: i64 = "120", check seconds(3_600);
    /// Absolute lifetime of a refresh-token family.
    refresh_token_ttl_secs: i64 = "2592000", check seconds(366 * 86_400);
    /// How far a DPoP proof's `iat` may be from the server's clock, either way (RFC 9449 §11.1); its `jti` is kept this long.
    dpop_proof_window_secs: i64 = "60", check within(10, 300, " seconds");
    /// Require a server nonce (`DPoP-Nonce`, error `use_dpop_nonce`) in every DPoP proof (RFC 9449 §8, §9).
    dpop_nonce_required: bool = "false";
    /// How often the DPoP nonce changes; a nonce is accepted in its own period and the next.
    dpop_nonce_lifetime_secs: i64 = "300", check within(10, 3600, " seconds");
    /// How long a client's key set fetched from its `jwks_uri` is used before it is fetched again.
    client_jwks_cache_secs: i64 = "300", check seconds(86_400);
    /// Least time between two fetches of one client's `jwks_uri` when an assertion names an unknown `kid` or the last fetch failed; at most `client_jwks_cache_secs`.
    client_jwks_refetch_secs: i64 = "60", check seconds(86_400);
    /// Time allowed for fetching a client's `jwks_uri`, from name lookup to the last byte.
    client_jwks_timeout_secs: i64 = "3", check seconds(30);
    /// Largest `jwks_uri` response accepted.
    client_jwks_max_bytes: i64 = "65536", check within(1024, 1_048_576, " bytes");
    /// Also fetch `jwks_uri` from private, loopback, link-local and other non-public addresses (tests, closed networks).
    client_jwks_allow_private: bool = "false";
    /// Also deliver back-channel logout tokens to private, loopback, link-local and other non-public addresses. Unset: only when the issuer itself is on a loopback host (development).
    backchannel_logout_allow_private: Option<bool> = "(issuer on loopback)";
    /// `Cache-Control: max-age` of the JWKS and discovery documents.
    jwks_max_age_secs: i64 = "600", check seconds(86_400);
    /// A rotated-in key is published this long before it signs; at least `jwks_max_age_secs`.
    key_publish_lead_secs: i64 = "3600", check seconds(30 * 86_400);
    /// How often a node re-reads the key list, to see rotations made elsewhere.
    key_reload_secs: u64 = "60";
    /// How often expired rows are deleted.
    purge_interval_secs: u64 = "300";
    /// Password hashes computed at once; more wait their turn.
    password_hash_concurrency: Option<usize> = "(cores)", check unset_or_positive;
    /// File of passwords to refuse (one per line, e.g. a breached-password list), on top of the built-in list.
    password_blocklist: Option<PathBuf> = "(unset)";
    /// Mail the customer after every successful login.
    login_notification: bool = "false";
    /// Take the client IP from `X-Forwarded-For`, as added by the trusted proxies (see `trusted_proxy_hops`).
    trust_forwarded_for: bool = "false";
    /// With `trust_forwarded_for`: how many proxies of yours append to `X-Forwarded-For`; the client IP is that many entries from the right.
    trusted_proxy_hops: usize = "1", check within(1, 16, "");
    /// `text` or `json` log lines.
    log_format: LogFormat = "text";
}

/// A whole number within `lo..=hi`; `unit` (with its leading space) follows
/// the range in the message.
fn within<T: Copy + PartialOrd + Display>(
    lo: T,
    hi: T,
    unit: &'static str,
) -> impl Fn(&T) -> Result<(), String> {
    move |value| {
        if (lo..=hi).contains(value) {
            Ok(())
        } else {
            Err(format!("{value} is outside {lo}..={hi}{unit}"))
        }
    }
}

/// A number of seconds from 1 to `max`.
fn seconds(max: i64) -> impl Fn(&i64) -> Result<(), String> {
    within(1, max, " seconds")
}

/// Text with something besides spaces in it.
fn not_empty(value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("must not be empty".to_owned());
    }
    Ok(())
}

/// Unset (worked out at start), or at least 1.
fn unset_or_positive<T: PartialOrd + From<u8>>(value: &Option<T>) -> Result<(), String> {
    match value {
        Some(n) if *n < T::from(1) => Err("must be at least 1".to_owned()),
        _ => Ok(()),
    }
}
