//! Reading the configuration: the TOML file named by `KAGI_CONFIG`, the
//! `KAGI_*` variables over it, and the documented defaults under both.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize as _;

use super::settings::{Kind, SETTINGS, Setting, Settings};
use super::{Config, ConfigError, Source, bad, redact_url, validate};

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
        // The documented defaults are the values of keys nobody set.
        for setting in SETTINGS {
            if let Some(default) = default_value(setting) {
                table.entry(setting.key).or_insert(default);
            }
        }
        let settings = Settings::deserialize(toml::Value::Table(table))
            .map_err(|e| ConfigError(e.message().to_owned()))?;
        settings.check()?;
        let mut config = validate::validate(settings)?;
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

/// A setting's documented default as a TOML value; `None` for defaults
/// written in parentheses ("(unset)", "(issuer host)"), which are not values.
pub(super) fn default_value(setting: &Setting) -> Option<toml::Value> {
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

#[cfg(test)]
mod tests {
    use crate::config::{Config, SETTINGS, Source};

    #[test]
    fn environment_variables_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kagi.toml");
        std::fs::write(
            &path,
            "max_passkeys = 2\nissuer = \"https://id.example.com\"\n",
        )
        .unwrap();
        let config = Config::try_for_tests(&[
            ("KAGI_CONFIG", path.to_str().unwrap()),
            ("KAGI_MAX_PASSKEYS", "5"),
        ])
        .unwrap();
        assert_eq!(config.max_passkeys, 5);
        assert_eq!(config.issuer_str(), "https://id.example.com");
        assert_eq!(config.webauthn_rp_id, "id.example.com");
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kagi.toml");
        std::fs::write(&path, "max_paskeys = 2\n").unwrap();
        let err = Config::try_for_tests(&[("KAGI_CONFIG", path.to_str().unwrap())])
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_paskeys"), "{err}");
    }

    #[test]
    fn the_effective_configuration_names_each_source_and_hides_passwords() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kagi.toml");
        std::fs::write(&path, "max_passkeys = 2\nlisten = \"127.0.0.1:9000\"\n").unwrap();
        let config = Config::try_for_tests(&[
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
}
