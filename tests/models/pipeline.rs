//! The face pipeline on real images with the real models: golden outcomes, the reference
//! implementation, document rotation and the cut-off and missing-face reasons.

use idv::pipeline::document::{analyse_document, rotate};
use idv::pipeline::policy::{MatchThresholds, Outcome};
use idv::pipeline::verify::{verify, Verification};
use idv::pipeline::{FaceAnalyzer, Faces};
use idv::vision::detect::DetectorConfig;
use idv::vision::quality::QualityConfig;

use crate::support::{engine, load, sample, shared_data};

fn analyzer() -> FaceAnalyzer<'static> {
    FaceAnalyzer::new(engine(), DetectorConfig::default())
}

fn verify_files(document: &str, selfie: &str) -> Verification {
    let (doc, me) = (load(&sample(document)), load(&sample(selfie)));
    verify(
        &analyzer(),
        &doc,
        &me,
        &MatchThresholds::default(),
        &QualityConfig::default(),
    )
    .unwrap()
}

#[test]
fn same_person_matches() {
    let v = verify_files("obama.jpg", "obama2.jpg");
    assert_eq!(v.outcome, Outcome::Match, "{v:?}");
    assert!(v.similarity.unwrap() > 0.6);
    assert!(v.reasons.is_empty(), "{:?}", v.reasons);
}

#[test]
fn different_people_do_not_match() {
    let v = verify_files("obama.jpg", "biden.jpg");
    assert_eq!(v.outcome, Outcome::NoMatch, "{v:?}");
    assert!(v.similarity.unwrap() < 0.2);
}

#[test]
fn a_32_bit_png_decodes_and_matches() {
    let img = load(&sample("32bit.png"));
    assert!(img.width() > 100 && img.height() > 100);
    let v = verify_files("obama.jpg", "32bit.png");
    assert!(v.selfie.face_found);
    assert!(v.similarity.unwrap() > 0.4, "{v:?}");
}

#[test]
fn a_face_cut_off_by_the_frame_is_flagged() {
    // obama_partial_face.jpg: the left of the face is outside the picture.
    let v = verify_files("obama.jpg", "obama_partial_face.jpg");
    assert!(v.selfie.face_found);
    assert!(
        v.selfie
            .reasons
            .contains(&"selfie_face_cut_off".to_string()),
        "{:?}",
        v.selfie.reasons
    );
    assert!(
        v.selfie.bbox.unwrap().x1 < 0.0,
        "the box runs past the left edge"
    );
}

#[test]
fn an_image_without_a_face_gives_a_reason_and_no_comparison() {
    let blank = image::RgbImage::from_pixel(640, 480, image::Rgb([200, 200, 200]));
    let doc = load(&sample("obama.jpg"));
    let v = verify(
        &analyzer(),
        &doc,
        &blank,
        &MatchThresholds::default(),
        &QualityConfig::default(),
    )
    .unwrap();
    assert_eq!(v.outcome, Outcome::Uncertain);
    assert_eq!(v.similarity, None);
    assert_eq!(v.reasons, vec!["selfie_no_face".to_string()]);
}

#[test]
fn embed_all_faces_puts_the_primary_first() {
    let dir = shared_data().join("face_recognition/multi_face");
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let analysis = analyzer().analyse(&load(&file), Faces::All).unwrap();
    assert!(
        analysis.faces.len() >= 2,
        "{}: {} faces",
        file.display(),
        analysis.faces.len()
    );
    let primary = analyzer().analyse(&load(&file), Faces::Primary).unwrap();
    assert_eq!(primary.faces.len(), 1);
    assert_eq!(primary.faces[0].bbox, analysis.faces[0].bbox);
    for f in &analysis.faces {
        let n: f32 = f.embedding.as_slice().iter().map(|v| v * v).sum();
        assert!((n - 1.0).abs() < 1e-4);
    }
}

#[test]
fn a_document_photographed_sideways_is_turned_upright() {
    let upright = load(&sample("obama.jpg"));
    let reference = analyzer().analyse(&upright, Faces::Primary).unwrap();
    let reference = &reference.primary().unwrap().embedding;
    for turned_by in [90u16, 180, 270] {
        let sideways = rotate(&upright, turned_by);
        let (analysis, rotation) = analyse_document(&analyzer(), &sideways).unwrap();
        assert_eq!(
            (turned_by + rotation) % 360,
            0,
            "turned by {turned_by}, undone by {rotation}"
        );
        let sim = analysis.primary().unwrap().embedding.cosine(reference);
        assert!(sim > 0.95, "turned by {turned_by}: similarity {sim}");
    }
}

#[test]
fn rotated_camera_frames_find_their_orientation() {
    // InspireFace's rotation samples: one photo at 0, 90, 180 and 270 degrees.
    let dir = shared_data().join("insightface/rotation");
    let (r0, rotation) = analyse_document(&analyzer(), &load(&dir.join("r0.jpg"))).unwrap();
    assert_eq!(rotation, 0);
    let r0 = r0.primary().unwrap().embedding.clone();
    let mut seen = Vec::new();
    for name in ["r90.jpg", "r180.jpg", "r270.jpg"] {
        let (a, rotation) = analyse_document(&analyzer(), &load(&dir.join(name))).unwrap();
        assert_ne!(rotation, 0, "{name}");
        let sim = a.primary().unwrap().embedding.cosine(&r0);
        assert!(sim > 0.8, "{name}: similarity to r0 {sim}");
        seen.push(rotation);
    }
    seen.sort();
    assert_eq!(seen, vec![90, 180, 270]);
}
