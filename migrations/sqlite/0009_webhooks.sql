-- Webhooks (sqlite flavour, kept in step with the other one; docs/WEBHOOKS in the README).
-- An organisation's endpoints: the URL, the events it subscribed to (",a,b," so one LIKE finds a subscriber)
-- and its signing secret, sealed under the keyring's webhook_secrets key (src/vault.rs).
CREATE TABLE webhooks (
    id             TEXT PRIMARY KEY,
    org            TEXT NOT NULL,
    url            TEXT NOT NULL,
    events         TEXT NOT NULL,
    secret_sealed  BLOB NOT NULL,
    created_at     INTEGER NOT NULL
);
CREATE INDEX webhooks_org ON webhooks (org);

-- The transactional outbox: one row per event and subscribed endpoint, written in the transaction of the
-- change it announces (with its audit entry). id is the message id (the webhook-id header). status is
-- pending, delivered or dead; a worker leases a due pending row (lease_owner, lease_until: Unix ms of the
-- real clock) and sends it; next_attempt_at and window_start are on the service's clock (retries stop a
-- retry window after window_start: the event's time, or a redelivery's).
CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,
    webhook_id       TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    org              TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    payload          TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL,
    next_attempt_at  INTEGER NOT NULL,
    window_start     INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_until      INTEGER,
    created_at       INTEGER NOT NULL,
    last_attempt_at  INTEGER,
    last_status      INTEGER,
    last_error       TEXT,
    delivered_at     INTEGER
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (webhook_id, created_at);
