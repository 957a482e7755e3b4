//! Signed checkpoints of the audit chain's head (pure): what a checkpoint says, its text, signing it
//! and checking a signature.
//!
//! The format is the transparency-log checkpoint of Go's sumdb and Sigstore (C2SP tlog-checkpoint), a
//! signed note whose text is
//!
//! ```text
//! <origin>
//! <size: the number of entries, decimal>
//! <base64 of the head: the hash of entry <size>, or 32 zero bytes for an empty chain>
//! Timestamp: <when it was taken, RFC 3339 UTC>
//!
//! — <key name> <base64(key id (4 bytes) ‖ Ed25519 signature (64 bytes))>
//! ```
//!
//! The signature covers the text up to and including the newline before the blank line. The key name is
//! the origin; the key id is the first 4 bytes of sha256(name ‖ "\n" ‖ 0x01 ‖ public key), and a public
//! key is written `<name>+<key id, hex>+<base64(0x01 ‖ public key)>`, as Go's `note` package does.
//! The chain is a hash chain, not a Merkle tree: the "root hash" line carries the chain's head.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// The signed-note algorithm byte for Ed25519.
const ED25519: u8 = 0x01;
/// The start of a signature line: an em dash and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";
const TIMESTAMP_PREFIX: &str = "Timestamp: ";
/// Longer names, lines or more signatures than this are not ours (bounded parsing of untrusted files).
const MAX_NAME: usize = 256;
const MAX_SIGNATURES: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("the checkpoint is malformed: {0}")]
    Malformed(&'static str),
    #[error("the public key is malformed (expected <name>+<8 hex digits>+<base64>)")]
    BadPublicKey,
    #[error("the checkpoint carries no signature by key {expected} (it is signed by: {found})")]
    NotSignedBy { expected: String, found: String },
    #[error("the checkpoint's signature by key {0} is not valid (the checkpoint was altered, or signed by another key)")]
    BadSignature(String),
    #[error("the checkpoint's origin `{origin}` is not the key's name `{name}`")]
    WrongOrigin { origin: String, name: String },
    #[error("`{0}` cannot name a log or a key: 1-256 characters, no spaces and no '+'")]
    BadName(String),
}

/// Whether `name` can be an origin and a key name: a signed note's key name has no spaces and no '+'.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '+')
}

/// The chain's head at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    /// How many entries the chain had: the head is entry `size`'s hash.
    pub size: u64,
    pub head: [u8; 32],
    /// Unix milliseconds.
    pub at_ms: i64,
}

impl Checkpoint {
    /// A checkpoint of the head as the store keeps it (sequence number and hex hash).
    pub fn of_head(
        origin: &str,
        seq: i64,
        head_hex: &str,
        at_ms: i64,
    ) -> Result<Checkpoint, CheckpointError> {
        let head = hex::decode(head_hex)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or(CheckpointError::Malformed(
                "the head is not a 64-hex-digit hash",
            ))?;
        let size = u64::try_from(seq).map_err(|_| CheckpointError::Malformed("negative size"))?;
        if !valid_name(origin) {
            return Err(CheckpointError::BadName(origin.into()));
        }
        Ok(Checkpoint {
            origin: origin.into(),
            size,
            head,
            at_ms,
        })
    }

    /// The head as the audit log writes hashes (hex).
    pub fn head_hex(&self) -> String {
        hex::encode(self.head)
    }

    pub fn head_base64(&self) -> String {
        BASE64.encode(self.head)
    }

    /// The note text that is signed.
    pub fn text(&self) -> String {
        format!(
            "{}\n{}\n{}\n{TIMESTAMP_PREFIX}{}\n",
            self.origin,
            self.size,
            self.head_base64(),
            crate::domain::clock::rfc3339(self.at_ms)
        )
    }

    fn parse_text(text: &str) -> Result<Checkpoint, CheckpointError> {
        let malformed = CheckpointError::Malformed;
        let body = text
            .strip_suffix('\n')
            .ok_or(malformed("the text must end with a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or_default();
        if !valid_name(origin) {
            return Err(malformed("the origin line"));
        }
        let size = lines.next().unwrap_or_default();
        if size.is_empty()
            || size.len() > 20
            || !size.bytes().all(|b| b.is_ascii_digit())
            || (size.len() > 1 && size.starts_with('0'))
        {
            return Err(malformed("the size line"));
        }
        let size = size.parse().map_err(|_| malformed("the size line"))?;
        let head = BASE64
            .decode(lines.next().unwrap_or_default())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or(malformed("the head line (base64 of 32 bytes)"))?;
        let at = lines
            .next()
            .and_then(|l| l.strip_prefix(TIMESTAMP_PREFIX))
            .and_then(|t| {
                time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
            })
            .ok_or(malformed("the Timestamp line"))?;
        if lines.next().is_some() {
            return Err(malformed("unexpected lines after the Timestamp"));
        }
        Ok(Checkpoint {
            origin: origin.into(),
            size,
            head,
            at_ms: (at.unix_timestamp_nanos() / 1_000_000) as i64,
        })
    }
}

/// The key that signs checkpoints, named by the log's origin. Its secret half is zeroed on drop (by
/// `ed25519-dalek`) and never printed.
pub struct CheckpointKey {
    name: String,
    key: SigningKey,
}

impl std::fmt::Debug for CheckpointKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CheckpointKey({}, <redacted>)", self.public().encode())
    }
}

impl CheckpointKey {
    /// The key whose 32-byte Ed25519 seed this is.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<CheckpointKey, CheckpointError> {
        if !valid_name(name) {
            return Err(CheckpointError::BadName(name.into()));
        }
        Ok(CheckpointKey {
            name: name.into(),
            key: SigningKey::from_bytes(seed),
        })
    }

    pub fn public(&self) -> PublicKey {
        PublicKey {
            name: self.name.clone(),
            key: self.key.verifying_key(),
        }
    }

    /// The signed note: the checkpoint's text, a blank line, the signature line.
    pub fn sign(&self, checkpoint: &Checkpoint) -> Result<String, CheckpointError> {
        if checkpoint.origin != self.name {
            return Err(CheckpointError::WrongOrigin {
                origin: checkpoint.origin.clone(),
                name: self.name.clone(),
            });
        }
        let text = checkpoint.text();
        let signature = self.key.sign(text.as_bytes());
        let mut blob = self.public().key_id().to_vec();
        blob.extend_from_slice(&signature.to_bytes());
        Ok(format!(
            "{text}\n{SIGNATURE_PREFIX}{} {}\n",
            self.name,
            BASE64.encode(blob)
        ))
    }
}

/// The public half: what an auditor keeps to check checkpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    name: String,
    key: VerifyingKey,
}

impl PublicKey {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// sha256(name ‖ "\n" ‖ 0x01 ‖ public key), first 4 bytes.
    pub fn key_id(&self) -> [u8; 4] {
        let mut h = Sha256::new();
        h.update(self.name.as_bytes());
        h.update(b"\n");
        h.update([ED25519]);
        h.update(self.key.as_bytes());
        let d = h.finalize();
        [d[0], d[1], d[2], d[3]]
    }

    /// `<name>+<key id, 8 hex digits>+<base64(0x01 ‖ public key)>`.
    pub fn encode(&self) -> String {
        let mut blob = vec![ED25519];
        blob.extend_from_slice(self.key.as_bytes());
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(self.key_id()),
            BASE64.encode(blob)
        )
    }

    /// `<name>+<key id, 8 hex digits>`: how the key is named in messages.
    pub fn id(&self) -> String {
        format!("{}+{}", self.name, hex::encode(self.key_id()))
    }

    /// Reads `encode`'s form; the key id must agree with the name and the key. (The base64 key may
    /// itself hold '+': the name and the id end at the first two.)
    pub fn parse(text: &str) -> Result<PublicKey, CheckpointError> {
        let bad = || CheckpointError::BadPublicKey;
        let mut parts = text.trim().splitn(3, '+');
        let (Some(name), Some(id), Some(blob)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        if !valid_name(name) {
            return Err(bad());
        }
        let blob = BASE64.decode(blob).map_err(|_| bad())?;
        let key = match blob.split_first() {
            Some((&ED25519, rest)) => <[u8; 32]>::try_from(rest)
                .ok()
                .and_then(|k| VerifyingKey::from_bytes(&k).ok())
                .ok_or_else(bad)?,
            _ => return Err(bad()),
        };
        let public = PublicKey {
            name: name.into(),
            key,
        };
        if hex::encode(public.key_id()) != id.to_ascii_lowercase() {
            return Err(bad());
        }
        Ok(public)
    }

    /// The checkpoint in `note` if this key signed it (and it names this key's log).
    pub fn open(&self, note: &str) -> Result<Checkpoint, CheckpointError> {
        let malformed = CheckpointError::Malformed;
        let (text, signatures) = note
            .split_once("\n\n")
            .ok_or(malformed("no blank line before the signatures"))?;
        let text = format!("{text}\n");
        let signatures = signatures
            .strip_suffix('\n')
            .ok_or(malformed("the signatures must end with a newline"))?;
        let mut found = Vec::new();
        let mut verdict = None;
        for line in signatures.split('\n').take(MAX_SIGNATURES + 1) {
            if found.len() == MAX_SIGNATURES {
                return Err(malformed("too many signature lines"));
            }
            let (name, blob) = line
                .strip_prefix(SIGNATURE_PREFIX)
                .and_then(|l| l.split_once(' '))
                .ok_or(malformed("a signature line is not `— <name> <base64>`"))?;
            let blob = BASE64
                .decode(blob)
                .map_err(|_| malformed("a signature is not base64"))?;
            if blob.len() < 4 {
                return Err(malformed("a signature is shorter than its key id"));
            }
            found.push(format!("{name}+{}", hex::encode(&blob[..4])));
            if name == self.name && blob[..4] == self.key_id() {
                let ok = Signature::from_slice(&blob[4..])
                    .ok()
                    .is_some_and(|s| self.key.verify_strict(text.as_bytes(), &s).is_ok());
                verdict = Some(ok);
            }
        }
        let id = self.id();
        match verdict {
            None => Err(CheckpointError::NotSignedBy {
                expected: id,
                found: found.join(", "),
            }),
            Some(false) => Err(CheckpointError::BadSignature(id)),
            Some(true) => {
                let checkpoint = Checkpoint::parse_text(&text)?;
                if checkpoint.origin != self.name {
                    return Err(CheckpointError::WrongOrigin {
                        origin: checkpoint.origin,
                        name: self.name.clone(),
                    });
                }
                Ok(checkpoint)
            }
        }
    }
}

/// The last complete note in the tail of a checkpoint file (notes appended one after another, each
/// followed by a blank line). `None` when there is none.
pub fn last_note(tail: &str) -> Option<&str> {
    let trimmed = tail.trim_end_matches('\n');
    if trimmed.is_empty() {
        return None;
    }
    // The note's text starts after the blank line that ends the note before it (or at the start).
    let signatures_at = trimmed.rfind("\n\n")?;
    let start = trimmed[..signatures_at]
        .rfind("\n\n")
        .map(|i| i + 2)
        .unwrap_or(0);
    Some(&tail[start..trimmed.len() + 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, seed: u8) -> CheckpointKey {
        CheckpointKey::from_seed(name, &[seed; 32]).unwrap()
    }

    fn checkpoint(size: u64) -> Checkpoint {
        Checkpoint::of_head(
            "idv/audit",
            size as i64,
            &"ab".repeat(32),
            1_764_615_600_123,
        )
        .unwrap()
    }

    #[test]
    fn a_checkpoint_is_the_signed_note_format() {
        let note = key("idv/audit", 7).sign(&checkpoint(42)).unwrap();
        let lines: Vec<&str> = note.split('\n').collect();
        assert_eq!(lines[0], "idv/audit");
        assert_eq!(lines[1], "42");
        assert_eq!(lines[2], BASE64.encode([0xab; 32]));
        assert_eq!(lines[3], "Timestamp: 2025-12-01T19:00:00.123Z");
        assert_eq!(lines[4], "");
        assert!(lines[5].starts_with("\u{2014} idv/audit "), "{note}");
        assert_eq!(lines[6], "", "the note ends with a newline");
        assert_eq!(lines.len(), 7);
        // key id ‖ 64-byte signature.
        let blob = BASE64.decode(lines[5].rsplit(' ').next().unwrap()).unwrap();
        assert_eq!(blob.len(), 68);
        assert_eq!(blob[..4], key("idv/audit", 7).public().key_id());
    }

    #[test]
    fn a_signed_checkpoint_opens_under_its_public_key() {
        let k = key("idv/audit", 7);
        let note = k.sign(&checkpoint(42)).unwrap();
        assert_eq!(k.public().open(&note), Ok(checkpoint(42)));
        let empty = Checkpoint::of_head("idv/audit", 0, crate::audit::GENESIS, 0).unwrap();
        assert_eq!(k.public().open(&k.sign(&empty).unwrap()), Ok(empty));
    }

    #[test]
    fn an_altered_checkpoint_or_signature_fails() {
        let k = key("idv/audit", 7);
        let note = k.sign(&checkpoint(42)).unwrap();
        let bigger = note.replacen("\n42\n", "\n43\n", 1);
        assert_eq!(
            k.public().open(&bigger),
            Err(CheckpointError::BadSignature(format!(
                "idv/audit+{}",
                hex::encode(k.public().key_id())
            )))
        );
        // One bit of the signature flipped.
        let sig_line = note.lines().last().unwrap();
        let mut blob = BASE64.decode(sig_line.rsplit(' ').next().unwrap()).unwrap();
        blob[10] ^= 1;
        let forged = note.replace(
            sig_line,
            &format!("\u{2014} idv/audit {}", BASE64.encode(&blob)),
        );
        assert!(matches!(
            k.public().open(&forged),
            Err(CheckpointError::BadSignature(_))
        ));
    }

    #[test]
    fn another_key_of_the_same_name_is_not_ours() {
        let note = key("idv/audit", 8).sign(&checkpoint(1)).unwrap();
        assert!(matches!(
            key("idv/audit", 7).public().open(&note),
            Err(CheckpointError::NotSignedBy { .. })
        ));
    }

    #[test]
    fn public_keys_round_trip_in_the_note_form() {
        let public = key("idv/audit", 7).public();
        let text = public.encode();
        let parts: Vec<&str> = text.splitn(3, '+').collect();
        assert_eq!(parts[0], "idv/audit");
        assert_eq!(parts[1], hex::encode(public.key_id()));
        assert_eq!(BASE64.decode(parts[2]).unwrap()[0], ED25519);
        assert_eq!(PublicKey::parse(&format!("{text}\n")), Ok(public));
        // A key id that does not match, a wrong algorithm byte, junk.
        let wrong_id = format!("{}+00000000+{}", parts[0], parts[2]);
        assert_eq!(
            PublicKey::parse(&wrong_id),
            Err(CheckpointError::BadPublicKey)
        );
        let mut blob = BASE64.decode(parts[2]).unwrap();
        blob[0] = 2;
        let wrong_alg = format!("{}+{}+{}", parts[0], parts[1], BASE64.encode(blob));
        assert!(PublicKey::parse(&wrong_alg).is_err());
        for junk in ["", "a+b", "a+b+c+d", "x y+00000000+AQ=="] {
            assert!(PublicKey::parse(junk).is_err(), "{junk}");
        }
        // Keys whose base64 holds '+' (about one in six) parse too.
        let with_plus = (0..=255u8)
            .map(|seed| key("idv/audit", seed).public())
            .find(|p| p.encode().splitn(3, '+').nth(2).unwrap().contains('+'))
            .expect("some key's base64 holds a '+'");
        assert_eq!(PublicKey::parse(&with_plus.encode()), Ok(with_plus));
    }

    #[test]
    fn malformed_notes_are_refused_not_panicked_on() {
        let k = key("idv/audit", 7);
        let good = k.sign(&checkpoint(5)).unwrap();
        for bad in [
            "".to_string(),
            "idv/audit\n5\n".into(),
            good.replace("\n\n", "\n"),
            good.trim_end().to_string(),
            good.replace("\u{2014} ", "- "),
            good.replace('\u{2014}', "\u{2014}\u{2014}"),
            format!("{good}{}", "\u{2014} x AAAA\n".repeat(20)),
        ] {
            assert!(k.public().open(&bad).is_err(), "{bad:?}");
        }
        // Validly signed but not a checkpoint: the text is parsed only after the signature holds.
        assert!(matches!(
            Checkpoint::parse_text("idv/audit\n05\nAA==\n"),
            Err(CheckpointError::Malformed(_))
        ));
    }

    /// The example in docs/PRIVACY.md was signed outside idv (Python's `cryptography`, following Go's
    /// signed-note rules), so this also checks the format against another implementation.
    #[test]
    fn the_documented_example_verifies_under_its_documented_key() {
        let doc = include_str!("../../docs/PRIVACY.md");
        let note = doc
            .split("```text\n")
            .find(|b| b.starts_with("idv/audit\n"))
            .and_then(|b| b.split("```").next())
            .expect("the example checkpoint");
        let key = doc
            .split("example key `")
            .nth(1)
            .and_then(|r| r.split('`').next())
            .expect("the example key");
        let public = PublicKey::parse(key).unwrap();
        let c = public.open(note).unwrap();
        assert_eq!((c.origin.as_str(), c.size), ("idv/audit", 1523));
        assert_eq!(
            crate::domain::clock::rfc3339(c.at_ms),
            "2026-12-01T19:00:00.123Z"
        );
    }

    #[test]
    fn names_are_plain() {
        assert!(valid_name("idv/audit"));
        assert!(valid_name("example.org/idv-prod"));
        for bad in ["", "a b", "a+b", "a\nb", &"x".repeat(257)] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        assert!(CheckpointKey::from_seed("a b", &[0; 32]).is_err());
    }

    #[test]
    fn the_last_note_of_a_file_is_found() {
        let k = key("idv/audit", 7);
        let (a, b) = (
            k.sign(&checkpoint(1)).unwrap(),
            k.sign(&checkpoint(2)).unwrap(),
        );
        let file = format!("{a}\n{b}\n");
        assert_eq!(last_note(&file), Some(b.as_str()));
        assert_eq!(last_note(&format!("{a}\n")), Some(a.as_str()));
        // A tail read from the middle of the file still ends with a whole note.
        let tail = &file[10..];
        assert_eq!(last_note(tail), Some(b.as_str()));
        assert_eq!(last_note(""), None);
        assert_eq!(last_note("\n\n"), None);
        assert_eq!(
            k.public().open(last_note(&file).unwrap()),
            Ok(checkpoint(2))
        );
    }
}
