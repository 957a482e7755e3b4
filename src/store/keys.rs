//! API keys: each belongs to one organisation and has one role; only the secret's hash is stored.

use sqlx::{FromRow, Row};

use super::{now_ms, BeginWrite, KeyRow, NewAudit, Store, StoreError};

impl Store {
    pub async fn create_key(&self, key: &KeyRow, audit: &NewAudit) -> Result<(), StoreError> {
        on_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            append_audit!(tx, audit);
            sqlx::query("INSERT INTO api_keys (id, org, role, label, key_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(&key.id)
                .bind(&key.org)
                .bind(&key.role)
                .bind(&key.label)
                .bind(&key.key_hash)
                .bind(key.created_at)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The active key with this secret hash.
    pub async fn find_key(&self, key_hash: &str) -> Result<Option<KeyRow>, StoreError> {
        let sql = "SELECT id, org, role, label, key_hash, created_at FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL";
        Ok(fetch_optional_as!(self, KeyRow, sql, key_hash))
    }

    pub async fn list_keys(&self) -> Result<Vec<(KeyRow, Option<i64>)>, StoreError> {
        let sql = "SELECT id, org, role, label, key_hash, created_at, revoked_at FROM api_keys ORDER BY created_at";
        Ok(on_pool!(self, |p| {
            let rows = sqlx::query(sql).fetch_all(p).await?;
            rows.iter()
                .map(|r| Ok((KeyRow::from_row(r)?, r.try_get("revoked_at")?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()?
        }))
    }

    pub async fn revoke_key(&self, id: &str, audit: &NewAudit) -> Result<bool, StoreError> {
        let done = on_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            append_audit!(tx, audit);
            let n = sqlx::query(
                "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
            )
            .bind(now_ms())
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 1 {
                tx.commit().await?;
            }
            n == 1
        });
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{audit, TempStore};
    use super::*;

    fn key(id: &str, hash: &str) -> KeyRow {
        KeyRow {
            id: id.into(),
            org: "org1".into(),
            role: "submitter".into(),
            label: Some("ci".into()),
            key_hash: hash.into(),
            created_at: now_ms(),
        }
    }

    #[tokio::test]
    async fn a_revoked_key_is_no_longer_found_and_revokes_once() {
        let db = TempStore::new().await;
        let k = key("key_1", "hash_1");
        db.create_key(&k, &audit("key.created")).await.unwrap();
        assert_eq!(db.find_key("hash_1").await.unwrap(), Some(k.clone()));
        assert_eq!(db.find_key("hash_2").await.unwrap(), None);

        assert!(db.revoke_key("key_1", &audit("key.revoked")).await.unwrap());
        assert!(!db.revoke_key("key_1", &audit("key.revoked")).await.unwrap());
        assert_eq!(db.find_key("hash_1").await.unwrap(), None);
        let listed = db.list_keys().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].0, k);
        assert!(listed[0].1.is_some());
        // created and one revocation: the refused second revocation wrote nothing.
        assert_eq!(db.audit_chain().await.unwrap().0.len(), 2);
    }
}
