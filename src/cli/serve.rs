//! `kagi serve`.

use crate::config::Config;

pub(super) async fn run(config: Config) -> anyhow::Result<()> {
    crate::serve(config).await
}
