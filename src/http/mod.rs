//! The HTTP shell: the one router (the `/v1` API, the reviewer console and the capture page nested in
//! it, with health, readiness and the API's documentation), and the application that binds it all.
//!
//! `Application::build` binds the listeners (port 0 works) before it touches the database, and
//! `run_until` starts the job workers and the retention sweeps, so tests run the real server exactly as
//! `idv serve` does.

pub mod connection;
pub mod error;
pub mod extract;
pub mod limits;
pub mod metrics;
pub mod multipart;
pub mod page;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tower_http::trace::TraceLayer;

use crate::audit::files as audit_files;
use crate::domain::clock::Clock;
use crate::inference::Engine;
use crate::models::ModelKind;
use crate::service::admission::{Admission, RateLimiter};
use crate::service::checkpoints::{self, Checkpointer};
use crate::service::error::{ApiError, ErrorCode};
use crate::service::state::AppState;
use crate::service::{delivery, jobs, retention};
use crate::settings::Settings;
use crate::store::Store;
use crate::vault::{self, Vault};

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// Ready when the models are loaded and warmed (done before the listener opens) and the database answers.
async fn ready(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => Json(serde_json::json!({"status": "ready", "database": state.store.kind()}))
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: database unreachable");
            ApiError::detail(ErrorCode::Unavailable, "the database is unreachable")
                .retry_after(5)
                .into_response()
        }
    }
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound)
}

/// Responses anyone may cache: they carry no subject data (health, the API's description, the pages'
/// static files).
fn is_public(path: &str) -> bool {
    matches!(path, "/health" | "/ready" | "/openapi.json" | "/docs")
        || path.starts_with("/capture/static/")
        || path.starts_with("/review/static/")
}

/// `Cache-Control: no-store` on every response but the public ones (unless a handler set its own):
/// the API's, the console's and the capture page's responses carry subject data or answer for it.
async fn no_store(req: Request, next: Next) -> Response {
    let public = is_public(req.uri().path());
    let mut response = next.run(req).await;
    if !public {
        response
            .headers_mut()
            .entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("no-store"));
    }
    response
}

/// The one router: the API, the console and the capture page, each with its own routes and headers,
/// behind one set of layers (innermost first): each route's body limit, the head's size limit, the
/// time limit, problem+json for every bare error, no-store, metrics by matched route, a tracing span
/// per request.
pub fn router(state: AppState) -> Router {
    let timeout = Duration::from_secs(state.settings.service.request_timeout_secs + 5);
    Router::new()
        .merge(crate::api::router(&state))
        .merge(crate::console::router())
        .merge(crate::capture::router())
        .route("/health", get(health))
        .route("/ready", get(ready))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            Arc::new(limits::BodyLimits {
                settings: state.settings.clone(),
                uploads: limits::UploadBudget::new(
                    state.settings.service.upload_buffer_mib,
                    Duration::from_secs(state.settings.service.admission_wait_secs),
                ),
            }),
            limits::limit_body,
        ))
        .layer(middleware::from_fn(limits::check_head))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(middleware::from_fn(error::problem_for_bare_errors))
        .layer(middleware::from_fn(no_store))
        .layer(middleware::from_fn(metrics::http_metrics))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string());
            tracing::info_span!("http", method = %req.method(), route = route.as_deref().unwrap_or("unmatched"))
        }))
        .with_state(state)
}

/// A running-ready service: listeners bound, state built.
pub struct Application {
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    state: AppState,
    checkpointer: Arc<Checkpointer>,
}

impl Application {
    /// Connects the database (migrating it), binds the listeners; the engine is loaded by the caller
    /// (so tests can share one).
    pub async fn build(mut settings: Settings, engine: Arc<Engine>) -> anyhow::Result<Application> {
        // A document that cannot be read would end every verification in an internal error.
        if let Some(missing) = settings
            .document
            .read_mrz
            .then(|| ModelKind::DOCUMENT.into_iter().find(|k| !engine.has(*k)))
            .flatten()
        {
            anyhow::bail!(
                "document.read_mrz is on but the {missing} model is not loaded (load the document models, or turn document.read_mrz off)"
            );
        }
        // The listeners first: a busy port must not leave a new database and master key behind.
        let listen = &settings.service.listen;
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let metrics_listener = match &settings.service.metrics_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} (metrics)"))?,
            ),
            None => None,
        };
        // Capture links name the address applicants reach; a trial on one machine uses the listener's.
        let bound = listener.local_addr()?;
        if settings.capture.public_url.is_none() && bound.ip().is_unspecified() {
            tracing::warn!(listen = %bound, "capture links will start with http://{bound}, which no applicant can \
                 open: set capture.public_url to the address they reach idv at");
        }
        settings
            .capture
            .public_url
            .get_or_insert_with(|| format!("http://{bound}"));
        let (master, created) =
            vault::resolve_master_key(&settings.privacy, &settings.service.database)?;
        if let Some(path) = created {
            tracing::warn!(
                path = %path.display(),
                "GENERATED A NEW MASTER KEY for encryption at rest. It is fine for a trial; production must \
                 supply its own (IDV_MASTER_KEY or privacy.master_key_file) and back it up apart from \
                 the database: without it the stored biometric data cannot be read."
            );
        }
        // The audit chain's signing key and checkpoint file, outside the database.
        let db = &settings.service.database;
        let (signing_key, created) =
            audit_files::resolve_signing_key(&settings.audit, &settings.privacy, db, true)?;
        if let Some(path) = created {
            tracing::warn!(path = %path.display(), public_key = %signing_key.public().encode(),
                "generated a new audit signing key: keep it apart from the database, and give the public key \
                 to your auditors (`idv audit public-key`)");
        }
        let checkpoint_file = audit_files::checkpoint_file(&settings.audit, &settings.privacy, db)
            .ok_or(audit_files::AuditKeyError::NoCheckpointFile)?;
        let checkpointer = Arc::new(Checkpointer::resume(signing_key, checkpoint_file)?);
        let store = Store::connect(&settings.service.database).await?;
        // A checkpoint before the first request, so every entry this server writes comes after one;
        // a chain that no longer holds the last checkpoint stops the start here.
        checkpointer
            .write(&store)
            .await
            .context("the audit checkpoint at start")?;
        let vault = Arc::new(Vault::open(&store, master).await?);
        let service = &settings.service;
        let state = AppState {
            store,
            engine,
            vault,
            admission: Arc::new(Admission::new(
                service.max_in_flight,
                service.max_queue,
                Duration::from_secs(service.admission_wait_secs),
            )),
            rate_limiter: Arc::new(RateLimiter::new(
                service.rate_limit_per_sec,
                service.rate_limit_burst,
            )),
            jobs_ready: Arc::new(Notify::new()),
            instance_id: format!("{}:{}", std::process::id(), uuid::Uuid::new_v4().simple()),
            clock: Clock::system(),
            settings: Arc::new(settings),
        };
        metrics::prometheus();
        Ok(Application {
            listener,
            metrics_listener,
            state,
            checkpointer,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound")
    }

    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .map(|l| l.local_addr().expect("bound"))
    }

    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// Replaces the clock the use cases read (tests move time forward instead of sleeping).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.state.clock = clock;
        self
    }

    /// Serves until `shutdown` resolves, then stops taking jobs and finishes the requests in flight.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let workers: Vec<_> = (0..self.state.settings.service.job_workers)
            .map(|_| tokio::spawn(jobs::run_worker(self.state.clone(), stop_rx.clone())))
            .collect();
        let deliverers: Vec<_> = (0..self.state.settings.webhooks.workers)
            .map(|_| tokio::spawn(delivery::run_worker(self.state.clone(), stop_rx.clone())))
            .collect();
        let sweeper = tokio::spawn(retention::run_sweeps(self.state.clone(), stop_rx.clone()));
        let limits = connection::ConnectionLimits::from_settings(&self.state.settings.service);
        let checkpoints = tokio::spawn(checkpoints::run_checkpoints(
            self.state.store.clone(),
            self.checkpointer.clone(),
            self.state.settings.audit.checkpoint_interval_secs,
            stop_rx.clone(),
        ));
        if let Some(listener) = self.metrics_listener {
            let metrics =
                Router::new().route("/metrics", get(|| async { metrics::prometheus().render() }));
            tokio::spawn(connection::serve(
                listener,
                metrics,
                limits,
                stop_rx.clone(),
            ));
        }
        let app = router(self.state.clone());
        // On the signal, workers stop taking jobs at once (the one in hand is finished or, if the process
        // dies, taken over after its lease), while the HTTP side drains its requests.
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        connection::serve(self.listener, app, limits, stop_rx).await;
        for w in workers.into_iter().chain(deliverers) {
            let _ = w.await;
        }
        let _ = sweeper.await;
        let _ = checkpoints.await;
        // The last entries written (requests drained, jobs finished) are covered before stopping.
        if let Err(e) = self.checkpointer.write(&self.state.store).await {
            tracing::error!(error = %e, "writing the audit checkpoint at shutdown failed");
        }
        self.state.store.close().await;
        Ok(())
    }
}
