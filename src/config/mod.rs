//! Kagi's one configuration: a TOML file (`KAGI_CONFIG`) overlaid by `KAGI_*`
//! environment variables, validated before anything binds a port.
//!
//! Every key has a default, so `kagi serve` runs with no configuration at all.
//! Each key can be set in the file by its name or in the environment as `KAGI_`
//! plus the name in capitals; the environment wins. [`SETTINGS`] is the single
//! list of keys: loading, `kagi config check`, the generated
//! `kagi.example.toml`, the documentation test and error messages all use it.
//!
//! - `settings.rs`: the table; each key once, with its type, default, help
//!   text and own range.
//! - `load.rs`: file, environment and defaults, read into typed settings.
//! - `validate.rs`: the rules between keys, and the typed [`Config`].
//! - `example.rs`: `kagi.example.toml`.
//!
//! [`Config`] keeps its own field list: it is the parsed, worked-out form
//! (URLs, socket address, durations, secrets) the rest of the crate reads,
//! and some of its fields are not keys at all (`tls` pairs two keys,
//! `database_is_sqlite` derives from one).

mod example;
mod load;
mod settings;
mod validate;

pub use example::example_toml;
pub use settings::{Kind, SETTINGS, Setting};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

/// Chooses how a customer who already has a passkey proves it is them before adding another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnrollmentStepUp {
    /// An email code or TOTP, as the broker's guide describes.
    Otp,
    /// A passkey when the customer has one, else an email code or TOTP.
    Strongest,
}

/// Where a setting's value came from, as `kagi config check` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Nobody set it: the documented default.
    Default,
    /// The TOML file named by `KAGI_CONFIG`.
    File,
    /// A `KAGI_*` environment variable.
    Environment,
}

/// One setting as it is in force: its value (secrets redacted) and where it came from.
#[derive(Clone, Debug)]
pub struct Effective {
    /// The setting.
    pub setting: &'static Setting,
    /// The value in force, `None` when unset; passwords in URLs are shown as `***`.
    pub value: Option<toml::Value>,
    /// Where the value came from.
    pub source: Source,
}

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The validated configuration. Build it with [`Config::load`].
#[derive(Clone, Debug)]
pub struct Config {
    /// Issuer URL without a trailing slash.
    pub issuer: Url,
    /// Address to bind.
    pub listen: std::net::SocketAddr,
    /// Database URL (may hold a password, hence secret).
    pub database_url: SecretString,
    /// Whether `database_url` names SQLite.
    pub database_is_sqlite: bool,
    /// Pool upper bound.
    pub database_max_connections: u32,
    /// How long a request waits for a pooled database connection.
    pub database_acquire_timeout: Duration,
    /// How long `/readyz` waits for the database.
    pub readiness_timeout: Duration,
    /// Signing key folder.
    pub keys_dir: PathBuf,
    /// SMTP URL, if mail is delivered for real.
    pub smtp_url: Option<SecretString>,
    /// Sender address.
    pub mail_from: String,
    /// Outbox folder used without SMTP.
    pub outbox_dir: PathBuf,
    /// WebAuthn RP ID.
    pub webauthn_rp_id: String,
    /// WebAuthn origins.
    pub webauthn_origins: Vec<Url>,
    /// TLS certificate and key paths, both or neither.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Time allowed for a request header (and a TLS handshake).
    pub header_read_timeout: Duration,
    /// Time an idle keep-alive connection is kept.
    pub keep_alive_timeout: Duration,
    /// Cap on client connections; `None` derives it from the open-file limit.
    pub max_connections: Option<u32>,
    /// Passkey cap per customer.
    pub max_passkeys: u32,
    /// Step-up rule for passkey enrollment.
    pub passkey_enrollment_step_up: EnrollmentStepUp,
    /// `acr` of a passkey login.
    pub acr_phr: String,
    /// `acr` of password + second factor.
    pub acr_mfa: String,
    /// Session idle timeout, seconds.
    pub session_idle_timeout_secs: i64,
    /// Session absolute lifetime, seconds.
    pub session_lifetime_secs: i64,
    /// Authorization code lifetime, seconds.
    pub code_ttl_secs: i64,
    /// ID token lifetime, seconds.
    pub id_token_ttl_secs: i64,
    /// Access token lifetime, seconds.
    pub access_token_ttl_secs: i64,
    /// Longest access-token lifetime of a confirmed transaction's grant.
    pub transaction_token_ttl_secs: i64,
    /// Refresh-token family lifetime, seconds.
    pub refresh_token_ttl_secs: i64,
    /// How far a DPoP proof's `iat` may be from now, seconds.
    pub dpop_proof_window_secs: i64,
    /// Require server nonces in DPoP proofs.
    pub dpop_nonce_required: bool,
    /// Period of the DPoP nonce, seconds.
    pub dpop_nonce_lifetime_secs: i64,
    /// Cache lifetime of JWKS and discovery, seconds.
    pub jwks_max_age_secs: i64,
    /// How long a fetched client key set is used, seconds.
    pub client_jwks_cache_secs: i64,
    /// Least time between fetches of one client's `jwks_uri`, seconds.
    pub client_jwks_refetch_secs: i64,
    /// Time limit of a `jwks_uri` fetch, seconds.
    pub client_jwks_timeout_secs: u64,
    /// Size limit of a `jwks_uri` response, bytes.
    pub client_jwks_max_bytes: usize,
    /// Fetch `jwks_uri` from non-public addresses too.
    pub client_jwks_allow_private: bool,
    /// Deliver back-channel logout tokens to non-public addresses too.
    pub backchannel_logout_allow_private: bool,
    /// How long a new key is published before it signs, seconds.
    pub key_publish_lead_secs: i64,
    /// Key list reload period, seconds.
    pub key_reload_secs: u64,
    /// Expired-row purge period, seconds.
    pub purge_interval_secs: u64,
    /// Concurrent password hashes.
    pub password_hash_concurrency: usize,
    /// Mail after each login.
    pub login_notification: bool,
    /// File of extra passwords to refuse.
    pub password_blocklist: Option<PathBuf>,
    /// Trust `X-Forwarded-For`.
    pub trust_forwarded_for: bool,
    /// Proxies of ours that append to `X-Forwarded-For` (at least 1).
    pub trusted_proxy_hops: usize,
    /// Log format.
    pub log_format: LogFormat,
    /// The file named by `KAGI_CONFIG`, if any.
    pub config_file: Option<PathBuf>,
    /// The keys that were set, with their (redacted) values and sources.
    given: BTreeMap<String, (toml::Value, Source)>,
}

/// A configuration that cannot be used; the message names the setting.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(String);

fn bad(setting: &str, why: impl std::fmt::Display) -> ConfigError {
    let env = format!("KAGI_{}", setting.to_ascii_uppercase());
    ConfigError(format!("`{setting}` ({env}): {why}"))
}

#[cfg(test)]
impl Config {
    /// A configuration from `KAGI_*` pairs, for unit tests; panics when invalid.
    pub(crate) fn for_tests(vars: &[(&str, &str)]) -> Self {
        Self::try_for_tests(vars).unwrap()
    }

    /// A configuration from `KAGI_*` pairs, for unit tests of refusals.
    pub(crate) fn try_for_tests(vars: &[(&str, &str)]) -> Result<Self, ConfigError> {
        Self::from_sources(
            vars.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }
}

impl Config {
    /// The issuer as the exact string used for `iss` (no trailing slash).
    pub fn issuer_str(&self) -> String {
        self.issuer.as_str().trim_end_matches('/').to_owned()
    }

    /// An absolute URL under the issuer, for discovery.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer_str())
    }

    /// The SQLite file `database_url` names, or `None` for PostgreSQL.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        validate::sqlite_path_of(self.database_url.expose_secret())
    }

    /// Every setting as it is in force, in [`SETTINGS`] order, secrets redacted.
    ///
    /// Values worked out at start (the RP ID and origins from the issuer, the
    /// hash concurrency from the cores, `mode=rwc` on SQLite URLs) are shown
    /// as worked out; every other value is the one given, or the documented
    /// default.
    pub fn effective(&self) -> Vec<Effective> {
        SETTINGS
            .iter()
            .map(|setting| {
                let given = self.given.get(setting.key);
                let value = self
                    .worked_out(setting.key)
                    .or_else(|| given.map(|(v, _)| v.clone()))
                    .or_else(|| load::default_value(setting));
                Effective {
                    setting,
                    value,
                    source: given.map_or(Source::Default, |(_, source)| *source),
                }
            })
            .collect()
    }

    fn worked_out(&self, key: &str) -> Option<toml::Value> {
        let text = |s: String| Some(toml::Value::String(s));
        match key {
            "issuer" => text(self.issuer_str()),
            "listen" => text(self.listen.to_string()),
            "database_url" => text(redact_url(self.database_url.expose_secret())),
            "webauthn_rp_id" => text(self.webauthn_rp_id.clone()),
            "webauthn_origins" => Some(toml::Value::Array(
                self.webauthn_origins
                    .iter()
                    .map(|o| toml::Value::String(o.origin().ascii_serialization()))
                    .collect(),
            )),
            "password_hash_concurrency" => Some(toml::Value::Integer(
                i64::try_from(self.password_hash_concurrency).unwrap_or(i64::MAX),
            )),
            _ => None,
        }
    }
}

/// `url` with any password replaced by `***`, for messages and `kagi config check`.
pub fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_environment_gives_the_documented_defaults() {
        let config = Config::try_for_tests(&[]).unwrap();
        assert_eq!(config.issuer_str(), "http://localhost:8080");
        assert_eq!(config.webauthn_rp_id, "localhost");
        assert_eq!(config.max_passkeys, 3);
        assert_eq!(config.passkey_enrollment_step_up, EnrollmentStepUp::Otp);
        assert!(config.database_is_sqlite);
        assert_eq!(config.code_ttl_secs, 60);
        assert_eq!(config.header_read_timeout, Duration::from_secs(10));
        assert_eq!(config.keep_alive_timeout, Duration::from_secs(60));
        assert_eq!(config.max_connections, None);
        assert_eq!(config.database_acquire_timeout, Duration::from_secs(5));
        assert_eq!(config.readiness_timeout, Duration::from_secs(1));
    }

    #[test]
    fn bad_values_name_the_setting_they_belong_to() {
        let cases: &[(&str, &str, &str)] = &[
            ("KAGI_MAX_PASSKEYS", "many", "KAGI_MAX_PASSKEYS"),
            ("KAGI_MAX_PASSKEYS", "0", "max_passkeys"),
            ("KAGI_ISSUER", "http://id.example.com", "issuer"),
            ("KAGI_LISTEN", "nowhere", "KAGI_LISTEN"),
            ("KAGI_DATABASE_URL", "mysql://x", "KAGI_DATABASE_URL"),
            ("KAGI_PASSKEY_ENROLLMENT_STEP_UP", "never", "never"),
            (
                "KAGI_LOGIN_NOTIFICATION",
                "perhaps",
                "KAGI_LOGIN_NOTIFICATION",
            ),
            ("KAGI_WEBAUTHN_RP_ID", "example.org", "KAGI_WEBAUTHN_RP_ID"),
            ("KAGI_TLS_CERT", "cert.pem", "KAGI_TLS_KEY"),
            ("KAGI_CODE_TTL_SECS", "600", "code_ttl_secs"),
            (
                "KAGI_CLIENT_JWKS_REFETCH_SECS",
                "600",
                "client_jwks_refetch_secs",
            ),
            ("KAGI_CLIENT_JWKS_MAX_BYTES", "100", "client_jwks_max_bytes"),
            ("KAGI_SMTP_URL", "http://mail", "KAGI_SMTP_URL"),
            (
                "KAGI_HEADER_READ_TIMEOUT_SECS",
                "0",
                "header_read_timeout_secs",
            ),
            ("KAGI_MAX_CONNECTIONS", "0", "max_connections"),
            (
                "KAGI_READINESS_TIMEOUT_SECS",
                "61",
                "readiness_timeout_secs",
            ),
            ("KAGI_TRUSTED_PROXY_HOPS", "0", "trusted_proxy_hops"),
        ];
        for (var, value, named) in cases {
            let err = Config::try_for_tests(&[(var, value)])
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(named),
                "{var}={value} gave `{err}`, which does not name {named}"
            );
        }
    }

    #[test]
    fn an_rp_id_outside_the_issuer_host_is_refused_with_the_fix() {
        let err = Config::try_for_tests(&[
            ("KAGI_ISSUER", "https://id.broker.example"),
            ("KAGI_WEBAUTHN_RP_ID", "broker.test"),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("KAGI_WEBAUTHN_RP_ID"), "{err}");
        assert!(
            err.contains("unset it") && err.contains("`id.broker.example`"),
            "{err}"
        );
        assert!(
            Config::try_for_tests(&[
                ("KAGI_ISSUER", "https://id.broker.example"),
                ("KAGI_WEBAUTHN_RP_ID", "broker.example")
            ])
            .is_ok()
        );
    }
}
