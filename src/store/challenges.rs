//! Liveness challenges: issued server-side, answered once, by the API or by one capture link's page.

use super::{ChallengeRow, Store, StoreError};

const CHALLENGE_COLUMNS: &str = "id, org, nonce, actions, created_at, expires_at, capture_link_id";

impl Store {
    pub async fn create_challenge(&self, c: &ChallengeRow) -> Result<(), StoreError> {
        on_pool!(self, |p| {
            sqlx::query(&format!(
                "INSERT INTO challenges ({CHALLENGE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ))
            .bind(&c.id)
            .bind(&c.org)
            .bind(&c.nonce)
            .bind(&c.actions)
            .bind(c.created_at)
            .bind(c.expires_at)
            .bind(&c.capture_link_id)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// Uses a challenge once: returns it and marks it used, or `None` when unknown, used, expired, or
    /// issued to another capture link (`capture_link`: the link submitting, `None` for an API request).
    pub async fn take_challenge(
        &self,
        org: &str,
        id: &str,
        now: i64,
        capture_link: Option<&str>,
    ) -> Result<Option<ChallengeRow>, StoreError> {
        let sql = format!(
            "UPDATE challenges SET used_at = $1 WHERE org = $2 AND id = $3 AND used_at IS NULL AND expires_at > $1
             AND COALESCE(capture_link_id, '') = $4
             RETURNING {CHALLENGE_COLUMNS}"
        );
        Ok(fetch_optional_as!(
            self,
            ChallengeRow,
            &sql,
            now,
            org,
            id,
            capture_link.unwrap_or("")
        ))
    }

    /// A challenge as issued (used or not): what a queued video verification answers.
    pub async fn get_challenge(
        &self,
        org: &str,
        id: &str,
    ) -> Result<Option<ChallengeRow>, StoreError> {
        let sql = format!("SELECT {CHALLENGE_COLUMNS} FROM challenges WHERE org = $1 AND id = $2");
        Ok(fetch_optional_as!(self, ChallengeRow, &sql, org, id))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::TempStore;
    use super::*;

    fn challenge(id: &str, expires_at: i64, capture_link_id: Option<&str>) -> ChallengeRow {
        ChallengeRow {
            id: id.into(),
            org: "org1".into(),
            nonce: "n".into(),
            actions: r#"["blink","turn_left"]"#.into(),
            created_at: 0,
            expires_at,
            capture_link_id: capture_link_id.map(Into::into),
        }
    }

    #[tokio::test]
    async fn a_challenge_is_taken_once_before_it_expires() {
        let db = TempStore::new().await;
        let c = challenge("chl_1", 1_000, None);
        db.create_challenge(&c).await.unwrap();
        assert_eq!(
            db.take_challenge("org2", "chl_1", 10, None).await.unwrap(),
            None
        );
        assert_eq!(
            db.take_challenge("org1", "chl_1", 10, None).await.unwrap(),
            Some(c.clone())
        );
        assert_eq!(
            db.take_challenge("org1", "chl_1", 11, None).await.unwrap(),
            None
        );
        // Still readable as issued, for the job that answers it.
        assert_eq!(db.get_challenge("org1", "chl_1").await.unwrap(), Some(c));

        db.create_challenge(&challenge("chl_2", 1_000, None))
            .await
            .unwrap();
        assert_eq!(
            db.take_challenge("org1", "chl_2", 1_000, None)
                .await
                .unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn a_link_challenge_answers_only_that_link() {
        let db = TempStore::new().await;
        db.create_challenge(&challenge("chl_1", 1_000, Some("cl_1")))
            .await
            .unwrap();
        db.create_challenge(&challenge("chl_2", 1_000, None))
            .await
            .unwrap();
        assert_eq!(
            db.take_challenge("org1", "chl_1", 5, None).await.unwrap(),
            None
        );
        assert_eq!(
            db.take_challenge("org1", "chl_1", 5, Some("cl_2"))
                .await
                .unwrap(),
            None
        );
        assert!(db
            .take_challenge("org1", "chl_1", 5, Some("cl_1"))
            .await
            .unwrap()
            .is_some());
        // An API challenge cannot be answered from a capture page.
        assert_eq!(
            db.take_challenge("org1", "chl_2", 5, Some("cl_1"))
                .await
                .unwrap(),
            None
        );
    }
}
