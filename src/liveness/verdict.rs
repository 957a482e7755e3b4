//! The liveness verdict: a pure function of the challenge's actions, the per-frame signals and the
//! configuration, so every rule is tested on synthetic signal sequences without a video.
//!
//! `fail` needs positive evidence of an attack: the challenge was not performed, or the face did not
//! move like a face. Everything else that makes the evidence weak or suspicious (a low passive score, a
//! poor best frame, other faces in view, a different person in some frames, too few usable frames) is
//! `refer`: a person looks.

use serde::{Deserialize, Serialize};

pub use super::config::LivenessConfig;
use super::schedule::Schedule;
use super::search::{check_actions, unprompted_turns, ActionResult, ActionTiming};
use super::signals::{percentile, shape_change, FaceSignals, FrameSignals};
use crate::vision::quality::{face_quality_reasons, FaceSource, QualityConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    /// The machine cannot settle it: a person must look.
    Refer,
}

crate::domain::enum_names!(Verdict {
    Pass => "pass",
    Fail => "fail",
    Refer => "refer",
});

/// Aggregates behind the verdict.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VideoSummary {
    pub frames_analysed: usize,
    pub frames_with_face: usize,
    pub single_face_share: f32,
    /// Lowest cosine of an identity-checked frame to the best frame.
    pub min_similarity: Option<f32>,
    /// Frames below `different_person_below`.
    pub frames_other_person: usize,
    /// The 90th percentile of the landmark shape change against the best frame.
    pub shape_change_p90: f32,
    pub p_live_median: Option<f32>,
    pub yaw_min: Option<f32>,
    pub yaw_max: Option<f32>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LivenessDecision {
    pub verdict: Verdict,
    pub reasons: Vec<String>,
    pub actions: Vec<ActionResult>,
    /// The sampled-frame index of the frame used as the selfie.
    pub best_frame: Option<usize>,
    pub summary: VideoSummary,
}

/// Reason codes that are evidence of an attack; every other reason only refers.
///
/// `face_changed` is not one of them: a different person alone in some frames may be an edited or
/// spliced video, or someone stepping in front of the camera; a person tells these apart.
pub const FAIL_REASONS: [&str; 2] = ["challenge_not_performed", "no_face_motion"];

/// The verdict on a video answering `schedule`. Pure: same inputs, same decision.
pub fn liveness_verdict(
    schedule: &Schedule,
    frames: &[FrameSignals],
    config: &LivenessConfig,
    quality: &QualityConfig,
) -> LivenessDecision {
    let with_face: Vec<(usize, &FaceSignals)> = frames
        .iter()
        .enumerate()
        .filter_map(|(i, f)| f.face.as_ref().map(|face| (i, face)))
        .collect();
    let single = frames
        .iter()
        .filter(|f| f.faces == 1 && f.face.is_some())
        .count();
    let mut summary = VideoSummary {
        frames_analysed: frames.len(),
        frames_with_face: with_face.len(),
        single_face_share: if frames.is_empty() {
            0.0
        } else {
            single as f32 / frames.len() as f32
        },
        ..VideoSummary::default()
    };
    let not_done = || {
        schedule
            .actions
            .iter()
            .map(|a| ActionResult {
                action: a.action,
                done: false,
                timing: ActionTiming::Missing,
                prompted_at_s: a.at_s,
                seen_at_s: None,
                frames: None,
            })
            .collect()
    };
    if with_face.len() < config.min_face_frames.max(1) {
        return LivenessDecision {
            verdict: Verdict::Refer,
            reasons: vec!["face_not_found".into()],
            actions: not_done(),
            best_frame: None,
            summary,
        };
    }
    let mut reasons = Vec::new();
    if schedule.is_empty() {
        // Without a challenge a replayed recording cannot be told from a live person.
        reasons.push("no_challenge".to_string());
    }
    if summary.single_face_share < config.min_single_face_share {
        let several = frames.iter().any(|f| f.faces > 1);
        reasons.push(
            if several {
                "multiple_faces"
            } else {
                "face_not_always_visible"
            }
            .to_string(),
        );
    }
    let yaws = with_face
        .iter()
        .map(|(_, f)| f.pose.yaw)
        .filter(|y| y.is_finite());
    summary.yaw_min = yaws.clone().reduce(f32::min);
    summary.yaw_max = yaws.reduce(f32::max);

    // The challenge, in order and on time.
    let results = check_actions(schedule, frames, config);
    if results.iter().any(|r| !r.done) {
        reasons.push("challenge_not_performed".into());
    }
    if results.iter().any(|r| r.timing == ActionTiming::Untimed) {
        // Found in order, but anywhere: what an ordinary recording of the person may hold.
        reasons.push("challenge_untimed".into());
    }
    if !schedule.is_empty() && !unprompted_turns(schedule, frames, config).is_empty() {
        // More head turns than were asked: what a replayed recording shows, or a person who did not
        // follow the prompts; a person looks.
        reasons.push("unprompted_head_turn".into());
    }

    // The best frame and the identity throughout.
    let best = best_frame(frames, config);
    if let Some(b) = best {
        let best_face = frames[b].face.as_ref().expect("best frame has a face");
        let reference = best_face
            .embedding
            .as_ref()
            .expect("best frame is embedded");
        let sims: Vec<f32> = with_face
            .iter()
            .filter(|(_, f)| f.pose.yaw.abs() <= config.identity_max_yaw_deg)
            .filter_map(|(_, f)| f.embedding.as_ref().map(|e| e.cosine(reference)))
            .collect();
        summary.min_similarity = sims.iter().copied().reduce(f32::min);
        summary.frames_other_person = sims
            .iter()
            .filter(|&&s| s < config.different_person_below)
            .count();
        if summary.frames_other_person >= config.different_person_frames.max(1) {
            reasons.push("face_changed".into());
        } else if summary
            .min_similarity
            .is_some_and(|s| s < config.same_person_min)
        {
            reasons.push("identity_uncertain".into());
        }

        let mut changes: Vec<f32> = with_face
            .iter()
            .map(|(_, f)| shape_change(&f.landmarks68, &best_face.landmarks68))
            .collect();
        summary.shape_change_p90 = percentile(&mut changes, 0.9);
        if summary.shape_change_p90 < config.min_shape_change {
            reasons.push("no_face_motion".into());
        }

        let q = best_face.quality(frames[b].faces);
        reasons.extend(face_quality_reasons(FaceSource::Selfie, &q, quality));
    } else {
        reasons.push("no_usable_frame".into());
    }

    let mut live: Vec<f32> = with_face
        .iter()
        .filter_map(|(_, f)| f.p_live)
        .filter(|p| p.is_finite())
        .collect();
    if !live.is_empty() {
        let median = percentile(&mut live, 0.5);
        summary.p_live_median = Some(median);
        if median < config.passive_min {
            reasons.push("passive_liveness_low".into());
        }
    }

    let verdict = if reasons.iter().any(|r| FAIL_REASONS.contains(&r.as_str())) {
        Verdict::Fail
    } else if reasons.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Refer
    };
    LivenessDecision {
        verdict,
        reasons,
        actions: results,
        best_frame: best,
        summary,
    }
}

/// The frame to use as the selfie: an embedded frame with one face and both eyes open, frontal if any
/// is, with the highest embedding norm (sharp, well-lit, upright faces have the highest).
pub fn best_frame(frames: &[FrameSignals], config: &LivenessConfig) -> Option<usize> {
    let candidates = || {
        frames.iter().enumerate().filter_map(|(i, f)| {
            let face = f.single_face()?;
            let norm = face.norm.filter(|_| face.embedding.is_some())?;
            face.both_open(config.eye_closed_at)
                .then_some((i, face, norm))
        })
    };
    let frontal = |face: &FaceSignals| {
        face.pose.yaw.abs() <= config.frontal_max_deg
            && face.pose.roll.abs() <= config.frontal_max_deg
    };
    let pick = |only_frontal: bool| {
        candidates()
            .filter(|(_, face, _)| !only_frontal || frontal(face))
            .max_by(|a, b| a.2.total_cmp(&b.2))
            .map(|(i, ..)| i)
    };
    pick(true).or_else(|| pick(false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::liveness::action::Action;
    use crate::liveness::testing::*;
    use crate::vision::quality::QualityConfig;

    #[test]
    fn a_short_both_eyes_blink_passes() {
        let d = run(&[Action::Blink], blink_video());
        assert_eq!(d.verdict, Verdict::Pass, "{:?}", d.reasons);
        assert_eq!(d.actions[0].frames, Some((12, 13)));
        assert!(d.best_frame.is_some_and(|b| !(12..=13).contains(&b)));
    }

    #[test]
    fn a_still_photo_fails_even_when_the_pose_model_jitters() {
        // Identical shapes in every frame (a looped still), with pose noise that fakes a turn.
        let mut spec = turn_video(-30.0);
        let mut frames = frames(std::mem::take(&mut spec));
        let fixed = frames[0].face.as_ref().unwrap().landmarks68.clone();
        for f in &mut frames {
            f.face.as_mut().unwrap().landmarks68 = fixed.clone();
        }
        let d = liveness_verdict(
            &anytime(&[Action::TurnLeft]),
            &frames,
            &LivenessConfig::default(),
            &QualityConfig::default(),
        );
        assert_eq!(d.verdict, Verdict::Fail);
        assert!(
            d.reasons.contains(&"no_face_motion".to_string()),
            "{:?}",
            d.reasons
        );
        assert!(d.summary.shape_change_p90 < 1e-6);
    }

    #[test]
    fn a_head_turn_nobody_asked_for_refers() {
        let mut v = blink_video();
        v.extend(turn_video(-30.0));
        let d = run(&[Action::Blink], v);
        assert_eq!(d.verdict, Verdict::Refer);
        assert_eq!(d.reasons, ["unprompted_head_turn"]);
        let mut v = blink_video();
        v.extend(turn_video(-30.0));
        assert_eq!(
            run(&[Action::Blink, Action::TurnLeft], v).verdict,
            Verdict::Pass
        );
    }

    #[test]
    fn a_low_passive_score_alone_only_refers() {
        let spec = blink_video()
            .into_iter()
            .map(|mut x| {
                x.live = 0.05;
                x
            })
            .collect();
        let d = run(&[Action::Blink], spec);
        assert_eq!(d.verdict, Verdict::Refer);
        assert_eq!(d.reasons, vec!["passive_liveness_low"]);
        assert!(d.summary.p_live_median.is_some_and(|p| p < 0.1));
    }

    #[test]
    fn another_person_or_another_face_refers() {
        let mut spec = blink_video();
        for x in &mut spec[20..24] {
            x.person = 3;
        }
        let d = run(&[Action::Blink], spec);
        assert_eq!(d.verdict, Verdict::Refer);
        assert!(
            d.reasons.contains(&"face_changed".to_string()),
            "{:?}",
            d.reasons
        );
        assert_eq!(d.summary.frames_other_person, 4);

        let mut crowd = blink_video();
        for x in &mut crowd[..6] {
            x.faces = 2;
        }
        let d = run(&[Action::Blink], crowd);
        assert_eq!(
            (d.verdict, d.reasons.clone()),
            (Verdict::Refer, vec!["multiple_faces".to_string()])
        );
    }

    #[test]
    fn too_few_faces_or_no_challenge_cannot_pass() {
        let mut empty = blink_video();
        for x in &mut empty[..22] {
            x.faces = 0;
        }
        let d = run(&[Action::Blink], empty);
        assert_eq!(
            (d.verdict, d.reasons),
            (Verdict::Refer, vec!["face_not_found".to_string()])
        );
        let d = run(&[], blink_video());
        assert_eq!(
            (d.verdict, d.reasons),
            (Verdict::Refer, vec!["no_challenge".to_string()])
        );
    }

    #[test]
    fn the_best_frame_is_frontal_with_open_eyes_and_the_highest_norm() {
        let mut fs = frames(blink_video());
        fs[3].face.as_mut().unwrap().norm = Some(4.5);
        fs[12].face.as_mut().unwrap().norm = Some(5.0); // eyes closed
        fs[5].face.as_mut().unwrap().norm = Some(4.9); // turned away
        fs[5].face.as_mut().unwrap().pose.yaw = 40.0;
        assert_eq!(best_frame(&fs, &LivenessConfig::default()), Some(3));
        // The best frame's quality gates refer a poor capture.
        fs[3].face.as_mut().unwrap().sharpness = 1.0;
        let d = liveness_verdict(
            &anytime(&[Action::Blink]),
            &fs,
            &LivenessConfig::default(),
            &QualityConfig::default(),
        );
        assert_eq!(
            (d.verdict, d.reasons),
            (Verdict::Refer, vec!["selfie_blurry".to_string()])
        );
    }
}
