//! `kagi audit`: the security-event trail, newest first.

use clap::Args;

use serde_json::{Value, json};

use super::Output;
use crate::authn::passkey::evidence::{self, Evidence};
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
    /// Show the evidence of the transaction confirmation with this `txn` and
    /// re-verify its passkey signature offline (`docs/transactions.md#evidence`).
    #[arg(long, value_name = "TXN", conflicts_with_all = ["customer_code", "limit"])]
    evidence: Option<String>,
}

pub(super) async fn run(args: AuditArgs, config: &Config, out: &Output) -> anyhow::Result<()> {
    if let Some(txn) = &args.evidence {
        return show_evidence(txn, config, out).await;
    }
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

/// Prints a confirmation's transaction, evidence and verdict; fails (exit
/// status 1) when there is no such `txn` or the evidence does not verify.
async fn show_evidence(txn: &str, config: &Config, out: &Output) -> anyhow::Result<()> {
    let (store, _) = super::open_store(config).await?;
    let Some(row) = store.confirmation(txn).await? else {
        anyhow::bail!("no transaction confirmation has txn `{txn}`");
    };
    let verdict = evidence::verify(
        &Evidence {
            canonical_details: &row.authorization_details,
            challenge: &row.challenge,
            public_key: &row.public_key,
            authenticator_data: &row.authenticator_data,
            client_data_json: &row.client_data_json,
            signature: &row.signature,
        },
        &config.webauthn_rp_id,
    );
    let details: Value = serde_json::from_str(&row.authorization_details)?;
    let public_key: Value = serde_json::from_str(&row.public_key)?;
    let yes_no = |b: bool| if b { "yes" } else { "NO" };
    let text = format!(
        "txn:                   {}\n\
         confirmed at:          {}\n\
         customer:              {}\n\
         client:                {}\n\
         authorization_details: {}\n\
         credential:            {}\n\
         challenge:             {}\n\
         origin:                {}\n\
         signature valid:       {}\n\
         challenge binds the details (SHA-256 of their RFC 8785 form): {}\n\
         challenge as sent:     {}\n\
         webauthn.get, rp id, user verified: {} {} {}\n\
         verdict:               {}",
        row.txn,
        rfc3339(row.confirmed_at),
        row.customer_id,
        row.client_id,
        row.authorization_details,
        row.credential_id,
        row.challenge,
        verdict.origin.as_deref().unwrap_or("-"),
        yes_no(verdict.signature_valid),
        yes_no(verdict.challenge_binds_details),
        yes_no(verdict.challenge_matches),
        yes_no(verdict.assertion_type),
        yes_no(verdict.rp_id_matches),
        yes_no(verdict.user_verified),
        if verdict.valid { "VALID" } else { "INVALID" },
    );
    out.print(
        &json!({
            "txn": row.txn,
            "confirmed_at": row.confirmed_at,
            "customer_id": row.customer_id,
            "client_id": row.client_id,
            "authorization_details": details,
            "authorization_details_jcs": row.authorization_details,
            "credential_id": row.credential_id,
            "public_key": public_key,
            "challenge": row.challenge,
            "authenticator_data": row.authenticator_data,
            "client_data_json": row.client_data_json,
            "signature": row.signature,
            "verdict": verdict,
        }),
        &text,
    );
    if !verdict.valid {
        anyhow::bail!("the evidence of txn `{txn}` does not verify");
    }
    Ok(())
}
