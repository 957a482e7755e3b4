//! The per-key rate limit (`service.rate_limit_per_sec`, burst `service.rate_limit_burst`): a token
//! bucket per API key. With PostgreSQL the buckets are in the database, so every replica draws on the
//! same bucket and N servers allow a key what one does; with SQLite (one server) it is kept in the
//! process, which saves the single writer a write per request.

use std::time::Instant;

use super::error::{ApiError, ErrorCode};
use super::state::AppState;
use crate::store::Store;

/// Takes a token for `key_id`, or refuses with 429 `rate_limited` and the seconds until one is there.
pub async fn take_token(state: &AppState, key_id: &str) -> Result<(), ApiError> {
    let service = &state.settings.service;
    let refused = |secs: u64| ApiError::new(ErrorCode::RateLimited).retry_after(secs);
    match &state.store {
        Store::Postgres(_) => {
            let (per_sec, burst) = (
                service.rate_limit_per_sec,
                service.rate_limit_burst.max(1.0),
            );
            state
                .store
                .take_rate_token(key_id, state.clock.now_ms(), per_sec, burst)
                .await?
                .map_err(|tokens| refused(seconds_to_next_token(tokens, per_sec)))
        }
        Store::Sqlite(_) => state
            .rate_limiter
            .check(key_id, Instant::now())
            .map_err(refused),
    }
}

/// Whole seconds until a bucket holding `tokens` (< 1) has one again at `per_sec` (pure).
pub fn seconds_to_next_token(tokens: f64, per_sec: f64) -> u64 {
    ((1.0 - tokens) / per_sec.max(f64::MIN_POSITIVE))
        .ceil()
        .max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_the_wait_for_the_next_token_at_least_a_second() {
        assert_eq!(seconds_to_next_token(0.0, 10.0), 1);
        assert_eq!(seconds_to_next_token(0.0, 0.5), 2);
        assert_eq!(seconds_to_next_token(0.75, 0.1), 3);
        assert_eq!(seconds_to_next_token(0.0, 0.0), u64::MAX);
    }
}
