//! `idv serve`: the HTTP service.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use idv::http::Application;
use idv::models::ModelKind;
use idv::settings::Settings;

use super::{load_engine_with_sessions, CliError, DatabaseArg, EngineArgs};

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address for the API.
    #[arg(long, env = "IDV_LISTEN")]
    pub listen: Option<String>,
    /// Address for Prometheus `/metrics` (off unless given).
    #[arg(long, env = "IDV_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    #[command(flatten)]
    pub database: DatabaseArg,
    /// Verifications evaluated at once (default: the number of cores).
    #[arg(long, env = "IDV_MAX_IN_FLIGHT")]
    pub max_in_flight: Option<usize>,
    /// Background workers for asynchronous verifications.
    #[arg(long, env = "IDV_JOB_WORKERS")]
    pub job_workers: Option<usize>,
    /// Seconds a worker holds a job before another server may take it over.
    #[arg(long, env = "IDV_JOB_LEASE_SECS")]
    pub job_lease_secs: Option<u64>,
    #[command(flatten)]
    pub thresholds: super::verify::ThresholdArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Uploads are buffers of up to tens of MiB. glibc serves an allocation that large with its own mapping,
/// returned to the system when freed, but raises that threshold to the size of each one freed (up to
/// 32 MiB), after which upload buffers come from the heaps of its per-thread arenas and stay resident:
/// measured, 8 concurrent 20 MiB frames then left the process ~150 MB larger (docs/BENCHMARKS.md).
/// A fixed threshold keeps every allocation of 1 MiB or more mapped and returned.
fn return_large_buffers_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a parameter of the allocator (under its own lock).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

pub fn run(
    engine_args: &EngineArgs,
    mut settings: Settings,
    args: ServeArgs,
) -> Result<ExitCode, CliError> {
    let s = &mut settings.service;
    s.listen = args.listen.unwrap_or(s.listen.clone());
    s.metrics_listen = args.metrics_listen.or(s.metrics_listen.take());
    s.database = args.database.resolve(&s.database);
    s.max_in_flight = args.max_in_flight.unwrap_or(s.max_in_flight);
    s.job_workers = args.job_workers.unwrap_or(s.job_workers);
    s.job_lease_secs = args.job_lease_secs.unwrap_or(s.job_lease_secs);
    settings
        .validate()
        .map_err(|m| CliError::new("config_invalid", m))?;
    return_large_buffers_to_the_system();

    // As many sessions per model as verifications may run at once, so they do not queue on one session.
    let sessions = settings.service.max_in_flight;
    let engine = Arc::new(load_engine_with_sessions(
        engine_args,
        &service_models(&settings),
        sessions,
    )?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async move {
        let app = Application::build(settings, engine)
            .await
            .map_err(|e| CliError::new("startup_failed", format!("{e:#}")))?;
        let shutdown = shutdown_signal()?;
        // Tests and scripts read the bound address from this line (port 0 picks a free port).
        println!("idv listening on http://{}", app.local_addr());
        if let Some(m) = app.metrics_addr() {
            println!("idv metrics on http://{m}/metrics");
        }
        tracing::info!(addr = %app.local_addr(), database = app.store().kind(), "serving");
        app.run_until(shutdown)
            .await
            .map_err(|e| CliError::new("server_failed", format!("{e:#}")))
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C or SIGTERM: stop accepting, finish what is in flight. The handlers are installed when this
/// is called, before the address is announced: a signal sent as soon as the address is read would
/// otherwise find the default action (the process killed, nothing flushed, no last checkpoint).
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, CliError> {
    use tokio::signal::unix::{signal, SignalKind};
    let installed = |kind| {
        signal(kind).map_err(|e| CliError::new("startup_failed", format!("signal handler: {e}")))
    };
    let (mut interrupt, mut terminate) = (
        installed(SignalKind::interrupt())?,
        installed(SignalKind::terminate())?,
    );
    Ok(async move {
        tokio::select! { _ = interrupt.recv() => {}, _ = terminate.recv() => {} }
        tracing::info!("shutting down");
    })
}

/// The face models, and the document's OCR models when the document is read.
fn service_models(settings: &Settings) -> Vec<ModelKind> {
    let mut kinds = ModelKind::ALL.to_vec();
    if settings.document.read_mrz {
        kinds.extend(ModelKind::DOCUMENT);
    }
    kinds
}
