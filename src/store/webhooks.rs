//! Webhook endpoints and their deliveries (the outbox that `outbox!` fills in the transaction of each
//! announced change): registered and removed with an audit entry, leased by one delivery worker at a
//! time across servers, finished only while the lease is held.

use std::time::Duration;

use sqlx::Row;

use super::{BeginWrite, NewAudit, Store, StoreError};

/// A registered endpoint. The secret is sealed (`Vault::seal_webhook_secret`) and never printed.
#[derive(Clone, sqlx::FromRow)]
pub struct WebhookRow {
    pub id: String,
    pub org: String,
    pub url: String,
    /// The subscribed events as `,a,b,` (see `events_column`).
    pub events: String,
    pub secret_sealed: Vec<u8>,
    pub created_at: i64,
}

impl std::fmt::Debug for WebhookRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebhookRow({}, {})", self.id, self.url)
    }
}

impl WebhookRow {
    /// The subscribed event names.
    pub fn event_names(&self) -> Vec<String> {
        self.events
            .split(',')
            .filter(|e| !e.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// Event names as stored: `,a,b,`, so `LIKE '%,a,%'` finds the endpoints subscribed to `a`.
pub fn events_column(events: &[&str]) -> String {
    format!(",{},", events.join(","))
}

/// One event for one endpoint: the message (its id is the `webhook-id` header) and how sending it went.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: String,
    pub webhook_id: String,
    pub org: String,
    pub event_type: String,
    pub payload: String,
    /// pending, delivered or dead.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub window_start: i64,
    pub created_at: i64,
    pub last_attempt_at: Option<i64>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
}

const DELIVERY_COLUMNS: &str =
    "id, webhook_id, org, event_type, payload, status, attempts, next_attempt_at, \
     window_start, created_at, last_attempt_at, last_status, last_error, delivered_at";

/// How one attempt ended, to record with `finish_delivery`.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptEnd {
    /// The receiver answered 2xx.
    Delivered,
    /// Not delivered; tried again at `next` (service clock).
    Retry { next: i64 },
    /// Not delivered, and the retry window is over: dead-lettered.
    Dead,
}

impl AttemptEnd {
    fn status(&self) -> &'static str {
        match self {
            AttemptEnd::Delivered => "delivered",
            AttemptEnd::Retry { .. } => "pending",
            AttemptEnd::Dead => "dead",
        }
    }
}

impl Store {
    /// Registers an endpoint, with its audit entry.
    pub async fn create_webhook(
        &self,
        row: &WebhookRow,
        audit: &NewAudit,
    ) -> Result<(), StoreError> {
        on_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            append_audit!(tx, audit);
            sqlx::query(
                "INSERT INTO webhooks (id, org, url, events, secret_sealed, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&row.id)
            .bind(&row.org)
            .bind(&row.url)
            .bind(&row.events)
            .bind(&row.secret_sealed)
            .bind(row.created_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// An organisation's endpoints, oldest first.
    pub async fn webhooks(&self, org: &str) -> Result<Vec<WebhookRow>, StoreError> {
        Ok(fetch_all_as!(
            self,
            WebhookRow,
            "SELECT id, org, url, events, secret_sealed, created_at FROM webhooks WHERE org = $1 ORDER BY created_at, id",
            org
        ))
    }

    /// One endpoint of `org`.
    pub async fn webhook(&self, org: &str, id: &str) -> Result<Option<WebhookRow>, StoreError> {
        Ok(fetch_optional_as!(
            self,
            WebhookRow,
            "SELECT id, org, url, events, secret_sealed, created_at FROM webhooks WHERE org = $1 AND id = $2",
            org,
            id
        ))
    }

    /// Removes an endpoint of `org` and its deliveries (pending ones are not sent), with its audit entry;
    /// false when there is no such endpoint (nothing is written).
    pub async fn delete_webhook(
        &self,
        org: &str,
        id: &str,
        audit: &NewAudit,
    ) -> Result<bool, StoreError> {
        on_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            append_audit!(tx, audit);
            sqlx::query("DELETE FROM webhook_deliveries WHERE webhook_id = $1 AND org = $2")
                .bind(id)
                .bind(org)
                .execute(&mut *tx)
                .await?;
            let gone = sqlx::query("DELETE FROM webhooks WHERE id = $1 AND org = $2")
                .bind(id)
                .bind(org)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if gone != 1 {
                return Ok(false); // dropped: rolled back
            }
            tx.commit().await?;
        });
        Ok(true)
    }

    /// An endpoint's deliveries, newest first, at most `limit`.
    pub async fn deliveries(
        &self,
        org: &str,
        webhook_id: &str,
        limit: i64,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE org = $1 AND webhook_id = $2
             ORDER BY created_at DESC, id DESC LIMIT $3"
        );
        Ok(fetch_all_as!(
            self,
            DeliveryRow,
            &sql,
            org,
            webhook_id,
            limit
        ))
    }

    /// One delivery of an endpoint of `org`.
    pub async fn delivery(
        &self,
        org: &str,
        webhook_id: &str,
        id: &str,
    ) -> Result<Option<DeliveryRow>, StoreError> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE org = $1 AND webhook_id = $2 AND id = $3"
        );
        Ok(fetch_optional_as!(
            self,
            DeliveryRow,
            &sql,
            org,
            webhook_id,
            id
        ))
    }

    /// Leases the delivery due longest ago (`next_attempt_at <= now` on the service clock) that no live
    /// lease holds (`lease_until` on the real clock, `real_now`). PostgreSQL skips rows other servers are
    /// claiming; SQLite has one writer.
    pub async fn claim_delivery(
        &self,
        owner: &str,
        now: i64,
        real_now: i64,
        lease: Duration,
    ) -> Result<Option<DeliveryRow>, StoreError> {
        let until = real_now + lease.as_millis() as i64;
        let skip_locked = match self {
            Store::Sqlite(_) => "",
            Store::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE webhook_deliveries SET lease_owner = $1, lease_until = $2
             WHERE id = (SELECT id FROM webhook_deliveries
                         WHERE status = 'pending' AND next_attempt_at <= $3 AND (lease_until IS NULL OR lease_until <= $4)
                         ORDER BY next_attempt_at, created_at LIMIT 1{skip_locked})
             RETURNING {DELIVERY_COLUMNS}"
        );
        Ok(fetch_optional_as!(
            self,
            DeliveryRow,
            &sql,
            owner,
            until,
            now,
            real_now
        ))
    }

    /// Records how an attempt of a leased delivery ended and frees the lease; false when `owner` no
    /// longer held it (another server took it over after the lease ran out).
    pub async fn finish_delivery(
        &self,
        id: &str,
        owner: &str,
        at: i64,
        http_status: Option<u16>,
        error: Option<&str>,
        end: &AttemptEnd,
    ) -> Result<bool, StoreError> {
        let next = match end {
            AttemptEnd::Retry { next } => *next,
            _ => 0,
        };
        let delivered_at = (*end == AttemptEnd::Delivered).then_some(at);
        let sql = "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, next_attempt_at = $2,
                   last_attempt_at = $3, last_status = $4, last_error = $5, delivered_at = $6,
                   lease_owner = NULL, lease_until = NULL
                   WHERE id = $7 AND lease_owner = $8 AND status = 'pending'";
        Ok(on_pool!(self, |p| sqlx::query(sql)
            .bind(end.status())
            .bind(next)
            .bind(at)
            .bind(http_status.map(i64::from))
            .bind(error)
            .bind(delivered_at)
            .bind(id)
            .bind(owner)
            .execute(p)
            .await?
            .rows_affected()
            == 1))
    }

    /// Sends a delivery again (delivered or dead-lettered or still pending): due at once, with a new
    /// retry window from `now`, with its audit entry. False when there is no such delivery.
    pub async fn redeliver(
        &self,
        org: &str,
        webhook_id: &str,
        id: &str,
        now: i64,
        audit: &NewAudit,
    ) -> Result<bool, StoreError> {
        on_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            append_audit!(tx, audit);
            let n = sqlx::query(
                "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = 0, window_start = $1,
                 delivered_at = NULL WHERE org = $2 AND webhook_id = $3 AND id = $4",
            )
            .bind(now)
            .bind(org)
            .bind(webhook_id)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n != 1 {
                return Ok(false);
            }
            tx.commit().await?;
        });
        Ok(true)
    }

    /// Deletes delivered and dead-lettered deliveries created before `before` (the history kept for
    /// `GET …/deliveries`); pending ones stay. How many went.
    pub async fn prune_deliveries(&self, before: i64) -> Result<u64, StoreError> {
        let sql = "DELETE FROM webhook_deliveries WHERE status IN ('delivered', 'dead') AND created_at < $1";
        Ok(on_pool!(self, |p| sqlx::query(sql)
            .bind(before)
            .execute(p)
            .await?
            .rows_affected()))
    }

    /// Deliveries not yet delivered nor dead-lettered (for the metric).
    pub async fn pending_deliveries(&self) -> Result<i64, StoreError> {
        Ok(on_pool!(self, |p| sqlx::query(
            "SELECT COUNT(*) AS n FROM webhook_deliveries WHERE status = 'pending'"
        )
        .fetch_one(p)
        .await?
        .try_get("n")?))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{audit, TempStore};
    use super::*;
    use serde_json::json;

    const LEASE: Duration = Duration::from_secs(30);

    fn hook(id: &str, org: &str, events: &[&str]) -> WebhookRow {
        WebhookRow {
            id: id.into(),
            org: org.into(),
            url: "https://example.com/hook".into(),
            events: events_column(events),
            secret_sealed: vec![1, 2, 3],
            created_at: 1,
        }
    }

    fn withdrawn(org: &str, consent: &str) -> NewAudit {
        NewAudit {
            org: org.into(),
            entity: consent.into(),
            details: json!({"purpose": "ecs_application"}),
            ..audit("consent.withdrawn")
        }
    }

    #[tokio::test]
    async fn an_announcing_audit_entry_fills_the_outbox_of_subscribed_endpoints_only() {
        let db = &TempStore::new().await;
        db.create_webhook(
            &hook("wh_a", "org1", &["consent.withdrawn"]),
            &audit("webhook.created"),
        )
        .await
        .unwrap();
        db.create_webhook(
            &hook("wh_b", "org1", &["review.resolved"]),
            &audit("webhook.created"),
        )
        .await
        .unwrap();
        db.create_webhook(
            &hook("wh_c", "org2", &["consent.withdrawn"]),
            &audit("webhook.created"),
        )
        .await
        .unwrap();
        db.audit(&withdrawn("org1", "cns_1")).await.unwrap();
        let a = db.deliveries("org1", "wh_a", 10).await.unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].event_type, "consent.withdrawn");
        assert_eq!(a[0].status, "pending");
        let body: serde_json::Value = serde_json::from_str(&a[0].payload).unwrap();
        assert_eq!(body["data"]["consent_ref"], "cns_1");
        assert!(db.deliveries("org1", "wh_b", 10).await.unwrap().is_empty());
        assert!(db.deliveries("org2", "wh_c", 10).await.unwrap().is_empty());
        // Another organisation cannot see it.
        assert!(db.deliveries("org2", "wh_a", 10).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_delivery_is_leased_once_finished_by_its_owner_and_redelivered_on_request() {
        let db = &TempStore::new().await;
        db.create_webhook(
            &hook("wh_a", "org1", &["consent.withdrawn"]),
            &audit("webhook.created"),
        )
        .await
        .unwrap();
        db.audit(&withdrawn("org1", "cns_1")).await.unwrap();
        let d = db
            .claim_delivery("s1", 100, 1_000, LEASE)
            .await
            .unwrap()
            .unwrap();
        assert!(db
            .claim_delivery("s2", 100, 1_000, LEASE)
            .await
            .unwrap()
            .is_none());
        assert!(!db
            .finish_delivery(&d.id, "s2", 100, Some(200), None, &AttemptEnd::Delivered)
            .await
            .unwrap());
        let retry = AttemptEnd::Retry { next: 5_000 };
        assert!(db
            .finish_delivery(&d.id, "s1", 100, Some(500), Some("HTTP 500"), &retry)
            .await
            .unwrap());
        // Not due until 5000 on the service clock.
        assert!(db
            .claim_delivery("s1", 4_999, 1_000, LEASE)
            .await
            .unwrap()
            .is_none());
        let again = db
            .claim_delivery("s2", 5_000, 1_000, LEASE)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.attempts, 1);
        assert_eq!(again.last_status, Some(500));
        // A lease that runs out (its worker died) is taken over.
        let taken = db
            .claim_delivery("s1", 5_000, 1_000 + LEASE.as_millis() as i64, LEASE)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(taken.id, d.id);
        assert!(db
            .finish_delivery(&d.id, "s1", 6_000, Some(204), None, &AttemptEnd::Delivered)
            .await
            .unwrap());
        let done = db.delivery("org1", "wh_a", &d.id).await.unwrap().unwrap();
        assert_eq!(
            (done.status.as_str(), done.attempts, done.delivered_at),
            ("delivered", 2, Some(6_000))
        );
        assert_eq!(db.pending_deliveries().await.unwrap(), 0);
        assert!(db
            .redeliver("org1", "wh_a", &d.id, 7_000, &audit("webhook.redelivered"))
            .await
            .unwrap());
        assert!(!db
            .redeliver("org2", "wh_a", &d.id, 7_000, &audit("webhook.redelivered"))
            .await
            .unwrap());
        assert_eq!(db.pending_deliveries().await.unwrap(), 1);
        let resent = db
            .claim_delivery("s1", 7_000, 50_000, LEASE)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(resent.window_start, 7_000);
    }

    #[tokio::test]
    async fn old_finished_deliveries_are_pruned_and_pending_ones_kept() {
        let db = &TempStore::new().await;
        db.create_webhook(
            &hook("wh_a", "org1", &["consent.withdrawn"]),
            &audit("webhook.created"),
        )
        .await
        .unwrap();
        for (consent, at) in [("cns_1", 10), ("cns_2", 20)] {
            db.audit(&NewAudit {
                at,
                ..withdrawn("org1", consent)
            })
            .await
            .unwrap();
        }
        let first = db
            .claim_delivery("s1", 100, 1_000, LEASE)
            .await
            .unwrap()
            .unwrap();
        db.finish_delivery(
            &first.id,
            "s1",
            100,
            Some(204),
            None,
            &AttemptEnd::Delivered,
        )
        .await
        .unwrap();
        // Both are older than the cut-off, but only the finished one goes.
        assert_eq!(db.prune_deliveries(50).await.unwrap(), 1);
        let left = db.deliveries("org1", "wh_a", 10).await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].status, "pending");
        assert_ne!(left[0].id, first.id);
    }

    #[tokio::test]
    async fn removing_an_endpoint_removes_its_deliveries_and_only_in_its_organisation() {
        let db = &TempStore::new().await;
        db.create_webhook(
            &hook("wh_a", "org1", &["consent.withdrawn"]),
            &audit("webhook.created"),
        )
        .await
        .unwrap();
        db.audit(&withdrawn("org1", "cns_1")).await.unwrap();
        assert!(!db
            .delete_webhook("org2", "wh_a", &audit("webhook.deleted"))
            .await
            .unwrap());
        assert!(db
            .delete_webhook("org1", "wh_a", &audit("webhook.deleted"))
            .await
            .unwrap());
        assert!(db.webhook("org1", "wh_a").await.unwrap().is_none());
        assert_eq!(db.pending_deliveries().await.unwrap(), 0);
    }
}
