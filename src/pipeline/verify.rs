//! Document photo vs selfie: the two analyses, their quality flags and the outcome.

use serde::{Deserialize, Serialize};

use super::document::analyse_document;
use super::face::{Analysis, FaceAnalyzer, Faces, StageTimings};
use super::policy::{decide, MatchThresholds, Outcome};
use crate::inference::InferenceError;
use crate::vision::{BoxF, Point};

/// Quality gates of a still face, each a reason code when it trips.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QualityConfig {
    /// Faces shorter than this (pixels) are too small to compare reliably (`*_face_too_small`).
    pub min_face_px: f32,
    /// Raw embedding norm below which a face is blurred, partial or badly aligned (`*_low_quality`).
    pub min_norm: f32,
}

impl Default for QualityConfig {
    fn default() -> Self {
        // 40 px: the smallest document portraits that still matched (48 px) keep a margin.
        // 2.3: below every upright face in the measurements (2.55), above most rotated ones.
        QualityConfig {
            min_face_px: 40.0,
            min_norm: 2.3,
        }
    }
}

/// Which image a finding is about; reason codes are prefixed with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Document,
    Selfie,
}

impl Role {
    fn prefix(self) -> &'static str {
        match self {
            Role::Document => "document",
            Role::Selfie => "selfie",
        }
    }
}

/// What was found in one image (no embedding: reports may be logged or stored).
#[derive(Debug, Clone, Serialize)]
pub struct ImageReport {
    pub face_found: bool,
    #[serde(rename = "box", skip_serializing_if = "Option::is_none")]
    pub bbox: Option<BoxF>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub landmarks: Option<[Point; 5]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub norm: Option<f32>,
    pub faces_detected: usize,
    /// Clockwise degrees the image was turned to make the face upright (documents only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation: Option<u16>,
    pub reasons: Vec<String>,
    pub timings_ms: StageTimings,
}

/// Reason codes for one analysed image (pure).
pub fn image_reasons(role: Role, analysis: &Analysis, quality: &QualityConfig) -> Vec<String> {
    let p = role.prefix();
    let Some(face) = analysis.primary() else {
        return vec![format!("{p}_no_face")];
    };
    let mut reasons = Vec::new();
    if analysis.cut_off {
        reasons.push(format!("{p}_face_cut_off"));
    }
    if face.height() < quality.min_face_px {
        reasons.push(format!("{p}_face_too_small"));
    }
    if face.norm < quality.min_norm {
        reasons.push(format!("{p}_low_quality"));
    }
    // A document may carry a second, small "ghost" portrait; only a selfie with two people is a concern.
    if role == Role::Selfie && analysis.detected > 1 {
        reasons.push(format!("{p}_multiple_faces"));
    }
    reasons
}

fn report(analysis: &Analysis, rotation: Option<u16>, reasons: Vec<String>) -> ImageReport {
    let face = analysis.primary();
    ImageReport {
        face_found: face.is_some(),
        bbox: face.map(|f| f.bbox),
        score: face.map(|f| f.score),
        landmarks: face.map(|f| f.landmarks),
        norm: face.map(|f| f.norm),
        faces_detected: analysis.detected,
        rotation,
        reasons,
        timings_ms: analysis.timings,
    }
}

/// The result of comparing a document photo with a selfie.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub outcome: Outcome,
    /// Cosine similarity of the two primary faces, when both were found.
    pub similarity: Option<f32>,
    pub thresholds: MatchThresholds,
    /// Every reason code of both images.
    pub reasons: Vec<String>,
    pub document: ImageReport,
    pub selfie: ImageReport,
}

/// Compares the face on an ID document with the face in a selfie.
pub fn verify(
    analyzer: &FaceAnalyzer,
    document: &image::RgbImage,
    selfie: &image::RgbImage,
    thresholds: &MatchThresholds,
    quality: &QualityConfig,
) -> Result<Verification, InferenceError> {
    let (doc, rotation) = analyse_document(analyzer, document)?;
    let me = analyzer.analyse(selfie, Faces::Primary)?;
    let doc_reasons = image_reasons(Role::Document, &doc, quality);
    let me_reasons = image_reasons(Role::Selfie, &me, quality);
    let similarity = match (doc.primary(), me.primary()) {
        (Some(a), Some(b)) => Some(a.embedding.cosine(&b.embedding)),
        _ => None,
    };
    let reasons: Vec<String> = doc_reasons.iter().chain(&me_reasons).cloned().collect();
    let outcome = decide(similarity, thresholds, !reasons.is_empty());
    Ok(Verification {
        outcome,
        similarity,
        thresholds: *thresholds,
        reasons,
        document: report(&doc, Some(rotation), doc_reasons),
        selfie: report(&me, None, me_reasons),
    })
}
