//! `idv webhooks add|list|remove`: an organisation's webhook endpoints from the command line, through
//! the same use cases as `/v1/webhooks` (the operator acts as the organisation's admin; the audit log
//! names the actor `cli`).

use std::process::ExitCode;

use clap::{Args, Subcommand};
use idv::service::caller::Caller;
use idv::service::error::ApiError;
use idv::service::webhooks::{self, Hooks, NewWebhook, WebhookEventName};
use idv::settings::Settings;
use idv::store::now_ms;
use idv::vault::{resolve_master_key, Vault};

use super::admin::{block_on, connect, key_error};
use super::{CliError, DatabaseArg};

#[derive(Subcommand, Debug)]
pub enum WebhooksCommand {
    /// Register an endpoint; its signing secret (whsec_…) is printed once, as the last line.
    Add {
        /// The organisation whose events are sent.
        #[arg(long, env = "IDV_WEBHOOK_ORG")]
        org: String,
        /// https:// URL of a public address (settings [webhooks] can allow others).
        #[arg(long)]
        url: String,
        /// An event to send (repeat, or separate with commas): verification.decided, verification.failed,
        /// review.resolved, capture_link.submitted, consent.withdrawn, subject.erased, invigilation.flagged.
        #[arg(long = "event", required = true, value_delimiter = ',')]
        events: Vec<String>,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// List an organisation's endpoints (never their secrets).
    List {
        #[arg(long, env = "IDV_WEBHOOK_ORG")]
        org: String,
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// Remove an endpoint by id; pending deliveries to it are dropped.
    Remove {
        id: String,
        #[arg(long, env = "IDV_WEBHOOK_ORG")]
        org: String,
        #[command(flatten)]
        database: DatabaseArg,
    },
}

#[derive(Args, Debug)]
pub struct WebhooksArgs {
    #[command(subcommand)]
    pub command: WebhooksCommand,
}

/// A refusal of the use case as the command line reports it: its stable code and what it says.
fn refused(e: ApiError) -> CliError {
    let message = e.detail.unwrap_or_else(|| e.code.title().to_string());
    if e.code.status().is_client_error() {
        CliError::input(e.code.code(), message)
    } else {
        CliError::new(e.code.code(), message)
    }
}

fn event_name(name: &str) -> Result<WebhookEventName, CliError> {
    serde_json::from_value(serde_json::Value::String(name.trim().to_string()))
        .map_err(|_| CliError::input("invalid_field", format!("unknown event `{}`", name.trim())))
}

pub fn run(settings: Settings, args: WebhooksArgs) -> Result<ExitCode, CliError> {
    block_on(async move {
        let database = match &args.command {
            WebhooksCommand::Add { database, .. }
            | WebhooksCommand::List { database, .. }
            | WebhooksCommand::Remove { database, .. } => database,
        };
        let url = database.resolve(&settings.service.database);
        let (master, _) = resolve_master_key(&settings.privacy, &url).map_err(key_error)?;
        let store = connect(database, &settings).await?;
        let vault = Vault::open(&store, master).await.map_err(key_error)?;
        let h = Hooks {
            store: &store,
            vault: &vault,
            settings: &settings.webhooks,
            now: now_ms(),
        };
        match args.command {
            WebhooksCommand::Add {
                org, url, events, ..
            } => {
                let events = events
                    .iter()
                    .map(|e| event_name(e))
                    .collect::<Result<Vec<_>, _>>()?;
                let caller = Caller::operator(org.trim().to_string());
                let created = webhooks::register(&h, &caller, NewWebhook { url, events })
                    .await
                    .map_err(refused)?;
                println!(
                    "registered webhook {} for organisation {}: {} ({})",
                    created.id,
                    caller.org,
                    created.url,
                    created.events.join(", ")
                );
                println!("signing secret (shown once; next line):");
                println!("{}", created.secret);
            }
            WebhooksCommand::List { org, .. } => {
                let caller = Caller::operator(org.trim().to_string());
                let list = webhooks::list(&h, &caller).await.map_err(refused)?;
                for w in list.webhooks {
                    println!(
                        "{}\t{}\t{}\t{}",
                        w.id,
                        w.created_at,
                        w.url,
                        w.events.join(",")
                    );
                }
            }
            WebhooksCommand::Remove { id, org, .. } => {
                let caller = Caller::operator(org.trim().to_string());
                webhooks::remove(&h, &caller, &id).await.map_err(refused)?;
                println!("removed webhook {id}");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
