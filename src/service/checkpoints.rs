//! Signed checkpoints of the audit chain's head, written by every server: at start, every
//! `audit.checkpoint_interval_secs` when the chain has grown, and on shutdown; each to the checkpoint
//! file and to the log (docs/PRIVACY.md, "The audit trail").
//!
//! A server signs only a head that extends the last checkpoint in its file: if the chain no longer holds
//! that checkpoint's head at its size (entries rewritten or removed in the database), it signs nothing
//! more, so the file's last checkpoint stays one the rewritten chain fails against, and says so loudly.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;

use crate::audit::checkpoint::{Checkpoint, CheckpointKey};
use crate::audit::files::{append_checkpoint, read_last_checkpoint};
use crate::audit::GENESIS;
use crate::store::{now_ms, Store};

#[derive(Debug, thiserror::Error)]
pub enum CheckpointWriteError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Checkpoint(#[from] crate::audit::checkpoint::CheckpointError),
    #[error("the checkpoint file {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("the last checkpoint in {path} is not signed by this server's audit signing key ({reason}): \
             give the server the key that signed it, or move the file aside to start a new one")]
    ForeignCheckpoint { path: String, reason: String },
    #[error("the audit chain no longer contains the last checkpoint in {path} ({size} entries): its entries \
             were rewritten or removed in the database (or it was restored from an older backup); run \
             `idv audit verify`. No checkpoint is signed until this is resolved (after a restore, move the \
             file aside to start a new one)")]
    Diverged { path: String, size: u64 },
}

/// The signing key, where checkpoints go, and the last checkpoint (size and head) every new one must
/// extend.
#[derive(Debug)]
pub struct Checkpointer {
    key: CheckpointKey,
    file: PathBuf,
    last: Mutex<Option<(u64, [u8; 32])>>,
}

impl Checkpointer {
    /// Picks up where the checkpoint file left off: its last checkpoint, which must be this key's.
    pub fn resume(key: CheckpointKey, file: PathBuf) -> Result<Checkpointer, CheckpointWriteError> {
        let last = match read_last_checkpoint(&file) {
            Ok(Some(note)) => {
                let c = key.public().open(&note).map_err(|e| {
                    CheckpointWriteError::ForeignCheckpoint {
                        path: file.display().to_string(),
                        reason: e.to_string(),
                    }
                })?;
                Some((c.size, c.head))
            }
            Ok(None) => None,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(CheckpointWriteError::File {
                    path: file.display().to_string(),
                    source,
                })
            }
        };
        Ok(Checkpointer {
            key,
            file,
            last: Mutex::new(last),
        })
    }

    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Signs the current head and writes it to the file and the log, unless it is the last one
    /// written; refuses (`Diverged`) when the chain does not extend the last one. Returns the
    /// checkpoint written, if one was.
    pub async fn write(&self, store: &Store) -> Result<Option<Checkpoint>, CheckpointWriteError> {
        let (seq, hash) = store.audit_head().await?;
        let checkpoint = Checkpoint::of_head(self.key.public().name(), seq, &hash, now_ms())?;
        let last = *self.last.lock().expect("not poisoned");
        if let Some((size, head)) = last {
            if (checkpoint.size, checkpoint.head) == (size, head) {
                return Ok(None);
            }
            let at_size = match size {
                0 => Some(GENESIS.to_string()),
                s => store.audit_entry_hash(s as i64).await?,
            };
            if checkpoint.size < size || at_size.as_deref() != Some(hex::encode(head).as_str()) {
                return Err(CheckpointWriteError::Diverged {
                    path: self.file.display().to_string(),
                    size,
                });
            }
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
        *self.last.lock().expect("not poisoned") = Some((checkpoint.size, checkpoint.head));
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

/// Writes a checkpoint every `every` seconds while the chain grows, until `stop`.
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
            tracing::error!(error = %e, "no audit checkpoint written; trying again at the next interval");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{audit, TempStore};

    fn key() -> CheckpointKey {
        CheckpointKey::from_seed("idv/audit", &[5; 32]).unwrap()
    }

    fn file() -> PathBuf {
        std::env::temp_dir().join(format!(
            "idv-checkpoints-{}/audit.checkpoints",
            uuid::Uuid::new_v4().simple()
        ))
    }

    #[tokio::test]
    async fn checkpoints_follow_the_chain_and_skip_an_idle_one() {
        let db = TempStore::new().await;
        let path = file();
        let c = Checkpointer::resume(key(), path.clone()).unwrap();
        assert_eq!(c.write(&db).await.unwrap().unwrap().size, 0);
        assert!(c.write(&db).await.unwrap().is_none(), "nothing new");
        db.audit(&audit("a.one")).await.unwrap();
        db.audit(&audit("a.two")).await.unwrap();
        let written = c.write(&db).await.unwrap().unwrap();
        assert_eq!(written.size, 2);
        assert_eq!(
            written.head_hex(),
            db.audit_entry_hash(2).await.unwrap().unwrap()
        );
        // A restarted server picks up the file's last checkpoint and extends it.
        let again = Checkpointer::resume(key(), path.clone()).unwrap();
        assert!(again.write(&db).await.unwrap().is_none());
        db.audit(&audit("a.three")).await.unwrap();
        assert_eq!(again.write(&db).await.unwrap().unwrap().size, 3);
    }

    #[tokio::test]
    async fn a_rewritten_or_truncated_chain_is_not_signed() {
        let db = TempStore::new().await;
        let path = file();
        let c = Checkpointer::resume(key(), path.clone()).unwrap();
        for _ in 0..3 {
            db.audit(&audit("a.entry")).await.unwrap();
        }
        c.write(&db).await.unwrap().unwrap();
        let before = std::fs::read_to_string(&path).unwrap();
        // Entry 3's hash changed (as a rewrite with recomputed hashes would), then one more entry.
        db.execute_raw("UPDATE audit_log SET entry_hash = 'x' WHERE seq = 3")
            .await
            .unwrap();
        db.audit(&audit("a.more")).await.unwrap();
        assert!(matches!(
            c.write(&db).await,
            Err(CheckpointWriteError::Diverged { size: 3, .. })
        ));
        // Truncated below the checkpoint, head fixed.
        db.execute_raw("DELETE FROM audit_log WHERE seq > 1")
            .await
            .unwrap();
        db.execute_raw("UPDATE audit_head SET seq = 1 WHERE id = 1")
            .await
            .unwrap();
        let restarted = Checkpointer::resume(key(), path.clone()).unwrap();
        assert!(matches!(
            restarted.write(&db).await,
            Err(CheckpointWriteError::Diverged { size: 3, .. })
        ));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            before,
            "nothing signed"
        );
    }

    #[test]
    fn a_file_signed_by_another_key_is_refused() {
        let path = file();
        let other = CheckpointKey::from_seed("idv/audit", &[6; 32]).unwrap();
        let c = Checkpoint::of_head("idv/audit", 0, GENESIS, 0).unwrap();
        append_checkpoint(&path, &other.sign(&c).unwrap()).unwrap();
        assert!(matches!(
            Checkpointer::resume(key(), path),
            Err(CheckpointWriteError::ForeignCheckpoint { .. })
        ));
    }
}
