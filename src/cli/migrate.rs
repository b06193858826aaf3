//! `kagi migrate`: apply pending migrations (the server also does this at start).

use super::Output;
use crate::config::Config;

pub(super) async fn run(config: &Config, out: &Output) -> anyhow::Result<()> {
    let (store, _) = super::open_store(config).await?;
    let backend = format!("{:?}", store.backend()).to_lowercase();
    out.print(
        &serde_json::json!({ "migrated": true, "backend": backend }),
        &format!("database migrated ({backend})"),
    );
    Ok(())
}
