//! From [`Settings`] to [`Config`]: the values worked out at start, the
//! parsing into URL and address types, and the rules that tie one key to
//! another. A key's own range is checked in its row of the settings table.

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use super::settings::Settings;
use super::{Config, ConfigError, bad, redact_url};

pub(super) fn validate(s: Settings) -> Result<Config, ConfigError> {
    let issuer = parse_issuer(&s.issuer)?;
    let host = issuer.host_str().unwrap_or_default().to_owned();
    let listen = s.listen.parse().map_err(|_| {
        bad(
            "listen",
            format!("`{}` is not an address like 127.0.0.1:8080", s.listen),
        )
    })?;
    let database_url = database_url(&s.database_url)?;
    let webauthn_rp_id = rp_id(s.webauthn_rp_id, &host)?;
    let webauthn_origins = match s.webauthn_origins {
        Some(list) if !list.is_empty() => list
            .iter()
            .map(|o| Url::parse(o).map_err(|e| bad("webauthn_origins", format!("`{o}`: {e}"))))
            .collect::<Result<Vec<_>, _>>()?,
        _ => vec![issuer.clone()],
    };
    let tls = match (s.tls_cert, s.tls_key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        (Some(_), None) => return Err(bad("tls_key", "is required when tls_cert is set")),
        (None, Some(_)) => return Err(bad("tls_cert", "is required when tls_key is set")),
    };
    if s.key_publish_lead_secs < s.jwks_max_age_secs {
        return Err(bad(
            "key_publish_lead_secs",
            "must be at least jwks_max_age_secs, or relying parties would meet a key they have not fetched",
        ));
    }
    if s.client_jwks_refetch_secs > s.client_jwks_cache_secs {
        return Err(bad(
            "client_jwks_refetch_secs",
            format!(
                "{} is outside 1..={} seconds",
                s.client_jwks_refetch_secs, s.client_jwks_cache_secs
            ),
        ));
    }
    if s.acr_phr == s.acr_mfa {
        return Err(bad("acr_mfa", "must differ from acr_phr"));
    }
    let smtp_url = match s.smtp_url.filter(|u| !u.is_empty()) {
        Some(u) => {
            let parsed = Url::parse(&u).map_err(|e| bad("smtp_url", e))?;
            if !matches!(parsed.scheme(), "smtp" | "smtps") {
                return Err(bad("smtp_url", "must start with smtp:// or smtps://"));
            }
            Some(SecretString::from(u))
        }
        None => None,
    };
    let cores = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(2);
    // The table's checks hold, so every number below is positive and in range.
    let duration = |secs: i64| Duration::from_secs(secs.unsigned_abs());
    Ok(Config {
        issuer,
        listen,
        database_is_sqlite: database_url.starts_with("sqlite:"),
        database_url: SecretString::from(database_url),
        database_max_connections: s.database_max_connections.max(1),
        database_acquire_timeout: duration(s.database_acquire_timeout_secs),
        readiness_timeout: duration(s.readiness_timeout_secs),
        keys_dir: s.keys_dir,
        smtp_url,
        mail_from: s.mail_from,
        outbox_dir: s.outbox_dir,
        webauthn_rp_id,
        webauthn_origins,
        tls,
        header_read_timeout: duration(s.header_read_timeout_secs),
        keep_alive_timeout: duration(s.keep_alive_timeout_secs),
        max_connections: s.max_connections,
        max_passkeys: s.max_passkeys,
        passkey_enrollment_step_up: s.passkey_enrollment_step_up,
        acr_phr: s.acr_phr,
        acr_mfa: s.acr_mfa,
        session_idle_timeout_secs: s.session_idle_timeout_secs,
        session_lifetime_secs: s.session_lifetime_secs,
        code_ttl_secs: s.code_ttl_secs,
        id_token_ttl_secs: s.id_token_ttl_secs,
        access_token_ttl_secs: s.access_token_ttl_secs,
        transaction_token_ttl_secs: s.transaction_token_ttl_secs,
        refresh_token_ttl_secs: s.refresh_token_ttl_secs,
        dpop_proof_window_secs: s.dpop_proof_window_secs,
        dpop_nonce_required: s.dpop_nonce_required,
        dpop_nonce_lifetime_secs: s.dpop_nonce_lifetime_secs,
        jwks_max_age_secs: s.jwks_max_age_secs,
        client_jwks_cache_secs: s.client_jwks_cache_secs,
        client_jwks_refetch_secs: s.client_jwks_refetch_secs,
        client_jwks_timeout_secs: s.client_jwks_timeout_secs.unsigned_abs(),
        client_jwks_max_bytes: usize::try_from(s.client_jwks_max_bytes).unwrap_or(65_536),
        client_jwks_allow_private: s.client_jwks_allow_private,
        backchannel_logout_allow_private: s
            .backchannel_logout_allow_private
            .unwrap_or_else(|| is_loopback_host(&host)),
        key_publish_lead_secs: s.key_publish_lead_secs,
        key_reload_secs: s.key_reload_secs.max(1),
        purge_interval_secs: s.purge_interval_secs.max(1),
        password_hash_concurrency: s.password_hash_concurrency.unwrap_or(cores),
        login_notification: s.login_notification,
        password_blocklist: s.password_blocklist,
        trust_forwarded_for: s.trust_forwarded_for,
        trusted_proxy_hops: s.trusted_proxy_hops,
        log_format: s.log_format,
        config_file: None,
        given: Default::default(),
    })
}

/// Whether an issuer's host names this machine (development).
fn is_loopback_host(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "[::1]") || host.ends_with(".localhost")
}

/// Issuers are https, or http only on a loopback host name for development (WebAuthn
/// and `__Host-` cookies both accept `http://localhost`).
fn parse_issuer(text: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(text.trim_end_matches('/'))
        .map_err(|e| bad("issuer", format!("`{text}`: {e}")))?;
    let host = url.host_str().unwrap_or_default();
    let local = is_loopback_host(host);
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

/// The WebAuthn RP ID: the issuer host unless set, and then the host or a
/// parent domain of it, since browsers refuse any other in a ceremony.
fn rp_id(given: Option<String>, host: &str) -> Result<String, ConfigError> {
    let rp_id = given.unwrap_or_else(|| host.to_owned());
    if !(host == rp_id || host.ends_with(&format!(".{rp_id}"))) {
        return Err(bad(
            "webauthn_rp_id",
            format!(
                "`{rp_id}` is neither the issuer host `{host}` nor a parent domain of it, \
                 so browsers would refuse every passkey; unset it (the issuer host is the default) \
                 or set it to `{host}` or a parent domain of it"
            ),
        ));
    }
    if rp_id.parse::<std::net::IpAddr>().is_ok() {
        return Err(bad(
            "webauthn_rp_id",
            "WebAuthn needs a host name, not an IP address: use an issuer such as \
             http://localhost:8080 in development",
        ));
    }
    Ok(rp_id)
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
pub(super) fn sqlite_path_of(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    Some(PathBuf::from(rest.split('?').next().unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;

    use super::*;

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
            let config = Config::try_for_tests(&[("KAGI_DATABASE_URL", given)]).unwrap();
            assert_eq!(config.database_url.expose_secret(), used);
            assert_eq!(config.sqlite_path().unwrap(), PathBuf::from(file));
        }
        let err = Config::try_for_tests(&[("KAGI_DATABASE_URL", "sqlite://")])
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
            let err = Config::try_for_tests(&[("KAGI_DATABASE_URL", memory)])
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("KAGI_DATABASE_URL") && err.contains("in-memory"),
                "{memory}: {err}"
            );
            assert!(err.contains("vanishes"), "the reason is given: {err}");
        }
        let postgres =
            Config::try_for_tests(&[("KAGI_DATABASE_URL", "postgres://kagi:pw@db/kagi")]).unwrap();
        assert_eq!(
            postgres.database_url.expose_secret(),
            "postgres://kagi:pw@db/kagi"
        );
        assert!(postgres.sqlite_path().is_none());
    }
}
