//! The keyring and the subjects' data keys as wrapped key material: read, stored once, re-wrapped
//! under a new master key.

use sqlx::Row;

use super::{now_ms, BeginWrite, NewAudit, Store, StoreError};

impl Store {
    /// A key of the keyring (wrapped, with the id of the master key that wrapped it).
    pub async fn keyring_key(&self, name: &str) -> Result<Option<(Vec<u8>, String)>, StoreError> {
        Ok(on_pool!(self, |p| {
            let row = sqlx::query("SELECT wrapped_key, master_key_id FROM keyring WHERE name = $1")
                .bind(name)
                .fetch_optional(p)
                .await?;
            row.map(|r| -> Result<_, sqlx::Error> {
                Ok((r.try_get("wrapped_key")?, r.try_get("master_key_id")?))
            })
            .transpose()?
        }))
    }

    /// Stores a keyring key unless one of that name exists (a concurrent first start keeps the first).
    pub async fn insert_keyring_key(
        &self,
        name: &str,
        wrapped: &[u8],
        master_key_id: &str,
    ) -> Result<(), StoreError> {
        on_pool!(self, |p| {
            sqlx::query(
                "INSERT INTO keyring (name, wrapped_key, master_key_id, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(wrapped)
            .bind(master_key_id)
            .bind(now_ms())
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// Re-wraps every stored key (subjects' data keys and the keyring) in one transaction:
    /// `rewrap(context, wrapped, master_key_id)` returns the key wrapped by the new master key.
    /// Returns how many keys were re-wrapped.
    pub async fn rewrap_keys<F>(
        &self,
        new_master_key_id: &str,
        rewrap: F,
        audit: &NewAudit,
    ) -> Result<u64, StoreError>
    where
        F: Fn(&str, &[u8], &str) -> Result<Vec<u8>, String>,
    {
        Ok(on_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            append_audit!(tx, audit);
            let mut n = 0;
            for (table, id_column, context) in [
                ("subjects", "subject_id", "subject"),
                ("keyring", "name", "keyring"),
            ] {
                let rows = sqlx::query(&format!(
                    "SELECT {id_column} AS id, wrapped_key, master_key_id FROM {table}"
                ))
                .fetch_all(&mut *tx)
                .await?;
                for r in rows {
                    let id: String = r.try_get("id")?;
                    let wrapped: Vec<u8> = r.try_get("wrapped_key")?;
                    let old: String = r.try_get("master_key_id")?;
                    let new = rewrap(&format!("{context}\n{id}"), &wrapped, &old)
                        .map_err(StoreError::Keys)?;
                    sqlx::query(&format!(
                        "UPDATE {table} SET wrapped_key = $1, master_key_id = $2 WHERE {id_column} = $3"
                    ))
                    .bind(&new)
                    .bind(new_master_key_id)
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
                    n += 1;
                }
            }
            tx.commit().await?;
            n
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{audit, subject, TempStore};
    use super::*;

    #[tokio::test]
    async fn the_first_keyring_key_of_a_name_stays() {
        let db = TempStore::new().await;
        assert_eq!(db.keyring_key("subject_index").await.unwrap(), None);
        db.insert_keyring_key("subject_index", b"first", "mk1")
            .await
            .unwrap();
        db.insert_keyring_key("subject_index", b"second", "mk2")
            .await
            .unwrap();
        assert_eq!(
            db.keyring_key("subject_index").await.unwrap(),
            Some((b"first".to_vec(), "mk1".to_string()))
        );
    }

    #[tokio::test]
    async fn rewrapping_covers_subject_keys_and_the_keyring_or_nothing() {
        let db = TempStore::new().await;
        db.insert_keyring_key("subject_index", b"ring", "mk1")
            .await
            .unwrap();
        db.insert_subject(&subject("org1", "sub1")).await.unwrap();
        let n = db
            .rewrap_keys(
                "mk2",
                |context, wrapped, old| {
                    assert_eq!(old, "mk1");
                    Ok([context.as_bytes(), b"|", wrapped].concat())
                },
                &audit("keys.rotated"),
            )
            .await
            .unwrap();
        assert_eq!(n, 2);
        let (ring, master) = db.keyring_key("subject_index").await.unwrap().unwrap();
        assert_eq!(
            (ring.as_slice(), master.as_str()),
            (&b"keyring\nsubject_index|ring"[..], "mk2")
        );
        let s = db.subject("sub1").await.unwrap().unwrap();
        assert_eq!(s.wrapped_key, b"subject\nsub1|wrapped".to_vec());
        assert_eq!(s.master_key_id, "mk2");

        // A key that cannot be re-wrapped leaves every key as it was.
        let failed = db
            .rewrap_keys("mk3", |_, _, _| Err("no".into()), &audit("keys.rotated"))
            .await;
        assert!(matches!(failed, Err(StoreError::Keys(_))));
        assert_eq!(
            db.subject("sub1").await.unwrap().unwrap().master_key_id,
            "mk2"
        );
    }
}
