//! Document photo vs selfie: the two analyses, their quality flags and the outcome.

use serde::Serialize;

use super::document::analyse_document;
use super::face::{Analysis, FaceAnalyzer, Faces, LocatedFace, StageTimings};
use super::liveness::{FrameAnalyzer, FrameWork, LivenessReport};
use super::policy::{match_outcome, MatchThresholds, Outcome};
use crate::inference::InferenceError;
use crate::liveness::signals::FaceSignals;
use crate::liveness::Verdict;
use crate::models::ModelKind;
use crate::vision::embed::Embedding;
use crate::vision::quality::{face_quality_reasons, FaceQuality, FaceSource, QualityConfig};
use crate::vision::{BoxF, Point};

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

/// Reason codes for one analysed image (pure): `*_no_face`, or every quality gate of its primary face,
/// the capture gates only when `signals` were measured (they need the eye and pose models).
pub fn image_reasons(
    source: FaceSource,
    analysis: &Analysis,
    signals: Option<&FaceSignals>,
    quality: &QualityConfig,
) -> Vec<String> {
    let Some(face) = analysis.primary() else {
        return vec![format!("{}_no_face", source.prefix())];
    };
    let measured = match signals {
        Some(s) => s.quality(analysis.detected),
        None => FaceQuality {
            faces: analysis.detected,
            height: face.height(),
            cut_off: analysis.cut_off,
            norm: Some(face.norm),
            capture: None,
        },
    };
    face_quality_reasons(source, &measured, quality)
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
    /// The primary faces' embeddings (kept, encrypted, for review and invigilation; never serialised).
    #[serde(skip)]
    pub embeddings: FaceEmbeddings,
}

/// The embeddings of the two primary faces, when found. Biometric: `Embedding` never prints.
#[derive(Debug, Clone, Default)]
pub struct FaceEmbeddings {
    pub document: Option<Embedding>,
    pub selfie: Option<Embedding>,
}

/// The per-face signals (pose, eyes, sharpness, light) of a still image's primary face; they need the
/// eye and pose models, so an engine loaded for matching only gives `None`.
pub fn primary_face_signals(
    analyzer: &FaceAnalyzer,
    image: &image::RgbImage,
    analysis: &Analysis,
) -> Result<Option<FaceSignals>, InferenceError> {
    let engine = analyzer.engine();
    let Some(face) = analysis.primary() else {
        return Ok(None);
    };
    if !(engine.has(ModelKind::Eye) && engine.has(ModelKind::Pose)) {
        return Ok(None);
    }
    let located = LocatedFace {
        bbox: face.bbox,
        score: face.score,
        landmarks: face.landmarks,
        landmarks68: face.landmarks68.clone(),
    };
    let work = FrameWork {
        identity: false,
        passive: false,
    };
    let mut signals = FrameAnalyzer::new(analyzer).face_signals(
        image,
        &located,
        analysis.padded,
        analysis.cut_off,
        work,
    )?;
    signals.norm = Some(face.norm);
    Ok(Some(signals))
}

/// The reasons of a still selfie: every quality gate of its primary face, the capture gates when the
/// eye and pose models are loaded.
fn selfie_reasons(
    analyzer: &FaceAnalyzer,
    image: &image::RgbImage,
    analysis: &Analysis,
    quality: &QualityConfig,
) -> Result<Vec<String>, InferenceError> {
    let signals = primary_face_signals(analyzer, image, analysis)?;
    Ok(image_reasons(
        FaceSource::Selfie,
        analysis,
        signals.as_ref(),
        quality,
    ))
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
    let doc_reasons = image_reasons(FaceSource::Document, &doc, None, quality);
    let me_reasons = selfie_reasons(analyzer, selfie, &me, quality)?;
    let similarity = match (doc.primary(), me.primary()) {
        (Some(a), Some(b)) => Some(a.embedding.cosine(&b.embedding)),
        _ => None,
    };
    let reasons: Vec<String> = doc_reasons.iter().chain(&me_reasons).cloned().collect();
    let outcome = match_outcome(similarity, thresholds, !reasons.is_empty());
    Ok(Verification {
        outcome,
        similarity,
        thresholds: *thresholds,
        reasons,
        embeddings: FaceEmbeddings {
            document: doc.primary().map(|f| f.embedding.clone()),
            selfie: me.primary().map(|f| f.embedding.clone()),
        },
        document: report(&doc, Some(rotation), doc_reasons),
        selfie: report(&me, None, me_reasons),
    })
}

/// The result of comparing a document photo with the best frame of a liveness video.
#[derive(Debug, Clone, Serialize)]
pub struct VideoVerification {
    /// Liveness passed and the faces match: the only automatic acceptance.
    pub accepted: bool,
    /// The face match alone (`uncertain` instead of `no_match` when the video was not a clear pass).
    pub outcome: Outcome,
    pub similarity: Option<f32>,
    pub thresholds: MatchThresholds,
    /// The document's reasons, then the video's.
    pub reasons: Vec<String>,
    pub document: ImageReport,
    pub liveness: LivenessReport,
    /// The document's face and the video's best frame (never serialised).
    #[serde(skip)]
    pub embeddings: FaceEmbeddings,
}

/// Compares the document's face with the best frame of a checked video.
pub fn verify_video(
    analyzer: &FaceAnalyzer,
    document: &image::RgbImage,
    liveness: LivenessReport,
    thresholds: &MatchThresholds,
    quality: &QualityConfig,
) -> Result<VideoVerification, InferenceError> {
    let (doc, rotation) = analyse_document(analyzer, document)?;
    let doc_reasons = image_reasons(FaceSource::Document, &doc, None, quality);
    let similarity = match (doc.primary(), &liveness.best_embedding) {
        (Some(d), Some(best)) => Some(d.embedding.cosine(best)),
        _ => None,
    };
    let reasons: Vec<String> = doc_reasons
        .iter()
        .chain(&liveness.reasons)
        .cloned()
        .collect();
    let weak = !doc_reasons.is_empty() || liveness.verdict != Verdict::Pass;
    let outcome = match_outcome(similarity, thresholds, weak);
    Ok(VideoVerification {
        accepted: liveness.verdict == Verdict::Pass && outcome == Outcome::Match,
        outcome,
        similarity,
        thresholds: *thresholds,
        reasons,
        embeddings: FaceEmbeddings {
            document: doc.primary().map(|f| f.embedding.clone()),
            selfie: liveness.best_embedding.clone(),
        },
        document: report(&doc, Some(rotation), doc_reasons),
        liveness,
    })
}

/// A video verification as the service decides it: the document against the video's best frame, and
/// the still selfie taken with the video (when sent) checked to show the person in the video.
#[derive(Debug, Clone)]
pub struct CaptureVerification {
    /// The comparison in the form every decision record has; `selfie` is the still when one was sent,
    /// else the video's best frame. Its reasons hold the liveness verdict's.
    pub verification: Verification,
    pub liveness: LivenessReport,
    /// Cosine of the still selfie's face to the video's best frame.
    pub selfie_to_video: Option<f32>,
}

/// The reason a liveness verdict other than `pass` adds when its own reasons name nothing (pure).
fn verdict_reason(verdict: Verdict, reasons: &[String]) -> Option<String> {
    (verdict != Verdict::Pass && reasons.is_empty())
        .then(|| format!("liveness_{}", verdict.as_str()))
}

/// Whether a still selfie shows the person of the video (pure): `None` when either has no face.
pub fn still_matches_video(similarity: Option<f32>, same_person_min: f32) -> Option<bool> {
    similarity.map(|s| s >= same_person_min)
}

/// Compares the document's face with the best frame of a checked video and, when a still selfie came
/// with it, checks the still against that frame (`selfie_not_in_video` when it is someone else or
/// shows no face) and runs the still's quality gates.
pub fn verify_capture(
    analyzer: &FaceAnalyzer,
    document: &image::RgbImage,
    liveness: LivenessReport,
    still: Option<&image::RgbImage>,
    thresholds: &MatchThresholds,
    quality: &QualityConfig,
    same_person_min: f32,
) -> Result<CaptureVerification, InferenceError> {
    let v = verify_video(analyzer, document, liveness, thresholds, quality)?;
    let mut reasons = v.reasons.clone();
    reasons.extend(verdict_reason(v.liveness.verdict, &v.liveness.reasons));
    let (selfie, selfie_to_video) = match still {
        Some(image) => {
            let me = analyzer.analyse(image, Faces::Primary)?;
            let mut me_reasons = selfie_reasons(analyzer, image, &me, quality)?;
            let similarity = match (me.primary(), &v.liveness.best_embedding) {
                (Some(a), Some(b)) => Some(a.embedding.cosine(b)),
                _ => None,
            };
            if still_matches_video(similarity, same_person_min) != Some(true) {
                me_reasons.push("selfie_not_in_video".into());
            }
            for reason in &me_reasons {
                if !reasons.contains(reason) {
                    reasons.push(reason.clone());
                }
            }
            (report(&me, None, me_reasons), similarity)
        }
        None => (best_frame_report(&v.liveness), None),
    };
    // The comparison stays the document's against the video; the still's findings are reasons, which
    // keep a match from being verified automatically.
    Ok(CaptureVerification {
        verification: Verification {
            outcome: v.outcome,
            similarity: v.similarity,
            thresholds: v.thresholds,
            reasons,
            document: v.document,
            selfie,
            embeddings: v.embeddings,
        },
        liveness: v.liveness,
        selfie_to_video,
    })
}

/// The video's best frame described as a selfie report (no per-stage timings: a video has its own).
fn best_frame_report(liveness: &LivenessReport) -> ImageReport {
    let best = liveness.best_frame.as_ref();
    ImageReport {
        face_found: best.is_some(),
        bbox: best.map(|b| b.bbox),
        score: None,
        landmarks: None,
        norm: best.and_then(|b| b.norm),
        faces_detected: usize::from(best.is_some()),
        rotation: None,
        reasons: Vec::new(),
        timings_ms: StageTimings::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verdict_other_than_pass_always_leaves_a_reason() {
        assert_eq!(verdict_reason(Verdict::Pass, &[]), None);
        assert_eq!(
            verdict_reason(Verdict::Refer, &[]).as_deref(),
            Some("liveness_refer")
        );
        assert_eq!(
            verdict_reason(Verdict::Fail, &[]).as_deref(),
            Some("liveness_fail")
        );
        assert_eq!(
            verdict_reason(Verdict::Fail, &["face_changed".into()]),
            None
        );
    }

    #[test]
    fn a_still_selfie_must_show_the_person_of_the_video() {
        assert_eq!(still_matches_video(Some(0.7), 0.5), Some(true));
        assert_eq!(still_matches_video(Some(0.5), 0.5), Some(true));
        assert_eq!(still_matches_video(Some(0.2), 0.5), Some(false));
        assert_eq!(still_matches_video(None, 0.5), None);
    }
}
