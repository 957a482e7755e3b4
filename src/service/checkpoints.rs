//! Signed checkpoints of the audit chain's head, written by every server: at start, every
//! `audit.checkpoint_interval_secs` when the chain has grown, and on shutdown; each to the checkpoint
//! file and to the log (docs/PRIVACY.md, "The audit trail").

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;

use crate::audit::checkpoint::{Checkpoint, CheckpointKey};
use crate::audit::files::append_checkpoint;
use crate::store::{now_ms, Store};

#[derive(Debug, thiserror::Error)]
pub enum CheckpointWriteError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Checkpoint(#[from] crate::audit::checkpoint::CheckpointError),
    #[error("cannot append to the checkpoint file {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
}

/// The signing key and where checkpoints go; remembers the last head it signed, so an idle chain does
/// not fill the file.
#[derive(Debug)]
pub struct Checkpointer {
    key: CheckpointKey,
    file: PathBuf,
    last: Mutex<Option<(u64, [u8; 32])>>,
}

impl Checkpointer {
    pub fn new(key: CheckpointKey, file: PathBuf) -> Checkpointer {
        Checkpointer {
            key,
            file,
            last: Mutex::new(None),
        }
    }

    pub fn file(&self) -> &std::path::Path {
        &self.file
    }

    /// Signs the current head and writes it to the file and the log, unless it is the head this
    /// process signed last. Returns the checkpoint written, if one was.
    pub async fn write(&self, store: &Store) -> Result<Option<Checkpoint>, CheckpointWriteError> {
        let (seq, hash) = store.audit_head().await?;
        let checkpoint = Checkpoint::of_head(self.key.public().name(), seq, &hash, now_ms())?;
        let state = (checkpoint.size, checkpoint.head);
        if *self.last.lock().expect("not poisoned") == Some(state) {
            return Ok(None);
        }
        let note = self.key.sign(&checkpoint)?;
        let file = self.file.clone();
        let written = note.clone();
        tokio::task::spawn_blocking(move || append_checkpoint(&file, &written))
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)))
            .map_err(|source| CheckpointWriteError::File {
                path: self.file.display().to_string(),
                source,
            })?;
        *self.last.lock().expect("not poisoned") = Some(state);
        tracing::info!(
            origin = %checkpoint.origin,
            size = checkpoint.size,
            head = %checkpoint.head_base64(),
            key = %self.key.public().encode(),
            note = ?note,
            "audit checkpoint"
        );
        Ok(Some(checkpoint))
    }
}

/// Writes a checkpoint every `every` while the chain grows, until `stop`.
pub async fn run_checkpoints(
    store: Store,
    checkpointer: std::sync::Arc<Checkpointer>,
    every: u64,
    mut stop: watch::Receiver<bool>,
) {
    if every == 0 {
        return;
    }
    let mut ticks = tokio::time::interval(Duration::from_secs(every));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is immediate; the start's checkpoint is already written
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.changed() => return,
        }
        if let Err(e) = checkpointer.write(&store).await {
            tracing::error!(error = %e, "writing an audit checkpoint failed; retrying at the next interval");
        }
    }
}
