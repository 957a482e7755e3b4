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

