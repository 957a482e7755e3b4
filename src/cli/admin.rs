//! `idv keys …`, `idv reviewers …` and `idv retention …`: operator commands that work on the database
//! directly (`idv audit …` is in audit.rs).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use idv::domain::clock::rfc3339;
use idv::domain::token::{generate_secret, new_id, token_hash};
use idv::domain::Role;
use idv::service::reviewers::{change_account, create_reviewer, list_reviewers, AccountAction};
use idv::settings::Settings;
use idv::store::{now_ms, KeyRow, NewAudit, Store};
use idv::vault::{master_key_file, resolve_master_key, MasterKey, Vault, VaultError};
use serde_json::json;

use super::{CliError, DatabaseArg};

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Create an API key; the secret is printed once, as the last line.
    Create {
        /// The organisation the key acts for; every read is scoped to it.
        #[arg(long, env = "IDV_KEY_ORG")]
        org: String,
        /// submitter, reviewer, auditor or admin.
        #[arg(long, env = "IDV_KEY_ROLE")]
        role: String,
        /// A note to recognise the key by.
        #[arg(long, env = "IDV_KEY_LABEL")]
        label: Option<String>,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// List keys (never their secrets).
    List {
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// Revoke a key by id.
    Revoke {
        id: String,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// Rotate the master key: re-wrap every data key under a new master key, in one transaction.
    /// Without --new-key-file, the configured key file is replaced (the old one is kept beside it as
    /// `*.retired-<id>`: archive it with the backups made before, or destroy it).
    RotateMaster {
        /// Where the new master key is (created with a fresh key when missing). Required when the
        /// current key comes from IDV_MASTER_KEY; then set IDV_MASTER_KEY to the new key afterwards.
        #[arg(long)]
        new_key_file: Option<std::path::PathBuf>,
        #[command(flatten)]
        database: DatabaseArg,
    },
}

#[derive(Subcommand, Debug)]
pub enum ReviewersCommand {
    /// Create a reviewer account for the console (/review). Prompts for nothing: prints a random initial
    /// password, the TOTP secret (base32) and its otpauth:// URI as the last three lines.
    Create {
        /// The organisation whose cases the reviewer sees.
        #[arg(long, env = "IDV_REVIEWER_ORG")]
        org: String,
        /// Lower-case letters, digits, '.', '_' or '-'; the audit log names them `reviewer:<username>`.
        #[arg(long)]
        username: String,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// List every reviewer: organisation, username, state (active, disabled, locked until …), created.
    List {
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// Disable an account: its sessions end and it cannot sign in (audited `reviewer.disabled`).
    Disable(ReviewerName),
    /// Enable a disabled account again (audited `reviewer.enabled`).
    Enable(ReviewerName),
    /// A new random password (printed as the last line); clears the lock, ends the sessions (audited
    /// `reviewer.password_reset`).
    ResetPassword(ReviewerName),
    /// A new TOTP secret (the last two lines: base32 secret, otpauth URI); ends the sessions (audited
    /// `reviewer.totp_reset`).
    ResetTotp(ReviewerName),
}

#[derive(Args, Debug)]
pub struct ReviewerName {
    #[arg(long)]
    pub username: String,
    #[command(flatten)]
    pub database: DatabaseArg,
}

#[derive(Args, Debug)]
pub struct ReviewersArgs {
    #[command(subcommand)]
    pub command: ReviewersCommand,
}

#[derive(Subcommand, Debug)]
pub enum RetentionCommand {
    /// Delete what the retention policy says is due (media, embeddings, decision records), per purpose;
    /// each purge is an audit event with its counts.
    Run {
        /// Count what is due and delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// Judge what is due as of this RFC 3339 time instead of now (to preview a future sweep).
        #[arg(long)]
        now: Option<String>,
        /// One JSON object on stdout.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        database: DatabaseArg,
    },
}

#[derive(Args, Debug)]
pub struct RetentionArgs {
    #[command(subcommand)]
    pub command: RetentionCommand,
}

#[derive(Args, Debug)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
}

pub(super) fn block_on<T>(
    f: impl std::future::Future<Output = Result<T, CliError>>,
) -> Result<T, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(f)
}

pub(super) async fn connect(db: &DatabaseArg, settings: &Settings) -> Result<Store, CliError> {
    let url = db.resolve(&settings.service.database);
    Store::connect(&url)
        .await
        .map_err(|e| CliError::new("database_unavailable", format!("{url}: {e}")))
}

pub(super) fn db_error(e: idv::store::StoreError) -> CliError {
    CliError::new("database_error", e.to_string())
}

pub fn keys(settings: Settings, args: KeysArgs) -> Result<ExitCode, CliError> {
    block_on(async move {
        match args.command {
            KeysCommand::Create {
                org,
                role,
                label,
                database,
            } => {
                let role = Role::parse(&role).ok_or_else(|| {
                    CliError::input(
                        "invalid_role",
                        format!("unknown role `{role}`: use submitter, reviewer, auditor or admin"),
                    )
                })?;
                let org = org.trim().to_string();
                if org.is_empty() || org.len() > 128 {
                    return Err(CliError::input(
                        "invalid_org",
                        "--org must be 1-128 characters",
                    ));
                }
                let store = connect(&database, &settings).await?;
                let secret = generate_secret();
                let key = KeyRow {
                    id: new_id("key"),
                    org: org.clone(),
                    role: role.as_str().into(),
                    label,
                    key_hash: token_hash(&secret),
                    created_at: now_ms(),
                };
                let audit = NewAudit {
                    at: key.created_at,
                    org,
                    actor: "cli".into(),
                    event: "key.created",
                    entity: key.id.clone(),
                    subject_digest: None,
                    details: json!({"role": key.role, "label": key.label}),
                };
                store.create_key(&key, &audit).await.map_err(db_error)?;
                println!(
                    "created key {} for organisation {} with role {}",
                    key.id, key.org, key.role
                );
                println!("{secret}");
            }
            KeysCommand::List { database } => {
                let store = connect(&database, &settings).await?;
                for (k, revoked) in store.list_keys().await.map_err(db_error)? {
                    let state = if revoked.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        k.id,
                        k.org,
                        k.role,
                        state,
                        k.label.unwrap_or_default()
                    );
                }
            }
            KeysCommand::Revoke { id, database } => {
                let store = connect(&database, &settings).await?;
                let audit = NewAudit {
                    at: now_ms(),
                    org: String::new(),
                    actor: "cli".into(),
                    event: "key.revoked",
                    entity: id.clone(),
                    subject_digest: None,
                    details: json!({}),
                };
                if !store.revoke_key(&id, &audit).await.map_err(db_error)? {
                    return Err(CliError::input("not_found", format!("no active key {id}")));
                }
                println!("revoked {id}");
            }
            KeysCommand::RotateMaster {
                new_key_file,
                database,
            } => rotate_master(&settings, new_key_file, &database).await?,
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub(super) fn key_error(e: VaultError) -> CliError {
    CliError::new("master_key_error", e.to_string())
}

async fn rotate_master(
    settings: &Settings,
    new_key_file: Option<PathBuf>,
    database: &DatabaseArg,
) -> Result<(), CliError> {
    let url = database.resolve(&settings.service.database);
    let (old, _) = resolve_master_key(&settings.privacy, &url).map_err(key_error)?;
    // Replacing the configured file in place: the new key is written beside it first and only moved
    // over it once the database has committed, so a failure leaves the old key in force.
    let in_place = match &new_key_file {
        Some(_) => None,
        None if std::env::var_os("IDV_MASTER_KEY").is_some() => {
            return Err(CliError::input(
                "new_key_file_required",
                "the master key comes from IDV_MASTER_KEY: give --new-key-file, then set IDV_MASTER_KEY to the new key",
            ))
        }
        None => Some(master_key_file(&settings.privacy, &url).ok_or_else(|| key_error(VaultError::NoMasterKey))?),
    };
    let new_path = new_key_file.unwrap_or_else(|| {
        let current = in_place.as_ref().expect("set when no new file is given");
        current.with_extension("key.new")
    });
    let (new, _) = MasterKey::load_or_create(&new_path).map_err(key_error)?;
    if new.id() == old.id() {
        return Err(CliError::input(
            "same_master_key",
            "the new master key is the current one",
        ));
    }
    let store = connect(database, settings).await?;
    let audit = NewAudit {
        at: now_ms(),
        org: "*".into(),
        actor: "cli".into(),
        event: "master_key.rotated",
        entity: new.id().into(),
        subject_digest: None,
        details: json!({"from": old.id(), "to": new.id()}),
    };
    let n = store
        .rewrap_keys(
            new.id(),
            |context, wrapped, master_key_id| {
                old.rewrap_for(&new, wrapped, master_key_id, context)
                    .map_err(|e| e.to_string())
            },
            &audit,
        )
        .await
        .map_err(db_error)?;
    if let Some(current) = in_place {
        let retired = current.with_extension(format!("key.retired-{}", old.id()));
        std::fs::rename(&current, &retired)
            .and_then(|()| std::fs::rename(&new_path, &current))
            .map_err(|e| CliError::new("master_key_error", format!("the database now uses {}, but moving the key files failed ({e}): put {} in place of {} by hand", new.id(), new_path.display(), current.display())))?;
        println!(
            "old master key kept as {} (archive it with earlier backups, or destroy it)",
            retired.display()
        );
    }
    println!(
        "re-wrapped {n} keys from master key {} to {}",
        old.id(),
        new.id()
    );
    Ok(())
}

pub fn retention(settings: Settings, args: RetentionArgs) -> Result<ExitCode, CliError> {
    block_on(async move {
        let RetentionCommand::Run {
            dry_run,
            now,
            json: as_json,
            database,
        } = args.command;
        let now = match now {
            Some(t) => {
                let t =
                    time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339)
                        .map_err(|e| {
                            CliError::input(
                                "invalid_time",
                                format!("--now {t}: {e} (use RFC 3339, e.g. 2027-01-31T00:00:00Z)"),
                            )
                        })?;
                (t.unix_timestamp_nanos() / 1_000_000) as i64
            }
            None => now_ms(),
        };
        let store = connect(&database, &settings).await?;
        let counts = store
            .sweep(now, &settings.retention.policies(), dry_run)
            .await
            .map_err(db_error)?;
        if as_json {
            println!(
                "{}",
                json!({"dry_run": dry_run, "as_of": idv::domain::clock::rfc3339(now), "purposes": counts})
            );
        } else {
            let verb = if dry_run {
                "due (dry run, nothing deleted)"
            } else {
                "deleted"
            };
            println!(
                "retention as of {}: {verb}",
                idv::domain::clock::rfc3339(now)
            );
            println!(
                "{:<22} {:>8} {:>11} {:>17} {:>14}",
                "purpose", "media", "embeddings", "decision_records", "capture_links"
            );
            for c in &counts {
                println!(
                    "{:<22} {:>8} {:>11} {:>17} {:>14}",
                    c.purpose, c.media, c.embeddings, c.decision_records, c.capture_links
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn account_error(e: idv::service::reviewers::AccountError) -> CliError {
    match e {
        idv::service::reviewers::AccountError::Store(_) => CliError::new(e.code(), e.to_string()),
        _ => CliError::input(e.code(), e.to_string()),
    }
}

pub fn reviewers(settings: Settings, args: ReviewersArgs) -> Result<ExitCode, CliError> {
    block_on(async move {
        let (name, action) = match args.command {
            ReviewersCommand::Create {
                org,
                username,
                database,
            } => return create(&settings, &org, &username, &database).await,
            ReviewersCommand::List { database } => {
                let store = connect(&database, &settings).await?;
                let now = idv::store::now_ms();
                println!("{:<20} {:<24} {:<32} created", "org", "username", "state");
                for r in list_reviewers(&store).await.map_err(account_error)? {
                    let state = match (r.disabled_at, r.locked_until) {
                        (Some(_), _) => "disabled".to_string(),
                        (None, Some(t)) if t > now => format!("locked until {}", rfc3339(t)),
                        _ => "active".to_string(),
                    };
                    println!(
                        "{:<20} {:<24} {:<32} {}",
                        r.org,
                        r.username,
                        state,
                        rfc3339(r.created_at)
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            ReviewersCommand::Disable(n) => (n, AccountAction::Disable),
            ReviewersCommand::Enable(n) => (n, AccountAction::Enable),
            ReviewersCommand::ResetPassword(n) => (n, AccountAction::ResetPassword),
            ReviewersCommand::ResetTotp(n) => (n, AccountAction::ResetTotp),
        };
        let url = name.database.resolve(&settings.service.database);
        let (master, _) = resolve_master_key(&settings.privacy, &url).map_err(key_error)?;
        let store = connect(&name.database, &settings).await?;
        let vault = Vault::open(&store, master).await.map_err(key_error)?;
        let r = change_account(&store, &vault, &name.username, action, "cli")
            .await
            .map_err(account_error)?;
        println!("{}: {} (its sessions ended)", action.event(), name.username);
        if let Some(password) = r.password {
            println!("hand the new password over privately; it is the next line.");
            println!("{password}");
        }
        if let (Some(secret), Some(uri)) = (r.totp_secret, r.otpauth_uri) {
            println!("enrol the new secret or URI (next two lines) in an authenticator app.");
            println!("{secret}");
            println!("{uri}");
        }
        Ok(ExitCode::SUCCESS)
    })
}

async fn create(
    settings: &Settings,
    org: &str,
    username: &str,
    database: &DatabaseArg,
) -> Result<ExitCode, CliError> {
    let url = database.resolve(&settings.service.database);
    let (master, _) = resolve_master_key(&settings.privacy, &url).map_err(key_error)?;
    let store = connect(database, settings).await?;
    let vault = Vault::open(&store, master).await.map_err(key_error)?;
    let e = create_reviewer(&store, &vault, org, username, "cli")
        .await
        .map_err(account_error)?;
    println!(
        "created reviewer {} ({}) for organisation {}",
        e.reviewer_id, e.username, e.org
    );
    println!("sign in at /review with the password and a code from an authenticator app enrolled");
    println!("with the secret or the URI; hand them over privately. Next three lines: password,");
    println!("TOTP secret (base32), otpauth URI.");
    println!("{}", e.password);
    println!("{}", e.totp_secret);
    println!("{}", e.otpauth_uri);
    Ok(ExitCode::SUCCESS)
}
