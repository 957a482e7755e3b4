//! A 5-second 720p selfie video analysed end to end (decode, sampling, every per-frame signal), next to
//! decoding alone and to the analysis of the already decoded frames alone, so the split between decoding
//! and the models shows (end to end overlaps the two on two threads). Each is measured for the current
//! defaults and for the previous version, in the same run, so the ratio holds whatever the load.
//!
//! `cargo bench --bench liveness` (needs `make setup` and ../shared/data, or IDV_SHARED_DATA).
//! The clip is made from the shared d3 selfie video with the `ffmpeg` command: its first 5 s, upscaled
//! and padded to 1280×720, H.264.

use std::hint::black_box;
use std::ops::ControlFlow;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use idv::inference::{Engine, EngineConfig};
use idv::liveness::LivenessConfig;
use idv::media::video::{decode_video, VideoLimits};
use idv::models::ModelKind;
use idv::pipeline::liveness::FrameAnalyzer;
use idv::pipeline::FaceAnalyzer;
use idv::vision::detect::DetectorConfig;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The 720p clip, made once under target/.
fn clip() -> Vec<u8> {
    let data = std::env::var_os("IDV_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/data"));
    let out = root().join("target/bench-liveness-720p.mp4");
    if !out.is_file() {
        let status = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-nostdin", "-i"])
            .arg(data.join("liveportrait/video/d3.mp4"))
            .args([
                "-t",
                "5",
                "-an",
                "-vf",
                "scale=720:720,pad=1280:720:280:0,format=yuv420p",
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
            ])
            .arg(&out)
            .status()
            .expect("ffmpeg runs (run `make setup`)");
        assert!(status.success());
    }
    std::fs::read(out).unwrap()
}

fn bench(c: &mut Criterion) {
    std::env::set_current_dir(root()).unwrap(); // finds .idv/onnxruntime
    let config = EngineConfig {
        models_dir: root().join("models"),
        intra_threads: 1,
        ..EngineConfig::default()
    };
    let bytes = clip();
    let engine = Engine::load(&config, &ModelKind::ALL).unwrap();
    let faces = FaceAnalyzer::new(&engine, DetectorConfig::default());
    let (limits, liveness) = (VideoLimits::default(), LivenessConfig::default());
    // The current schedule, and the previous one (each frame finished before the next is looked at)
    // in the same run for the ratio: `previous/…` is what docs/BENCHMARKS.md measured before the
    // frames overlapped. Decoding is the same for both.
    let variants = [
        ("current", FrameAnalyzer::new(&faces)),
        (
            "previous",
            FrameAnalyzer::new(&faces).with_frames_in_flight(0),
        ),
    ];

    let mut group = c.benchmark_group("liveness_video_5s_720p");
    group.bench_function("decode_and_sample", |b| {
        b.iter(|| {
            decode_video(black_box(bytes.clone()), &limits, |f| {
                black_box(f);
                ControlFlow::Continue(())
            })
            .unwrap()
        })
    });
    // The models' share: the same sampled frames, decoded beforehand.
    let mut decoded = Vec::new();
    decode_video(bytes.clone(), &limits, |f| {
        decoded.push(f);
        ControlFlow::Continue(())
    })
    .unwrap();
    for (name, frames) in &variants {
        group.bench_function(format!("{name}/analysis_of_sampled_frames"), |b| {
            b.iter(|| black_box(frames.frames(&decoded, &liveness).unwrap()))
        });
        group.bench_function(format!("{name}/end_to_end"), |b| {
            b.iter(|| {
                frames
                    .video(black_box(bytes.clone()), &limits, &liveness)
                    .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(std::time::Duration::from_secs(20));
    targets = bench
}
criterion_main!(benches);
