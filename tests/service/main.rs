//! The HTTP service end to end, one test binary (so the models load once): the real server on port 0
//! with a fresh database per test, on SQLite always and on PostgreSQL when IDV_TEST_POSTGRES_URL is set
//! (.ci/run sets it; without it the PostgreSQL twins are reported as ignored). One module per feature.

#[path = "../support/mod.rs"]
mod support;

#[macro_use]
mod harness;

mod api;
mod audit;
mod capture;
mod console;
mod documents;
mod edge;
mod invigilation;
mod privacy;
mod reviews;
mod roles;
mod webhooks;
