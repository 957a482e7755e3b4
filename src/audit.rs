//! The tamper-evident audit log: what an entry is, how its hash is computed, and how a chain is checked.
//! Pure; `store` appends and reads entries.
//!
//! Each entry's hash covers the previous entry's hash and the entry's own canonical content, so editing,
//! deleting or reordering any row breaks every hash after it. Biometric content never enters an entry:
//! inputs are represented by their sha256 digests, so erasing biometric data later keeps the chain valid.
//!
//! The chain alone cannot stop someone who can write the database: they can edit an entry, recompute
//! every later hash and the head. Signed checkpoints of the head, kept outside the database
//! (`checkpoint`, `files`), can: `idv audit verify` checks the chain against the last one.

pub mod checkpoint;
pub mod files;

use serde::Serialize;
use sha2::{Digest, Sha256};

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened, as stored and as checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    /// Unix milliseconds.
    pub at: i64,
    pub org: String,
    /// `key:<id>`, `cli` or `system`.
    pub actor: String,
    /// e.g. `consent.recorded`, `verification.decided`.
    pub event: String,
    /// The id of the thing the event is about.
    pub entity: String,
    /// Keyed digest of the subject reference (never the reference itself), for subject-access search.
    pub subject_digest: Option<String>,
    /// Event details as a JSON object (no biometric data: digests only).
    pub details: String,
    pub prev_hash: String,
    pub entry_hash: String,
}

/// Canonical content: every field but the hashes, in a fixed order, as compact JSON.
#[derive(Serialize)]
struct Canonical<'a> {
    seq: i64,
    at: i64,
    org: &'a str,
    actor: &'a str,
    event: &'a str,
    entity: &'a str,
    subject_digest: Option<&'a str>,
    details: &'a str,
}

/// sha256(prev_hash ‖ "\n" ‖ canonical content), hex.
pub fn entry_hash(e: &AuditEntry, prev_hash: &str) -> String {
    let canonical = serde_json::to_string(&Canonical {
        seq: e.seq,
        at: e.at,
        org: &e.org,
        actor: &e.actor,
        event: &e.event,
        entity: &e.entity,
        subject_digest: e.subject_digest.as_deref(),
        details: &e.details,
    })
    .expect("serialisable");
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(canonical.as_bytes());
    hex::encode(h.finalize())
}

/// The first place a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error(
        "entry {seq}: expected sequence number {expected} (an entry was deleted or reordered)"
    )]
    Gap { seq: i64, expected: i64 },
    #[error("entry {seq}: its previous-hash does not match entry {prev} (an entry was deleted, inserted or reordered)")]
    Link { seq: i64, prev: i64 },
    #[error("entry {seq}: its content does not match its hash (the entry was edited)")]
    Content { seq: i64 },
    #[error("the chain ends at entry {last} but its head says {head_seq} (entries were removed from the end)")]
    Head { last: i64, head_seq: i64 },
}

/// Checks entries in sequence order, and that the chain ends where the head says.
pub fn verify_chain(entries: &[AuditEntry], head: (i64, &str)) -> Result<usize, ChainError> {
    let mut prev_hash = GENESIS.to_string();
    let mut expected = 1;
    for e in entries {
        if e.seq != expected {
            return Err(ChainError::Gap {
                seq: e.seq,
                expected,
            });
        }
        if e.prev_hash != prev_hash {
            return Err(ChainError::Link {
                seq: e.seq,
                prev: e.seq - 1,
            });
        }
        if entry_hash(e, &prev_hash) != e.entry_hash {
            return Err(ChainError::Content { seq: e.seq });
        }
        prev_hash = e.entry_hash.clone();
        expected += 1;
    }
    let last = expected - 1;
    if head.0 != last || head.1 != prev_hash {
        return Err(ChainError::Head {
            last,
            head_seq: head.0,
        });
    }
    Ok(entries.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let mut e = AuditEntry {
                    seq,
                    at: 1_700_000_000_000 + seq,
                    org: "acme".into(),
                    actor: "key:k1".into(),
                    event: "consent.recorded".into(),
                    entity: format!("cns_{seq}"),
                    subject_digest: Some("5f1d".repeat(16)),
                    details: r#"{"purpose":"ecs_application"}"#.into(),
                    prev_hash: prev.clone(),
                    entry_hash: String::new(),
                };
                e.entry_hash = entry_hash(&e, &prev);
                prev = e.entry_hash.clone();
                e
            })
            .collect()
    }

    fn head(c: &[AuditEntry]) -> (i64, String) {
        c.last()
            .map(|e| (e.seq, e.entry_hash.clone()))
            .unwrap_or((0, GENESIS.into()))
    }

    #[test]
    fn an_intact_chain_verifies() {
        let c = chain(5);
        let (s, h) = head(&c);
        assert_eq!(verify_chain(&c, (s, &h)), Ok(5));
        assert_eq!(verify_chain(&[], (0, GENESIS)), Ok(0));
    }

    #[test]
    fn an_edited_entry_is_named() {
        let mut c = chain(5);
        let (s, h) = head(&c);
        c[2].details = r#"{"purpose":"remote_invigilation"}"#.into();
        assert_eq!(
            verify_chain(&c, (s, &h)),
            Err(ChainError::Content { seq: 3 })
        );
    }

    #[test]
    fn a_deleted_entry_is_named() {
        let mut c = chain(5);
        let (s, h) = head(&c);
        c.remove(1);
        assert_eq!(
            verify_chain(&c, (s, &h)),
            Err(ChainError::Gap {
                seq: 3,
                expected: 2
            })
        );
    }

    #[test]
    fn reordered_entries_are_caught_even_with_renumbered_seqs() {
        let mut c = chain(4);
        let (s, h) = head(&c);
        c.swap(1, 2);
        c[1].seq = 2;
        c[2].seq = 3;
        assert_eq!(
            verify_chain(&c, (s, &h)),
            Err(ChainError::Link { seq: 2, prev: 1 })
        );
    }

    #[test]
    fn a_truncated_tail_is_caught_by_the_head() {
        let mut c = chain(4);
        let (s, h) = head(&c);
        c.pop();
        assert_eq!(
            verify_chain(&c, (s, &h)),
            Err(ChainError::Head {
                last: 3,
                head_seq: 4
            })
        );
    }
}
