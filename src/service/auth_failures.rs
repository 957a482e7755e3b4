//! Throttling key guessing: failed API-key authentications are counted per client address in fixed
//! windows (`service.auth_failure_limit` per `service.auth_failure_window_secs`, in the database so
//! replicas on one PostgreSQL share the count); past the limit, every request from the address is
//! refused with 429 `auth_throttled` and `Retry-After` until its window ends, a valid key included, so
//! a guesser cannot tell a right guess from a wrong one while throttled.

use std::net::IpAddr;

use super::error::{ApiError, ErrorCode};
use super::state::AppState;
use crate::store::FailureWindow;

/// Whom failures are counted against: an IPv4 address, or an IPv6 address's /64 (one subscriber's
/// network, which hands out addresses freely) (pure).
pub fn client_key(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// Seconds until the client may try again, when its window holds `limit` failures or more (pure).
pub fn throttled_for(
    window: Option<FailureWindow>,
    now_ms: i64,
    limit: i64,
    window_ms: i64,
) -> Option<u64> {
    let w = window?;
    let ends = w.started_at + window_ms;
    (w.failures >= limit && now_ms < ends).then(|| ((ends - now_ms + 999) / 1000).max(1) as u64)
}

fn window_ms(state: &AppState) -> i64 {
    state.settings.service.auth_failure_window_secs as i64 * 1000
}

/// Refuses a client that has used up its failures (429 `auth_throttled` with Retry-After).
pub async fn check(state: &AppState, client: IpAddr) -> Result<(), ApiError> {
    let now = state.clock.now_ms();
    let window = window_ms(state);
    let current = state
        .store
        .auth_failures(&client_key(client), now - window)
        .await?;
    let limit = state.settings.service.auth_failure_limit;
    match throttled_for(current, now, limit, window) {
        Some(secs) => Err(ApiError::new(ErrorCode::AuthThrottled).retry_after(secs)),
        None => Ok(()),
    }
}

/// Counts one failed authentication of `client`.
pub async fn record_failure(state: &AppState, client: IpAddr) -> Result<(), ApiError> {
    let now = state.clock.now_ms();
    let counted = state
        .store
        .record_auth_failure(&client_key(client), now, now - window_ms(state))
        .await?;
    if counted.failures == state.settings.service.auth_failure_limit {
        // Once per window and address: the address is operational data, not a subject's.
        tracing::warn!(client = %client_key(client), "failed authentications from one address reached the limit: throttled");
        metrics::counter!("idv_auth_throttled_total").increment(1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_counts_per_address_and_ipv6_per_64() {
        assert_eq!(client_key("203.0.113.9".parse().unwrap()), "203.0.113.9");
        assert_eq!(
            client_key("2001:db8:1:2:aaaa::1".parse().unwrap()),
            client_key("2001:db8:1:2:bbbb::7".parse().unwrap())
        );
        assert_eq!(
            client_key("2001:db8:1:2::1".parse().unwrap()),
            "2001:db8:1:2::/64"
        );
        assert_ne!(
            client_key("2001:db8:1:3::1".parse().unwrap()),
            client_key("2001:db8:1:2::1".parse().unwrap())
        );
        assert_eq!(
            client_key("::ffff:198.51.100.4".parse().unwrap()),
            "198.51.100.4"
        );
    }

    #[test]
    fn throttled_at_the_limit_until_the_window_ends() {
        let w = |failures| {
            Some(FailureWindow {
                started_at: 10_000,
                failures,
            })
        };
        assert_eq!(throttled_for(None, 10_000, 3, 60_000), None);
        assert_eq!(throttled_for(w(2), 10_500, 3, 60_000), None);
        assert_eq!(throttled_for(w(3), 10_500, 3, 60_000), Some(60));
        assert_eq!(throttled_for(w(9), 69_001, 3, 60_000), Some(1));
        assert_eq!(throttled_for(w(9), 70_000, 3, 60_000), None);
    }
}
