//! `kagi audit`: the security-event trail, newest first.

use clap::Args;

use super::Output;
use crate::clock::rfc3339;
use crate::config::Config;
use crate::model::CustomerCode;

/// Options of `kagi audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only this customer's events.
    #[arg(long)]
    customer_code: Option<String>,
    /// How many events to show.
    #[arg(long, default_value_t = 100)]
    limit: i64,
}

pub(super) async fn run(args: AuditArgs, config: &Config, out: &Output) -> anyhow::Result<()> {
    let code = args
        .customer_code
        .as_deref()
        .map(CustomerCode::parse)
        .transpose()?;
    let (store, _) = super::open_store(config).await?;
    let events = store
        .list_audit_events(
            code.as_ref().map(CustomerCode::as_str),
            args.limit.clamp(1, 10_000),
        )
        .await?;
    let text = events
        .iter()
        .map(|e| {
            format!(
                "{}  {:<28} {:<8} {:<12} {:<16} {}",
                rfc3339(e.at),
                e.kind,
                e.outcome,
                e.customer_code.as_deref().unwrap_or("-"),
                e.client_id.as_deref().unwrap_or("-"),
                e.detail
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    out.print(
        &serde_json::json!({ "events": events }),
        if text.is_empty() { "no events" } else { &text },
    );
    Ok(())
}
