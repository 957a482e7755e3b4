//! Review cases: the queue, one case, and a reviewer's resolution (recorded once).

use super::{NewAudit, ReviewCaseRow, Store, StoreError, REVIEW_COLUMNS};
use crate::domain::ReviewStatus;

impl Store {
    /// Cases of one organisation with this status, oldest first, optionally of one purpose.
    pub async fn list_reviews(
        &self,
        org: &str,
        status: ReviewStatus,
        purpose: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ReviewCaseRow>, StoreError> {
        let sql = format!(
            "SELECT {REVIEW_COLUMNS} FROM review_cases WHERE org = $1 AND status = $2
             AND ($3 = '' OR purpose = $3) ORDER BY created_at, id LIMIT $4"
        );
        Ok(fetch_all_as!(
            self,
            ReviewCaseRow,
            &sql,
            org,
            status,
            purpose.unwrap_or(""),
            limit
        ))
    }

    pub async fn get_review(
        &self,
        org: &str,
        id: &str,
    ) -> Result<Option<ReviewCaseRow>, StoreError> {
        let sql = format!("SELECT {REVIEW_COLUMNS} FROM review_cases WHERE org = $1 AND id = $2");
        Ok(fetch_optional_as!(self, ReviewCaseRow, &sql, org, id))
    }

    /// Records a reviewer's resolution of an open case with its audit entry; `false` when the case
    /// was not open (resolved meanwhile by someone else).
    pub async fn resolve_review(
        &self,
        org: &str,
        id: &str,
        outcome: &str,
        reason: &str,
        audit: &NewAudit,
    ) -> Result<bool, StoreError> {
        Ok(on_pool!(self, |p| {
            let mut tx = p.begin().await?;
            let n = sqlx::query(
                "UPDATE review_cases SET status = 'resolved', outcome = $1, outcome_reason = $2, resolved_by = $3,
                 resolved_at = $4 WHERE org = $5 AND id = $6 AND status = 'open'",
            )
            .bind(outcome)
            .bind(reason)
            .bind(&audit.actor)
            .bind(audit.at)
            .bind(org)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 1 {
                append_audit!(tx, audit);
                tx.commit().await?;
            }
            n == 1
        }))
    }
}

