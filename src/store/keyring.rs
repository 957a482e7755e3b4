//! The keyring and the subjects' data keys as wrapped key material: read, stored once, re-wrapped
//! under a new master key.

use sqlx::Row;

use super::{now_ms, NewAudit, Store, StoreError};

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
            let mut tx = p.begin().await?;
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

