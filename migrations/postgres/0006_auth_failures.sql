-- Failed API-key authentications per client address (postgres flavour, kept in step with ../sqlite/0006_auth_failures.sql).
-- Numbered 0006: 0005 is taken by another change of issue 14. Times are Unix milliseconds.
-- One row per client address (IPv4, or an IPv6 /64) that presented a wrong key: the failures counted in
-- the window that began at window_start. In the database so that replicas on one PostgreSQL share the
-- count; rows whose window has ended are deleted as failures are recorded.
CREATE TABLE auth_failures (
    client        TEXT PRIMARY KEY,
    window_start  BIGINT NOT NULL,
    failures      BIGINT NOT NULL
);
CREATE INDEX auth_failures_window ON auth_failures (window_start);
