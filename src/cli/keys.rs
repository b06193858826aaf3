//! `kagi keys list|rotate`.

use clap::Subcommand;

use super::Output;
use crate::clock::rfc3339;
use crate::config::Config;
use crate::crypto::signing_keys::KeyRing;

/// Key commands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List keys with their state (next, active, retired, expired).
    List,
    /// Publish a new key per algorithm now; it signs after `key_publish_lead_secs`.
    /// Keys whose publication window has ended are deleted.
    Rotate,
}

pub(super) async fn run(cmd: KeysCommand, config: &Config, out: &Output) -> anyhow::Result<()> {
    let (store, clock) = super::open_store(config).await?;
    let ring = KeyRing::open(
        store,
        config.keys_dir.clone(),
        clock,
        config.id_token_ttl_secs.max(config.access_token_ttl_secs),
        config.key_publish_lead_secs,
    )
    .await?;
    if let KeysCommand::Rotate = cmd {
        ring.rotate().await?;
    }
    let keys = ring.status();
    let text = keys
        .iter()
        .map(|k| {
            let until = k.published_until.map(rfc3339).unwrap_or_default();
            format!(
                "{:<44} {:<6} {:<8} activates {}  {}",
                k.kid,
                k.alg,
                format!("{:?}", k.state).to_lowercase(),
                rfc3339(k.activates_at),
                until
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    out.print(&serde_json::json!({ "keys": keys }), &text);
    Ok(())
}
