-- Each API key's rate-limit bucket (postgres flavour, kept in step with the other one): the tokens it held at
-- updated_at (Unix ms). On PostgreSQL every replica takes its tokens here, so N servers allow a key what
-- one does; with SQLite (one server) the bucket is kept in the process and this table stays empty.
CREATE TABLE rate_buckets (
    bucket      TEXT PRIMARY KEY,
    tokens      DOUBLE PRECISION NOT NULL,
    updated_at  BIGINT NOT NULL,
    taken       BOOLEAN NOT NULL
);
