//! Remote invigilation: one webcam frame checked against the enrolled candidate's template, and the rule
//! that turns a run of anomalous frames into a case for a person. Nothing here ends or fails an
//! assessment, and nothing infers emotion: the signals are face count, identity, head direction and
//! image quality.

use serde::{Deserialize, Serialize};

use super::face::{FaceAnalyzer, Faces};
use super::policy::MatchThresholds;
use super::verify::primary_face_signals;
use crate::inference::InferenceError;
use crate::vision::embed::Embedding;
use crate::vision::quality::{face_quality_reasons, FaceSource, QualityConfig};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InvigilationConfig {
    /// Consecutive frames with the same anomaly that open a review case (one per session).
    pub sustained_frames: usize,
    /// |yaw| beyond this many degrees counts as looking away (reported, never a case on its own).
    pub looking_away_yaw_deg: f32,
    /// |pitch| beyond this many degrees counts as looking away.
    pub looking_away_pitch_deg: f32,
}

impl Default for InvigilationConfig {
    fn default() -> Self {
        InvigilationConfig {
            sustained_frames: 3,
            looking_away_yaw_deg: 35.0,
            looking_away_pitch_deg: 30.0,
        }
    }
}

impl InvigilationConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.sustained_frames == 0 {
            return Err("invigilation.sustained_frames must be at least 1".into());
        }
        Ok(())
    }
}

/// What makes a frame anomalous. A run of `sustained_frames` of one kind opens the session's case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Anomaly {
    NoFace,
    MultipleFaces,
    DifferentPerson,
}

crate::domain::enum_names!(Anomaly {
    NoFace => "no_face",
    MultipleFaces => "multiple_faces",
    DifferentPerson => "different_person",
});

/// The result for one frame, as answered and stored (no image, no embedding).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameCheck {
    pub face_count: usize,
    /// `true` at or above the match threshold, `false` below the no-match threshold, `null` in between
    /// or without exactly one face.
    pub same_person: Option<bool>,
    pub similarity: Option<f32>,
    /// Head turned or tilted away from the screen (`null` without the pose model or a single face).
    pub looking_away: Option<bool>,
    /// Image-quality reason codes of the face (`frame_blurry`, `frame_too_dark`, …).
    pub quality: Vec<String>,
    /// Everything notable about the frame, as reason codes.
    pub reasons: Vec<String>,
    pub anomaly: Option<Anomaly>,
}

/// What was measured on a frame, before judgement.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameMeasures {
    pub face_count: usize,
    pub similarity: Option<f32>,
    /// Yaw and pitch of the single face, degrees.
    pub pose: Option<(f32, f32)>,
    pub quality: Vec<String>,
}

/// Judges one frame (pure).
pub fn judge_frame(
    m: FrameMeasures,
    thresholds: &MatchThresholds,
    config: &InvigilationConfig,
) -> FrameCheck {
    let single = m.face_count == 1;
    let similarity = m.similarity.filter(|_| single);
    let same_person = similarity.and_then(|s| {
        if s >= thresholds.match_at {
            Some(true)
        } else if s < thresholds.no_match_below {
            Some(false)
        } else {
            None
        }
    });
    let looking_away = m.pose.filter(|_| single).map(|(yaw, pitch)| {
        yaw.abs() > config.looking_away_yaw_deg || pitch.abs() > config.looking_away_pitch_deg
    });
    let anomaly = match m.face_count {
        0 => Some(Anomaly::NoFace),
        1 if same_person == Some(false) => Some(Anomaly::DifferentPerson),
        1 => None,
        _ => Some(Anomaly::MultipleFaces),
    };
    let mut reasons: Vec<String> = anomaly.iter().map(|a| a.as_str().to_string()).collect();
    if same_person.is_none() && single {
        reasons.push("identity_uncertain".into());
    }
    if looking_away == Some(true) {
        reasons.push("looking_away".into());
    }
    reasons.extend(m.quality.iter().cloned());
    FrameCheck {
        face_count: m.face_count,
        same_person,
        similarity,
        looking_away,
        quality: m.quality,
        reasons,
        anomaly,
    }
}

/// The anomaly that the last `n` frames (most recent last) all share, if any (pure).
pub fn sustained(recent: &[Option<Anomaly>], n: usize) -> Option<Anomaly> {
    if n == 0 || recent.len() < n {
        return None;
    }
    let tail = &recent[recent.len() - n..];
    let first = tail[0]?;
    tail.iter().all(|a| *a == Some(first)).then_some(first)
}

/// Measures and judges one decoded frame against the enrolled template.
pub fn check_frame(
    analyzer: &FaceAnalyzer,
    frame: &image::RgbImage,
    template: &Embedding,
    thresholds: &MatchThresholds,
    quality: &QualityConfig,
    config: &InvigilationConfig,
) -> Result<FrameCheck, InferenceError> {
    let analysis = analyzer.analyse(frame, Faces::Primary)?;
    let similarity = analysis.primary().map(|f| f.embedding.cosine(template));
    let (pose, quality_reasons) = if analysis.detected == 1 {
        match primary_face_signals(analyzer, frame, &analysis)? {
            Some(s) => (
                Some((s.pose.yaw, s.pose.pitch)),
                face_quality_reasons(FaceSource::Frame, &s.quality(analysis.detected), quality)
                    .into_iter()
                    // Head direction is reported as `looking_away`; not a quality problem here.
                    .filter(|r| r != "frame_not_frontal")
                    .collect(),
            ),
            None => (None, Vec::new()),
        }
    } else {
        (None, Vec::new())
    };
    Ok(judge_frame(
        FrameMeasures {
            face_count: analysis.detected,
            similarity,
            pose,
            quality: quality_reasons,
        },
        thresholds,
        config,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measures(
        face_count: usize,
        similarity: Option<f32>,
        pose: Option<(f32, f32)>,
    ) -> FrameMeasures {
        FrameMeasures {
            face_count,
            similarity,
            pose,
            quality: Vec::new(),
        }
    }

    #[test]
    fn frames_are_judged_by_face_count_identity_and_direction() {
        let t = MatchThresholds::default();
        let c = InvigilationConfig::default();
        let ok = judge_frame(measures(1, Some(0.7), Some((5.0, 0.0))), &t, &c);
        assert_eq!(
            (ok.same_person, ok.looking_away, ok.anomaly),
            (Some(true), Some(false), None)
        );
        assert!(ok.reasons.is_empty());
        let other = judge_frame(measures(1, Some(0.05), None), &t, &c);
        assert_eq!(other.anomaly, Some(Anomaly::DifferentPerson));
        assert_eq!(other.same_person, Some(false));
        let unsure = judge_frame(measures(1, Some(0.35), None), &t, &c);
        assert_eq!((unsure.same_person, unsure.anomaly), (None, None));
        assert_eq!(unsure.reasons, ["identity_uncertain"]);
        let away = judge_frame(measures(1, Some(0.7), Some((50.0, 0.0))), &t, &c);
        assert_eq!((away.looking_away, away.anomaly), (Some(true), None));
        let none = judge_frame(measures(0, None, None), &t, &c);
        assert_eq!(none.anomaly, Some(Anomaly::NoFace));
        // With several faces the primary face's similarity says nothing about who sits the test.
        let group = judge_frame(measures(4, Some(0.9), Some((0.0, 0.0))), &t, &c);
        assert_eq!(group.anomaly, Some(Anomaly::MultipleFaces));
        assert_eq!(
            (group.same_person, group.similarity, group.looking_away),
            (None, None, None)
        );
    }

    #[test]
    fn only_an_unbroken_run_is_sustained() {
        use Anomaly::*;
        assert_eq!(
            sustained(&[None, Some(NoFace), Some(NoFace), Some(NoFace)], 3),
            Some(NoFace)
        );
        assert_eq!(
            sustained(&[Some(NoFace), None, Some(NoFace), Some(NoFace)], 3),
            None
        );
        assert_eq!(
            sustained(&[Some(NoFace), Some(MultipleFaces), Some(NoFace)], 3),
            None
        );
        assert_eq!(sustained(&[Some(NoFace), Some(NoFace)], 3), None);
        assert_eq!(
            sustained(&[Some(DifferentPerson)], 1),
            Some(DifferentPerson)
        );
    }
}
