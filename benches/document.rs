//! Reading a passport's MRZ (`read_mrz` on the ICAO TD3 specimen), next to the bare OCR model runs it
//! is made of, measured in the same run (ort sessions called directly, no idv code around them), and
//! next to the face pipeline on a selfie.
//!
//! `cargo bench --bench document`; needs `make setup` and the shared data (`IDV_SHARED_DATA`, default
//! ../shared/data). Single-threaded: one intra-op thread per session, one image at a time.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use idv::inference::engine::open_session;
use idv::inference::{Engine, EngineConfig};
use idv::media::image::{decode_image, DecodeLimits};
use idv::models::ModelKind;
use idv::pipeline::document::{read_mrz, read_mrz_with, MrzConfig, Reread};
use idv::pipeline::{FaceAnalyzer, Faces};
use idv::vision::detect::DetectorConfig;
use idv::vision::ocr::{detect, strip};
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
    let shared = std::env::var_os("IDV_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/data"));
    let bytes = std::fs::read(shared.join("passporteye/tests/passport-td3.jpg"))
        .expect("the shared data (IDV_SHARED_DATA) holds passporteye/tests/passport-td3.jpg");
    let image = decode_image(&bytes, &DecodeLimits::default()).unwrap();
    let engine = Engine::load(&config, &ModelKind::DOCUMENT).unwrap();
    let reading = read_mrz(&engine, &image).unwrap();
    assert!(reading.valid(), "the specimen reads");
    println!("read_mrz timings: {:?}", reading.timings);

    // The inputs the reading gave the models: the detector's at the first long side, and one MRZ row
    // (the upper half of the zone) for the recognisers.
    let side = MrzConfig::default().long_sides[0];
    let det = detect::input_tensor(&image, side);
    let q = reading.quad.unwrap().map(|(x, y)| [x, y]);
    let mid = |a: [f32; 2], b: [f32; 2]| [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0];
    let row = [q[0], q[1], mid(q[1], q[2]), mid(q[0], q[3])];
    let (rec_shape, rec_input) = strip::recogniser_input(&image, &row, 1600).unwrap();

    // The reading without the re-read against the bare models it runs (the detector at 640 and the tiny
    // recogniser on the zone's two rows), timed alternately so that load from elsewhere weighs on both.
    let lower = [mid(q[0], q[3]), mid(q[1], q[2]), q[2], q[3]];
    let (low_shape, low_input) = strip::recogniser_input(&image, &lower, 1600).unwrap();
    let mut bare_sessions = [
        (
            open_session(&config, ModelKind::OcrDetect).unwrap(),
            det.shape.clone(),
            det.data.clone(),
        ),
        (
            open_session(&config, ModelKind::OcrRecognise).unwrap(),
            rec_shape.clone(),
            rec_input.clone(),
        ),
        (
            open_session(&config, ModelKind::OcrRecognise).unwrap(),
            low_shape,
            low_input,
        ),
    ];
    let no_reread = MrzConfig {
        reread: Reread::Never,
        ..MrzConfig::default()
    };
    paired(&mut bare_sessions, || {
        read_mrz_with(&engine, &image, &no_reread).unwrap();
    });

    let mut group = c.benchmark_group("document_model");
    for (name, kind, shape, input) in [
        (
            format!("ocr_detect_{side}"),
            ModelKind::OcrDetect,
            &det.shape,
            &det.data,
        ),
        (
            format!("ocr_recognise_w{}", rec_shape[3]),
            ModelKind::OcrRecognise,
            &rec_shape,
            &rec_input,
        ),
        (
            format!("ocr_recognise_small_w{}", rec_shape[3]),
            ModelKind::OcrRecogniseSmall,
            &rec_shape,
            &rec_input,
        ),
    ] {
        let mut session = open_session(&config, kind).unwrap();
        group.bench_function(name, |b| {
            b.iter(|| {
                let tensor = TensorRef::from_array_view((shape.clone(), input.as_slice())).unwrap();
                let out = session.run(ort::inputs!["x" => tensor]).unwrap();
                black_box(out.len());
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("document_stage");
    group.bench_function("decode_jpeg", |b| {
        b.iter(|| decode_image(black_box(&bytes), &DecodeLimits::default()).unwrap())
    });
    group.bench_function(format!("detect_pre_{side}"), |b| {
        b.iter(|| detect::input_tensor(black_box(&image), side))
    });
    let map = engine
        .run_shaped(ModelKind::OcrDetect, det.shape.clone(), det.data.clone())
        .unwrap()
        .remove(0);
    let (mh, mw) = (map.shape[2], map.shape[3]);
    group.bench_function("detect_post", |b| {
        b.iter(|| {
            detect::boxes(
                black_box(&map.data),
                mw,
                mh,
                &detect::DetectConfig::default(),
            )
        })
    });
    group.bench_function("recognise_pre_row", |b| {
        b.iter(|| strip::recogniser_input(black_box(&image), &row, 1600))
    });
    group.finish();

    let mut group = c.benchmark_group("document");
    group.bench_function("read_mrz", |b| {
        b.iter(|| read_mrz(&engine, black_box(&image)).unwrap())
    });
    let always = MrzConfig {
        reread: Reread::Always,
        ..MrzConfig::default()
    };
    group.bench_function("read_mrz_reread_always", |b| {
        b.iter(|| read_mrz_with(&engine, black_box(&image), &always).unwrap())
    });
    group.bench_function("read_mrz_no_reread", |b| {
        b.iter(|| read_mrz_with(&engine, black_box(&image), &no_reread).unwrap())
    });
    // The reference: the face pipeline (detect, landmarks, align, embed) on a selfie, in the same run.
    let selfie = std::fs::read(root().join("testdata/face_recognition/obama.jpg"))
        .expect("run `make setup`");
    let selfie = decode_image(&selfie, &DecodeLimits::default()).unwrap();
    let faces = Engine::load(&config, &ModelKind::MATCHING).unwrap();
    let analyzer = FaceAnalyzer::new(&faces, DetectorConfig::default());
    group.bench_function("face_pipeline_selfie", |b| {
        b.iter(|| {
            analyzer
                .analyse(black_box(&selfie), Faces::Primary)
                .unwrap()
        })
    });
    group.finish();
}

/// Medians of the bare model runs and of the reading, alternated over 40 rounds, and their ratio.
fn paired(
    sessions: &mut [(ort::session::Session, Vec<usize>, Vec<f32>)],
    mut reading: impl FnMut(),
) {
    const ROUNDS: usize = 40;
    let (mut bare, mut whole) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS + 3 {
        let started = std::time::Instant::now();
        for (session, shape, input) in sessions.iter_mut() {
            let tensor = TensorRef::from_array_view((shape.clone(), input.as_slice())).unwrap();
            black_box(session.run(ort::inputs!["x" => tensor]).unwrap().len());
        }
        let models = started.elapsed().as_secs_f64() * 1e3;
        let started = std::time::Instant::now();
        reading();
        let all = started.elapsed().as_secs_f64() * 1e3;
        if round >= 3 {
            bare.push(models);
            whole.push(all);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (m, r) = (median(&mut bare), median(&mut whole));
    println!(
        "paired: bare models (detect 640 + 2 rows) {m:.1} ms, read_mrz without re-read {r:.1} ms, ratio {:.2} (median of {ROUNDS})",
        r / m
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(6));
    targets = bench
}
criterion_main!(benches);
