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
use crate::vision::quality::{face_quality_reasons, FaceSource, QualityConfig};

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
    /// Shift of the nose across the face (`signals::nose_offset`, inter-ocular distances) a turn needs too.
    pub turn_min_nose_shift: f32,
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
            turn_min_nose_shift: 0.08,
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
            identity_every: 3,
            passive_every: 4,
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

crate::domain::enum_names!(Verdict {
    Pass => "pass",
    Fail => "fail",
    Refer => "refer",
});

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
pub fn liveness_verdict(
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
/// there for `turn_min_frames` consecutive frames, and the nose moves across the face the same way by
/// `turn_min_nose_shift` (a photo turned in the picture plane fools the pose model, not the geometry).
/// The reference is the frontal frame furthest the other way (a turn sweeps through the frontal zone,
/// so the latest frontal frame is already part of it).
fn find_turn(
    frames: &[FrameSignals],
    sign: f32,
    config: &LivenessConfig,
) -> Option<(usize, usize)> {
    let mut reference: Option<(usize, f32, f32)> = None;
    let mut run = 0;
    for (i, frame) in frames.iter().enumerate() {
        // In the direction of the turn: yaw grows, and the nose moves the opposite way on screen.
        let Some((yaw, nose)) = frame
            .face
            .as_ref()
            .map(|f| (sign * f.pose.yaw, -sign * f.nose_offset))
            .filter(|(y, n)| y.is_finite() && n.is_finite())
        else {
            run = 0;
            continue;
        };
        if let Some((start, yaw_from, nose_from)) = reference {
            if yaw - yaw_from >= config.turn_min_deg
                && nose - nose_from >= config.turn_min_nose_shift
            {
                run += 1;
                if run >= config.turn_min_frames.max(1) {
                    return Some((start, i));
                }
                continue;
            }
        }
        run = 0;
        if yaw.abs() <= config.frontal_max_deg && reference.is_none_or(|(_, from, _)| yaw < from) {
            reference = Some((i, yaw, nose));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::embed::Embedding;
    use crate::vision::pose::HeadPose;
    use crate::vision::quality::Exposure;
    use crate::vision::{BoxF, Point};

    const OPEN: f32 = 0.02;
    const SHUT: f32 = 0.98;

    /// A face shape; `mouth` opens the mouth and `lids` lowers the upper eyelids (pixels).
    fn shape(mouth: f32, lids: f32) -> Vec<Point> {
        let mut lm: Vec<Point> = (0..68)
            .map(|k| {
                let t = k as f32 * 0.37;
                [200.0 + 60.0 * t.cos(), 220.0 + 80.0 * t.sin()]
            })
            .collect();
        lm[36] = [160.0, 200.0];
        lm[45] = [240.0, 200.0];
        for p in &mut lm[48..68] {
            p[1] += mouth;
        }
        for k in [37, 38, 43, 44] {
            lm[k][1] += lids;
        }
        lm
    }

    fn embedding(seed: usize) -> Embedding {
        let raw: Vec<f32> = (0..512)
            .map(|i| if i % 7 == seed % 7 { 1.0 } else { 0.1 })
            .collect();
        Embedding::from_raw(&raw).unwrap().0
    }

    struct F {
        yaw: f32,
        closed: [f32; 2],
        ear: f32,
        faces: usize,
        person: usize,
        mouth: f32,
        live: f32,
    }

    fn f(yaw: f32) -> F {
        F {
            yaw,
            closed: [OPEN, OPEN],
            ear: 0.3,
            faces: 1,
            person: 0,
            mouth: 0.0,
            live: 0.95,
        }
    }

    fn shut(mut x: F) -> F {
        x.closed = [SHUT, SHUT];
        x.ear = 0.15;
        x
    }

    /// Frames at 15 per second; every frame embedded and passively scored; the mouth moves as people's do.
    fn frames(spec: Vec<F>) -> Vec<FrameSignals> {
        spec.into_iter()
            .enumerate()
            .map(|(i, s)| FrameSignals {
                index: i,
                time_s: i as f64 / 15.0,
                faces: s.faces,
                face: (s.faces > 0).then(|| FaceSignals {
                    bbox: BoxF {
                        x1: 100.0,
                        y1: 100.0,
                        x2: 300.0,
                        y2: 340.0,
                    },
                    score: 0.99,
                    cut_off: false,
                    landmarks68: shape(
                        s.mouth + (i % 5) as f32 * 3.0,
                        if s.closed[0] > 0.5 { 8.0 } else { 0.0 },
                    ),
                    p_closed: s.closed.map(Some),
                    ear: [s.ear; 2],
                    nose_offset: -s.yaw / 100.0,
                    pose: HeadPose {
                        yaw: s.yaw,
                        pitch: -5.0,
                        roll: 1.0,
                    },
                    p_live: Some(s.live),
                    sharpness: 400.0,
                    exposure: Exposure {
                        mean_luma: 120.0,
                        dark_share: 0.0,
                        bright_share: 0.0,
                    },
                    embedding: Some(embedding(s.person)),
                    norm: Some(3.8),
                }),
            })
            .collect()
    }

    fn still(n: usize) -> Vec<F> {
        (0..n).map(|_| f(0.0)).collect()
    }

    fn run(actions: &[Action], spec: Vec<F>) -> LivenessDecision {
        liveness_verdict(
            actions,
            &frames(spec),
            &LivenessConfig::default(),
            &QualityConfig::default(),
        )
    }

    /// 12 frontal frames, a blink of 2 frames, 12 frontal frames.
    fn blink_video() -> Vec<F> {
        let mut v = still(12);
        v.extend([shut(f(0.0)), shut(f(0.0))]);
        v.extend(still(12));
        v
    }

    /// Frontal, then a turn to `yaw` held for 5 frames, then frontal again.
    fn turn_video(yaw: f32) -> Vec<F> {
        let mut v = still(10);
        v.extend([f(yaw / 2.0), f(yaw), f(yaw), f(yaw), f(yaw), f(yaw / 2.0)]);
        v.extend(still(10));
        v
    }

    #[test]
    fn a_short_both_eyes_blink_passes() {
        let d = run(&[Action::Blink], blink_video());
        assert_eq!(d.verdict, Verdict::Pass, "{:?}", d.reasons);
        assert_eq!(d.actions[0].frames, Some((12, 13)));
        assert!(d.best_frame.is_some_and(|b| !(12..=13).contains(&b)));
    }

    #[test]
    fn looking_down_a_wink_or_an_unbounded_closure_is_not_a_blink() {
        // Eyes "closed" for 1.3 s: looking down.
        let mut down = still(10);
        down.extend((0..20).map(|_| shut(f(0.0))));
        down.extend(still(10));
        assert!(!run(&[Action::Blink], down).actions[0].done);
        // One eye only.
        let mut wink = still(10);
        wink.extend((0..2).map(|_| {
            let mut x = shut(f(0.0));
            x.closed = [SHUT, OPEN];
            x
        }));
        wink.extend(still(10));
        assert!(!run(&[Action::Blink], wink).actions[0].done);
        // Closed at the end of the video: never seen to open again.
        let mut end = still(20);
        end.extend([shut(f(0.0)), shut(f(0.0))]);
        assert!(!run(&[Action::Blink], end).actions[0].done);
        // The model says closed but the lids do not move (a half-lidded gaze): no aspect-ratio dip.
        let mut gaze = still(10);
        gaze.extend((0..3).map(|_| {
            let mut x = shut(f(0.0));
            x.ear = 0.29;
            x
        }));
        gaze.extend(still(10));
        assert!(!run(&[Action::Blink], gaze).actions[0].done);
    }

    #[test]
    fn a_half_closed_frame_at_the_edge_of_a_blink_is_part_of_it() {
        let mut v = still(10);
        let mut edge = f(0.0);
        edge.closed = [OPEN, SHUT];
        v.extend([edge, shut(f(0.0)), shut(f(0.0))]);
        v.extend(still(10));
        assert_eq!(run(&[Action::Blink], v).actions[0].frames, Some((10, 12)));
    }

    #[test]
    fn turns_follow_the_yaw_sign_and_the_mirror_setting() {
        // Yaw falls: the nose points to image-right, the subject's left in a non-mirrored video.
        let left = run(&[Action::TurnLeft], turn_video(-30.0));
        assert!(left.actions[0].done, "{:?}", left.reasons);
        assert!(!run(&[Action::TurnRight], turn_video(-30.0)).actions[0].done);
        assert!(run(&[Action::TurnRight], turn_video(30.0)).actions[0].done);
        let mirrored = LivenessConfig {
            mirrored: true,
            ..LivenessConfig::default()
        };
        let d = liveness_verdict(
            &[Action::TurnRight],
            &frames(turn_video(-30.0)),
            &mirrored,
            &QualityConfig::default(),
        );
        assert!(d.actions[0].done);
    }

    #[test]
    fn a_turn_the_geometry_does_not_show_is_not_a_turn() {
        // The pose model reports a turn but the nose stays put: a photo turned in the picture plane.
        let mut fs = frames(turn_video(-30.0));
        for f in &mut fs {
            f.face.as_mut().unwrap().nose_offset = 0.01;
        }
        let d = liveness_verdict(
            &[Action::TurnLeft],
            &fs,
            &LivenessConfig::default(),
            &QualityConfig::default(),
        );
        assert!(!d.actions[0].done);
    }

    #[test]
    fn small_or_momentary_turns_and_turns_without_a_frontal_start_do_not_count() {
        assert!(!run(&[Action::TurnLeft], turn_video(-15.0)).actions[0].done);
        let mut spike = still(10);
        spike.push(f(-40.0)); // one glitchy frame
        spike.extend(still(10));
        assert!(!run(&[Action::TurnLeft], spike).actions[0].done);
        // Already turned from the first frame to the last: no frontal start.
        let turned: Vec<F> = (0..20).map(|i| f(-20.0 - i as f32)).collect();
        assert!(!run(&[Action::TurnLeft], turned).actions[0].done);
    }

    #[test]
    fn actions_must_come_in_the_asked_order() {
        let mut v = blink_video();
        v.extend(turn_video(-30.0));
        let in_order = run(&[Action::Blink, Action::TurnLeft], v);
        assert_eq!(in_order.verdict, Verdict::Pass, "{:?}", in_order.reasons);
        let mut v = blink_video();
        v.extend(turn_video(-30.0));
        let reversed = run(&[Action::TurnLeft, Action::Blink], v);
        assert_eq!(reversed.verdict, Verdict::Fail);
        assert_eq!(reversed.reasons, vec!["challenge_not_performed"]);
        assert!(reversed.actions[0].done && !reversed.actions[1].done);
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
            &[Action::TurnLeft],
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
            &[Action::Blink],
            &fs,
            &LivenessConfig::default(),
            &QualityConfig::default(),
        );
        assert_eq!(
            (d.verdict, d.reasons),
            (Verdict::Refer, vec!["selfie_blurry".to_string()])
        );
    }

    #[test]
    fn configuration_is_validated() {
        assert!(LivenessConfig::default().validate().is_ok());
        let inverted = LivenessConfig {
            different_person_below: 0.6,
            ..LivenessConfig::default()
        };
        assert!(inverted.validate().is_err());
    }
}
