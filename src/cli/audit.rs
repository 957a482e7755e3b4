//! `idv audit verify` (the hash chain, then the chain against its last signed checkpoint) and
//! `idv audit public-key` (the key an auditor keeps to check checkpoints with).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use idv::audit::checkpoint::PublicKey;
use idv::audit::files::{
    checkpoint_file, read_last_checkpoint, resolve_signing_key, signing_key_file,
};
use idv::audit::{verify_chain, GENESIS};
use idv::domain::clock::rfc3339;
use idv::settings::Settings;

use super::admin::{block_on, connect, db_error};
use super::{CliError, DatabaseArg};

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Check the hash chain, then that it contains the last signed checkpoint (its size and head) and
    /// that the checkpoint's signature is valid. Exits 1, saying what failed, when a row was edited,
    /// deleted or reordered, or the chain was rewritten or truncated with its head fixed up.
    Verify {
        /// A checkpoint file kept elsewhere (e.g. an auditor's copy); its last checkpoint is checked.
        /// Default: the server's checkpoint file (audit.checkpoint_file or its default).
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// The public key to check the signature with (`<name>+<id>+<key>`, as `idv audit public-key`
        /// prints it), or a file holding it. Default: derived from the server's signing key.
        #[arg(long)]
        public_key: Option<String>,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// Print the checkpoints' public key (`<name>+<key id>+<base64 key>`, Go's signed-note form) for
    /// an auditor to keep.
    PublicKey {
        #[command(flatten)]
        database: DatabaseArg,
    },
}

#[derive(Args, Debug)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

pub fn run(settings: Settings, args: AuditArgs) -> Result<ExitCode, CliError> {
    match args.command {
        AuditCommand::Verify {
            checkpoint,
            public_key,
            database,
        } => block_on(verify(settings, checkpoint, public_key, database)),
        AuditCommand::PublicKey { database } => {
            let (public, _) = server_public_key(&settings, &database)?;
            println!("{}", public.encode());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The public half of the server's signing key, and where it was read from.
fn server_public_key(
    settings: &Settings,
    database: &DatabaseArg,
) -> Result<(PublicKey, String), CliError> {
    let url = database.resolve(&settings.service.database);
    let (key, _) = resolve_signing_key(&settings.audit, &settings.privacy, &url, false)
        .map_err(|e| CliError::new("audit_key_error", e.to_string()))?;
    let source = match std::env::var_os(idv::audit::files::SIGNING_KEY_ENV) {
        Some(_) => idv::audit::files::SIGNING_KEY_ENV.to_string(),
        None => signing_key_file(&settings.audit, &settings.privacy, &url)
            .map(|p| format!("the signing key file {}", p.display()))
            .unwrap_or_default(),
    };
    Ok((key.public(), source))
}

async fn verify(
    settings: Settings,
    checkpoint: Option<PathBuf>,
    public_key: Option<String>,
    database: DatabaseArg,
) -> Result<ExitCode, CliError> {
    let url = database.resolve(&settings.service.database);
    let store = connect(&database, &settings).await?;
    let (entries, (head_seq, head_hash)) = store.audit_chain().await.map_err(db_error)?;
    let n = verify_chain(&entries, (head_seq, &head_hash))
        .map_err(|e| CliError::new("audit_chain_broken", e.to_string()))?;
    println!(
        "chain: {n} entries, numbered 1-{n} without gaps, each linked to the one before it and matching its hash; the head names entry {n}"
    );

    let missing = |why: String| {
        CliError::new(
            "audit_checkpoint_missing",
            format!("{why}: without a signed checkpoint the chain cannot show a rewrite by someone who can write the database"),
        )
    };
    let file = checkpoint
        .or_else(|| checkpoint_file(&settings.audit, &settings.privacy, &url))
        .ok_or_else(|| {
            missing("no checkpoint file is configured (audit.checkpoint_file)".into())
        })?;
    let note = read_last_checkpoint(&file)
        .map_err(|e| missing(format!("the checkpoint file {}: {e}", file.display())))?
        .ok_or_else(|| {
            missing(format!(
                "the checkpoint file {} holds no checkpoint",
                file.display()
            ))
        })?;

    let (public, source) = match public_key {
        Some(given) => {
            let text = match std::fs::read_to_string(&given) {
                Ok(text) => text,
                Err(_) => given.clone(),
            };
            let public = PublicKey::parse(&text)
                .map_err(|e| CliError::input("audit_public_key_invalid", e.to_string()))?;
            (public, "--public-key".to_string())
        }
        None => server_public_key(&settings, &database)?,
    };
    let c = public.open(&note).map_err(|e| {
        CliError::new(
            "audit_checkpoint_invalid",
            format!("the last checkpoint in {}: {e}", file.display()),
        )
    })?;
    println!(
        "checkpoint: the last in {}: {} entries, taken {}; signature valid under key {} (from {source})",
        file.display(),
        c.size,
        rfc3339(c.at_ms),
        public.id(),
    );

    let mismatch = |message: String| CliError::new("audit_checkpoint_mismatch", message);
    let Some(size) = usize::try_from(c.size).ok().filter(|s| *s <= entries.len()) else {
        return Err(mismatch(format!(
            "the checkpoint of {} covers {} entries but the chain has {n}: entries were removed from its end",
            rfc3339(c.at_ms),
            c.size
        )));
    };
    let at_size = match size {
        0 => GENESIS,
        s => entries[s - 1].entry_hash.as_str(),
    };
    if at_size != c.head_hex() {
        return Err(mismatch(format!(
            "entry {size}'s hash is not the head signed at {}: entries 1-{size} were rewritten after the checkpoint",
            rfc3339(c.at_ms)
        )));
    }
    println!(
        "the chain contains the checkpoint: entry {size}'s hash is its head ({} entries after it are covered by the chain only)",
        n - size
    );
    println!("audit chain intact: {n} entries, consistent with the checkpoint of {size}");
    Ok(ExitCode::SUCCESS)
}
