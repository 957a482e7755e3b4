//! What every use case shares: one owner per resource (the database, the models, the vault, the
//! settings, the guards in front of the models). The HTTP layer hands it to handlers as axum state.

use std::sync::Arc;

use tokio::sync::Notify;

use super::admission::{Admission, RateLimiter};
use crate::domain::clock::Clock;
use crate::inference::Engine;
use crate::settings::Settings;
use crate::store::Store;
use crate::vault::Vault;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub engine: Arc<Engine>,
    /// Encryption at rest: the master key and the subject index (src/vault.rs).
    pub vault: Arc<Vault>,
    pub settings: Arc<Settings>,
    pub admission: Arc<Admission>,
    pub rate_limiter: Arc<RateLimiter>,
    /// Wakes the job workers when a job is enqueued here (others find it by polling).
    pub jobs_ready: Arc<Notify>,
    /// This process, as the owner of job leases.
    pub instance_id: String,
    /// Now, for expiries the use cases check (tests move a manual clock instead of sleeping).
    pub clock: Clock,
}
