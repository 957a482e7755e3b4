//! Review cases: the queue, one case, and a reviewer's resolution (recorded once).

use super::{BeginWrite, NewAudit, ReviewCaseRow, Store, StoreError, REVIEW_COLUMNS};
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
            let mut tx = p.begin_write().await?;
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

#[cfg(test)]
mod tests {
    use super::super::testing::{audit, decided, record, review, TempStore};
    use super::*;
    use crate::domain::ReviewKind;

    #[tokio::test]
    async fn a_case_resolves_once_and_moves_between_queues() {
        let db = TempStore::new().await;
        record(
            &db,
            &decided("ver_1", 10),
            &[],
            Some(&review("rev_1", "ver_1")),
        )
        .await;
        let sample = ReviewCaseRow {
            kind: ReviewKind::Sample,
            created_at: 2,
            ..review("rev_2", "ver_2")
        };
        record(&db, &decided("ver_2", 10), &[], Some(&sample)).await;

        let open = db
            .list_reviews("org1", ReviewStatus::Open, None, 10)
            .await
            .unwrap();
        let ids: Vec<&str> = open.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["rev_1", "rev_2"], "oldest first");
        assert!(db
            .list_reviews("org2", ReviewStatus::Open, None, 10)
            .await
            .unwrap()
            .is_empty());
        assert!(db
            .list_reviews("org1", ReviewStatus::Open, Some("remote_invigilation"), 10)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            db.list_reviews("org1", ReviewStatus::Open, None, 1)
                .await
                .unwrap()
                .len(),
            1
        );

        let resolution = NewAudit {
            actor: "reviewer:ann".into(),
            at: 20,
            ..audit("review.resolved")
        };
        assert!(db
            .resolve_review(
                "org1",
                "rev_1",
                "confirmed_match",
                "same person",
                &resolution
            )
            .await
            .unwrap());
        assert!(!db
            .resolve_review(
                "org1",
                "rev_1",
                "confirmed_mismatch",
                "changed my mind",
                &resolution
            )
            .await
            .unwrap());
        assert!(!db
            .resolve_review("org2", "rev_2", "confirmed_match", "other org", &resolution)
            .await
            .unwrap());

        let case = db.get_review("org1", "rev_1").await.unwrap().unwrap();
        assert_eq!(case.status, ReviewStatus::Resolved);
        assert_eq!(case.outcome.as_deref(), Some("confirmed_match"));
        assert_eq!(case.outcome_reason.as_deref(), Some("same person"));
        assert_eq!(
            (case.resolved_by.as_deref(), case.resolved_at),
            (Some("reviewer:ann"), Some(20))
        );
        let resolved = db
            .list_reviews("org1", ReviewStatus::Resolved, None, 10)
            .await
            .unwrap();
        assert_eq!(resolved, [case]);
        let events: Vec<String> = db
            .audit_chain()
            .await
            .unwrap()
            .0
            .into_iter()
            .map(|e| e.event)
            .collect();
        assert_eq!(events.iter().filter(|e| *e == "review.resolved").count(), 1);
    }
}
