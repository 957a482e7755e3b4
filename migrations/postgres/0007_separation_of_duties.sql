-- Who submitted each verification: the API key as the audit log names it (`key:<id>`), or for a
-- capture-link submission the key that made the link. A review case is never resolved by that principal
-- and an invigilation reference is never one it confirmed itself; an Idempotency-Key is scoped to it (one
-- key's retries never meet another key's requests). (postgres flavour, kept in step with the other one.)
-- (0005 is unused: it was reserved for work that landed without a migration.)
ALTER TABLE verifications ADD COLUMN submitted_by TEXT;

UPDATE verifications SET submitted_by = (
    SELECT created_by FROM capture_links WHERE capture_links.verification_id = verifications.id
);
UPDATE verifications SET submitted_by = (
    SELECT actor FROM audit_log
    WHERE audit_log.event = 'verification.requested' AND audit_log.entity = verifications.id
    ORDER BY seq LIMIT 1
) WHERE submitted_by IS NULL;

DROP INDEX verifications_idempotency;
CREATE UNIQUE INDEX verifications_idempotency
    ON verifications (org, submitted_by, idempotency_key) WHERE idempotency_key IS NOT NULL;
