//! Remote-invigilation sessions and their frames' results; an anomaly that lasts opens one review case
//! per session.

use sqlx::Row;

use super::{
    BeginWrite, FrameRow, MediaRow, NewAudit, ReviewCaseRow, SessionRow, Store, StoreError,
    SESSION_COLUMNS,
};

impl Store {
    pub async fn create_session(&self, s: &SessionRow, audit: &NewAudit) -> Result<(), StoreError> {
        on_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            append_audit!(tx, audit);
            sqlx::query(&format!(
                "INSERT INTO invigilation_sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
            ))
            .bind(&s.id)
            .bind(&s.org)
            .bind(&s.subject_id)
            .bind(&s.consent_ref)
            .bind(&s.reference_verification_id)
            .bind(s.status)
            .bind(&s.key_id)
            .bind(&s.template_sealed)
            .bind(&s.review_case_id)
            .bind(s.created_at)
            .bind(s.closed_at)
            .bind(&s.summary)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn get_session(&self, org: &str, id: &str) -> Result<Option<SessionRow>, StoreError> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM invigilation_sessions WHERE org = $1 AND id = $2"
        );
        Ok(fetch_optional_as!(self, SessionRow, &sql, org, id))
    }

    pub async fn session_frames(&self, session_id: &str) -> Result<Vec<FrameRow>, StoreError> {
        let sql = "SELECT session_id, seq, at, result, media_id FROM invigilation_frames WHERE session_id = $1 ORDER BY seq";
        Ok(fetch_all_as!(self, FrameRow, sql, session_id))
    }

    /// Records one frame of an open session (with its sealed image when it is evidence) in one
    /// transaction, taking the next sequence number. With `case`, the session's review case is opened
    /// (with its audit entry) unless it already has one; with `reasons_of_open_case`, the existing
    /// case's reasons are replaced. Returns the frame's sequence number and the session's case id;
    /// `SessionClosed` when the session is not open, `FrameInProgress` when another frame took the
    /// number at the same time.
    pub async fn add_frame(
        &self,
        session_id: &str,
        at: i64,
        result: &str,
        evidence: Option<&MediaRow>,
        case: Option<(&ReviewCaseRow, &NewAudit)>,
        reasons_of_open_case: Option<&str>,
    ) -> Result<(i64, Option<String>), StoreError> {
        Ok(on_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            let open = sqlx::query("SELECT review_case_id FROM invigilation_sessions WHERE id = $1 AND status = 'open'")
                .bind(session_id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::SessionClosed)?;
            let mut case_id: Option<String> = open.try_get("review_case_id")?;
            let seq: i64 = sqlx::query("SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM invigilation_frames WHERE session_id = $1")
                .bind(session_id)
                .fetch_one(&mut *tx)
                .await?
                .try_get("n")?;
            if let Some(m) = evidence {
                insert_media!(tx, m);
            }
            let inserted = sqlx::query("INSERT INTO invigilation_frames (session_id, seq, at, result, media_id) VALUES ($1, $2, $3, $4, $5)")
                .bind(session_id)
                .bind(seq)
                .bind(at)
                .bind(result)
                .bind(evidence.map(|m| &m.id))
                .execute(&mut *tx)
                .await;
            match inserted {
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    return Err(StoreError::FrameInProgress);
                }
                other => other?,
            };
            match (case, case_id.clone()) {
                (Some((r, audit)), None) => {
                    append_audit!(tx, audit);
                    insert_review!(tx, r);
                    sqlx::query(
                        "UPDATE invigilation_sessions SET review_case_id = $1 WHERE id = $2",
                    )
                    .bind(&r.id)
                    .bind(session_id)
                    .execute(&mut *tx)
                    .await?;
                    case_id = Some(r.id.clone());
                }
                (_, Some(open_case)) => {
                    if let Some(reasons) = reasons_of_open_case {
                        sqlx::query("UPDATE review_cases SET reasons = $1 WHERE id = $2 AND status = 'open'")
                            .bind(reasons)
                            .bind(&open_case)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                (None, None) => {}
            }
            tx.commit().await?;
            (seq, case_id)
        }))
    }

    /// Closes an open session: stores its summary and drops the template. `false` when not open.
    pub async fn close_session(
        &self,
        org: &str,
        id: &str,
        summary: &str,
        audit: &NewAudit,
    ) -> Result<bool, StoreError> {
        Ok(on_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            let n = sqlx::query(
                "UPDATE invigilation_sessions SET status = 'closed', closed_at = $1, summary = $2, template_sealed = NULL
                 WHERE org = $3 AND id = $4 AND status = 'open'",
            )
            .bind(audit.at)
            .bind(summary)
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
    use super::super::testing::{audit, decided, media, record, review, TempStore};
    use super::*;
    use crate::domain::{MediaKind, ReviewKind, SessionStatus};

    fn session(id: &str) -> SessionRow {
        SessionRow {
            id: id.into(),
            org: "org1".into(),
            subject_id: "sub1".into(),
            consent_ref: "cns_1".into(),
            reference_verification_id: "ver_1".into(),
            status: SessionStatus::Open,
            key_id: "key_sub1".into(),
            template_sealed: Some(b"template".to_vec()),
            review_case_id: None,
            created_at: 1,
            closed_at: None,
            summary: None,
        }
    }

    fn case(id: &str) -> ReviewCaseRow {
        ReviewCaseRow {
            kind: ReviewKind::Invigilation,
            invigilation_session_id: Some("inv_1".into()),
            ..review(id, "ver_1")
        }
    }

    #[tokio::test]
    async fn frames_are_numbered_and_a_session_opens_one_case() {
        let db = TempStore::new().await;
        record(&db, &decided("ver_1", 1), &[], None).await;
        db.create_session(&session("inv_1"), &audit("invigilation.started"))
            .await
            .unwrap();

        let (seq, case_id) = db
            .add_frame("inv_1", 10, "{}", None, None, None)
            .await
            .unwrap();
        assert_eq!((seq, case_id), (1, None));
        let evidence = MediaRow {
            verification_id: None,
            ..media("med_f2", "ver_1", MediaKind::InvigilationFrame)
        };
        let opened = audit("review.opened");
        let (seq, case_id) = db
            .add_frame(
                "inv_1",
                11,
                "{}",
                Some(&evidence),
                Some((&case("rev_1"), &opened)),
                None,
            )
            .await
            .unwrap();
        assert_eq!((seq, case_id.as_deref()), (2, Some("rev_1")));
        // A later anomaly updates the case's reasons instead of opening another.
        let (seq, case_id) = db
            .add_frame(
                "inv_1",
                12,
                "{}",
                None,
                Some((&case("rev_2"), &opened)),
                Some(r#"["a","b"]"#),
            )
            .await
            .unwrap();
        assert_eq!((seq, case_id.as_deref()), (3, Some("rev_1")));
        assert_eq!(db.get_review("org1", "rev_2").await.unwrap(), None);
        assert_eq!(
            db.get_review("org1", "rev_1")
                .await
                .unwrap()
                .unwrap()
                .reasons,
            r#"["a","b"]"#
        );

        let frames = db.session_frames("inv_1").await.unwrap();
        let media_ids: Vec<Option<&str>> = frames.iter().map(|f| f.media_id.as_deref()).collect();
        assert_eq!(media_ids, [None, Some("med_f2"), None]);
        assert_eq!(
            db.media_item("org1", "med_f2").await.unwrap().unwrap().kind,
            MediaKind::InvigilationFrame
        );
    }

    #[tokio::test]
    async fn concurrent_frames_of_a_session_each_get_their_number() {
        // Each frame's transaction reads (the session, the next number) before it writes; on SQLite a
        // deferred transaction would fail with "database is locked" when another frame committed in
        // between, so writers begin immediately and wait their turn.
        let db = TempStore::new().await;
        record(&db, &decided("ver_1", 1), &[], None).await;
        db.create_session(&session("inv_1"), &audit("invigilation.started"))
            .await
            .unwrap();
        let mut frames = tokio::task::JoinSet::new();
        for n in 0..16 {
            let store = Store::clone(&db);
            frames.spawn(async move { store.add_frame("inv_1", n, "{}", None, None, None).await });
        }
        let mut seqs = Vec::new();
        while let Some(stored) = frames.join_next().await {
            seqs.push(stored.unwrap().expect("every frame is stored").0);
        }
        seqs.sort();
        assert_eq!(seqs, (1..=16).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_closed_session_drops_its_template_and_takes_no_frames() {
        let db = TempStore::new().await;
        record(&db, &decided("ver_1", 1), &[], None).await;
        db.create_session(&session("inv_1"), &audit("invigilation.started"))
            .await
            .unwrap();
        let closing = NewAudit {
            at: 30,
            ..audit("invigilation.closed")
        };
        assert!(db
            .close_session("org1", "inv_1", r#"{"frames":0}"#, &closing)
            .await
            .unwrap());
        assert!(!db
            .close_session("org1", "inv_1", "{}", &closing)
            .await
            .unwrap());

        let s = db.get_session("org1", "inv_1").await.unwrap().unwrap();
        assert_eq!(s.status, SessionStatus::Closed);
        assert_eq!((s.template_sealed, s.closed_at), (None, Some(30)));
        assert_eq!(s.summary.as_deref(), Some(r#"{"frames":0}"#));
        let late = db.add_frame("inv_1", 40, "{}", None, None, None).await;
        assert!(matches!(late, Err(StoreError::SessionClosed)), "{late:?}");
        assert!(db.session_frames("inv_1").await.unwrap().is_empty());
    }
}
