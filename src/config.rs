//! Kagi's one configuration: a TOML file (`KAGI_CONFIG`) overlaid by `KAGI_*`
//! environment variables, validated before anything binds a port.
//!
//! Every key has a default, so `kagi serve` runs with no configuration at all.
//! Each key can be set in the file by its name or in the environment as `KAGI_`
//! plus the name in capitals; the environment wins. [`SETTINGS`] is the single
//! list of keys: loading, `kagi config check`, the generated
//! `kagi.example.toml`, the documentation test and error messages all use it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

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

macro_rules! setting {
    ($key:literal, $kind:ident, $default:literal, $help:literal) => {
        Setting {
            key: $key,
            kind: Kind::$kind,
            default: $default,
            help: $help,
        }
    };
}

/// Every configuration key Kagi reads, in README order.
pub const SETTINGS: &[Setting] = &[
    setting!(
        "issuer",
        Text,
        "http://localhost:8080",
        "Issuer URL: https, or http on localhost for development. Every endpoint URL derives from it."
    ),
    setting!(
        "listen",
        Text,
        "127.0.0.1:8080",
        "Socket address the server binds."
    ),
    setting!(
        "database_url",
        Text,
        "sqlite://data/kagi.db",
        "`sqlite://PATH` (embedded, WAL; the file and its folder are created) or `postgres://...` for several nodes."
    ),
    setting!(
        "database_max_connections",
        Integer,
        "16",
        "Upper bound of the database pool."
    ),
    setting!(
        "database_acquire_timeout_secs",
        Integer,
        "5",
        "How long a request waits for a database connection; past it the request is answered 503 with `Retry-After`."
    ),
    setting!(
        "readiness_timeout_secs",
        Integer,
        "1",
        "`/readyz` answers 503 if the database has not answered within this long, whatever the pool is doing."
    ),
    setting!(
        "keys_dir",
        Text,
        "keys",
        "Folder of the signing keys; generated there on first start."
    ),
    setting!(
        "smtp_url",
        Text,
        "(unset)",
        "SMTP server, e.g. `smtps://user:pass@host:465` or `smtp://host:587?tls=required`; unset writes mail to `outbox_dir`."
    ),
    setting!(
        "mail_from",
        Text,
        "Kagi <no-reply@localhost>",
        "Sender of every mail."
    ),
    setting!(
        "outbox_dir",
        Text,
        "outbox",
        "Where mail goes when `smtp_url` is unset."
    ),
    setting!(
        "webauthn_rp_id",
        Text,
        "(issuer host)",
        "WebAuthn relying-party ID: the issuer's host or a registrable suffix of it."
    ),
    setting!(
        "webauthn_origins",
        List,
        "(issuer origin)",
        "Comma-separated origins allowed in WebAuthn ceremonies."
    ),
    setting!(
        "tls_cert",
        Text,
        "(unset)",
        "PEM certificate chain for built-in TLS; set together with `tls_key`."
    ),
    setting!(
        "tls_key",
        Text,
        "(unset)",
        "PEM private key for built-in TLS."
    ),
    setting!(
        "header_read_timeout_secs",
        Integer,
        "10",
        "A connection must deliver a request's whole header (and finish its TLS handshake) within this long of opening, or of the first byte after an idle spell; else it is closed."
    ),
    setting!(
        "keep_alive_timeout_secs",
        Integer,
        "60",
        "An idle keep-alive connection is closed after this long without a request."
    ),
    setting!(
        "max_connections",
        Integer,
        "(from the open-file limit)",
        "Most client connections held at once; at the cap the oldest one not in a request is closed for the newcomer. Default 1024, or fewer if the open-file limit is lower: the limit minus 64 minus 3 per database connection."
    ),
    setting!(
        "max_passkeys",
        Integer,
        "3",
        "Most passkeys one customer may register (the broker's rule is 3)."
    ),
    setting!(
        "passkey_enrollment_step_up",
        Text,
        "otp",
        "`otp`: adding a passkey needs an email code or TOTP; `strongest`: a customer with a passkey must use it."
    ),
    setting!("acr_phr", Text, "phr", "`acr` value of a passkey login."),
    setting!(
        "acr_mfa",
        Text,
        "urn:kagi:acr:mfa",
        "`acr` value of password + second factor."
    ),
    setting!(
        "session_idle_timeout_secs",
        Integer,
        "3600",
        "A browser session ends after this long without use."
    ),
    setting!(
        "session_lifetime_secs",
        Integer,
        "43200",
        "A browser session ends this long after login, used or not (at most 24 h)."
    ),
    setting!(
        "code_ttl_secs",
        Integer,
        "60",
        "Lifetime of an authorization code (at most 60 s)."
    ),
    setting!(
        "id_token_ttl_secs",
        Integer,
        "300",
        "Lifetime of an ID token."
    ),
    setting!(
        "access_token_ttl_secs",
        Integer,
        "600",
        "Lifetime of an access token."
    ),
    setting!(
        "refresh_token_ttl_secs",
        Integer,
        "2592000",
        "Absolute lifetime of a refresh-token family."
    ),
    setting!(
        "client_jwks_cache_secs",
        Integer,
        "300",
        "How long a client's key set fetched from its `jwks_uri` is used before it is fetched again."
    ),
    setting!(
        "client_jwks_refetch_secs",
        Integer,
        "60",
        "Least time between two fetches of one client's `jwks_uri` when an assertion names an unknown `kid` or the last fetch failed; at most `client_jwks_cache_secs`."
    ),
    setting!(
        "client_jwks_timeout_secs",
        Integer,
        "3",
        "Time allowed for fetching a client's `jwks_uri`, from name lookup to the last byte."
    ),
    setting!(
        "client_jwks_max_bytes",
        Integer,
        "65536",
        "Largest `jwks_uri` response accepted."
    ),
    setting!(
        "client_jwks_allow_private",
        Boolean,
        "false",
        "Also fetch `jwks_uri` from private, loopback, link-local and other non-public addresses (tests, closed networks)."
    ),
    setting!(
        "jwks_max_age_secs",
        Integer,
        "600",
        "`Cache-Control: max-age` of the JWKS and discovery documents."
    ),
    setting!(
        "key_publish_lead_secs",
        Integer,
        "3600",
        "A rotated-in key is published this long before it signs; at least `jwks_max_age_secs`."
    ),
    setting!(
        "key_reload_secs",
        Integer,
        "60",
        "How often a node re-reads the key list, to see rotations made elsewhere."
    ),
    setting!(
        "purge_interval_secs",
        Integer,
        "300",
        "How often expired rows are deleted."
    ),
    setting!(
        "password_hash_concurrency",
        Integer,
        "(cores)",
        "Password hashes computed at once; more wait their turn."
    ),
    setting!(
        "password_blocklist",
        Text,
        "(unset)",
        "File of passwords to refuse (one per line, e.g. a breached-password list), on top of the built-in list."
    ),
    setting!(
        "login_notification",
        Boolean,
        "false",
        "Mail the customer after every successful login."
    ),
    setting!(
        "trust_forwarded_for",
        Boolean,
        "false",
        "Take the client IP from `X-Forwarded-For`, as added by the trusted proxies (see `trusted_proxy_hops`)."
    ),
    setting!(
        "trusted_proxy_hops",
        Integer,
        "1",
        "With `trust_forwarded_for`: how many proxies of yours append to `X-Forwarded-For`; the client IP is that many entries from the right."
    ),
    setting!("log_format", Text, "text", "`text` or `json` log lines."),
];

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
    /// Refresh-token family lifetime, seconds.
    pub refresh_token_ttl_secs: i64,
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

/// The file-and-environment shape before validation; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    issuer: Option<String>,
    listen: Option<String>,
    database_url: Option<String>,
    database_max_connections: Option<u32>,
    database_acquire_timeout_secs: Option<i64>,
    readiness_timeout_secs: Option<i64>,
    keys_dir: Option<PathBuf>,
    smtp_url: Option<String>,
    mail_from: Option<String>,
    outbox_dir: Option<PathBuf>,
    webauthn_rp_id: Option<String>,
    webauthn_origins: Option<Vec<String>>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    header_read_timeout_secs: Option<i64>,
    keep_alive_timeout_secs: Option<i64>,
    max_connections: Option<u32>,
    max_passkeys: Option<u32>,
    passkey_enrollment_step_up: Option<EnrollmentStepUp>,
    acr_phr: Option<String>,
    acr_mfa: Option<String>,
    session_idle_timeout_secs: Option<i64>,
    session_lifetime_secs: Option<i64>,
    code_ttl_secs: Option<i64>,
    id_token_ttl_secs: Option<i64>,
    access_token_ttl_secs: Option<i64>,
    refresh_token_ttl_secs: Option<i64>,
    jwks_max_age_secs: Option<i64>,
    client_jwks_cache_secs: Option<i64>,
    client_jwks_refetch_secs: Option<i64>,
    client_jwks_timeout_secs: Option<i64>,
    client_jwks_max_bytes: Option<i64>,
    client_jwks_allow_private: Option<bool>,
    key_publish_lead_secs: Option<i64>,
    key_reload_secs: Option<u64>,
    purge_interval_secs: Option<u64>,
    password_hash_concurrency: Option<usize>,
    login_notification: Option<bool>,
    password_blocklist: Option<PathBuf>,
    trust_forwarded_for: Option<bool>,
    trusted_proxy_hops: Option<usize>,
    log_format: Option<LogFormat>,
}

/// A configuration that cannot be used; the message names the setting.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(String);

fn bad(setting: &str, why: impl std::fmt::Display) -> ConfigError {
    let env = format!("KAGI_{}", setting.to_ascii_uppercase());
    ConfigError(format!("`{setting}` ({env}): {why}"))
}

impl Config {
    /// A configuration from `KAGI_*` pairs, for unit tests; panics when invalid.
    #[cfg(test)]
    pub(crate) fn for_tests(vars: &[(&str, &str)]) -> Self {
        Self::from_sources(
            vars.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
        .unwrap()
    }
}

impl Config {
    /// Loads the file named by `KAGI_CONFIG` (if any), overlays the process environment and validates.
    pub fn load() -> Result<Self, ConfigError> {
        let vars: Vec<(String, String)> = std::env::vars().collect();
        Self::from_sources(vars)
    }

    /// Loads from an explicit set of environment variables (tests pass their own).
    pub fn from_sources(vars: Vec<(String, String)>) -> Result<Self, ConfigError> {
        let lookup = |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let config_file = lookup("KAGI_CONFIG").map(PathBuf::from);
        let mut table = match &config_file {
            Some(path) => read_file(path)?,
            None => toml::Table::new(),
        };
        let mut sources: BTreeMap<String, Source> =
            table.keys().map(|k| (k.clone(), Source::File)).collect();
        for setting in SETTINGS {
            if let Some(text) = lookup(&setting.env_name()) {
                table.insert(setting.key.to_owned(), env_value(setting, &text)?);
                sources.insert(setting.key.to_owned(), Source::Environment);
            }
        }
        let given = table
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), (redact_value(k, v), *sources.get(k)?))))
            .collect();
        let raw = Raw::deserialize(toml::Value::Table(table))
            .map_err(|e| ConfigError(e.message().to_owned()))?;
        let mut config = validate(raw)?;
        config.config_file = config_file;
        config.given = given;
        Ok(config)
    }
}

fn read_file(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError(format!(
            "cannot read KAGI_CONFIG file {}: {e}",
            path.display()
        ))
    })?;
    text.parse::<toml::Table>()
        .map_err(|e| ConfigError(format!("{} is not valid TOML: {e}", path.display())))
}

fn env_value(setting: &Setting, text: &str) -> Result<toml::Value, ConfigError> {
    let text = text.trim();
    Ok(match setting.kind {
        Kind::Text => toml::Value::String(text.to_owned()),
        Kind::Integer => toml::Value::Integer(
            text.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| {
                    bad(
                        setting.key,
                        format!("`{text}` is not a non-negative whole number"),
                    )
                })?,
        ),
        Kind::Boolean => toml::Value::Boolean(match text {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            _ => return Err(bad(setting.key, format!("`{text}` is not true or false"))),
        }),
        Kind::List => toml::Value::Array(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_owned()))
                .collect(),
        ),
    })
}

fn validate(raw: Raw) -> Result<Config, ConfigError> {
    let issuer = parse_issuer(raw.issuer.as_deref().unwrap_or("http://localhost:8080"))?;
    let host = issuer.host_str().unwrap_or_default().to_owned();
    let listen = raw.listen.as_deref().unwrap_or("127.0.0.1:8080");
    let listen = listen.parse().map_err(|_| {
        bad(
            "listen",
            format!("`{listen}` is not an address like 127.0.0.1:8080"),
        )
    })?;
    let database_url = database_url(
        raw.database_url
            .as_deref()
            .unwrap_or("sqlite://data/kagi.db"),
    )?;
    let database_is_sqlite = database_url.starts_with("sqlite:");
    let webauthn_rp_id = raw.webauthn_rp_id.unwrap_or_else(|| host.clone());
    if !(host == webauthn_rp_id || host.ends_with(&format!(".{webauthn_rp_id}"))) {
        return Err(bad(
            "webauthn_rp_id",
            format!(
                "`{webauthn_rp_id}` is neither the issuer host `{host}` nor a parent domain of it, \
                 so browsers would refuse every passkey; unset it (the issuer host is the default) \
                 or set it to `{host}` or a parent domain of it"
            ),
        ));
    }
    if webauthn_rp_id.parse::<std::net::IpAddr>().is_ok() {
        return Err(bad(
            "webauthn_rp_id",
            "WebAuthn needs a host name, not an IP address: use an issuer such as \
             http://localhost:8080 in development",
        ));
    }
    let webauthn_origins = match raw.webauthn_origins {
        Some(list) if !list.is_empty() => list
            .iter()
            .map(|o| Url::parse(o).map_err(|e| bad("webauthn_origins", format!("`{o}`: {e}"))))
            .collect::<Result<Vec<_>, _>>()?,
        _ => vec![issuer.clone()],
    };
    let tls = match (raw.tls_cert, raw.tls_key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        (Some(_), None) => return Err(bad("tls_key", "is required when tls_cert is set")),
        (None, Some(_)) => return Err(bad("tls_cert", "is required when tls_key is set")),
    };
    let seconds =
        |key: &str, value: Option<i64>, default: i64, max: i64| -> Result<i64, ConfigError> {
            let v = value.unwrap_or(default);
            if v <= 0 || v > max {
                return Err(bad(key, format!("{v} is outside 1..={max} seconds")));
            }
            Ok(v)
        };
    let jwks_max_age_secs = seconds("jwks_max_age_secs", raw.jwks_max_age_secs, 600, 86_400)?;
    let key_publish_lead_secs = seconds(
        "key_publish_lead_secs",
        raw.key_publish_lead_secs,
        3600,
        30 * 86_400,
    )?;
    if key_publish_lead_secs < jwks_max_age_secs {
        return Err(bad(
            "key_publish_lead_secs",
            "must be at least jwks_max_age_secs, or relying parties would meet a key they have not fetched",
        ));
    }
    let duration = |key: &str, value: Option<i64>, default: i64, max: i64| {
        seconds(key, value, default, max).map(|s| Duration::from_secs(s.unsigned_abs()))
    };
    if raw.max_connections == Some(0) {
        return Err(bad("max_connections", "must be at least 1"));
    }
    let client_jwks_cache_secs = seconds(
        "client_jwks_cache_secs",
        raw.client_jwks_cache_secs,
        300,
        86_400,
    )?;
    let client_jwks_refetch_secs = seconds(
        "client_jwks_refetch_secs",
        raw.client_jwks_refetch_secs,
        60,
        client_jwks_cache_secs,
    )?;
    let client_jwks_timeout_secs = seconds(
        "client_jwks_timeout_secs",
        raw.client_jwks_timeout_secs,
        3,
        30,
    )?
    .unsigned_abs();
    let client_jwks_max_bytes = raw.client_jwks_max_bytes.unwrap_or(65_536);
    if !(1024..=1_048_576).contains(&client_jwks_max_bytes) {
        return Err(bad(
            "client_jwks_max_bytes",
            format!("{client_jwks_max_bytes} is outside 1024..=1048576 bytes"),
        ));
    }
    let max_passkeys = raw.max_passkeys.unwrap_or(3);
    if !(1..=20).contains(&max_passkeys) {
        return Err(bad(
            "max_passkeys",
            format!("{max_passkeys} is outside 1..=20"),
        ));
    }
    let cores = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(2);
    let password_hash_concurrency = raw.password_hash_concurrency.unwrap_or(cores);
    if password_hash_concurrency == 0 {
        return Err(bad("password_hash_concurrency", "must be at least 1"));
    }
    let trusted_proxy_hops = raw.trusted_proxy_hops.unwrap_or(1);
    if !(1..=16).contains(&trusted_proxy_hops) {
        return Err(bad(
            "trusted_proxy_hops",
            format!("{trusted_proxy_hops} is outside 1..=16"),
        ));
    }
    let acr_phr = non_empty("acr_phr", raw.acr_phr, "phr")?;
    let acr_mfa = non_empty("acr_mfa", raw.acr_mfa, "urn:kagi:acr:mfa")?;
    if acr_phr == acr_mfa {
        return Err(bad("acr_mfa", "must differ from acr_phr"));
    }
    let smtp_url = match raw.smtp_url.filter(|s| !s.is_empty()) {
        Some(u) => {
            let parsed = Url::parse(&u).map_err(|e| bad("smtp_url", e))?;
            if !matches!(parsed.scheme(), "smtp" | "smtps") {
                return Err(bad("smtp_url", "must start with smtp:// or smtps://"));
            }
            Some(SecretString::from(u))
        }
        None => None,
    };
    Ok(Config {
        issuer,
        listen,
        database_url: SecretString::from(database_url),
        database_is_sqlite,
        database_max_connections: raw.database_max_connections.unwrap_or(16).max(1),
        database_acquire_timeout: duration(
            "database_acquire_timeout_secs",
            raw.database_acquire_timeout_secs,
            5,
            300,
        )?,
        readiness_timeout: duration("readiness_timeout_secs", raw.readiness_timeout_secs, 1, 60)?,
        keys_dir: raw.keys_dir.unwrap_or_else(|| PathBuf::from("keys")),
        smtp_url,
        mail_from: non_empty("mail_from", raw.mail_from, "Kagi <no-reply@localhost>")?,
        outbox_dir: raw.outbox_dir.unwrap_or_else(|| PathBuf::from("outbox")),
        webauthn_rp_id,
        webauthn_origins,
        tls,
        header_read_timeout: duration(
            "header_read_timeout_secs",
            raw.header_read_timeout_secs,
            10,
            3600,
        )?,
        keep_alive_timeout: duration(
            "keep_alive_timeout_secs",
            raw.keep_alive_timeout_secs,
            60,
            3600,
        )?,
        max_connections: raw.max_connections,
        max_passkeys,
        passkey_enrollment_step_up: raw
            .passkey_enrollment_step_up
            .unwrap_or(EnrollmentStepUp::Otp),
        acr_phr,
        acr_mfa,
        session_idle_timeout_secs: seconds(
            "session_idle_timeout_secs",
            raw.session_idle_timeout_secs,
            3600,
            86_400,
        )?,
        session_lifetime_secs: seconds(
            "session_lifetime_secs",
            raw.session_lifetime_secs,
            43_200,
            86_400,
        )?,
        code_ttl_secs: seconds("code_ttl_secs", raw.code_ttl_secs, 60, 60)?,
        id_token_ttl_secs: seconds("id_token_ttl_secs", raw.id_token_ttl_secs, 300, 86_400)?,
        access_token_ttl_secs: seconds(
            "access_token_ttl_secs",
            raw.access_token_ttl_secs,
            600,
            86_400,
        )?,
        refresh_token_ttl_secs: seconds(
            "refresh_token_ttl_secs",
            raw.refresh_token_ttl_secs,
            2_592_000,
            366 * 86_400,
        )?,
        jwks_max_age_secs,
        client_jwks_cache_secs,
        client_jwks_refetch_secs,
        client_jwks_timeout_secs,
        client_jwks_max_bytes: usize::try_from(client_jwks_max_bytes).unwrap_or(65_536),
        client_jwks_allow_private: raw.client_jwks_allow_private.unwrap_or(false),
        key_publish_lead_secs,
        key_reload_secs: raw.key_reload_secs.unwrap_or(60).max(1),
        purge_interval_secs: raw.purge_interval_secs.unwrap_or(300).max(1),
        password_hash_concurrency,
        login_notification: raw.login_notification.unwrap_or(false),
        password_blocklist: raw.password_blocklist,
        trust_forwarded_for: raw.trust_forwarded_for.unwrap_or(false),
        trusted_proxy_hops,
        log_format: raw.log_format.unwrap_or(LogFormat::Text),
        config_file: None,
        given: BTreeMap::new(),
    })
}

/// Checks a database URL and gives SQLite URLs `mode=rwc`, so every SQLite
/// form (`sqlite://data/kagi.db`, `sqlite:///var/lib/kagi/kagi.db`,
/// `sqlite:kagi.db`) creates its file instead of failing with SQLite's
/// "unable to open database file"; an explicit `mode` is kept.
fn database_url(url: &str) -> Result<String, ConfigError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(url.to_owned());
    }
    let Some(path) = sqlite_path_of(url) else {
        return Err(bad(
            "database_url",
            format!(
                "`{}` is neither sqlite://PATH nor postgres://USER@HOST/DATABASE",
                redact_url(url)
            ),
        ));
    };
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let memory = query.split('&').any(|pair| pair == "mode=memory");
    if path.as_os_str().is_empty() && !memory {
        return Err(bad(
            "database_url",
            "names no SQLite file; name one, e.g. sqlite://data/kagi.db",
        ));
    }
    if path == Path::new(":memory:") || memory {
        return Err(bad(
            "database_url",
            "an in-memory SQLite database is refused: it vanishes when the server stops, and the \
             `kagi` commands, which run as separate processes, would never see it; name a file, \
             e.g. sqlite://data/kagi.db",
        ));
    }
    if query.split('&').any(|pair| pair.starts_with("mode=")) {
        return Ok(url.to_owned());
    }
    let separator = if query.is_empty() && !url.contains('?') {
        "?"
    } else {
        "&"
    };
    Ok(format!("{url}{separator}mode=rwc"))
}

/// The file an `sqlite:` URL names, as sqlx reads it: `sqlite://` or `sqlite:`
/// followed by the path, up to any `?`.
fn sqlite_path_of(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    Some(PathBuf::from(rest.split('?').next().unwrap_or_default()))
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

/// A value as `kagi config check` may show it: URL passwords masked, and
/// the whole value masked for keys that name a secret.
fn redact_value(key: &str, value: &toml::Value) -> toml::Value {
    match value {
        toml::Value::String(_) if key.ends_with("_secret") || key.ends_with("_password") => {
            toml::Value::String("***".to_owned())
        }
        toml::Value::String(text) => toml::Value::String(redact_url(text)),
        toml::Value::Array(items) => {
            toml::Value::Array(items.iter().map(|v| redact_value(key, v)).collect())
        }
        other => other.clone(),
    }
}

/// A setting's documented default as a TOML value; `None` for defaults
/// written in parentheses ("(unset)", "(issuer host)"), which are not values.
fn default_value(setting: &Setting) -> Option<toml::Value> {
    let text = setting.default;
    if text.starts_with('(') {
        return None;
    }
    Some(match setting.kind {
        Kind::Text => toml::Value::String(text.to_owned()),
        Kind::Integer => toml::Value::Integer(text.parse().ok()?),
        Kind::Boolean => toml::Value::Boolean(text == "true"),
        Kind::List => toml::Value::Array(
            text.split(',')
                .map(|s| toml::Value::String(s.trim().to_owned()))
                .collect(),
        ),
    })
}

/// `kagi.example.toml`: every setting with its help, variable and default.
///
/// Every line is commented out. Generated here so it cannot drift from
/// [`SETTINGS`]; a unit test compares the file in the repository with this text.
pub fn example_toml() -> String {
    let mut out = String::from(
        "# kagi.example.toml: every setting Kagi reads, with its default.\n\
         # Generated by `kagi config example` from the settings table in src/config.rs\n\
         # (a unit test fails when the two differ). Kagi reads the file named by\n\
         # KAGI_CONFIG; uncomment a line to change a setting. The environment\n\
         # variable named beside each key wins over this file.\n\
         # A value in angle brackets is a placeholder: <unset> means off (or\n\
         # absent) unless set; the others are worked out at start.\n",
    );
    for setting in SETTINGS {
        out.push('\n');
        for line in wrap(setting.help, 76) {
            out.push_str(&format!("# {line}\n"));
        }
        out.push_str(&format!("# Environment: {}\n", setting.env_name()));
        let value = match default_value(setting) {
            Some(v) => v.to_string(),
            None => {
                let placeholder = setting.default.trim_matches(['(', ')']);
                match setting.kind {
                    Kind::Integer | Kind::Boolean => format!("<{placeholder}>"),
                    Kind::Text => format!("\"<{placeholder}>\""),
                    Kind::List => format!("[\"<{placeholder}>\"]"),
                }
            }
        };
        out.push_str(&format!("#{} = {value}\n", setting.key));
    }
    out
}

/// Splits `text` into lines of at most `width` characters at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split(' ') {
        let line = lines.last_mut().expect("starts with one line");
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(word.to_owned());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
}

fn non_empty(key: &str, value: Option<String>, default: &str) -> Result<String, ConfigError> {
    let v = value.unwrap_or_else(|| default.to_owned());
    if v.trim().is_empty() {
        return Err(bad(key, "must not be empty"));
    }
    Ok(v)
}

/// Issuers are https, or http only on a loopback host name for development (WebAuthn
/// and `__Host-` cookies both accept `http://localhost`).
fn parse_issuer(text: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(text.trim_end_matches('/'))
        .map_err(|e| bad("issuer", format!("`{text}`: {e}")))?;
    let host = url.host_str().unwrap_or_default();
    let local = matches!(host, "localhost" | "127.0.0.1" | "[::1]") || host.ends_with(".localhost");
    match url.scheme() {
        "https" => {}
        "http" if local => {}
        _ => {
            return Err(bad(
                "issuer",
                "must be https (http is allowed only on localhost)",
            ));
        }
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(bad("issuer", "must have no query, fragment or user info"));
    }
    Ok(url)
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
        sqlite_path_of(self.database_url.expose_secret())
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
                    .or_else(|| default_value(setting));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_sources(
            vars.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn an_empty_environment_gives_the_documented_defaults() {
        let config = load(&[]).unwrap();
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
    fn environment_variables_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kagi.toml");
        std::fs::write(
            &path,
            "max_passkeys = 2\nissuer = \"https://id.example.com\"\n",
        )
        .unwrap();
        let config = load(&[
            ("KAGI_CONFIG", path.to_str().unwrap()),
            ("KAGI_MAX_PASSKEYS", "5"),
        ])
        .unwrap();
        assert_eq!(config.max_passkeys, 5);
        assert_eq!(config.issuer_str(), "https://id.example.com");
        assert_eq!(config.webauthn_rp_id, "id.example.com");
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
            let err = load(&[(var, value)]).unwrap_err().to_string();
            assert!(
                err.contains(named),
                "{var}={value} gave `{err}`, which does not name {named}"
            );
        }
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kagi.toml");
        std::fs::write(&path, "max_paskeys = 2\n").unwrap();
        let err = load(&[("KAGI_CONFIG", path.to_str().unwrap())])
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_paskeys"), "{err}");
    }

    #[test]
    fn every_setting_is_documented_in_the_operations_guide() {
        let guide = include_str!("../docs/operations.md");
        for setting in SETTINGS {
            let env = format!("`{}`", setting.env_name());
            let row = guide
                .lines()
                .find(|l| l.starts_with('|') && l.contains(&env));
            let row = row.unwrap_or_else(|| panic!("docs/operations.md lacks a row for {env}"));
            assert!(
                row.contains(&format!("| `{}` |", setting.default)),
                "docs/operations.md gives {env} another default than `{}`: {row}",
                setting.default
            );
        }
    }

    #[test]
    fn the_example_file_is_generated_from_the_settings_table() {
        let file = include_str!("../kagi.example.toml");
        assert!(
            file == example_toml(),
            "kagi.example.toml is out of date: run `cargo run -- config example > kagi.example.toml`"
        );
        for setting in SETTINGS {
            assert!(
                file.contains(&format!("\n#{} = ", setting.key)),
                "{}",
                setting.key
            );
            assert!(file.contains(&setting.env_name()), "{}", setting.key);
        }
    }

    #[test]
    fn the_example_files_defaults_are_the_real_defaults() {
        // Uncomment every key line whose default is a value and load the file:
        // the result must equal loading nothing at all.
        let uncommented: String = example_toml()
            .lines()
            .filter_map(|l| l.strip_prefix('#'))
            .filter(|l| {
                !l.starts_with(' ')
                    && !l.contains("= \"<")
                    && !l.contains("= <")
                    && !l.contains("[\"<")
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kagi.toml");
        std::fs::write(&path, &uncommented).unwrap();
        let from_file = load(&[("KAGI_CONFIG", path.to_str().unwrap())]).unwrap();
        let plain = load(&[]).unwrap();
        let values = |c: &Config| -> Vec<Option<toml::Value>> {
            c.effective().into_iter().map(|e| e.value).collect()
        };
        assert_eq!(values(&from_file), values(&plain), "{uncommented}");
        assert!(uncommented.contains("max_passkeys = 3"), "{uncommented}");
    }

    #[test]
    fn every_sqlite_url_form_creates_its_file_and_memory_is_refused() {
        let cases = [
            (
                "sqlite://data/kagi.db",
                "sqlite://data/kagi.db?mode=rwc",
                "data/kagi.db",
            ),
            (
                "sqlite:///var/lib/kagi/kagi.db",
                "sqlite:///var/lib/kagi/kagi.db?mode=rwc",
                "/var/lib/kagi/kagi.db",
            ),
            ("sqlite:kagi.db", "sqlite:kagi.db?mode=rwc", "kagi.db"),
            (
                "sqlite://k.db?cache=private",
                "sqlite://k.db?cache=private&mode=rwc",
                "k.db",
            ),
            ("sqlite://k.db?mode=ro", "sqlite://k.db?mode=ro", "k.db"),
        ];
        for (given, used, file) in cases {
            let config = load(&[("KAGI_DATABASE_URL", given)]).unwrap();
            assert_eq!(config.database_url.expose_secret(), used);
            assert_eq!(config.sqlite_path().unwrap(), PathBuf::from(file));
        }
        let err = load(&[("KAGI_DATABASE_URL", "sqlite://")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("KAGI_DATABASE_URL") && err.contains("names no SQLite file"),
            "{err}"
        );
        for memory in [
            "sqlite::memory:",
            "sqlite://:memory:",
            "sqlite://?mode=memory",
        ] {
            let err = load(&[("KAGI_DATABASE_URL", memory)])
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("KAGI_DATABASE_URL") && err.contains("in-memory"),
                "{memory}: {err}"
            );
            assert!(err.contains("vanishes"), "the reason is given: {err}");
        }
        let postgres = load(&[("KAGI_DATABASE_URL", "postgres://kagi:pw@db/kagi")]).unwrap();
        assert_eq!(
            postgres.database_url.expose_secret(),
            "postgres://kagi:pw@db/kagi"
        );
        assert!(postgres.sqlite_path().is_none());
    }

    #[test]
    fn the_effective_configuration_names_each_source_and_hides_passwords() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kagi.toml");
        std::fs::write(&path, "max_passkeys = 2\nlisten = \"127.0.0.1:9000\"\n").unwrap();
        let config = load(&[
            ("KAGI_CONFIG", path.to_str().unwrap()),
            ("KAGI_LISTEN", "127.0.0.1:9001"),
            (
                "KAGI_DATABASE_URL",
                "postgres://kagi:hunter2@db.internal/kagi",
            ),
            ("KAGI_SMTP_URL", "smtps://mailer:s3cret@mail.internal:465"),
        ])
        .unwrap();
        let effective = config.effective();
        assert_eq!(effective.len(), SETTINGS.len());
        let find = |key: &str| effective.iter().find(|e| e.setting.key == key).unwrap();
        assert_eq!(find("max_passkeys").source, Source::File);
        assert_eq!(find("max_passkeys").value, Some(toml::Value::Integer(2)));
        assert_eq!(find("listen").source, Source::Environment);
        assert_eq!(
            find("listen").value,
            Some(toml::Value::String("127.0.0.1:9001".into()))
        );
        assert_eq!(find("issuer").source, Source::Default);
        assert_eq!(
            find("webauthn_rp_id").value,
            Some(toml::Value::String("localhost".into()))
        );
        assert_eq!(find("tls_cert").value, None);
        let shown = format!("{effective:?}{config:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("s3cret"),
            "{shown}"
        );
        assert_eq!(
            find("database_url").value,
            Some(toml::Value::String(
                "postgres://kagi:***@db.internal/kagi".into()
            ))
        );
        assert_eq!(config.config_file.as_deref(), Some(path.as_path()));
    }

    #[test]
    fn an_rp_id_outside_the_issuer_host_is_refused_with_the_fix() {
        let err = load(&[
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
            load(&[
                ("KAGI_ISSUER", "https://id.broker.example"),
                ("KAGI_WEBAUTHN_RP_ID", "broker.example")
            ])
            .is_ok()
        );
    }
}
