//! The webhook delivery workers: each leases one due delivery of the outbox at a time (several servers
//! on one PostgreSQL share the table; a delivery whose worker died is taken over when its lease runs
//! out), signs it as Standard Webhooks says and POSTs it; a 2xx answer delivers it, anything else is
//! retried with exponential backoff and jitter until the retry window is over, then dead-lettered.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::state::AppState;
use super::webhooks::{check_url, is_public};
use crate::domain::webhook::signature;
use crate::settings::WebhookSettings;
use crate::store::{now_ms, AttemptEnd, DeliveryRow};

const IDLE_POLL: Duration = Duration::from_millis(200);
/// How often a worker deletes the deliveries past `history_days`.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// When to try again after attempt number `attempts` failed at `now` (service clock, ms), or `Dead`
/// when that would be past the retry window that opened at `window_start`. The delay doubles from
/// `retry_initial_secs` up to `retry_max_interval_secs`; `jitter` (0..1) picks it between half and all
/// of that ("equal jitter"), so receivers that come back are not hit by every sender at once.
pub fn next_attempt(
    s: &WebhookSettings,
    window_start: i64,
    attempts: i64,
    now: i64,
    jitter: f64,
) -> AttemptEnd {
    let doublings = (attempts - 1).clamp(0, 40) as u32;
    let full_secs = s
        .retry_initial_secs
        .saturating_mul(1u64.checked_shl(doublings).unwrap_or(u64::MAX))
        .min(s.retry_max_interval_secs);
    let full_ms = (full_secs.saturating_mul(1000)).min(i64::MAX as u64 / 2) as i64;
    let delay = full_ms / 2 + ((full_ms / 2) as f64 * jitter.clamp(0.0, 1.0)) as i64;
    let next = now.saturating_add(delay);
    let window_end = window_start.saturating_add((s.retry_for_secs.saturating_mul(1000)) as i64);
    if next > window_end {
        AttemptEnd::Dead
    } else {
        AttemptEnd::Retry { next }
    }
}

/// Resolves endpoint host names to public addresses only, so a host name cannot lead a delivery to
/// a loopback or private address (an address written in the URL is checked by `check_url`).
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if found.is_empty() {
                return Err("the host has no public address".into());
            }
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The client deliveries are sent with: no redirects, no proxy (it would resolve names for us), the
/// attempt's time limit, and public addresses only unless the settings allow others.
pub fn client(s: &WebhookSettings) -> reqwest::Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(s.timeout_secs))
        .user_agent(concat!("idv-webhooks/", env!("CARGO_PKG_VERSION")));
    if !s.allow_private_addresses {
        b = b.dns_resolver(Arc::new(PublicOnly));
    }
    b.build()
}

/// Takes and sends deliveries until `shutdown` turns true.
pub async fn run_worker(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let settings = &state.settings.webhooks;
    let lease = Duration::from_secs(settings.lease_secs.max(1));
    let client = match client(settings) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the webhook client; no deliveries from this worker");
            return;
        }
    };
    let mut pruned_at: Option<Instant> = None;
    loop {
        if *shutdown.borrow() {
            return;
        }
        if pruned_at.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
            pruned_at = Some(Instant::now());
            let before = state.clock.now_ms() - settings.history_days as i64 * 86_400_000;
            if let Err(e) = state.store.prune_deliveries(before).await {
                tracing::warn!(error = %e, "cannot prune old webhook deliveries");
            }
        }
        let claimed = state
            .store
            .claim_delivery(&state.instance_id, state.clock.now_ms(), now_ms(), lease)
            .await;
        match claimed {
            Ok(Some(d)) => deliver(&state, &client, d).await,
            Ok(None) => {
                tokio::select! {
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                    _ = shutdown.changed() => {}
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot claim webhook deliveries");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        if let Ok(n) = state.store.pending_deliveries().await {
            metrics::gauge!("idv_webhook_deliveries_pending").set(n as f64);
        }
    }
}

/// Why an attempt failed, as a fixed word (never the receiver's answer or the URL).
fn failure_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "request"
    }
}

/// One attempt of a leased delivery, and its outcome recorded.
async fn deliver(state: &AppState, client: &reqwest::Client, d: DeliveryRow) {
    let settings = &state.settings.webhooks;
    let started = Instant::now();
    let (http_status, error) = match send(state, client, &d).await {
        Ok(status) if status.is_success() => (Some(status.as_u16()), None),
        Ok(status) => (Some(status.as_u16()), Some("http_status")),
        Err(kind) => (None, Some(kind)),
    };
    let now = state.clock.now_ms();
    let end = match error {
        None => AttemptEnd::Delivered,
        Some(_) => next_attempt(
            settings,
            d.window_start,
            d.attempts + 1,
            now,
            rand::random::<f64>(),
        ),
    };
    let result = match end {
        AttemptEnd::Delivered => "delivered",
        AttemptEnd::Retry { .. } => "retry",
        AttemptEnd::Dead => "dead",
    };
    metrics::counter!("idv_webhook_deliveries_total", "event" => d.event_type.clone(), "result" => result)
        .increment(1);
    metrics::histogram!("idv_webhook_delivery_duration_seconds", "event" => d.event_type.clone())
        .record(started.elapsed().as_secs_f64());
    match state
        .store
        .finish_delivery(&d.id, &state.instance_id, now, http_status, error, &end)
        .await
    {
        Ok(true) => {
            if end == AttemptEnd::Dead {
                tracing::warn!(delivery = %d.id, webhook = %d.webhook_id, "webhook delivery dead-lettered");
            }
        }
        Ok(false) => {
            tracing::warn!(delivery = %d.id, "webhook delivery lease lost while sending it")
        }
        Err(e) => tracing::error!(delivery = %d.id, error = %e, "cannot record a webhook attempt"),
    }
}

/// Signs and POSTs the delivery; the receiver's status, or why there was none.
async fn send(
    state: &AppState,
    client: &reqwest::Client,
    d: &DeliveryRow,
) -> Result<reqwest::StatusCode, &'static str> {
    let Some(hook) = state
        .store
        .webhook(&d.org, &d.webhook_id)
        .await
        .map_err(|_| "request")?
    else {
        return Err("request"); // removed meanwhile (its deliveries go with it)
    };
    let url = check_url(&hook.url, &state.settings.webhooks).map_err(|_| "address_refused")?;
    let key = state
        .vault
        .open_webhook_secret(&hook.id, &hook.secret_sealed)
        .map_err(|e| {
            tracing::error!(webhook = %hook.id, error = %e, "cannot open a webhook secret");
            "request"
        })?;
    // The signature's time is the real clock's: receivers refuse messages too far from their own.
    let timestamp = now_ms() / 1000;
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &d.id)
        .header("webhook-timestamp", timestamp.to_string())
        .header(
            "webhook-signature",
            signature(&key, &d.id, timestamp, &d.payload),
        )
        .body(d.payload.clone())
        .send()
        .await
        .map_err(|e| failure_kind(&e))?;
    Ok(response.status())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    #[test]
    fn retries_double_with_jitter_up_to_the_cap_then_end_after_a_day() {
        let s = WebhookSettings::default();
        assert_eq!(
            next_attempt(&s, 0, 1, 0, 1.0),
            AttemptEnd::Retry { next: 5_000 }
        );
        assert_eq!(
            next_attempt(&s, 0, 1, 0, 0.0),
            AttemptEnd::Retry { next: 2_500 }
        );
        assert_eq!(
            next_attempt(&s, 0, 3, 0, 1.0),
            AttemptEnd::Retry { next: 20_000 }
        );
        // Capped at an hour however many attempts.
        assert_eq!(
            next_attempt(&s, 0, 12, 0, 1.0),
            AttemptEnd::Retry { next: HOUR }
        );
        assert_eq!(
            next_attempt(&s, 0, 500, 0, 1.0),
            AttemptEnd::Retry { next: HOUR }
        );
        // The last attempt is within the day; one that would fall after it is dead-lettered.
        assert_eq!(
            next_attempt(&s, 0, 30, 23 * HOUR, 1.0),
            AttemptEnd::Retry { next: 24 * HOUR }
        );
        assert_eq!(
            next_attempt(&s, 0, 30, 23 * HOUR + 1, 1.0),
            AttemptEnd::Dead
        );
        // A redelivery opens a new window.
        assert_eq!(
            next_attempt(&s, 30 * HOUR, 1, 30 * HOUR, 1.0),
            AttemptEnd::Retry {
                next: 30 * HOUR + 5_000
            }
        );
    }

    #[test]
    fn a_schedule_spans_the_day_in_a_few_dozen_attempts() {
        let s = WebhookSettings::default();
        let (mut now, mut attempts) = (0, 0);
        loop {
            attempts += 1;
            match next_attempt(&s, 0, attempts, now, 0.5) {
                AttemptEnd::Retry { next } => {
                    assert!(next > now);
                    now = next
                }
                AttemptEnd::Dead => break,
                AttemptEnd::Delivered => unreachable!(),
            }
        }
        assert!(now > 20 * HOUR && now <= 24 * HOUR, "{now}");
        assert!((25..=45).contains(&attempts), "{attempts}");
    }
}
