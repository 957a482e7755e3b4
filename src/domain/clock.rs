//! Time: the clock the use cases read (the system's, or one a test moves by hand), and its text form.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Now, in Unix milliseconds. Cloning shares the clock.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// `None`: the system clock. `Some`: a manual clock, moved only by [`Clock::advance`].
    manual: Option<Arc<AtomicI64>>,
}

impl Clock {
    pub fn system() -> Self {
        Clock { manual: None }
    }

    /// A clock that starts at `start_ms` and moves only when told (for tests).
    pub fn manual(start_ms: i64) -> Self {
        Clock {
            manual: Some(Arc::new(AtomicI64::new(start_ms))),
        }
    }

    pub fn now_ms(&self) -> i64 {
        match &self.manual {
            Some(t) => t.load(Ordering::SeqCst),
            None => system_now_ms(),
        }
    }

    /// Today's date in UTC, the time zone of every record (a document's expiry is judged on it).
    pub fn today(&self) -> time::Date {
        utc(self.now_ms()).date()
    }

    /// Moves a manual clock forward; the system clock cannot be moved (a no-op, logged).
    pub fn advance(&self, ms: i64) {
        match &self.manual {
            Some(t) => {
                t.fetch_add(ms, Ordering::SeqCst);
            }
            None => tracing::warn!("the system clock cannot be advanced"),
        }
    }
}

fn system_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn utc(ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// RFC 3339 UTC time from Unix milliseconds.
pub fn rfc3339(ms: i64) -> String {
    utc(ms)
        .format(&time::format_description::well_known::Rfc3339)
        .expect("formattable")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_clones_share_it() {
        let c = Clock::manual(1_000);
        let shared = c.clone();
        assert_eq!(c.now_ms(), 1_000);
        shared.advance(500);
        assert_eq!(c.now_ms(), 1_500);
        let sys = Clock::system().now_ms();
        assert!(sys > 1_700_000_000_000, "the system clock is real time");
    }

    #[test]
    fn rfc3339_from_milliseconds() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }

    #[test]
    fn today_is_the_utc_date() {
        let c = Clock::manual(1_700_000_000_123); // 2023-11-14T22:13:20Z
        assert_eq!(c.today().to_string(), "2023-11-14");
        c.advance(2 * 3_600_000); // past midnight UTC
        assert_eq!(c.today().to_string(), "2023-11-15");
    }
}
