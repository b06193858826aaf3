//! Background work every node runs: purging expired rows and re-reading the
//! key list (so a rotation done on one node or by the CLI reaches all).

use std::time::Duration;

use tokio::task::JoinSet;

use crate::state::AppState;

/// Starts the background tasks; aborting the set stops them.
pub fn spawn(state: &AppState) -> JoinSet<()> {
    let mut set = JoinSet::new();
    let purge = state.clone();
    set.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(purge.config.purge_interval_secs));
        tick.tick().await; // the first tick is immediate; start purging one period after start
        loop {
            tick.tick().await;
            match purge.store.purge_expired(purge.clock.now()).await {
                Ok(purged) if !purged.is_empty() => tracing::info!(?purged, "purged expired rows"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "purging expired rows failed"),
            }
        }
    });
    let reload = state.clone();
    set.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(reload.config.key_reload_secs));
        tick.tick().await; // the ring was loaded at start
        loop {
            tick.tick().await;
            if let Err(e) = reload.keys.reload().await {
                tracing::error!(
                    error = format!("{e:#}"),
                    "reloading signing keys failed; keeping the previous set"
                );
            }
        }
    });
    set
}
