//! The `kagi` command line (the interface contract in `docs/operations.md`).
//! Every command accepts `--json`, which prints exactly one JSON object on
//! stdout, also for errors.

mod audit;
mod client;
mod config;
mod keys;
mod migrate;
mod serve;
mod user;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::Value;

use crate::clock::Clock;
use crate::config::{Config, LogFormat};
use crate::store::Store;

/// Kagi: an OpenID Connect provider with passkey-level assurance.
#[derive(Debug, Parser)]
#[command(name = "kagi", version, about)]
pub struct Cli {
    /// Print one JSON object on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (migrates the database and creates keys first).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage customers.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Manage relying parties.
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Show the audit trail of security events.
    Audit(audit::AuditArgs),
    /// Check the configuration, or print a sample configuration file.
    #[command(subcommand)]
    Config(config::ConfigCommand),
}

/// Sets up logging to stderr, at the level in `RUST_LOG` (default `info` for
/// the server, `warn` for one-shot commands so their output stays clean).
fn init_tracing(format: LogFormat, command: &Command) {
    let default = if matches!(command, Command::Serve) {
        "info"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Runs a parsed command and returns the process exit code.
pub async fn run(cli: Cli) -> ExitCode {
    let out = Output { json: cli.json };
    if let Command::Config(cmd) = &cli.command {
        return config::run(cmd, &out);
    }
    let config = match Config::load() {
        Ok(c) => c,
        Err(e) => return out.fail(&e.to_string()),
    };
    init_tracing(config.log_format, &cli.command);
    let result = match cli.command {
        Command::Serve => serve::run(config).await,
        Command::Migrate => migrate::run(&config, &out).await,
        Command::User(cmd) => user::run(cmd, &config, &out).await,
        Command::Client(cmd) => client::run(cmd, &config, &out).await,
        Command::Keys(cmd) => keys::run(cmd, &config, &out).await,
        Command::Audit(args) => audit::run(args, &config, &out).await,
        Command::Config(_) => unreachable!("handled before the configuration is loaded"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => out.fail(&format!("{e:#}")),
    }
}

/// Prints results as text or as one JSON object.
pub(crate) struct Output {
    json: bool,
}

impl Output {
    /// Prints `value` as JSON, or `text` for people.
    pub(crate) fn print(&self, value: &Value, text: &str) {
        if self.json {
            println!("{value}");
        } else {
            println!("{text}");
        }
    }

    fn fail(&self, message: &str) -> ExitCode {
        if self.json {
            println!("{}", serde_json::json!({ "error": message }));
        }
        eprintln!("error: {message}");
        ExitCode::FAILURE
    }
}

/// Opens and migrates the database for a one-shot command.
pub(crate) async fn open_store(config: &Config) -> anyhow::Result<(Store, Clock)> {
    let store = Store::connect(config).await?;
    store.migrate().await?;
    Ok((store, Clock::system()))
}
