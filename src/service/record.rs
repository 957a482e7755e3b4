//! The decision record: everything needed to trace an automated decision to its consent, policy,
//! models and inputs. Stored as JSON with the verification; holds digests, never biometric data.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::document::mrz::{CheckedField, MrzFormat};
use crate::pipeline::document_check::DocumentExamination;

use crate::domain::Decision;
use crate::liveness::{Action, ActionTiming, LivenessConfig, Schedule, Verdict};
use crate::pipeline::liveness::LivenessReport;
use crate::pipeline::policy::{service_decision, MatchThresholds, Outcome};
use crate::pipeline::verify::Verification;
use crate::settings::POLICY_VERSION;
use crate::vision::quality::QualityConfig;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ModelId {
    pub name: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Scores {
    /// Cosine similarity of the document and selfie faces (absent when a face is missing).
    pub similarity: Option<f32>,
    /// Passive liveness (video verifications only).
    pub liveness: Option<f32>,
    pub document_face_score: Option<f32>,
    pub selfie_face_score: Option<f32>,
    /// Embedding norms: a quality signal (low for blurred, partial or rotated faces).
    pub document_quality: Option<f32>,
    pub selfie_quality: Option<f32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InputDigests {
    pub document: String,
    /// The still selfie (absent for a video sent without one).
    pub selfie: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<String>,
}

/// The liveness check of a video verification: what was asked, what was found, under which thresholds.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LivenessRecord {
    /// `pass`, `fail` or `refer`; only `pass` lets a match be verified automatically, and nothing
    /// else rejects anyone: the decision is then `referred`.
    #[schema(value_type = String)]
    pub verdict: Verdict,
    pub reasons: Vec<String>,
    pub challenge_id: String,
    /// The challenge's actions in the order asked: when each was prompted, whether it was performed
    /// in order and on time, and when it was seen.
    pub actions: Vec<ActionOutcome>,
    /// Seconds after its prompt within which each action had to begin (absent for a challenge issued
    /// before challenges were timed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_s: Option<f64>,
    pub frames_decoded: u64,
    pub frames_analysed: usize,
    /// Where in the video the frame compared with the document is, in seconds.
    pub best_frame_s: Option<f64>,
    /// Median passive P(live) over the frames (one signal among several).
    pub passive_median: Option<f32>,
    /// Cosine of the still selfie's face to the best frame, when a still was sent.
    pub selfie_to_video: Option<f32>,
    pub video: VideoFacts,
    #[schema(value_type = Object)]
    pub thresholds: LivenessConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ActionOutcome {
    #[schema(value_type = String)]
    pub action: Action,
    pub done: bool,
    /// `on_time`, `early` (only seen before its prompt), `late` (first seen after its window),
    /// `missing`, or `untimed` (a challenge issued before challenges were timed: found in order,
    /// anywhere). Absent in records made before timing was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub timing: Option<ActionTiming>,
    /// When the action was prompted, in seconds from the video's first frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompted_at_s: Option<f64>,
    /// When the occurrence judged was seen (on time, early or late).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen_at_s: Option<f64>,
}

/// What the container said and the decoder found.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VideoFacts {
    pub container: String,
    pub codec: String,
    pub width: u32,
    pub height: u32,
    /// Time of the last decoded frame, in seconds.
    pub duration_s: f64,
}

/// The record of a video's liveness check (pure).
pub fn liveness_record(
    report: &LivenessReport,
    challenge_id: &str,
    schedule: &Schedule,
    selfie_to_video: Option<f32>,
    thresholds: &LivenessConfig,
) -> LivenessRecord {
    LivenessRecord {
        verdict: report.verdict,
        reasons: report.reasons.clone(),
        challenge_id: challenge_id.into(),
        actions: report
            .actions
            .iter()
            .map(|a| ActionOutcome {
                action: a.action,
                done: a.done,
                timing: Some(a.timing),
                prompted_at_s: a.prompted_at_s,
                seen_at_s: a.seen_at_s.map(|t| (t * 1000.0).round() / 1000.0),
            })
            .collect(),
        window_s: schedule
            .actions
            .iter()
            .any(|a| a.at_s.is_some())
            .then_some(schedule.window_s),
        frames_decoded: report.frames_decoded,
        frames_analysed: report.frames_analysed,
        best_frame_s: report.best_frame.as_ref().map(|b| b.time_s),
        passive_median: report.summary.p_live_median,
        selfie_to_video,
        video: VideoFacts {
            container: report.video.container.into(),
            codec: report.video.codec.into(),
            width: report.video.width,
            height: report.video.height,
            duration_s: report.video.last_frame_s,
        },
        thresholds: *thresholds,
    }
}

/// The examination of the identity document: what was checked and what each check found. No personal
/// data: the lines and fields read are sealed apart (`document_data`, shown to reviewers and in the
/// subject's export).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DocumentRecord {
    /// Whether a machine-readable zone was read at all.
    pub mrz_found: bool,
    /// `TD1`, `TD2`, `TD3`, `MRVA` or `MRVB`.
    #[schema(value_type = Option<String>)]
    pub format: Option<MrzFormat>,
    /// Every check digit of the zone passed.
    pub mrz_valid: bool,
    /// Each check digit of the format (`document_number`, `date_of_birth`, `expiry_date`,
    /// `optional_data`, `composite`): whether it passed.
    #[schema(value_type = Object)]
    pub check_digits: BTreeMap<CheckedField, bool>,
    /// Characters the OCR confused and the check digits settled (a `0` read as `O` in a number…).
    pub corrections: usize,
    /// Whether the document's expiry date is before the decision's date (UTC).
    pub expired: Option<bool>,
    /// Whether the portrait is on the page that carries the zone (absent: no portrait found, or no zone).
    pub portrait_on_mrz_page: Option<bool>,
    /// Whether the applicant's declared identity was compared with the zone.
    pub declared_compared: bool,
    /// The document's own reason codes (also among the decision's reasons).
    pub reasons: Vec<String>,
    /// Clockwise degrees the image was turned to read the zone.
    pub mrz_rotation: Option<u16>,
    pub read_ms: f64,
}

/// The record of a document's examination (pure).
pub fn document_record(exam: &DocumentExamination) -> DocumentRecord {
    let read = exam.reading.read.as_ref();
    DocumentRecord {
        mrz_found: read.is_some(),
        format: read.map(|r| r.format),
        mrz_valid: read.is_some_and(|r| r.valid),
        check_digits: read
            .map(|r| r.check_digits.iter().map(|(f, c)| (*f, c.valid)).collect())
            .unwrap_or_default(),
        corrections: read.map_or(0, |r| r.corrections.len()),
        expired: exam.expired,
        portrait_on_mrz_page: exam.portrait_on_mrz_page,
        declared_compared: exam.declared_compared,
        reasons: exam.reasons.iter().map(|r| r.to_string()).collect(),
        mrz_rotation: read.map(|_| exam.reading.rotation_degrees),
        read_ms: exam.reading.timings.total_ms,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DecisionRecord {
    pub decision: Decision,
    /// The face comparison: `match`, `no_match` or `uncertain`.
    #[schema(value_type = String)]
    pub comparison: Outcome,
    pub reasons: Vec<String>,
    pub scores: Scores,
    pub policy_version: String,
    #[schema(value_type = Object)]
    pub thresholds: MatchThresholds,
    #[schema(value_type = Object)]
    pub quality_gates: QualityConfig,
    pub models: Vec<ModelId>,
    pub lawful_basis: String,
    pub input_digests: InputDigests,
    /// Clockwise degrees the document image was turned to make its portrait upright.
    pub document_rotation: Option<u16>,
    /// Video verifications: the liveness check the selfie video passed (or not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness: Option<LivenessRecord>,
    /// The identity document's examination (when `document.read_mrz` is on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<DocumentRecord>,
    pub decided_at: String,
    pub retention_until: String,
    /// The review case opened for this decision: always when `referred`, and for a sample of `verified`
    /// decisions (quality control).
    pub review_case_id: Option<String>,
}

/// Builds the record of one evaluated verification (pure).
#[allow(clippy::too_many_arguments)]
pub fn build_record(
    v: &Verification,
    liveness: Option<LivenessRecord>,
    document: Option<DocumentRecord>,
    quality: &QualityConfig,
    models: &[(String, String)],
    lawful_basis: &str,
    digests: InputDigests,
    decided_at: String,
    retention_until: String,
    review_case_id: impl FnOnce(Decision) -> Option<String>,
) -> DecisionRecord {
    let decision = service_decision(v.outcome, &v.reasons);
    DecisionRecord {
        decision,
        comparison: v.outcome,
        reasons: v.reasons.clone(),
        scores: Scores {
            similarity: v.similarity,
            liveness: liveness.as_ref().and_then(|l| l.passive_median),
            document_face_score: v.document.score,
            selfie_face_score: v.selfie.score,
            document_quality: v.document.norm,
            selfie_quality: v.selfie.norm,
        },
        policy_version: POLICY_VERSION.into(),
        thresholds: v.thresholds,
        quality_gates: *quality,
        models: models
            .iter()
            .map(|(name, sha256)| ModelId {
                name: name.clone(),
                sha256: sha256.clone(),
            })
            .collect(),
        lawful_basis: lawful_basis.into(),
        input_digests: digests,
        document_rotation: v.document.rotation,
        liveness,
        document,
        decided_at,
        retention_until,
        review_case_id: review_case_id(decision),
    }
}

/// What an erasure leaves of a decision record when the purpose keeps reduced records: that a decision
/// was made, when, under which policy, models, thresholds and lawful basis, and whether a person
/// reviewed it; without the scores and input digests, which describe or identify the person (pure).
pub fn reduce_record(r: DecisionRecord) -> DecisionRecord {
    const ERASED: &str = "erased";
    DecisionRecord {
        scores: Scores {
            similarity: None,
            liveness: None,
            document_face_score: None,
            selfie_face_score: None,
            document_quality: None,
            selfie_quality: None,
        },
        input_digests: InputDigests {
            document: ERASED.into(),
            selfie: r.input_digests.selfie.as_ref().map(|_| ERASED.into()),
            video: r.input_digests.video.as_ref().map(|_| ERASED.into()),
        },
        document_rotation: None,
        // The verdict and its reasons stay (they are the decision's grounds); the measurements go.
        liveness: r.liveness.map(|l| LivenessRecord {
            best_frame_s: None,
            passive_median: None,
            selfie_to_video: None,
            ..l
        }),
        // Whether each check passed stays; nothing in it describes the person.
        document: r.document.map(|d| DocumentRecord { read_ms: 0.0, ..d }),
        ..r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_liveness_record_made_before_timing_still_reads() {
        let old: LivenessRecord = serde_json::from_value(serde_json::json!({
            "verdict": "pass", "reasons": [], "challenge_id": "chl_1",
            "actions": [{"action": "blink", "done": true}],
            "frames_decoded": 90, "frames_analysed": 36, "best_frame_s": 1.0, "passive_median": 0.9,
            "selfie_to_video": null,
            "video": {"container": "mp4", "codec": "h264", "width": 512, "height": 512, "duration_s": 3.0},
            "thresholds": LivenessConfig::default(),
        }))
        .unwrap();
        assert_eq!(old.window_s, None);
        let a = &old.actions[0];
        assert_eq!((a.timing, a.prompted_at_s, a.seen_at_s), (None, None, None));
        // Written back, it says no more than it knew.
        let again = serde_json::to_value(&old).unwrap();
        assert_eq!(
            again["actions"],
            serde_json::json!([{"action": "blink", "done": true}])
        );
        assert!(again.get("window_s").is_none());
    }

    #[test]
    fn a_reduced_record_keeps_the_decision_and_drops_scores_and_digests() {
        let full: DecisionRecord = serde_json::from_value(serde_json::json!({
            "decision": "referred", "comparison": "uncertain", "reasons": ["selfie_blurry"],
            "scores": {"similarity": 0.35, "liveness": null, "document_face_score": 0.9,
                       "selfie_face_score": 0.8, "document_quality": 3.9, "selfie_quality": 2.1},
            "policy_version": "p1", "thresholds": {"match_at": 0.4, "no_match_below": 0.3},
            "quality_gates": crate::vision::quality::QualityConfig::default(),
            "models": [{"name": "fr_feature", "sha256": "ab"}], "lawful_basis": "explicit_consent",
            "input_digests": {"document": "d1", "selfie": "s1"}, "document_rotation": 90,
            "decided_at": "2026-11-22T00:00:00Z", "retention_until": "2032-11-22T00:00:00Z",
            "review_case_id": "rev_1"
        }))
        .unwrap();
        let r = reduce_record(full);
        assert_eq!(r.decision, Decision::Referred);
        assert_eq!(r.reasons, ["selfie_blurry"]);
        assert_eq!(r.review_case_id.as_deref(), Some("rev_1"));
        assert_eq!(r.models.len(), 1);
        assert!(r.scores.similarity.is_none() && r.scores.selfie_quality.is_none());
        assert_eq!(r.input_digests.document, "erased");
        assert_eq!(r.document_rotation, None);
    }
}
