//! The guards in front of the models: the per-key rate limit, and admission, which bounds the
//! verifications running at once and runs each on the blocking pool within the request's time limit.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;

use super::error::{ApiError, ErrorCode};

/// Bounds the verifications running at once; a bounded number wait, each for at most `wait_limit`
/// (`service.admission_wait_secs`), the rest are turned away at once.
pub struct Admission {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
    wait_limit: Duration,
}

impl Admission {
    pub fn new(max_in_flight: usize, max_waiting: usize, wait_limit: Duration) -> Self {
        Admission {
            permits: Arc::new(Semaphore::new(max_in_flight.max(1))),
            waiting: AtomicUsize::new(0),
            max_waiting,
            wait_limit,
        }
    }

    /// A permit to run one verification, or 429 `overloaded` with Retry-After: at once when the queue is
    /// full, after `wait_limit` when no slot came free meanwhile.
    pub async fn enter(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        if let Ok(p) = self.permits.clone().try_acquire_owned() {
            return Ok(p);
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(ApiError::new(ErrorCode::Overloaded).retry_after(1));
        }
        let waited =
            tokio::time::timeout(self.wait_limit, self.permits.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        match waited {
            Ok(Ok(p)) => Ok(p),
            _ => Err(ApiError::new(ErrorCode::Overloaded).retry_after(2)),
        }
    }

    /// A permit for background work (job workers): waits as long as it takes, never refused, so jobs
    /// and requests together stay within `max_in_flight`.
    pub async fn enter_background(&self) -> OwnedSemaphorePermit {
        self.permits
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }

    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Runs `work` on the blocking pool under an admission permit (taken here, or refused with 429 /
    /// 503), inside the caller's tracing span (so the inference workers' spans nest under the request),
    /// and gives up after `limit` with `timeout` (the work itself then finishes and releases its permit).
    pub async fn run_blocking<T: Send + 'static>(
        &self,
        limit: Duration,
        work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = self.enter().await?;
        run_blocking_with(permit, limit, work).await
    }
}

/// [`Admission::run_blocking`] with a permit already held (a request that checked its files first).
pub async fn run_blocking_with<T: Send + 'static>(
    permit: OwnedSemaphorePermit,
    limit: Duration,
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let span = tracing::Span::current();
    let task = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        span.in_scope(work)
    });
    finish_within(limit, task).await
}

async fn finish_within<T>(
    limit: Duration,
    task: impl Future<Output = Result<Result<T, ApiError>, tokio::task::JoinError>>,
) -> Result<T, ApiError> {
    match tokio::time::timeout(limit, task.in_current_span()).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) => Err(ApiError::internal(join)),
        Err(_) => Err(ApiError::new(ErrorCode::Timeout).retry_after(5)),
    }
}

/// A token bucket per API key.
pub struct RateLimiter {
    per_sec: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(per_sec: f64, burst: f64) -> Self {
        RateLimiter {
            per_sec,
            burst: burst.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `key`, or says how many seconds until one is available.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), u64> {
        let mut buckets = self.buckets.lock().expect("rate limiter lock");
        let (tokens, last) = buckets.entry(key.to_string()).or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*last).as_secs_f64() * self.per_sec).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / self.per_sec).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bucket_allows_the_burst_then_refills() {
        let rl = RateLimiter::new(2.0, 3.0);
        let t0 = Instant::now();
        assert!(rl.check("k", t0).is_ok());
        assert!(rl.check("k", t0).is_ok());
        assert!(rl.check("k", t0).is_ok());
        assert_eq!(rl.check("k", t0), Err(1));
        assert!(rl.check("other", t0).is_ok(), "buckets are per key");
        assert!(rl.check("k", t0 + Duration::from_millis(600)).is_ok());
    }

    #[tokio::test]
    async fn admission_turns_away_past_the_queue() {
        let a = Admission::new(1, 0, Duration::from_millis(50));
        let held = a.enter().await.unwrap();
        let refused = a.enter().await.unwrap_err();
        assert_eq!(refused.code, ErrorCode::Overloaded);
        assert_eq!(refused.retry_after, Some(1));
        drop(held);
        assert!(a.enter().await.is_ok());
    }

    #[tokio::test]
    async fn a_queued_request_is_turned_away_when_its_wait_runs_out() {
        let a = Admission::new(1, 4, Duration::from_millis(200));
        let _held = a.enter().await.unwrap();
        let started = Instant::now();
        let refused = a.enter().await.unwrap_err();
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(195) && waited < Duration::from_secs(2),
            "{waited:?}"
        );
        assert_eq!(refused.code, ErrorCode::Overloaded);
        assert!(refused.retry_after.is_some());
        assert_eq!(a.waiting(), 0);
    }

    #[tokio::test]
    async fn admission_waits_for_a_permit_within_the_limit() {
        let a = Arc::new(Admission::new(1, 4, Duration::from_secs(5)));
        let held = a.enter().await.unwrap();
        let a2 = a.clone();
        let waiter = tokio::spawn(async move { a2.enter().await.is_ok() });
        // Wait (bounded) until the waiter is queued, whatever the scheduler does.
        for _ in 0..500 {
            if a.waiting() == 1 {
                break;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(a.waiting(), 1);
        drop(held);
        assert!(waiter.await.unwrap());
    }

    #[tokio::test]
    async fn blocking_work_runs_in_the_callers_span_and_times_out() {
        // Spans have ids only under a subscriber; any global one will do.
        let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry());
        let a = Admission::new(1, 0, Duration::from_millis(50));
        let span = tracing::info_span!("request");
        assert!(span.id().is_some());
        let seen = async {
            a.run_blocking(Duration::from_secs(5), || Ok(tracing::Span::current().id()))
                .await
        }
        .instrument(span.clone())
        .await
        .unwrap();
        assert_eq!(seen, span.id());
        let slow = a
            .run_blocking(Duration::from_millis(10), || {
                std::thread::sleep(Duration::from_millis(200));
                Ok(())
            })
            .await
            .unwrap_err();
        assert_eq!(slow.code, ErrorCode::Timeout);
    }
}
