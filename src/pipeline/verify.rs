//! Document photo vs selfie: the two analyses, their quality flags and the outcome.

use serde::{Deserialize, Serialize};

use super::document::analyse_document;
use super::face::{Analysis, FaceAnalyzer, Faces, LocatedFace, StageTimings};
use super::liveness::{FrameAnalyzer, FrameWork, LivenessReport};
use super::policy::{decide, MatchThresholds, Outcome};
use crate::inference::InferenceError;
use crate::liveness::signals::FaceSignals;
use crate::liveness::Verdict;
use crate::models::ModelKind;
use crate::vision::embed::Embedding;
use crate::vision::pose::HeadPose;
use crate::vision::quality::Exposure;
use crate::vision::{BoxF, Point};

/// Quality gates of a still face (a selfie, a video's best frame, a document portrait where they apply),
/// each a reason code when it trips.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QualityConfig {
    /// Faces shorter than this (pixels) are too small to compare reliably (`*_face_too_small`).
    pub min_face_px: f32,
    /// Raw embedding norm below which a face is blurred, partial or badly aligned (`*_low_quality`).
    pub min_norm: f32,
    /// Variance of the Laplacian of the 112×112 gray face crop below which it is blurred (`*_blurry`).
    pub min_sharpness: f32,
    /// Mean face luminance (0–255) below which it is too dark (`*_too_dark`).
    pub min_luma: f32,
    /// Mean face luminance above which it is too bright (`*_too_bright`).
    pub max_luma: f32,
    /// Share of blown-out (≥ 250) face pixels above which it is too bright (`*_too_bright`).
    pub max_bright_share: f32,
    /// |yaw| beyond which a face is not frontal (`*_not_frontal`), degrees.
    pub max_yaw_deg: f32,
    /// |pitch| beyond which a face is not frontal; generous because the pose model's pitch is rough.
    pub max_pitch_deg: f32,
    /// |roll| beyond which a face is not frontal, degrees.
    pub max_roll_deg: f32,
    /// P(closed) of either eye at or above which the eyes are closed (`*_eyes_closed`).
    pub max_eye_closed: f32,
}

impl Default for QualityConfig {
    fn default() -> Self {
        // 40 px: the smallest document portraits that still matched (48 px) keep a margin.
        // 2.3: below every upright face in the measurements (2.55), above most rotated ones.
        // The sharpness, light and pose gates sit well outside what the shared selfie clips show
        // (docs/LIVENESS.md), so they only trip on captures a person should look at.
        QualityConfig {
            min_face_px: 40.0,
            min_norm: 2.3,
            min_sharpness: 20.0,
            min_luma: 40.0,
            max_luma: 225.0,
            max_bright_share: 0.2,
            max_yaw_deg: 25.0,
            max_pitch_deg: 30.0,
            max_roll_deg: 20.0,
            max_eye_closed: 0.5,
        }
    }
}

/// What the quality gates look at in one face.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceQuality {
    /// Faces detected in the picture.
    pub faces: usize,
    pub height: f32,
    pub cut_off: bool,
    pub norm: Option<f32>,
    pub sharpness: f32,
    pub exposure: Exposure,
    pub pose: HeadPose,
    pub p_closed: [Option<f32>; 2],
}

/// Reason codes of the quality gates for one face (pure).
pub fn face_quality_reasons(role: Role, q: &FaceQuality, config: &QualityConfig) -> Vec<String> {
    let p = role.prefix();
    let checks = [
        (q.cut_off, "face_cut_off"),
        (q.height < config.min_face_px, "face_too_small"),
        (q.norm.is_some_and(|n| n < config.min_norm), "low_quality"),
        (role == Role::Selfie && q.faces > 1, "multiple_faces"),
        (q.sharpness < config.min_sharpness, "blurry"),
        (q.exposure.mean_luma < config.min_luma, "too_dark"),
        (
            q.exposure.mean_luma > config.max_luma
                || q.exposure.bright_share > config.max_bright_share,
            "too_bright",
        ),
        (
            !(q.pose.yaw.abs() <= config.max_yaw_deg
                && q.pose.pitch.abs() <= config.max_pitch_deg
                && q.pose.roll.abs() <= config.max_roll_deg),
            "not_frontal",
        ),
        (
            q.p_closed
                .iter()
                .any(|c| c.is_none_or(|c| c >= config.max_eye_closed)),
            "eyes_closed",
        ),
    ];
    checks
        .iter()
        .filter(|(tripped, _)| *tripped)
        .map(|(_, code)| format!("{p}_{code}"))
        .collect()
}

/// Which image a finding is about; reason codes are prefixed with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Document,
    Selfie,
    /// A webcam frame during remote invigilation.
    Frame,
}

impl Role {
    fn prefix(self) -> &'static str {
        match self {
            Role::Document => "document",
            Role::Selfie => "selfie",
            Role::Frame => "frame",
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

/// The sharpness, light, pose and eye gates of a still image's primary face (none without the eye and
/// pose models).
pub fn quality_gates(
    role: Role,
    analyzer: &FaceAnalyzer,
    image: &image::RgbImage,
    analysis: &Analysis,
    quality: &QualityConfig,
) -> Result<Vec<String>, InferenceError> {
    Ok(primary_face_signals(analyzer, image, analysis)?
        .map(|s| face_quality_reasons(role, &s.quality(analysis.detected), quality))
        .unwrap_or_default())
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
    let mut me_reasons = image_reasons(Role::Selfie, &me, quality);
    for reason in quality_gates(Role::Selfie, analyzer, selfie, &me, quality)? {
        if !me_reasons.contains(&reason) {
            me_reasons.push(reason);
        }
    }
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
    let doc_reasons = image_reasons(Role::Document, &doc, quality);
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
    let outcome = decide(similarity, thresholds, weak);
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
            let mut me_reasons = image_reasons(Role::Selfie, &me, quality);
            for reason in quality_gates(Role::Selfie, analyzer, image, &me, quality)? {
                if !me_reasons.contains(&reason) {
                    me_reasons.push(reason);
                }
            }
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

    fn good() -> FaceQuality {
        FaceQuality {
            faces: 1,
            height: 200.0,
            cut_off: false,
            norm: Some(3.8),
            sharpness: 300.0,
            exposure: Exposure {
                mean_luma: 120.0,
                dark_share: 0.0,
                bright_share: 0.01,
            },
            pose: HeadPose {
                yaw: 5.0,
                pitch: -8.0,
                roll: 2.0,
            },
            p_closed: [Some(0.01), Some(0.02)],
        }
    }

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

    #[test]
    fn each_quality_gate_has_its_reason_at_its_threshold() {
        let c = QualityConfig::default();
        assert!(face_quality_reasons(Role::Selfie, &good(), &c).is_empty());
        type Spoil = fn(&mut FaceQuality);
        let cases: [(Spoil, &str); 9] = [
            (|q| q.height = 39.0, "selfie_face_too_small"),
            (|q| q.norm = Some(2.0), "selfie_low_quality"),
            (|q| q.faces = 2, "selfie_multiple_faces"),
            (|q| q.sharpness = 19.0, "selfie_blurry"),
            (|q| q.exposure.mean_luma = 30.0, "selfie_too_dark"),
            (|q| q.exposure.bright_share = 0.3, "selfie_too_bright"),
            (|q| q.pose.yaw = -26.0, "selfie_not_frontal"),
            (|q| q.p_closed[1] = Some(0.5), "selfie_eyes_closed"),
            (|q| q.cut_off = true, "selfie_face_cut_off"),
        ];
        for (spoil, reason) in cases {
            let mut q = good();
            spoil(&mut q);
            assert_eq!(
                face_quality_reasons(Role::Selfie, &q, &c),
                vec![reason.to_string()]
            );
        }
        // A pose the model could not measure is not frontal; a missing eye crop is not an open eye.
        let mut q = good();
        q.pose.roll = f32::NAN;
        q.p_closed[0] = None;
        assert_eq!(
            face_quality_reasons(Role::Selfie, &q, &c),
            vec!["selfie_not_frontal", "selfie_eyes_closed"]
        );
        // A second face on a document is its ghost portrait, not a second person.
        let mut q = good();
        q.faces = 2;
        assert!(face_quality_reasons(Role::Document, &q, &c).is_empty());
    }
}
