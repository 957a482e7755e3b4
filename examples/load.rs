//! Load benchmark of `idv serve`: concurrent synchronous verifications from a second process, with
//! throughput and latency percentiles per concurrency level, next to the model floor measured in the
//! same run (the bare model time of one verification, single-threaded).
//!
//!     cargo build --release && cargo run --release --example load -- --seconds 10
//!
//! It starts `target/release/idv serve` on a fresh SQLite database (or uses `--url` with `--key` and
//! `--consent` for a running server) and prints the markdown table kept in docs/BENCHMARKS.md.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use idv::inference::{Engine, EngineConfig};
use idv::media::image::{decode_image, DecodeLimits};
use idv::models::ModelKind;
use idv::pipeline::FaceAnalyzer;
use idv::vision::detect::DetectorConfig;
use reqwest::multipart::{Form, Part};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Median over `n` runs of `f`, in milliseconds.
fn median_ms(n: usize, mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..n)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[n / 2]
}

/// Bare model time of one verification (document and selfie: detect, landmarks, embedding each; the
/// selfie's pose and eyes), and the whole single-threaded in-process pipeline for the same pair.
fn model_floor(document: &[u8], selfie: &[u8]) -> (f64, f64) {
    std::env::set_current_dir(root()).unwrap();
    let engine = Engine::load(
        &EngineConfig {
            models_dir: root().join("models"),
            ..Default::default()
        },
        &ModelKind::ALL,
    )
    .unwrap();
    let limits = DecodeLimits::default();
    let (doc, me) = (
        decode_image(document, &limits).unwrap(),
        decode_image(selfie, &limits).unwrap(),
    );
    let analyzer = FaceAnalyzer::new(&engine, DetectorConfig::default());
    let mut models = 0.0;
    for img in [&doc, &me] {
        let canvas = idv::vision::Canvas::new(img);
        let det = idv::vision::detect::input_tensor(&canvas);
        models += median_ms(15, || {
            drop(engine.run(ModelKind::Detect, det.clone()).unwrap())
        });
        models += median_ms(15, || {
            drop(engine.run(ModelKind::Landmark, vec![0.5; 64 * 64]).unwrap())
        });
        models += median_ms(15, || {
            drop(
                engine
                    .run(ModelKind::Feature, vec![0.0; 3 * 112 * 112])
                    .unwrap(),
            )
        });
    }
    // The still selfie's quality gates: head pose and both eyes.
    models += median_ms(15, || {
        drop(
            engine
                .run(ModelKind::Pose, vec![0.0; 3 * 224 * 224])
                .unwrap(),
        )
    });
    models += 2.0
        * median_ms(15, || {
            drop(engine.run(ModelKind::Eye, vec![0.5; 24 * 24]).unwrap())
        });
    let settings = idv::settings::Settings::default();
    let pipeline = median_ms(15, || {
        let (d, s) = (
            decode_image(document, &limits).unwrap(),
            decode_image(selfie, &limits).unwrap(),
        );
        idv::pipeline::verify::verify(&analyzer, &d, &s, &settings.matching, &settings.quality)
            .unwrap();
    });
    (models, pipeline)
}

struct Target {
    url: String,
    key: String,
    consent: String,
    subject: String,
}

async fn start_server() -> (std::process::Child, Target) {
    let dir = std::env::temp_dir().join(format!("idv-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite://{}", dir.join("idv.db").display());
    let config = dir.join("idv.toml");
    // The per-key rate limit would otherwise be what is measured.
    std::fs::write(
        &config,
        "[service]\nrate_limit_per_sec = 100000.0\nrate_limit_burst = 100000.0\nmax_queue = 256\n",
    )
    .unwrap();
    let idv = root().join("target/release/idv");
    assert!(idv.is_file(), "build it first: cargo build --release");
    let out = Command::new(&idv)
        .args([
            "keys",
            "create",
            "--org",
            "load",
            "--role",
            "submitter",
            "--database",
            &db,
        ])
        .output()
        .unwrap();
    let key = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_string();
    let mut child = Command::new(&idv)
        .current_dir(root())
        .args([
            "--config",
            config.to_str().unwrap(),
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database",
            &db,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let url = line
        .trim()
        .strip_prefix("idv listening on ")
        .unwrap()
        .to_string();
    let consent: serde_json::Value = reqwest::Client::new()
        .post(format!("{url}/v1/consents"))
        .bearer_auth(&key)
        .json(
            &serde_json::json!({"subject_ref": "load-1", "purpose": "ecs_application",
                                  "lawful_basis": "explicit_consent", "notice_version": "1"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let consent = consent["consent_ref"].as_str().unwrap().to_string();
    (
        child,
        Target {
            url,
            key,
            consent,
            subject: "load-1".into(),
        },
    )
}

#[tokio::main]
async fn main() {
    let seconds: u64 = arg("--seconds").and_then(|s| s.parse().ok()).unwrap_or(10);
    let levels: Vec<usize> = arg("--levels")
        .unwrap_or_else(|| "1,2,4,8,16".into())
        .split(',')
        .map(|l| l.parse().expect("--levels 1,2,4"))
        .collect();
    let document = std::fs::read(root().join("testdata/face_recognition/obama.jpg"))
        .expect("run `make setup`");
    let selfie = std::fs::read(root().join("testdata/face_recognition/obama3.jpg")).unwrap();

    let (floor_models, floor_pipeline) =
        tokio::task::block_in_place(|| model_floor(&document, &selfie));
    let (mut child, target) = match arg("--url") {
        Some(url) => (
            None,
            Target {
                url,
                key: arg("--key").expect("--key"),
                consent: arg("--consent").expect("--consent"),
                subject: arg("--subject").expect("--subject"),
            },
        ),
        None => {
            let (c, t) = start_server().await;
            (Some(c), t)
        }
    };
    let target = Arc::new(target);
    let (document, selfie) = (Arc::new(document), Arc::new(selfie));
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);

    println!(
        "| concurrency | requests | errors | throughput (verifications/s) | p50 ms | p99 ms |"
    );
    println!("|---|---|---|---|---|---|");
    for &concurrency in &levels {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let started = Instant::now();
        let tasks: Vec<_> = (0..concurrency)
            .map(|_| {
                let (target, document, selfie) = (target.clone(), document.clone(), selfie.clone());
                tokio::spawn(async move {
                    let client = reqwest::Client::new();
                    let (mut latencies, mut errors) = (Vec::new(), 0usize);
                    while Instant::now() < deadline {
                        let form = Form::new()
                            .part(
                                "document",
                                Part::bytes(document.to_vec()).file_name("d.jpg"),
                            )
                            .part("selfie", Part::bytes(selfie.to_vec()).file_name("s.jpg"))
                            .text("subject_ref", target.subject.clone())
                            .text("consent_ref", target.consent.clone())
                            .text("purpose", "ecs_application");
                        let t = Instant::now();
                        let ok = client
                            .post(format!("{}/v1/verifications", target.url))
                            .bearer_auth(&target.key)
                            .multipart(form)
                            .send()
                            .await
                            .map(|r| r.status().is_success())
                            .unwrap_or(false);
                        if ok {
                            latencies.push(t.elapsed().as_secs_f64() * 1e3);
                        } else {
                            errors += 1;
                        }
                    }
                    (latencies, errors)
                })
            })
            .collect();
        let (mut all, mut errors) = (Vec::new(), 0);
        for t in tasks {
            let (l, e) = t.await.unwrap();
            all.extend(l);
            errors += e;
        }
        let elapsed = started.elapsed().as_secs_f64();
        all.sort_by(f64::total_cmp);
        println!(
            "| {concurrency} | {} | {errors} | {:.2} | {:.0} | {:.0} |",
            all.len(),
            all.len() as f64 / elapsed,
            percentile(&all, 0.5),
            percentile(&all, 0.99)
        );
    }
    println!();
    println!("model floor, one verification (2 × detect + landmarks + embedding, pose, 2 eyes; 1 thread): {floor_models:.1} ms");
    println!("in-process verification (decode both, verify with quality gates; 1 thread): {floor_pipeline:.1} ms");
    println!(
        "ceiling on {cores} cores at the model floor: {:.2} verifications/s",
        cores as f64 * 1000.0 / floor_models
    );
    if let Some(c) = child.as_mut() {
        let _ = c.kill();
        let _ = c.wait();
    }
}
