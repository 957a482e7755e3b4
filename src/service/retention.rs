//! The retention sweep, run by every server in the background.

use std::time::Duration;

use tokio::sync::watch;

use super::state::AppState;

/// Applies the retention policy every `retention.sweep_interval_secs`, starting a minute after start
/// (so a restart loop does not sweep in a loop). Several servers may sweep one database: deletes are
/// idempotent.
pub async fn run_sweeps(state: AppState, mut stop: watch::Receiver<bool>) {
    let every = state.settings.retention.sweep_interval_secs;
    if every == 0 {
        return;
    }
    let mut next = tokio::time::Instant::now() + Duration::from_secs(every.min(60));
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = stop.changed() => return,
        }
        let policies = state.settings.retention.policies();
        match state
            .store
            .sweep(state.clock.now_ms(), &policies, false)
            .await
        {
            Ok(counts) => {
                for c in counts
                    .iter()
                    .filter(|c| c.media + c.embeddings + c.decision_records + c.capture_links > 0)
                {
                    tracing::info!(purpose = %c.purpose, media = c.media, embeddings = c.embeddings,
                        decision_records = c.decision_records, capture_links = c.capture_links,
                        "retention sweep deleted expired data");
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "retention sweep failed; retrying at the next interval")
            }
        }
        next += Duration::from_secs(every);
    }
}
