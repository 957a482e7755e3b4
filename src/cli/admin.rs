//! `idv keys …` and `idv audit verify`: operator commands that work on the database directly.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use idv::api::keys::{generate_secret, hash_secret, new_id};
use idv::audit::verify_chain;
use idv::domain::Role;
use idv::settings::Settings;
use idv::store::{now_ms, KeyRow, NewAudit, Store};
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
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Check the hash chain; exits 1 and names the first bad entry when a row was edited, deleted or reordered.
    Verify {
        #[command(flatten)]
        database: DatabaseArg,
    },
}

#[derive(Args, Debug)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Args, Debug)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

fn block_on<T>(f: impl std::future::Future<Output = Result<T, CliError>>) -> Result<T, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(f)
}

async fn connect(db: &DatabaseArg, settings: &Settings) -> Result<Store, CliError> {
    let url = db.resolve(&settings.service.database);
    Store::connect(&url)
        .await
        .map_err(|e| CliError::new("database_unavailable", format!("{url}: {e}")))
}

fn db_error(e: idv::store::StoreError) -> CliError {
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
                    key_hash: hash_secret(&secret),
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
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub fn audit(settings: Settings, args: AuditArgs) -> Result<ExitCode, CliError> {
    block_on(async move {
        let AuditCommand::Verify { database } = args.command;
        let store = connect(&database, &settings).await?;
        let (entries, (head_seq, head_hash)) = store.audit_chain().await.map_err(db_error)?;
        match verify_chain(&entries, (head_seq, &head_hash)) {
            Ok(n) => {
                println!("audit chain intact: {n} entries");
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => Err(CliError::new("audit_chain_broken", e.to_string())),
        }
    })
}
