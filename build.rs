//! Tells the integration tests whether a PostgreSQL server is configured for them: with
//! IDV_TEST_POSTGRES_URL set, `cfg(idv_test_postgres)` runs their PostgreSQL twins; without it they are
//! compiled as `#[ignore]`d, so the runner reports them as ignored instead of passing them unrun.
//! Nothing in the library or the binary reads the cfg.
fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=IDV_TEST_POSTGRES_URL");
    println!("cargo::rustc-check-cfg=cfg(idv_test_postgres)");
    if std::env::var_os("IDV_TEST_POSTGRES_URL").is_some_and(|url| !url.is_empty()) {
        println!("cargo::rustc-cfg=idv_test_postgres");
    }
}
