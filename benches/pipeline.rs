//! Cost of each stage of the per-image pipeline and of the whole, next to the bare model run times
//! measured in the same run (ort sessions called directly, no idv code around them).
//!
//! `make bench`, then `python3 scripts/bench_summary.py` prints the table for docs/BENCHMARKS.md.
//! Single-threaded: one intra-op thread per session, one image at a time.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use idv::inference::engine::open_session;
use idv::inference::{Engine, EngineConfig};
use idv::media::image::{decode_image, DecodeLimits};
use idv::models::{Manifest, ModelKind};
use idv::pipeline::{FaceAnalyzer, Faces};
use idv::vision::detect::{self, DetectorConfig};
use idv::vision::{align, embed, landmarks, Canvas};
use ort::value::TensorRef;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bench(c: &mut Criterion) {
    std::env::set_current_dir(root()).unwrap(); // finds .idv/onnxruntime
    let config = EngineConfig {
        models_dir: root().join("models"),
        intra_threads: 1,
        ..EngineConfig::default()
    };
    let bytes = std::fs::read(root().join("testdata/face_recognition/obama.jpg"))
        .expect("run `make setup`");
    let limits = DecodeLimits::default();
    let image = decode_image(&bytes, &limits).unwrap();
    let engine = Engine::load(&config, &ModelKind::MATCHING).unwrap();
    let analyzer = FaceAnalyzer::new(&engine, DetectorConfig::default());
    let face = analyzer
        .analyse(&image, Faces::Primary)
        .unwrap()
        .faces
        .remove(0);

    // The intermediate values each stage starts from, computed once.
    let canvas = Canvas::new(&image);
    let (w, h) = (image.width() as f32, image.height() as f32);
    let det_input = detect::input_tensor(&canvas);
    let det_out = engine.run(ModelKind::Detect, det_input.clone()).unwrap();
    let face_box = landmarks::int_box(&detect::square_box(&face.bbox, w, h));
    let crop = landmarks::scaled_rect(face_box, w as i64, h as i64, 1.0).unwrap();
    let lm_input = landmarks::input_tensor(&canvas, crop);
    let lm_out = engine.run(ModelKind::Landmark, lm_input.clone()).unwrap();
    let aligned = align::align_face(&canvas, &face.landmarks).unwrap();
    let feat_input = embed::input_tensor(&aligned);

    let manifest = Manifest::builtin();
    let mut sessions: Vec<_> = [ModelKind::Detect, ModelKind::Landmark, ModelKind::Feature]
        .into_iter()
        .map(|kind| {
            (
                open_session(&config, kind).unwrap(),
                manifest.spec(kind).unwrap().inputs[0]
                    .fixed_shape()
                    .unwrap(),
            )
        })
        .collect();
    let inputs = [&det_input, &lm_input, &feat_input];
    paired_ratio(&mut sessions, &inputs, || {
        analyzer.analyse(&image, Faces::Primary).unwrap();
    });

    // Bare model runs: the reference every other number is compared with.
    let mut group = c.benchmark_group("model");
    for (kind, input) in [
        (ModelKind::Detect, &det_input),
        (ModelKind::Landmark, &lm_input),
        (ModelKind::Feature, &feat_input),
    ] {
        let mut session = open_session(&config, kind).unwrap();
        let shape = manifest.spec(kind).unwrap().inputs[0]
            .fixed_shape()
            .unwrap();
        group.bench_function(kind.key(), |b| {
            b.iter(|| {
                let tensor = TensorRef::from_array_view((shape.clone(), input.as_slice())).unwrap();
                let out = session.run(ort::inputs!["input" => tensor]).unwrap();
                black_box(out.len());
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("stage");
    group.bench_function("decode_jpeg_910x1137", |b| {
        b.iter(|| decode_image(black_box(&bytes), &limits).unwrap())
    });
    group.bench_function("detect_pre", |b| {
        b.iter(|| detect::input_tensor(black_box(&canvas)))
    });
    group.bench_function("detect_post", |b| {
        b.iter(|| {
            detect::nms(
                detect::decode(&det_out[0], &det_out[1], w, h, 0.65, 750),
                0.4,
            )
        })
    });
    group.bench_function("landmark_pre", |b| {
        b.iter(|| landmarks::input_tensor(black_box(&canvas), crop))
    });
    group.bench_function("landmark_post", |b| {
        b.iter(|| landmarks::five_points(&landmarks::decode(black_box(&lm_out[0]), face_box)))
    });
    group.bench_function("align", |b| {
        b.iter(|| align::align_face(black_box(&canvas), &face.landmarks))
    });
    group.bench_function("embed_pre", |b| {
        b.iter(|| embed::input_tensor(black_box(&aligned)))
    });
    group.finish();

    let mut group = c.benchmark_group("pipeline");
    group.bench_function("analyse_primary", |b| {
        b.iter(|| analyzer.analyse(black_box(&image), Faces::Primary).unwrap())
    });
    group.finish();
}

/// The per-image pipeline against the bare model runs, timed alternately in one loop so that load from
/// elsewhere on the machine weighs on both alike; the ratio of the medians is written next to
/// criterion's results (target/criterion/paired.json) for scripts/bench_summary.py.
fn paired_ratio(
    sessions: &mut [(ort::session::Session, Vec<usize>)],
    inputs: &[&Vec<f32>; 3],
    mut pipeline: impl FnMut(),
) {
    const ROUNDS: usize = 150;
    let (mut bare, mut whole) = (Vec::with_capacity(ROUNDS), Vec::with_capacity(ROUNDS));
    for round in 0..ROUNDS + 10 {
        let started = std::time::Instant::now();
        for ((session, shape), input) in sessions.iter_mut().zip(inputs) {
            let tensor = TensorRef::from_array_view((shape.clone(), input.as_slice())).unwrap();
            black_box(session.run(ort::inputs!["input" => tensor]).unwrap().len());
        }
        let models = started.elapsed().as_secs_f64() * 1e3;
        let started = std::time::Instant::now();
        pipeline();
        let all = started.elapsed().as_secs_f64() * 1e3;
        if round >= 10 {
            bare.push(models);
            whole.push(all);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (m, p) = (median(&mut bare), median(&mut whole));
    println!(
        "paired: bare models {m:.3} ms, pipeline {p:.3} ms, ratio {:.3} (median of {ROUNDS})",
        p / m
    );
    let out = root().join("target/criterion");
    std::fs::create_dir_all(&out).unwrap();
    let json = format!(
        "{{\"rounds\": {ROUNDS}, \"models_ms\": {m}, \"pipeline_ms\": {p}, \"ratio\": {}}}\n",
        p / m
    );
    std::fs::write(out.join("paired.json"), json).unwrap();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(40).measurement_time(std::time::Duration::from_secs(4));
    targets = bench
}
criterion_main!(benches);
