//! Failed API-key authentications per client address, counted in fixed windows (the policy is in
//! `service::auth_failures`). In the database so that replicas on one PostgreSQL share the count.

use sqlx::Row;

use super::{Store, StoreError};

/// The failures counted for one client in its current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureWindow {
    /// When the window began (Unix ms).
    pub started_at: i64,
    pub failures: i64,
}

impl Store {
    /// The client's window, when it began after `ended_before` (an older one no longer counts).
    pub async fn auth_failures(
        &self,
        client: &str,
        ended_before: i64,
    ) -> Result<Option<FailureWindow>, StoreError> {
        let sql = "SELECT window_start, failures FROM auth_failures WHERE client = $1 AND window_start > $2";
        Ok(on_pool!(self, |p| {
            sqlx::query(sql)
                .bind(client)
                .bind(ended_before)
                .fetch_optional(p)
                .await?
                .map(|r| -> Result<FailureWindow, sqlx::Error> {
                    Ok(FailureWindow {
                        started_at: r.try_get("window_start")?,
                        failures: r.try_get("failures")?,
                    })
                })
                .transpose()?
        }))
    }

    /// Counts one failure of `client` at `now`: in its window, or in a new one starting now when its
    /// window began at or before `ended_before`. Windows that ended are deleted on the way. Returns
    /// the window as counted; one statement, so concurrent failures (of any replica) all count.
    pub async fn record_auth_failure(
        &self,
        client: &str,
        now: i64,
        ended_before: i64,
    ) -> Result<FailureWindow, StoreError> {
        let upsert = "INSERT INTO auth_failures (client, window_start, failures) VALUES ($1, $2, 1)
             ON CONFLICT (client) DO UPDATE SET
               failures = CASE WHEN auth_failures.window_start <= $3 THEN 1 ELSE auth_failures.failures + 1 END,
               window_start = CASE WHEN auth_failures.window_start <= $3 THEN $2 ELSE auth_failures.window_start END
             RETURNING window_start, failures";
        let prune = "DELETE FROM auth_failures WHERE window_start <= $1";
        Ok(on_pool!(self, |p| {
            sqlx::query(prune).bind(ended_before).execute(p).await?;
            let r = sqlx::query(upsert)
                .bind(client)
                .bind(now)
                .bind(ended_before)
                .fetch_one(p)
                .await?;
            FailureWindow {
                started_at: r.try_get("window_start")?,
                failures: r.try_get("failures")?,
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::TempStore;

    #[tokio::test]
    async fn failures_count_in_their_window_and_a_new_window_starts_after_it() {
        let db = TempStore::new().await;
        let window = 1000;
        assert_eq!(db.auth_failures("1.2.3.4", 0).await.unwrap(), None);
        for n in 1..=3 {
            let w = db
                .record_auth_failure("1.2.3.4", 100 + n, 100 + n - window)
                .await
                .unwrap();
            assert_eq!((w.started_at, w.failures), (101, n));
        }
        db.record_auth_failure("5.6.7.8", 150, 150 - window)
            .await
            .unwrap();
        let seen = db.auth_failures("1.2.3.4", 500 - window).await.unwrap();
        assert_eq!(seen.map(|w| w.failures), Some(3));
        // The window began at 101: by 1101 it has ended, and no longer counts.
        assert_eq!(
            db.auth_failures("1.2.3.4", 1101 - window).await.unwrap(),
            None
        );
        let fresh = db
            .record_auth_failure("1.2.3.4", 1200, 1200 - window)
            .await
            .unwrap();
        assert_eq!((fresh.started_at, fresh.failures), (1200, 1));
        // The other client's ended window was deleted on the way.
        assert_eq!(db.count_rows("auth_failures").await.unwrap(), 1);
    }
}
