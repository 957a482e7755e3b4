//! Token buckets of the per-key rate limit in the database, so that replicas on one PostgreSQL share
//! each key's bucket (the policy is in `service::rate_limit`).

use sqlx::Row;

use super::{Store, StoreError};

impl Store {
    /// Takes a token from `bucket` at `now` (Unix ms), the bucket refilling `per_sec` tokens a second up
    /// to `burst`: `Ok(())` when taken, else `Err(tokens)` with the fraction of a token it holds. One
    /// statement, so concurrent requests (of any replica) each see the others' takings.
    pub async fn take_rate_token(
        &self,
        bucket: &str,
        now: i64,
        per_sec: f64,
        burst: f64,
    ) -> Result<Result<(), f64>, StoreError> {
        let (least, greatest) = match self {
            Store::Sqlite(_) => ("MIN", "MAX"),
            Store::Postgres(_) => ("LEAST", "GREATEST"),
        };
        // The bucket refilled since it was last touched (time never runs backwards across replicas).
        let refilled = format!(
            "{least}($2, rate_buckets.tokens + {greatest}(0, $3 - rate_buckets.updated_at) * $4 / 1000.0)"
        );
        let sql = format!(
            "INSERT INTO rate_buckets (bucket, tokens, updated_at, taken) VALUES ($1, $2 - 1, $3, TRUE)
             ON CONFLICT (bucket) DO UPDATE SET
               tokens = CASE WHEN {refilled} >= 1 THEN {refilled} - 1 ELSE {refilled} END,
               taken = {refilled} >= 1,
               updated_at = {greatest}($3, rate_buckets.updated_at)
             RETURNING tokens, taken"
        );
        let (tokens, taken): (f64, bool) = on_pool!(self, |p| {
            let r = sqlx::query(&sql)
                .bind(bucket)
                .bind(burst)
                .bind(now)
                .bind(per_sec)
                .fetch_one(p)
                .await?;
            (r.try_get("tokens")?, r.try_get("taken")?)
        });
        Ok(if taken { Ok(()) } else { Err(tokens) })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::TempStore;

    #[tokio::test]
    async fn a_bucket_gives_its_burst_then_refills_at_its_rate() {
        let db = TempStore::new().await;
        let take = |now: i64| {
            let db = &db;
            async move { db.take_rate_token("key_a", now, 2.0, 3.0).await.unwrap() }
        };
        for _ in 0..3 {
            assert_eq!(take(1_000).await, Ok(()));
        }
        // Empty: refused, and a refusal takes nothing.
        assert_eq!(take(1_000).await, Err(0.0));
        assert_eq!(take(1_250).await, Err(0.5));
        // Half a second at 2 a second refills one token.
        assert_eq!(take(1_500).await, Ok(()));
        // Never more than the burst, however long it rested; other buckets are apart.
        for _ in 0..3 {
            assert_eq!(take(100_000).await, Ok(()));
        }
        assert!(take(100_000).await.is_err());
        assert_eq!(
            db.take_rate_token("key_b", 100_000, 2.0, 3.0)
                .await
                .unwrap(),
            Ok(())
        );
        // A replica whose clock is behind does not refill the bucket.
        assert!(take(99_000).await.is_err());
    }
}
