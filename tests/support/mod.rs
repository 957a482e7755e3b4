//! Shared helpers of every integration-test binary (tests/service, tests/models, tests/cli.rs): paths to
//! fetched and shared data, the engines (loaded once per binary), media tools.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;
use std::sync::OnceLock;

use idv::inference::{Engine, EngineConfig};
use idv::models::ModelKind;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A sample face fetched by `make setup` (face_recognition 1.3.0's test images).
pub fn sample(name: &str) -> PathBuf {
    let path = root().join("testdata/face_recognition").join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `make setup`",
        path.display()
    );
    path
}

/// The labelled data beside the checkout (`IDV_SHARED_DATA`, default ../shared/data). Its absence fails
/// the test: a skipped accuracy check must not pass as a green one.
pub fn shared_data() -> PathBuf {
    let dir = std::env::var_os("IDV_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/data"));
    assert!(
        dir.join("pairs.csv").is_file(),
        "labelled test data not found at {}; set IDV_SHARED_DATA to the folder holding pairs.csv",
        dir.display()
    );
    dir
}

pub fn engine_config() -> EngineConfig {
    EngineConfig {
        models_dir: root().join("models"),
        ..EngineConfig::default()
    }
}

/// The matching models, loaded once for the whole test binary.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        std::env::set_current_dir(root()).expect("cd to the project"); // finds .idv/onnxruntime
        Engine::load(&engine_config(), &ModelKind::MATCHING)
            .expect("models load (run `make setup`)")
    })
}

pub fn load(path: &std::path::Path) -> image::RgbImage {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    idv::media::image::decode_image(&bytes, &Default::default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every model (matching plus eyes, pose and passive liveness), loaded once for the whole test binary.
pub fn engine_all() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        std::env::set_current_dir(root()).expect("cd to the project");
        Engine::load(&engine_config(), &ModelKind::ALL).expect("models load (run `make setup`)")
    })
}

/// The document (MRZ OCR) models, loaded once for the whole test binary.
pub fn engine_document() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        std::env::set_current_dir(root()).expect("cd to the project");
        Engine::load(&engine_config(), &ModelKind::DOCUMENT)
            .expect("document models load (run `make setup`)")
    })
}

/// The passport and card specimens of `IDV_SHARED_DATA/passporteye` (PassportEye's test images).
pub fn passporteye() -> PathBuf {
    let dir = shared_data().join("passporteye");
    assert!(
        dir.join("tests/passport-td3.jpg").is_file(),
        "{} lacks the PassportEye specimens",
        dir.display()
    );
    dir
}

/// Runs the `ffmpeg` command (installed by `make setup`) quietly, failing the test on an error.
pub fn ffmpeg(args: &[&str]) {
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-nostdin"])
        .args(args)
        .output()
        .expect("ffmpeg runs (run `make setup`)");
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A scratch folder for generated media, under target/ (git-ignored), unique to this test binary.
pub fn scratch(name: &str) -> PathBuf {
    let dir = root()
        .join("target/test-media")
        .join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Polls `probe` until it gives a value and returns it (every 5 ms at first, backing off to every 100
/// ms); fails the test, naming `what`, if none came within `timeout`. For conditions another thread or
/// process brings about: a test waits for them instead of sleeping a fixed time and hoping the
/// scheduler was quick enough.
pub async fn eventually<T, F, Fut>(timeout: std::time::Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + timeout;
    let mut pause = std::time::Duration::from_millis(5);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still waiting after {timeout:?} for {what}"
        );
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(std::time::Duration::from_millis(100));
    }
}
