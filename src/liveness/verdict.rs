//! The liveness verdict: a pure function of the challenge's actions, the per-frame signals and the
//! configuration, so every rule is tested on synthetic signal sequences without a video.
//!
//! `fail` needs positive evidence of an attack: the challenge was not performed, or the face did not
//! move like a face. Everything else that makes the evidence weak or suspicious (a low passive score, a
//! poor best frame, other faces in view, a different person in some frames, too few usable frames) is
//! `refer`: a person looks.

use serde::{Deserialize, Serialize};

use super::challenge::Action;
use super::signals::{shape_change, FaceSignals, FrameSignals};
use crate::pipeline::verify::{face_quality_reasons, QualityConfig, Role};

/// Thresholds of the verdict and the per-frame work; `[liveness]` in the configuration file.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LivenessConfig {
    /// P(closed) at or above which an eye counts as closed (fr_eye; both eyes must be).
    pub eye_closed_at: f32,
    /// Longest closed run that is a blink, in seconds. Looking down reads as "closed" for 1–1.5 s.
    pub blink_max_s: f64,
    /// The lowest eye aspect ratio in a blink must be at most this share of the open-eye median.
    pub blink_max_ear_ratio: f32,
    /// Yaw change (degrees) from a frontal frame that counts as a head turn.
    pub turn_min_deg: f32,
    /// |yaw| (degrees) up to which a frame counts as frontal: a turn starts from one.
    pub frontal_max_deg: f32,
    /// Consecutive frames beyond the turn angle needed (one frame may be a pose glitch).
    pub turn_min_frames: usize,
    /// The capture is mirrored (a selfie preview recorded as shown): left and right swap.
    pub mirrored: bool,
    /// Frames with a face below which nothing can be judged (`face_not_found`).
    pub min_face_frames: usize,
    /// Share of analysed frames that must show exactly one face.
    pub min_single_face_share: f32,
    /// Cosine to the best frame below which a frame is a different person (`face_changed`).
    pub different_person_below: f32,
    /// Frames below `different_person_below` needed for `face_changed` (one may be a bad crop).
    pub different_person_frames: usize,
    /// Cosine to the best frame below which the identity is doubtful (`identity_uncertain`).
    pub same_person_min: f32,
    /// Frames turned further than this (|yaw|, degrees) are left out of the identity check: the
    /// embedding of a profile is not comparable with a frontal one.
    pub identity_max_yaw_deg: f32,
    /// Landmark shape change (RMS over inter-ocular distance, see `signals::shape_change`) that the
    /// most-changed tenth of frames must reach; a photo moved in front of the camera stays below.
    pub min_shape_change: f32,
    /// Median passive P(live) below which the video is referred (never failed on this alone).
    pub passive_min: f32,
    /// Embed every n-th sampled frame (1 = all).
    pub identity_every: usize,
    /// Run the passive model on every n-th sampled frame (1 = all).
    pub passive_every: usize,
}

impl Default for LivenessConfig {
    fn default() -> Self {
        LivenessConfig {
            eye_closed_at: 0.5,
            blink_max_s: 0.6,
            blink_max_ear_ratio: 0.9,
            turn_min_deg: 20.0,
            frontal_max_deg: 15.0,
            turn_min_frames: 2,
            mirrored: false,
            min_face_frames: 8,
            min_single_face_share: 0.9,
            different_person_below: 0.3,
            different_person_frames: 2,
            same_person_min: 0.5,
            identity_max_yaw_deg: 35.0,
            min_shape_change: 0.03,
            passive_min: 0.3,
            identity_every: 2,
            passive_every: 3,
        }
    }
}

impl LivenessConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.eye_closed_at) || !(0.0..=1.0).contains(&self.passive_min) {
            return Err("liveness probabilities must lie between 0 and 1".into());
        }
        if self.different_person_below > self.same_person_min {
            return Err(format!(
                "liveness.different_person_below ({}) must not exceed same_person_min ({})",
                self.different_person_below, self.same_person_min
            ));
        }
        if self.turn_min_deg <= 0.0 || self.blink_max_s <= 0.0 {
            return Err("liveness.turn_min_deg and blink_max_s must be positive".into());
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    /// The machine cannot settle it: a person must look.
    Refer,
}

/// Where each asked action was found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionResult {
    pub action: Action,
    pub done: bool,
    /// Sampled-frame indices of the action's first and last frame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frames: Option<(usize, usize)>,
}

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

/// The verdict on a video. Pure: same inputs, same decision.
pub fn decide(
    actions: &[Action],
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
        actions
            .iter()
            .map(|&action| ActionResult {
                action,
                done: false,
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
    if actions.is_empty() {
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

    // The challenge, in order.
    let results = check_actions(actions, frames, config);
    if results.iter().any(|r| !r.done) {
        reasons.push("challenge_not_performed".into());
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
        reasons.extend(face_quality_reasons(Role::Selfie, &q, quality));
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

/// The value at quantile `q` (nearest rank) of `values`; 0 when empty.
fn percentile(values: &mut [f32], q: f32) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f32::total_cmp);
    let rank = ((values.len() - 1) as f32 * q).round() as usize;
    values[rank.min(values.len() - 1)]
}

/// Finds the actions one after the other, each starting after the previous one ended.
pub fn check_actions(
    actions: &[Action],
    frames: &[FrameSignals],
    config: &LivenessConfig,
) -> Vec<ActionResult> {
    let ear_open = open_eye_ear(frames, config);
    let mut from = 0;
    let mut results = Vec::with_capacity(actions.len());
    for &action in actions {
        let found = if from >= frames.len() {
            None
        } else {
            match action {
                Action::Blink => find_blink(&frames[from..], config, ear_open),
                Action::TurnLeft | Action::TurnRight => {
                    find_turn(&frames[from..], turn_sign(action, config), config)
                }
            }
        };
        match found {
            Some((start, end)) => {
                results.push(ActionResult {
                    action,
                    done: true,
                    frames: Some((from + start, from + end)),
                });
                from += end + 1;
            }
            None => {
                results.push(ActionResult {
                    action,
                    done: false,
                    frames: None,
                });
                from = frames.len(); // the later actions cannot be in order any more
            }
        }
    }
    results
}

/// +1 when the asked turn increases yaw. Yaw grows when the nose points to image-left, which is the
/// subject's right in a non-mirrored video (models.md §2.6).
fn turn_sign(action: Action, config: &LivenessConfig) -> f32 {
    let right = if action == Action::TurnRight {
        1.0
    } else {
        -1.0
    };
    if config.mirrored {
        -right
    } else {
        right
    }
}

/// Median eye aspect ratio over the frames with both eyes open.
fn open_eye_ear(frames: &[FrameSignals], config: &LivenessConfig) -> Option<f32> {
    let mut ears: Vec<f32> = frames
        .iter()
        .filter_map(|f| f.face.as_ref())
        .filter(|f| f.both_open(config.eye_closed_at))
        .map(FaceSignals::mean_ear)
        .collect();
    (!ears.is_empty()).then(|| percentile(&mut ears, 0.5))
}

/// A blink: an episode of frames with at least one eye closed that holds at least one frame with both
/// eyes closed, is preceded and followed by a frame with both eyes open (the eyes close and open one
/// after the other, so the edges of a blink are often half-closed), lasts at most `blink_max_s`, and
/// dips the eye aspect ratio. Looking down or away reads as closed for far longer, and squinting or a
/// sideways glance does not dip the aspect ratio. A frame without a face ends an episode unbounded.
fn find_blink(
    frames: &[FrameSignals],
    config: &LivenessConfig,
    ear_open: Option<f32>,
) -> Option<(usize, usize)> {
    let closed_at = config.eye_closed_at;
    let face = |k: usize| frames.get(k).and_then(|f| f.face.as_ref());
    let some_closed = |k: usize| face(k).is_some_and(|f| !f.both_open(closed_at));
    let mut i = 1;
    while i < frames.len() {
        if !(face(i - 1).is_some_and(|f| f.both_open(closed_at)) && some_closed(i)) {
            i += 1;
            continue;
        }
        let mut end = i;
        while some_closed(end + 1) {
            end += 1;
        }
        let episode = || frames[i..=end].iter().filter_map(|f| f.face.as_ref());
        let opened_after = face(end + 1).is_some_and(|f| f.both_open(closed_at));
        let both_closed = episode().any(|f| f.both_closed(closed_at));
        let short = frames[end].time_s - frames[i].time_s <= config.blink_max_s;
        let min_ear = episode()
            .map(FaceSignals::mean_ear)
            .fold(f32::INFINITY, f32::min);
        let dips = ear_open.is_none_or(|open| min_ear <= config.blink_max_ear_ratio * open);
        if opened_after && both_closed && short && dips {
            return Some((i, end));
        }
        i = end + 1;
    }
    None
}

/// A head turn: yaw moves by at least `turn_min_deg` in direction `sign` from a frontal frame and stays
/// there for `turn_min_frames` consecutive frames. The reference is the frontal frame furthest the other
/// way (a turn sweeps through the frontal zone, so the latest frontal frame is already part of it).
fn find_turn(
    frames: &[FrameSignals],
    sign: f32,
    config: &LivenessConfig,
) -> Option<(usize, usize)> {
    let mut reference: Option<(usize, f32)> = None;
    let mut run = 0;
    for (i, frame) in frames.iter().enumerate() {
        let Some(yaw) = frame
            .face
            .as_ref()
            .map(|f| sign * f.pose.yaw)
            .filter(|y| y.is_finite())
        else {
            run = 0;
            continue;
        };
        if let Some((start, from)) = reference {
            if yaw - from >= config.turn_min_deg {
                run += 1;
                if run >= config.turn_min_frames.max(1) {
                    return Some((start, i));
                }
                continue;
            }
        }
        run = 0;
        if yaw.abs() <= config.frontal_max_deg && reference.is_none_or(|(_, from)| yaw < from) {
            reference = Some((i, yaw));
        }
    }
    None
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
