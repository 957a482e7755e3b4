//! Encryption at rest: the only module that holds key material.
//!
//! Every biometric item idv keeps (uploaded images and videos, embeddings) and every subject reference
//! is sealed with AES-256-GCM under its subject's own data key. Data keys are stored wrapped (sealed)
//! by the master key, with the master key's id, so the master key can be rotated by re-wrapping them
//! without touching the data. Erasing a subject destroys their data key (crypto-shredding): copies of
//! their sealed items in backups become unreadable.
//!
//! Subjects are found by a keyed digest (HMAC-SHA256 under the subject-index key, itself wrapped by
//! the master key), so the database never holds a subject reference in clear and the digest cannot be
//! recomputed from a guessed reference without the keys.
//!
//! Sealed format: `0x01 ‖ 12-byte random nonce ‖ ciphertext ‖ 16-byte tag`. The associated data names
//! what the item is (e.g. `media\n<id>`), so a sealed item moved to another row fails to open.

use std::io::Write;
use std::path::Path;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};
use zeroize::{ZeroizeOnDrop, Zeroizing};

use crate::settings::PrivacySettings;
use crate::store::{now_ms, Store, StoreError, SubjectRow};

const FORMAT_V1: u8 = 1;
const KEY_LEN: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("the master key must be 32 bytes, written as 64 hex digits or as base64")]
    BadMasterKey,
    #[error("the master key file {path}: {source}")]
    KeyFile {
        path: String,
        source: std::io::Error,
    },
    #[error("a key was wrapped by master key {found}, but this process has master key {have}")]
    WrongMasterKey { found: String, have: String },
    #[error("a sealed item failed to open (corrupted, moved, or sealed under another key)")]
    Unsealable,
    #[error("no master key: set IDV_MASTER_KEY or privacy.master_key_file (a PostgreSQL deployment must supply its own)")]
    NoMasterKey,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// 32 secret bytes: a master key or a data key. Zeroed on drop (by `zeroize`, whose writes the
/// compiler cannot optimise away); never printed.
pub struct SecretKey(Zeroizing<[u8; KEY_LEN]>);

impl ZeroizeOnDrop for SecretKey {}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    SystemRandom::new()
        .fill(&mut b)
        .expect("the operating system's random number generator works");
    b
}

impl SecretKey {
    pub fn generate() -> SecretKey {
        SecretKey(Zeroizing::new(random_bytes()))
    }

    fn from_slice(b: &[u8]) -> Option<SecretKey> {
        <[u8; KEY_LEN]>::try_from(b)
            .ok()
            .map(|key| SecretKey(Zeroizing::new(key)))
    }

    fn aead(&self) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, self.0.as_slice()).expect("a 32-byte key"))
    }

    /// Encrypts and authenticates `plaintext`, binding it to `context` (what it is and where it lives).
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Vec<u8> {
        let nonce: [u8; NONCE_LEN] = random_bytes();
        let mut body = plaintext.to_vec();
        self.aead()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut body,
            )
            .expect("sealing cannot fail for in-memory sizes");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + body.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        out
    }

    /// The plaintext of a sealed item, if it was sealed under this key with this `context`.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, VaultError> {
        if sealed.len() < 1 + NONCE_LEN + AES_256_GCM.tag_len() || sealed[0] != FORMAT_V1 {
            return Err(VaultError::Unsealable);
        }
        let nonce = <[u8; NONCE_LEN]>::try_from(&sealed[1..1 + NONCE_LEN]).expect("length checked");
        let mut body = sealed[1 + NONCE_LEN..].to_vec();
        let plain = self
            .aead()
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut body,
            )
            .map_err(|_| VaultError::Unsealable)?;
        Ok(plain.to_vec())
    }
}

/// The key that wraps every data key. Given by the operator (`IDV_MASTER_KEY` or a key file).
pub struct MasterKey {
    id: String,
    key: SecretKey,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({}, <redacted>)", self.id)
    }
}

impl MasterKey {
    fn from_key(key: SecretKey) -> MasterKey {
        let mut h = Sha256::new();
        h.update(b"idv-master-key-id\n");
        h.update(key.0.as_slice());
        MasterKey {
            id: format!("mk_{}", &hex::encode(h.finalize())[..16]),
            key,
        }
    }

    /// A new random master key and its text form (64 hex digits).
    pub fn generate() -> (MasterKey, String) {
        let key = SecretKey::generate();
        let text = hex::encode(key.0.as_slice());
        (MasterKey::from_key(key), text)
    }

    /// Parses 64 hex digits or base64 (standard or URL-safe, padded or not) of 32 bytes.
    pub fn parse(text: &str) -> Result<MasterKey, VaultError> {
        let bytes = decode_key_text(text).ok_or(VaultError::BadMasterKey)?;
        Ok(MasterKey::from_key(SecretKey(bytes)))
    }

    /// Reads the key file, or creates it (mode 0600) with a new key when it does not exist. The
    /// `bool` says whether it was created.
    pub fn load_or_create(path: &Path) -> Result<(MasterKey, bool), VaultError> {
        let err = |source| VaultError::KeyFile {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => Ok((MasterKey::parse(&text)?, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let (key, text) = MasterKey::generate();
                if create_key_file_once(path, &text).map_err(err)? {
                    Ok((key, true))
                } else {
                    // Another process starting at the same moment created it first: use theirs.
                    let text = std::fs::read_to_string(path).map_err(err)?;
                    Ok((MasterKey::parse(&text)?, false))
                }
            }
            Err(e) => Err(err(e)),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Seals a data key for storage; `context` names whose key it is.
    pub fn wrap(&self, data_key: &SecretKey, context: &str) -> Vec<u8> {
        self.key
            .seal(&format!("wrap\n{context}"), data_key.0.as_slice())
    }

    /// Re-wraps a stored key for `new` (rotation); a key `new` already wraps is returned as it is.
    pub fn rewrap_for(
        &self,
        new: &MasterKey,
        wrapped: &[u8],
        master_key_id: &str,
        context: &str,
    ) -> Result<Vec<u8>, VaultError> {
        if master_key_id == new.id {
            return Ok(wrapped.to_vec());
        }
        Ok(new.wrap(&self.unwrap(wrapped, master_key_id, context)?, context))
    }

    /// Opens a stored data key that `master_key_id` wrapped.
    pub fn unwrap(
        &self,
        wrapped: &[u8],
        master_key_id: &str,
        context: &str,
    ) -> Result<SecretKey, VaultError> {
        if master_key_id != self.id {
            return Err(VaultError::WrongMasterKey {
                found: master_key_id.into(),
                have: self.id.clone(),
            });
        }
        let plain = self.key.open(&format!("wrap\n{context}"), wrapped)?;
        SecretKey::from_slice(&plain).ok_or(VaultError::Unsealable)
    }
}

/// 32 key bytes from their text form: 64 hex digits or base64 (standard or URL-safe, padded or not).
/// The form of every key file idv reads (the master key, the audit signing key).
pub fn decode_key_text(text: &str) -> Option<Zeroizing<[u8; KEY_LEN]>> {
    use base64::Engine as _;
    let text = text.trim();
    let bytes = Zeroizing::new(
        hex::decode(text)
            .ok()
            .filter(|b| b.len() == KEY_LEN)
            .or_else(|| {
                [
                    &base64::engine::general_purpose::STANDARD,
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                    &base64::engine::general_purpose::STANDARD_NO_PAD,
                ]
                .iter()
                .find_map(|e| e.decode(text).ok().filter(|b| b.len() == KEY_LEN))
            })?,
    );
    <[u8; KEY_LEN]>::try_from(bytes.as_slice())
        .ok()
        .map(Zeroizing::new)
}

/// Creates the key file whole or not at all: written to a temporary file (mode 0600) and linked into
/// place, which fails when the file exists, so two servers starting together agree on one key and
/// neither reads a half-written file. `false`: it already existed.
pub fn create_key_file_once(path: &Path, text: &str) -> std::io::Result<bool> {
    let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    write_key_file(&tmp, text)?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// Writes a new key file readable by its owner only; never overwrites one.
fn write_key_file(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(format!("{text}\n").as_bytes())?;
    f.sync_all()
}

/// Where the master key comes from, in order: `IDV_MASTER_KEY` (the key itself), the configured key
/// file, or, for a SQLite database only, `idv-master.key` beside the database file, created on first
/// start. Returns the key and, when it was just created, the file's path (for a loud warning).
pub fn resolve_master_key(
    privacy: &PrivacySettings,
    database_url: &str,
) -> Result<(MasterKey, Option<std::path::PathBuf>), VaultError> {
    if let Some(text) = std::env::var("IDV_MASTER_KEY")
        .ok()
        .filter(|t| !t.trim().is_empty())
    {
        return Ok((MasterKey::parse(&text)?, None));
    }
    let path = master_key_file(privacy, database_url).ok_or(VaultError::NoMasterKey)?;
    let (key, created) = MasterKey::load_or_create(&path)?;
    Ok((key, created.then_some(path)))
}

/// The master key file in use when `IDV_MASTER_KEY` is not set: the configured one, or the default
/// beside a SQLite database.
pub fn master_key_file(
    privacy: &PrivacySettings,
    database_url: &str,
) -> Option<std::path::PathBuf> {
    match &privacy.master_key_file {
        Some(file) => Some(std::path::PathBuf::from(file)),
        None => default_key_file(database_url),
    }
}

/// `idv-master.key` in the folder of a `sqlite://` database file; `None` for anything else.
fn default_key_file(database_url: &str) -> Option<std::path::PathBuf> {
    let rest = database_url.strip_prefix("sqlite:")?;
    let file = rest.trim_start_matches("//").split('?').next()?;
    if file.is_empty() || file.starts_with(':') {
        return None; // in memory
    }
    let dir = Path::new(file).parent().unwrap_or(Path::new(""));
    Some(dir.join("idv-master.key"))
}

/// The keys a running service holds: the master key and the subject index. Subjects' data keys are
/// unwrapped per request and dropped (zeroed) after use.
pub struct Vault {
    master: MasterKey,
    index: SubjectIndex,
    /// Seals the reviewers' TOTP secrets (a keyring key, so master-key rotation re-wraps it).
    reviewer_secrets: SecretKey,
    /// Seals the webhook endpoints' signing secrets (a keyring key too).
    webhook_secrets: SecretKey,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Vault({})", self.master.id())
    }
}

/// A subject's data key, unwrapped for one request.
pub struct SubjectKey {
    pub subject_id: String,
    pub key_id: String,
    pub restricted_at: Option<i64>,
    key: SecretKey,
}

impl SubjectKey {
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Vec<u8> {
        self.key.seal(context, plaintext)
    }

    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, VaultError> {
        self.key.open(context, sealed)
    }
}

const SUBJECT_INDEX: &str = "subject_index";
const REVIEWER_SECRETS: &str = "reviewer_secrets";
const WEBHOOK_SECRETS: &str = "webhook_secrets";

/// A key of the keyring, created on first use.
async fn keyring_key(
    store: &Store,
    master: &MasterKey,
    name: &str,
) -> Result<SecretKey, VaultError> {
    let context = format!("keyring\n{name}");
    if store.keyring_key(name).await?.is_none() {
        let key = SecretKey::generate();
        store
            .insert_keyring_key(name, &master.wrap(&key, &context), master.id())
            .await?;
    }
    // Read back: with several servers starting at once, the first insert won.
    let (wrapped, master_key_id) = store
        .keyring_key(name)
        .await?
        .ok_or(VaultError::Unsealable)?;
    master.unwrap(&wrapped, &master_key_id, &context)
}

impl Vault {
    /// Loads the subject-index and reviewer keys from the keyring, creating them on the very first start.
    pub async fn open(store: &Store, master: MasterKey) -> Result<Vault, VaultError> {
        let index = SubjectIndex::new(&keyring_key(store, &master, SUBJECT_INDEX).await?);
        let reviewer_secrets = keyring_key(store, &master, REVIEWER_SECRETS).await?;
        let webhook_secrets = keyring_key(store, &master, WEBHOOK_SECRETS).await?;
        Ok(Vault {
            master,
            index,
            reviewer_secrets,
            webhook_secrets,
        })
    }

    /// Seals a webhook endpoint's signing secret for storage with its row (it must be opened to sign,
    /// so it is encrypted, not hashed).
    pub fn seal_webhook_secret(&self, webhook_id: &str, secret: &[u8]) -> Vec<u8> {
        self.webhook_secrets
            .seal(&format!("webhook_secret\n{webhook_id}"), secret)
    }

    pub fn open_webhook_secret(
        &self,
        webhook_id: &str,
        sealed: &[u8],
    ) -> Result<Vec<u8>, VaultError> {
        self.webhook_secrets
            .open(&format!("webhook_secret\n{webhook_id}"), sealed)
    }

    /// Seals a reviewer's TOTP secret for storage with their row.
    pub fn seal_reviewer_secret(&self, reviewer_id: &str, secret: &[u8]) -> Vec<u8> {
        self.reviewer_secrets
            .seal(&format!("reviewer_totp\n{reviewer_id}"), secret)
    }

    pub fn open_reviewer_secret(
        &self,
        reviewer_id: &str,
        sealed: &[u8],
    ) -> Result<Vec<u8>, VaultError> {
        self.reviewer_secrets
            .open(&format!("reviewer_totp\n{reviewer_id}"), sealed)
    }

    pub fn master(&self) -> &MasterKey {
        &self.master
    }

    /// The keyed digest that stands for a subject reference everywhere (`subject_id`).
    pub fn subject_id(&self, org: &str, subject_ref: &str) -> String {
        self.index.digest(org, subject_ref)
    }

    fn unwrap_subject(&self, row: &SubjectRow) -> Result<SubjectKey, VaultError> {
        let key = self.master.unwrap(
            &row.wrapped_key,
            &row.master_key_id,
            &format!("subject\n{}", row.subject_id),
        )?;
        Ok(SubjectKey {
            subject_id: row.subject_id.clone(),
            key_id: row.key_id.clone(),
            restricted_at: row.restricted_at,
            key,
        })
    }

    /// The subject's data key, if they have one (none before their first consent, none after erasure).
    pub async fn subject_key(
        &self,
        store: &Store,
        subject_id: &str,
    ) -> Result<Option<SubjectKey>, VaultError> {
        match store.subject(subject_id).await? {
            Some(row) => Ok(Some(self.unwrap_subject(&row)?)),
            None => Ok(None),
        }
    }

    /// The subject's data key, created (with their sealed reference) when they have none yet.
    pub async fn subject_key_or_create(
        &self,
        store: &Store,
        org: &str,
        subject_ref: &str,
    ) -> Result<SubjectKey, VaultError> {
        let subject_id = self.subject_id(org, subject_ref);
        if let Some(key) = self.subject_key(store, &subject_id).await? {
            return Ok(key);
        }
        let key = SecretKey::generate();
        let row = SubjectRow {
            subject_id: subject_id.clone(),
            org: org.into(),
            key_id: format!("dk_{}", hex::encode(random_bytes::<8>())),
            wrapped_key: self.master.wrap(&key, &format!("subject\n{subject_id}")),
            master_key_id: self.master.id().into(),
            ref_sealed: key.seal(&ref_context(&subject_id), subject_ref.as_bytes()),
            created_at: now_ms(),
            restricted_at: None,
        };
        store.insert_subject(&row).await?;
        // Read back: a concurrent first request for the same subject may have won.
        self.subject_key(store, &subject_id)
            .await?
            .ok_or(VaultError::Unsealable)
    }

    /// The subject reference in clear, for the API's answers; `None` once the subject is erased.
    pub async fn subject_ref(
        &self,
        store: &Store,
        subject_id: &str,
    ) -> Result<Option<String>, VaultError> {
        let Some(row) = store.subject(subject_id).await? else {
            return Ok(None);
        };
        let key = self.unwrap_subject(&row)?;
        let plain = key.open(&ref_context(subject_id), &row.ref_sealed)?;
        Ok(Some(
            String::from_utf8(plain).map_err(|_| VaultError::Unsealable)?,
        ))
    }
}

fn ref_context(subject_id: &str) -> String {
    format!("subject_ref\n{subject_id}")
}

/// Keyed digests of subject references: the only form in which a reference is stored or logged.
pub struct SubjectIndex(hmac::Key);

impl std::fmt::Debug for SubjectIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SubjectIndex(<redacted>)")
    }
}

impl SubjectIndex {
    pub fn new(key: &SecretKey) -> SubjectIndex {
        SubjectIndex(hmac::Key::new(hmac::HMAC_SHA256, key.0.as_slice()))
    }

    /// HMAC-SHA256(org ‖ subject_ref), hex: stable per organisation and subject, meaningless without the key.
    pub fn digest(&self, org: &str, subject_ref: &str) -> String {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(&(org.len() as u64).to_be_bytes());
        ctx.update(org.as_bytes());
        ctx.update(subject_ref.as_bytes());
        hex::encode(ctx.sign().as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_are_wiped_on_drop() {
        fn wiped_on_drop<T: ZeroizeOnDrop>() {}
        wiped_on_drop::<SecretKey>();
        wiped_on_drop::<Zeroizing<[u8; KEY_LEN]>>();
    }
    #[test]
    fn sealed_items_open_only_with_their_key_and_context() {
        let k = SecretKey::generate();
        let sealed = k.seal("media\nm1", b"jpeg bytes");
        assert_eq!(k.open("media\nm1", &sealed).unwrap(), b"jpeg bytes");
        assert!(!sealed.windows(10).any(|w| w == b"jpeg bytes"));
        assert!(
            k.open("media\nm2", &sealed).is_err(),
            "moved to another row"
        );
        assert!(SecretKey::generate().open("media\nm1", &sealed).is_err());
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(k.open("media\nm1", &flipped).is_err(), "tampered");
        assert!(k.open("media\nm1", &sealed[..10]).is_err(), "truncated");
        assert_ne!(sealed, k.seal("media\nm1", b"jpeg bytes"), "fresh nonce");
    }

    #[test]
    fn master_keys_parse_from_hex_or_base64_and_wrap_data_keys() {
        let (m, text) = MasterKey::generate();
        assert_eq!(MasterKey::parse(&text).unwrap().id(), m.id());
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(hex::decode(&text).unwrap());
        assert_eq!(MasterKey::parse(&b64).unwrap().id(), m.id());
        assert!(MasterKey::parse("short").is_err());
        assert!(!format!("{m:?}").contains(&text));

        let dk = SecretKey::generate();
        let wrapped = m.wrap(&dk, "subject\ns1");
        let back = m.unwrap(&wrapped, m.id(), "subject\ns1").unwrap();
        assert_eq!(*back.0, *dk.0);
        assert!(m.unwrap(&wrapped, m.id(), "subject\ns2").is_err());
        let (other, _) = MasterKey::generate();
        assert!(matches!(
            other.unwrap(&wrapped, m.id(), "subject\ns1"),
            Err(VaultError::WrongMasterKey { .. })
        ));
    }

    #[test]
    fn key_files_are_created_once_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("idv-vault-{}", std::process::id()));
        let path = dir.join("sub/master.key");
        let _ = std::fs::remove_dir_all(&dir);
        let (a, created) = MasterKey::load_or_create(&path).unwrap();
        assert!(created);
        let (b, created) = MasterKey::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(a.id(), b.id());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn servers_starting_together_agree_on_one_key() {
        let dir = std::env::temp_dir().join(format!("idv-vault-race-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("master.key");
        let starts: Vec<_> = (0..8)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || MasterKey::load_or_create(&path).unwrap())
            })
            .collect();
        let keys: Vec<(MasterKey, bool)> = starts.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(keys.iter().filter(|(_, created)| *created).count(), 1);
        assert!(keys.iter().all(|(k, _)| k.id() == keys[0].0.id()));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_default_key_file_sits_beside_a_sqlite_database() {
        assert_eq!(
            default_key_file("sqlite:///var/lib/idv/idv.db?mode=rwc"),
            Some(Path::new("/var/lib/idv/idv-master.key").to_path_buf())
        );
        assert_eq!(
            default_key_file("sqlite://idv.db"),
            Some(Path::new("idv-master.key").to_path_buf())
        );
        assert_eq!(default_key_file("sqlite::memory:"), None);
        assert_eq!(default_key_file("postgres://u@h/db"), None);
    }

    #[test]
    fn subject_digests_are_keyed_and_separate_organisations() {
        let k1 = SubjectIndex::new(&SecretKey::generate());
        let k2 = SubjectIndex::new(&SecretKey::generate());
        assert_eq!(k1.digest("org", "s-1"), k1.digest("org", "s-1"));
        assert_ne!(k1.digest("org", "s-1"), k2.digest("org", "s-1"));
        assert_ne!(k1.digest("org", "s-1"), k1.digest("org2", "s-1"));
        assert_ne!(k1.digest("ab", "c"), k1.digest("a", "bc"));
        assert_eq!(k1.digest("org", "s-1").len(), 64);
    }
}
