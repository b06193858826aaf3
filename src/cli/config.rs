//! `kagi config check|example`: the configuration as Kagi would use it, and
//! the sample file generated from the settings table.

use clap::Subcommand;
use serde_json::{Map, Value, json};

use super::Output;
use crate::config::{Config, Source, example_toml};
use crate::startup;

/// Configuration commands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and print every setting in force, where it
    /// came from (default, file, environment) and any warning; secrets are
    /// shown as `***`. Exits non-zero when `kagi serve` would refuse to start.
    Check,
    /// Print a TOML file with every setting, its environment variable and its
    /// default (the source of `kagi.example.toml`).
    Example,
}

/// Runs a configuration command; it needs no valid configuration to start with.
pub(super) fn run(cmd: &ConfigCommand, out: &Output) -> std::process::ExitCode {
    match cmd {
        ConfigCommand::Example => {
            if out.json {
                println!("{}", json!({ "example": example_toml() }));
            } else {
                print!("{}", example_toml());
            }
            std::process::ExitCode::SUCCESS
        }
        ConfigCommand::Check => check(out),
    }
}

fn check(out: &Output) -> std::process::ExitCode {
    let config = match Config::load() {
        Ok(c) => c,
        Err(e) => return invalid(out, &[e.to_string()], None),
    };
    let problems = startup::folder_problems(&config, false);
    if !problems.is_empty() {
        return invalid(out, &problems, Some(&config));
    }
    let warnings = startup::warnings(&config);
    out.print(&report(&config, &warnings, &[]), &text(&config, &warnings));
    std::process::ExitCode::SUCCESS
}

fn invalid(out: &Output, problems: &[String], config: Option<&Config>) -> std::process::ExitCode {
    for p in problems {
        eprintln!("error: {p}");
    }
    if out.json {
        let mut value = match config {
            Some(c) => report(c, &startup::warnings(c), problems),
            None => json!({ "valid": false, "problems": problems }),
        };
        value["error"] = Value::String(problems.join("; "));
        println!("{value}");
    }
    std::process::ExitCode::FAILURE
}

fn report(config: &Config, warnings: &[String], problems: &[String]) -> Value {
    let mut settings = Map::new();
    for e in config.effective() {
        let value = e
            .value
            .as_ref()
            .and_then(|v| serde_json::to_value(v).ok())
            .unwrap_or(Value::Null);
        settings.insert(
            e.setting.key.to_owned(),
            json!({ "value": value, "source": e.source, "env": e.setting.env_name() }),
        );
    }
    json!({
        "valid": problems.is_empty(),
        "config_file": config.config_file.as_ref().map(|p| p.display().to_string()),
        "settings": settings,
        "warnings": warnings,
        "problems": problems,
    })
}

/// The settings as a TOML file with each source in a trailing comment.
fn text(config: &Config, warnings: &[String]) -> String {
    let file = match &config.config_file {
        Some(p) => format!("{} (KAGI_CONFIG)", p.display()),
        None => "none (KAGI_CONFIG is unset)".to_owned(),
    };
    let mut lines = vec![
        "# The configuration `kagi serve` would use; passwords are shown as ***.".to_owned(),
        format!("# Configuration file: {file}"),
    ];
    for e in config.effective() {
        let source = match e.source {
            Source::Default => "default".to_owned(),
            Source::File => "file".to_owned(),
            Source::Environment => format!("environment: {}", e.setting.env_name()),
        };
        lines.push(match &e.value {
            Some(v) => format!("{} = {v}  # {source}", e.setting.key),
            None => format!("# {} is unset  # {source}", e.setting.key),
        });
    }
    for w in warnings {
        lines.push(format!("# warning: {w}"));
    }
    lines.push(format!(
        "# valid{}",
        if warnings.is_empty() {
            ""
        } else {
            ", with warnings"
        }
    ));
    lines.join("\n")
}
