//! Reviewer console accounts and their signed-in sessions.

use sqlx::{FromRow, Row};

use super::{
    BeginWrite, ConsoleSessionRow, NewAudit, ReviewerRow, Store, StoreError, REVIEWER_COLUMNS,
};

/// What an operator changes on a reviewer's account (`Store::change_reviewer`).
#[derive(Debug, Default)]
pub struct ReviewerChange {
    pub set_disabled: bool,
    pub disabled_at: Option<i64>,
    pub password_hash: Option<String>,
    pub totp_sealed: Option<Vec<u8>>,
}

impl Store {
    /// Creates a console reviewer with its audit entry; `UsernameTaken` when the username is taken.
    pub async fn create_reviewer(
        &self,
        r: &ReviewerRow,
        audit: &NewAudit,
    ) -> Result<(), StoreError> {
        on_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            append_audit!(tx, audit);
            let inserted = sqlx::query(&format!(
                "INSERT INTO reviewers ({REVIEWER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            ))
            .bind(&r.id)
            .bind(&r.org)
            .bind(&r.username)
            .bind(&r.password_hash)
            .bind(&r.totp_sealed)
            .bind(r.failed_signins)
            .bind(r.locked_until)
            .bind(r.last_totp_step)
            .bind(r.created_at)
            .bind(r.disabled_at)
            .execute(&mut *tx)
            .await;
            match inserted {
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    return Err(StoreError::UsernameTaken);
                }
                other => other?,
            };
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn reviewer_by_username(
        &self,
        username: &str,
    ) -> Result<Option<ReviewerRow>, StoreError> {
        let sql = format!("SELECT {REVIEWER_COLUMNS} FROM reviewers WHERE username = $1");
        Ok(fetch_optional_as!(self, ReviewerRow, &sql, username))
    }

    /// Counts a failed sign-in; the `max`-th consecutive one locks the account until `lock_until` (and
    /// starts the count again). Returns whether this failure locked it.
    pub async fn reviewer_signin_failed(
        &self,
        id: &str,
        max: i64,
        lock_until: i64,
        audit: &NewAudit,
    ) -> Result<bool, StoreError> {
        Ok(on_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            let row = sqlx::query(
                "UPDATE reviewers SET
                   failed_signins = CASE WHEN failed_signins + 1 >= $1 THEN 0 ELSE failed_signins + 1 END,
                   locked_until = CASE WHEN failed_signins + 1 >= $1 THEN $2 ELSE locked_until END
                 WHERE id = $3 RETURNING failed_signins",
            )
            .bind(max)
            .bind(lock_until)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let locked = match row {
                Some(r) => r.try_get::<i64, _>("failed_signins")? == 0,
                None => false,
            };
            let mut audit = audit.clone();
            if locked {
                audit.details["locked_until"] = serde_json::json!(lock_until);
            }
            append_audit!(tx, &audit);
            tx.commit().await?;
            locked
        }))
    }

    /// A successful sign-in: takes the TOTP step (a code is accepted once: `false`, and nothing
    /// written, when this step or a later one was already used), clears the failure count, starts the
    /// session and drops the expired ones, with its audit entry.
    pub async fn reviewer_signed_in(
        &self,
        reviewer_id: &str,
        totp_step: i64,
        session: &ConsoleSessionRow,
        audit: &NewAudit,
    ) -> Result<bool, StoreError> {
        Ok(on_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            let n = sqlx::query(
                "UPDATE reviewers SET last_totp_step = $1, failed_signins = 0, locked_until = NULL
                 WHERE id = $2 AND (last_totp_step IS NULL OR last_totp_step < $1)",
            )
            .bind(totp_step)
            .bind(reviewer_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n != 1 {
                return Ok(false);
            }
            sqlx::query("DELETE FROM console_sessions WHERE expires_at <= $1")
                .bind(session.created_at)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO console_sessions (token_hash, reviewer_id, csrf_token, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&session.token_hash)
            .bind(&session.reviewer_id)
            .bind(&session.csrf_token)
            .bind(session.created_at)
            .bind(session.expires_at)
            .execute(&mut *tx)
            .await?;
            append_audit!(tx, audit);
            tx.commit().await?;
            true
        }))
    }

    /// The live session with this token hash and its (enabled) reviewer.
    pub async fn console_session(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<(ConsoleSessionRow, ReviewerRow)>, StoreError> {
        let columns = REVIEWER_COLUMNS
            .split(',')
            .map(|c| format!("r.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT s.token_hash, s.reviewer_id, s.csrf_token, s.created_at AS session_created_at, s.expires_at, {columns}
             FROM console_sessions s JOIN reviewers r ON r.id = s.reviewer_id
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND r.disabled_at IS NULL"
        );
        Ok(on_pool!(self, |p| {
            let row = sqlx::query(&sql)
                .bind(token_hash)
                .bind(now)
                .fetch_optional(p)
                .await?;
            row.map(|r| -> Result<_, sqlx::Error> {
                // The session's own `created_at` is aliased: the reviewer's has the plain name.
                let session = ConsoleSessionRow {
                    token_hash: r.try_get("token_hash")?,
                    reviewer_id: r.try_get("reviewer_id")?,
                    csrf_token: r.try_get("csrf_token")?,
                    created_at: r.try_get("session_created_at")?,
                    expires_at: r.try_get("expires_at")?,
                };
                Ok((session, ReviewerRow::from_row(&r)?))
            })
            .transpose()?
        }))
    }

    /// Every console reviewer, by organisation and username.
    pub async fn list_reviewers(&self) -> Result<Vec<ReviewerRow>, StoreError> {
        let sql = format!("SELECT {REVIEWER_COLUMNS} FROM reviewers ORDER BY org, username");
        Ok(fetch_all_as!(self, ReviewerRow, &sql))
    }

    /// Changes a reviewer's account as an operator asked, with its audit entry, and ends their sessions
    /// (a changed account signs in again): `disabled_at` disables (`Some`) or enables (`None`) it when
    /// `set_disabled`; a new password hash or sealed TOTP secret replaces the old one, and a new password
    /// clears the lock and the count of failures. Returns whether the account exists.
    pub async fn change_reviewer(
        &self,
        id: &str,
        change: &ReviewerChange,
        audit: &NewAudit,
    ) -> Result<bool, StoreError> {
        Ok(on_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            let n = sqlx::query(
                "UPDATE reviewers SET
                   disabled_at = CASE WHEN $1 THEN $2 ELSE disabled_at END,
                   password_hash = COALESCE($3, password_hash),
                   failed_signins = CASE WHEN $3 IS NULL THEN failed_signins ELSE 0 END,
                   locked_until = CASE WHEN $3 IS NULL THEN locked_until ELSE NULL END,
                   totp_sealed = COALESCE($4, totp_sealed),
                   last_totp_step = CASE WHEN $4 IS NULL THEN last_totp_step ELSE NULL END
                 WHERE id = $5",
            )
            .bind(change.set_disabled)
            .bind(change.disabled_at)
            .bind(change.password_hash.as_deref())
            .bind(change.totp_sealed.as_deref())
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 1 {
                sqlx::query("DELETE FROM console_sessions WHERE reviewer_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                append_audit!(tx, audit);
            }
            tx.commit().await?;
            n == 1
        }))
    }

    /// Ends a session (sign-out), with its audit entry.
    pub async fn end_console_session(
        &self,
        token_hash: &str,
        audit: &NewAudit,
    ) -> Result<(), StoreError> {
        on_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            let n = sqlx::query("DELETE FROM console_sessions WHERE token_hash = $1")
                .bind(token_hash)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 1 {
                append_audit!(tx, audit);
            }
            tx.commit().await?;
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{audit, TempStore};
    use super::*;

    fn reviewer(id: &str, username: &str) -> ReviewerRow {
        ReviewerRow {
            id: id.into(),
            org: "org1".into(),
            username: username.into(),
            password_hash: "$argon2id$fake".into(),
            totp_sealed: b"sealed secret".to_vec(),
            failed_signins: 0,
            locked_until: None,
            last_totp_step: None,
            created_at: 1,
            disabled_at: None,
        }
    }

    fn session(token_hash: &str, created_at: i64, expires_at: i64) -> ConsoleSessionRow {
        ConsoleSessionRow {
            token_hash: token_hash.into(),
            reviewer_id: "rvw_1".into(),
            csrf_token: "csrf".into(),
            created_at,
            expires_at,
        }
    }

    #[tokio::test]
    async fn a_username_is_taken_once() {
        let db = TempStore::new().await;
        let r = reviewer("rvw_1", "ann");
        db.create_reviewer(&r, &audit("reviewer.created"))
            .await
            .unwrap();
        let twin = db
            .create_reviewer(&reviewer("rvw_2", "ann"), &audit("reviewer.created"))
            .await;
        assert!(matches!(twin, Err(StoreError::UsernameTaken)), "{twin:?}");
        assert_eq!(db.reviewer_by_username("ann").await.unwrap(), Some(r));
        assert_eq!(db.audit_chain().await.unwrap().0.len(), 1);
    }

    #[tokio::test]
    async fn repeated_failures_lock_and_restart_the_count() {
        let db = TempStore::new().await;
        db.create_reviewer(&reviewer("rvw_1", "ann"), &audit("reviewer.created"))
            .await
            .unwrap();
        let failed = audit("reviewer.signin_failed");
        assert!(!db
            .reviewer_signin_failed("rvw_1", 3, 500, &failed)
            .await
            .unwrap());
        assert!(!db
            .reviewer_signin_failed("rvw_1", 3, 500, &failed)
            .await
            .unwrap());
        assert!(db
            .reviewer_signin_failed("rvw_1", 3, 500, &failed)
            .await
            .unwrap());
        let locked = db.reviewer_by_username("ann").await.unwrap().unwrap();
        assert_eq!((locked.failed_signins, locked.locked_until), (0, Some(500)));
        assert!(!db
            .reviewer_signin_failed("rvw_1", 3, 900, &failed)
            .await
            .unwrap());
        // An unknown reviewer's failure is still audited, and locks nothing.
        assert!(!db
            .reviewer_signin_failed("rvw_x", 3, 500, &failed)
            .await
            .unwrap());
        assert_eq!(db.audit_chain().await.unwrap().0.len(), 6);
    }

    #[tokio::test]
    async fn a_totp_step_signs_in_once_and_sessions_end() {
        let db = TempStore::new().await;
        db.create_reviewer(&reviewer("rvw_1", "ann"), &audit("reviewer.created"))
            .await
            .unwrap();
        db.reviewer_signin_failed("rvw_1", 5, 0, &audit("reviewer.signin_failed"))
            .await
            .unwrap();
        let signed_in = audit("reviewer.signed_in");
        assert!(db
            .reviewer_signed_in("rvw_1", 100, &session("tok_1", 10, 20), &signed_in)
            .await
            .unwrap());
        // The same code again (a replay), or an earlier one: refused, nothing written.
        assert!(!db
            .reviewer_signed_in("rvw_1", 100, &session("tok_2", 11, 30), &signed_in)
            .await
            .unwrap());
        assert!(!db
            .reviewer_signed_in("rvw_1", 99, &session("tok_2", 11, 30), &signed_in)
            .await
            .unwrap());
        assert_eq!(db.console_session("tok_2", 12).await.unwrap(), None);
        let r = db.reviewer_by_username("ann").await.unwrap().unwrap();
        assert_eq!((r.failed_signins, r.last_totp_step), (0, Some(100)));

        let (s, who) = db.console_session("tok_1", 15).await.unwrap().unwrap();
        assert_eq!(s, session("tok_1", 10, 20));
        assert_eq!(who.username, "ann");
        assert_eq!(
            db.console_session("tok_1", 20).await.unwrap(),
            None,
            "expired"
        );

        // A later sign-in drops the expired session.
        assert!(db
            .reviewer_signed_in("rvw_1", 101, &session("tok_3", 25, 60), &signed_in)
            .await
            .unwrap());
        assert_eq!(db.count_rows("console_sessions").await.unwrap(), 1);
        db.end_console_session("tok_3", &audit("reviewer.signed_out"))
            .await
            .unwrap();
        assert_eq!(db.console_session("tok_3", 30).await.unwrap(), None);
    }
}
