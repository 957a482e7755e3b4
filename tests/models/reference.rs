//! idv's Rust pipeline against the Python reference (../shared/reference/pipeline.py, onnxruntime +
//! OpenCV, run from the .idv/venv that `make test` sets up): the same face, embeddings within cosine 0.99.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use idv::pipeline::{FaceAnalyzer, Faces};
use idv::vision::detect::DetectorConfig;
use idv::vision::embed::cosine;
use serde::Deserialize;

use crate::support::{engine, load, root, sample, shared_data};

#[derive(Deserialize)]
struct RefFace {
    #[serde(rename = "box")]
    bbox: [f32; 4],
    embedding: Vec<f32>,
}

fn reference_embeddings(images: &[PathBuf]) -> HashMap<String, Option<RefFace>> {
    let python = root().join(".idv/venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run `./scripts/setup.sh --with-reference`",
        python.display()
    );
    let reference = shared_data().join("../reference");
    let out = Command::new(python)
        .arg(root().join("tests/support/reference_embed.py"))
        .arg(&reference)
        .arg(root().join("models"))
        .args(images)
        .output()
        .expect("running the reference pipeline");
    assert!(
        out.status.success(),
        "reference failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("reference JSON")
}

#[test]
fn embeddings_agree_with_the_python_reference() {
    let mut images: Vec<PathBuf> = [
        "obama.jpg",
        "obama2.jpg",
        "obama3.jpg",
        "biden.jpg",
        "32bit.png",
    ]
    .iter()
    .chain(&["obama_partial_face.jpg", "obama_partial_face2.jpg"])
    .map(|n| sample(n))
    .collect();
    // A face-filling crop that needs the padded re-detection, and a low-resolution photo.
    let data = shared_data();
    images.push(data.join("face_api_js/bbt_leonard/leonard5.png"));
    images.push(data.join("deepface/deepface_person02/img12.jpg"));
    let reference = reference_embeddings(&images);
    let analyzer = FaceAnalyzer::new(engine(), DetectorConfig::default());
    for path in &images {
        let theirs = reference[&path.to_string_lossy().to_string()]
            .as_ref()
            .expect("the reference finds a face");
        let ours = analyzer.analyse(&load(path), Faces::Primary).unwrap();
        let ours = ours
            .primary()
            .unwrap_or_else(|| panic!("{}: no face", path.display()));
        let sim = cosine(ours.embedding.as_slice(), &theirs.embedding);
        eprintln!("{}: cosine to the reference {sim:.5}", path.display());
        assert!(
            sim >= 0.99,
            "{}: cosine to the reference {sim}",
            path.display()
        );
        let b = ours.bbox.to_array();
        for (x, y) in b.iter().zip(theirs.bbox) {
            assert!(
                (x - y).abs() < 3.0,
                "{}: box {b:?} vs reference {:?}",
                path.display(),
                theirs.bbox
            );
        }
    }
}
