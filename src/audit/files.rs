//! Where the audit chain's signing key and checkpoints live, outside the database: resolving their
//! paths from the settings, loading (or creating) the key file, appending a checkpoint, reading the last.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::checkpoint::{last_note, CheckpointError, CheckpointKey};
use crate::settings::{AuditSettings, PrivacySettings};
use crate::vault::{create_key_file_once, decode_key_text, master_key_file};

/// The environment variable holding the signing key's seed itself (precedence over any file).
pub const SIGNING_KEY_ENV: &str = "IDV_AUDIT_SIGNING_KEY";
/// How much of a checkpoint file's end is read for its last checkpoint (a checkpoint is ~250 bytes).
const TAIL_BYTES: u64 = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum AuditKeyError {
    #[error(
        "the audit signing key must be a 32-byte Ed25519 seed, written as 64 hex digits or base64"
    )]
    BadKey,
    #[error("the audit signing key file {path}: {source}")]
    KeyFile {
        path: String,
        source: std::io::Error,
    },
    #[error("no audit signing key: set {SIGNING_KEY_ENV} or audit.signing_key_file (or privacy.master_key_file, beside which it is created)")]
    NoKey,
    #[error("no audit checkpoint file: set audit.checkpoint_file (or privacy.master_key_file, beside which it is created)")]
    NoCheckpointFile,
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

/// Where the signing key is, when it does not come from the environment: the configured file, or
/// `idv-audit-signing.key` in the key folder (`key_folder`).
pub fn signing_key_file(
    audit: &AuditSettings,
    privacy: &PrivacySettings,
    database_url: &str,
) -> Option<PathBuf> {
    match &audit.signing_key_file {
        Some(file) => Some(PathBuf::from(file)),
        None => key_folder(privacy, database_url).map(|d| d.join("idv-audit-signing.key")),
    }
}

/// Where checkpoints are appended: the configured file; `<database file>.checkpoints` for SQLite;
/// `idv-audit-<database name>.checkpoints` in the key folder for PostgreSQL (one file per database,
/// so servers of different databases sharing a key folder do not mix their checkpoints).
pub fn checkpoint_file(
    audit: &AuditSettings,
    privacy: &PrivacySettings,
    database_url: &str,
) -> Option<PathBuf> {
    if let Some(file) = &audit.checkpoint_file {
        return Some(PathBuf::from(file));
    }
    if let Some(db) = sqlite_file(database_url) {
        return Some(PathBuf::from(format!("{}.checkpoints", db.display())));
    }
    let name = database_url
        .split('?')
        .next()?
        .rsplit_once('/')
        .map(|(_, db)| db)
        .filter(|db| !db.is_empty() && !db.contains('@') && !db.contains(':'))?;
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    key_folder(privacy, database_url).map(|d| d.join(format!("idv-audit-{safe}.checkpoints")))
}

/// The folder of the default audit files: a SQLite database's own (where its master key is by default;
/// a master key moved elsewhere by a rotation does not move them), else the master key file's.
fn key_folder(privacy: &PrivacySettings, database_url: &str) -> Option<PathBuf> {
    let beside = sqlite_file(database_url).or_else(|| master_key_file(privacy, database_url))?;
    Some(beside.parent().unwrap_or(Path::new("")).to_path_buf())
}

/// The file of a `sqlite://` database; `None` for one in memory or another engine.
fn sqlite_file(database_url: &str) -> Option<PathBuf> {
    let rest = database_url.strip_prefix("sqlite:")?;
    let file = rest.trim_start_matches("//").split('?').next()?;
    if file.is_empty() || file.starts_with(':') {
        return None;
    }
    Some(PathBuf::from(file))
}

/// The signing key: `IDV_AUDIT_SIGNING_KEY`, else the key file, created (mode 0600) with a new random
/// key when `create` and it does not exist. Returns the key and, when it was just created, its path.
pub fn resolve_signing_key(
    audit: &AuditSettings,
    privacy: &PrivacySettings,
    database_url: &str,
    create: bool,
) -> Result<(CheckpointKey, Option<PathBuf>), AuditKeyError> {
    let from_text = |text: &str| {
        let seed = decode_key_text(text).ok_or(AuditKeyError::BadKey)?;
        Ok::<_, AuditKeyError>(CheckpointKey::from_seed(&audit.origin, &seed)?)
    };
    if let Some(text) = std::env::var(SIGNING_KEY_ENV)
        .ok()
        .filter(|t| !t.trim().is_empty())
    {
        return Ok((from_text(&text)?, None));
    }
    let path = signing_key_file(audit, privacy, database_url).ok_or(AuditKeyError::NoKey)?;
    let err = |source| AuditKeyError::KeyFile {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok((from_text(&text)?, None)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
            let mut seed = zeroize::Zeroizing::new([0u8; 32]);
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), seed.as_mut_slice())
                .expect("the operating system's random number generator works");
            if create_key_file_once(
                &path,
                &zeroize::Zeroizing::new(hex::encode(seed.as_slice())),
            )
            .map_err(err)?
            {
                Ok((CheckpointKey::from_seed(&audit.origin, &seed)?, Some(path)))
            } else {
                // Another process starting at the same moment created it first: use theirs.
                let text = std::fs::read_to_string(&path).map_err(err)?;
                Ok((from_text(&text)?, None))
            }
        }
        Err(e) => Err(err(e)),
    }
}

/// Appends one signed checkpoint and a blank line to the file (created with mode 0600), in one write
/// with O_APPEND, and flushes it to disk.
pub fn append_checkpoint(path: &Path, note: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(format!("{note}\n").as_bytes())?;
    f.sync_data()
}

/// The last checkpoint note in a file (read from its last 64 KiB), `None` when it has none.
pub fn read_last_checkpoint(path: &Path) -> std::io::Result<Option<String>> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)))?;
    let mut tail = Vec::with_capacity(len.min(TAIL_BYTES) as usize);
    f.take(TAIL_BYTES).read_to_end(&mut tail)?;
    // A tail cut inside a multi-byte character only loses text before the last note.
    let tail = String::from_utf8_lossy(&tail);
    Ok(last_note(&tail).map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::checkpoint::Checkpoint;

    fn dir() -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("idv-audit-files-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn default_paths_sit_beside_the_database_or_the_master_key() {
        let audit = AuditSettings::default();
        let none = PrivacySettings::default();
        assert_eq!(
            checkpoint_file(&audit, &none, "sqlite:///var/lib/idv/idv.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/idv/idv.db.checkpoints"))
        );
        assert_eq!(
            signing_key_file(&audit, &none, "sqlite:///var/lib/idv/idv.db"),
            Some(PathBuf::from("/var/lib/idv/idv-audit-signing.key"))
        );
        assert_eq!(checkpoint_file(&audit, &none, "sqlite::memory:"), None);
        // PostgreSQL: beside the master key file, one checkpoint file per database.
        assert_eq!(checkpoint_file(&audit, &none, "postgres://u@h/idv"), None);
        let privacy = PrivacySettings {
            master_key_file: Some("/run/keys/master.key".into()),
        };
        assert_eq!(
            checkpoint_file(
                &audit,
                &privacy,
                "postgres://u@h:5432/idv_prod?sslmode=require"
            ),
            Some(PathBuf::from("/run/keys/idv-audit-idv_prod.checkpoints"))
        );
        assert_eq!(
            signing_key_file(&audit, &privacy, "postgres://u@h/idv"),
            Some(PathBuf::from("/run/keys/idv-audit-signing.key"))
        );
        // SQLite keeps them beside the database, wherever the master key was moved to.
        assert_eq!(
            signing_key_file(&audit, &privacy, "sqlite://data/idv.db"),
            Some(PathBuf::from("data/idv-audit-signing.key"))
        );
        let configured = AuditSettings {
            checkpoint_file: Some("/srv/c".into()),
            signing_key_file: Some("/srv/k".into()),
            ..AuditSettings::default()
        };
        assert_eq!(
            checkpoint_file(&configured, &privacy, "postgres://u@h/idv"),
            Some(PathBuf::from("/srv/c"))
        );
        assert_eq!(
            signing_key_file(&configured, &privacy, "postgres://u@h/idv"),
            Some(PathBuf::from("/srv/k"))
        );
    }

    #[test]
    fn the_key_file_is_created_once_owner_only_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let d = dir();
        let audit = AuditSettings {
            signing_key_file: Some(d.join("k").display().to_string()),
            ..AuditSettings::default()
        };
        let privacy = PrivacySettings::default();
        let url = "postgres://u@h/idv";
        assert!(matches!(
            resolve_signing_key(&audit, &privacy, url, false),
            Err(AuditKeyError::KeyFile { .. })
        ));
        let (k, created) = resolve_signing_key(&audit, &privacy, url, true).unwrap();
        assert_eq!(created, Some(d.join("k")));
        let mode = std::fs::metadata(d.join("k")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let (again, created) = resolve_signing_key(&audit, &privacy, url, true).unwrap();
        assert_eq!(created, None);
        assert_eq!(again.public(), k.public());
        std::fs::write(d.join("k"), "not a key").unwrap();
        assert!(matches!(
            resolve_signing_key(&audit, &privacy, url, false),
            Err(AuditKeyError::BadKey)
        ));
    }

    #[test]
    fn checkpoints_append_and_the_last_is_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let d = dir();
        let path = d.join("sub/audit.checkpoints");
        assert!(read_last_checkpoint(&path).is_err(), "missing file");
        let k = CheckpointKey::from_seed("idv/audit", &[3; 32]).unwrap();
        let mut last = String::new();
        // More than the 64 KiB tail: the last one is still found whole.
        for size in 0..400 {
            let c = Checkpoint::of_head("idv/audit", size, &"cd".repeat(32), 1_000 * size).unwrap();
            last = k.sign(&c).unwrap();
            append_checkpoint(&path, &last).unwrap();
        }
        assert!(std::fs::metadata(&path).unwrap().len() > TAIL_BYTES);
        assert_eq!(read_last_checkpoint(&path).unwrap(), Some(last.clone()));
        assert_eq!(k.public().open(&last).unwrap().size, 399);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(d.join("empty"), "").unwrap();
        assert_eq!(read_last_checkpoint(&d.join("empty")).unwrap(), None);
    }
}
