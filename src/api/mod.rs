//! The HTTP service: `/v1` API, health, OpenAPI, and the application that binds it all together.
//!
//! `Application::build` binds the listeners (port 0 works) and starts the job workers, so tests run
//! the real server exactly as `idv serve` does.

pub mod auth;
pub mod capture_links;
pub mod challenges;
pub mod consents;
pub mod error;
pub mod invigilation;
pub mod jobs;
pub mod keys;
pub mod openapi;
pub mod process;
pub mod record;
pub mod reviews;
pub mod state;
pub mod subjects;
pub mod verifications;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tower_http::trace::TraceLayer;

use self::error::{ApiError, ErrorCode};
use self::state::{Admission, AppState, RateLimiter};
use crate::inference::Engine;
use crate::settings::Settings;
use crate::store::{self, Store};
use crate::vault::{self, Vault};

/// RFC 3339 UTC time from Unix milliseconds.
pub fn rfc3339(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .expect("formattable")
}

/// A required text field: trimmed, non-empty, at most `max` characters, no control characters.
pub fn bounded_text(name: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(ApiError::detail(
            ErrorCode::InvalidField,
            format!("`{name}` is required"),
        ));
    }
    if v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(ApiError::detail(
            ErrorCode::InvalidField,
            format!("`{name}` must be at most {max} printable characters"),
        ));
    }
    Ok(v.to_string())
}

/// `Json<T>` whose rejections are problem+json with our codes.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(JsonBody(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::detail(
                ErrorCode::UnsupportedMediaType,
                "expected Content-Type: application/json",
            )),
            Err(JsonRejection::JsonDataError(e)) => {
                Err(ApiError::detail(ErrorCode::InvalidField, e.body_text()))
            }
            Err(e) => Err(ApiError::detail(ErrorCode::InvalidRequest, e.body_text())),
        }
    }
}

/// The Prometheus recorder: one per process (tests build several applications in one process).
fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Suffix("seconds".into()),
                &[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ],
            )
            .expect("valid buckets")
            .install_recorder()
            .expect("the only metrics recorder")
    })
}

/// Counts and times requests by matched route (never the raw path, which carries ids).
async fn http_metrics(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("idv_http_requests_total", "route" => route.clone(), "method" => method, "status" => status).increment(1);
    metrics::histogram!("idv_http_request_duration_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

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

pub fn router(state: AppState) -> Router {
    let limits = &state.settings.limits;
    // Two images and a video at their limits, plus the text fields.
    let body_limit =
        2 * limits.max_bytes as usize + state.settings.video.max_bytes as usize + (64 << 10);
    let timeout = Duration::from_secs(state.settings.service.request_timeout_secs + 5);
    Router::new()
        .route("/v1/consents", post(consents::create))
        .route("/v1/consents/{consent_ref}", get(consents::get))
        .route("/v1/consents/{consent_ref}/withdraw", post(consents::withdraw))
        .route("/v1/verifications", post(verifications::create))
        .route("/v1/verifications/{id}", get(verifications::get))
        .route("/v1/challenges", post(challenges::create))
        .route("/v1/capture-links", post(capture_links::create))
        .route("/v1/capture-links/{id}", get(capture_links::get))
        .route("/v1/invigilation/sessions", post(invigilation::create))
        .route("/v1/invigilation/sessions/{id}", get(invigilation::get))
        .route("/v1/invigilation/sessions/{id}/frames", post(invigilation::frame))
        .route("/v1/invigilation/sessions/{id}/close", post(invigilation::close))
        .route("/v1/reviews", get(reviews::list))
        .route("/v1/reviews/{id}", get(reviews::get))
        .route("/v1/reviews/{id}/media/{kind}", get(reviews::media))
        .route("/v1/reviews/{id}/resolution", post(reviews::resolve))
        .route("/v1/subjects/{subject_ref}", axum::routing::delete(subjects::erase))
        .route("/v1/subjects/{subject_ref}/export", get(subjects::export))
        .route("/v1/subjects/{subject_ref}/restrict", post(subjects::restrict))
        .route("/v1/subjects/{subject_ref}/unrestrict", post(subjects::unrestrict))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/openapi.json", get(openapi::json))
        .route("/docs", get(openapi::page))
        .merge(crate::console::router())
        .merge(crate::capture::router())
        .fallback(not_found)
        .layer(middleware::from_fn(http_metrics))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, timeout))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string());
            tracing::info_span!("http", method = %req.method(), route = route.as_deref().unwrap_or("unmatched"))
        }))
        .with_state(state)
}

/// Applies the retention policy every `retention.sweep_interval_secs`, starting a minute after start
/// (so a restart loop does not sweep in a loop). Several servers may sweep one database: deletes are
/// idempotent.
async fn retention_sweeps(state: AppState, mut stop: watch::Receiver<bool>) {
    let every = state.settings.retention.sweep_interval_secs;
    if every == 0 {
        return;
    }
    let mut next = tokio::time::Instant::now() + Duration::from_secs(every.min(60));
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = stop.changed() => return,
        }
        let policies = state.settings.retention.policies();
        match state.store.sweep(store::now_ms(), &policies, false).await {
            Ok(counts) => {
                for c in counts
                    .iter()
                    .filter(|c| c.media + c.embeddings + c.decision_records + c.capture_links > 0)
                {
                    tracing::info!(purpose = %c.purpose, media = c.media, embeddings = c.embeddings,
                        decision_records = c.decision_records, capture_links = c.capture_links,
                        "retention sweep deleted expired data");
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "retention sweep failed; retrying at the next interval")
            }
        }
        next += Duration::from_secs(every);
    }
}

/// A running-ready service: listeners bound, state built.
pub struct Application {
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    state: AppState,
}

impl Application {
    /// Connects the database (migrating it), binds the listeners; the engine is loaded by the caller
    /// (so tests can share one).
    pub async fn build(mut settings: Settings, engine: Arc<Engine>) -> anyhow::Result<Application> {
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
        let store = Store::connect(&settings.service.database).await?;
        let vault = Arc::new(Vault::open(&store, master).await?);
        let listener = TcpListener::bind(&settings.service.listen).await?;
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
        let metrics_listener = match &settings.service.metrics_listen {
            Some(addr) => Some(TcpListener::bind(addr).await?),
            None => None,
        };
        let service = &settings.service;
        let state = AppState {
            store,
            engine,
            vault,
            admission: Arc::new(Admission::new(
                service.max_in_flight,
                service.max_queue,
                Duration::from_secs(service.request_timeout_secs),
            )),
            rate_limiter: Arc::new(RateLimiter::new(
                service.rate_limit_per_sec,
                service.rate_limit_burst,
            )),
            jobs_ready: Arc::new(Notify::new()),
            instance_id: format!("{}:{}", std::process::id(), uuid::Uuid::new_v4().simple()),
            settings: Arc::new(settings),
        };
        prometheus();
        Ok(Application {
            listener,
            metrics_listener,
            state,
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

    /// Serves until `shutdown` resolves, then stops taking jobs and finishes the requests in flight.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let workers: Vec<_> = (0..self.state.settings.service.job_workers)
            .map(|_| tokio::spawn(jobs::run_worker(self.state.clone(), stop_rx.clone())))
            .collect();
        let sweeper = tokio::spawn(retention_sweeps(self.state.clone(), stop_rx.clone()));
        if let Some(listener) = self.metrics_listener {
            let metrics = Router::new().route("/metrics", get(|| async { prometheus().render() }));
            let mut stop = stop_rx.clone();
            tokio::spawn(async move {
                let _ = axum::serve(listener, metrics)
                    .with_graceful_shutdown(async move {
                        let _ = stop.changed().await;
                    })
                    .await;
            });
        }
        let app = router(self.state.clone());
        // On the signal, workers stop taking jobs at once (the one in hand is finished or, if the process
        // dies, taken over after its lease), while the HTTP side drains its requests.
        let shutdown = async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        };
        axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await?;
        for w in workers {
            let _ = w.await;
        }
        let _ = sweeper.await;
        self.state.store.close().await;
        Ok(())
    }
}
