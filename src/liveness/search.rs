//! Where the asked actions are in the video, and whether each came when it was prompted. Pure: the
//! per-frame signals and the schedule in, one result per action out.
//!
//! The timing rules: an action prompted at `at_s` counts when it is *seen* (a blink's first closed
//! frame, a turn's first frame past the angle) no earlier than `at_s` and no later than `at_s +
//! window_s`; occurrences before the prompt are skipped (`early` when nothing else comes), one after the
//! window is `late`. The actions are found in order, each after the previous one ended, so one blink
//! or one turn answers one prompt only and a held turn answers none after the first. An untimed action
//! (a challenge stored before schedules) is searched anywhere after the previous one, as before.

use serde::Serialize;

use super::action::Action;
use super::config::LivenessConfig;
use super::schedule::{Schedule, ScheduledAction};
use super::signals::{percentile, FaceSignals, FrameSignals};

/// How an asked action fared against its prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionTiming {
    /// Seen within the window after its prompt.
    OnTime,
    /// Found in order, but the challenge gave it no time (an old challenge): a replay is not excluded.
    Untimed,
    /// Only seen before its prompt.
    Early,
    /// First seen after its window closed.
    Late,
    /// Not seen at all (in order).
    Missing,
}

crate::domain::enum_names!(ActionTiming {
    OnTime => "on_time",
    Untimed => "untimed",
    Early => "early",
    Late => "late",
    Missing => "missing",
});

/// Where each asked action was found, and when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionResult {
    pub action: Action,
    /// Performed as asked: on time, or found in order for an untimed action.
    pub done: bool,
    pub timing: ActionTiming,
    /// When it was prompted (seconds from the first frame); absent for an untimed action.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompted_at_s: Option<f64>,
    /// When the occurrence judged was seen: the one that counted, or the early or late one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seen_at_s: Option<f64>,
    /// Sampled-frame indices of that occurrence's first and last frame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frames: Option<(usize, usize)>,
}

/// One occurrence of an action: its first frame, the frame it is seen on, its last frame.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Found {
    first: usize,
    seen: usize,
    last: usize,
}

impl Found {
    fn after(self, offset: usize) -> Found {
        Found {
            first: self.first + offset,
            seen: self.seen + offset,
            last: self.last + offset,
        }
    }
}

/// The actions of `schedule`, each searched after the previous one that counted.
pub fn check_actions(
    schedule: &Schedule,
    frames: &[FrameSignals],
    config: &LivenessConfig,
) -> Vec<ActionResult> {
    let find = finder(frames, config);
    let time = |f: Found| frames[f.seen].time_s;
    let mut from = 0;
    let mut results = Vec::with_capacity(schedule.actions.len());
    for &ScheduledAction { action, at_s } in &schedule.actions {
        let (timing, found) = match at_s {
            None => match find(action, from) {
                Some(f) => (ActionTiming::Untimed, Some(f)),
                None => (ActionTiming::Missing, None),
            },
            Some(at) => {
                let mut pos = from;
                let mut early = None;
                loop {
                    match find(action, pos) {
                        Some(f) if time(f) < at => {
                            early = Some(f);
                            pos = f.last + 1;
                        }
                        Some(f) if time(f) <= at + schedule.window_s => {
                            break (ActionTiming::OnTime, Some(f))
                        }
                        Some(f) => break (ActionTiming::Late, Some(f)),
                        None if early.is_some() => break (ActionTiming::Early, early),
                        None => break (ActionTiming::Missing, None),
                    }
                }
            }
        };
        let done = matches!(timing, ActionTiming::OnTime | ActionTiming::Untimed);
        match (done, found) {
            (true, Some(f)) => from = f.last + 1,
            // An untimed action not found in order: the later ones cannot be in order any more. A
            // timed one that missed leaves the search where it was; the next has its own window.
            _ if at_s.is_none() => from = frames.len(),
            _ => {}
        }
        results.push(ActionResult {
            action,
            done,
            timing,
            prompted_at_s: at_s,
            seen_at_s: found.map(time),
            frames: found.map(|f| (f.first, f.last)),
        });
    }
    results
}

/// Every action the video holds, in the order they were seen, each after the previous one ended
/// (at each point the occurrence seen first, of whichever action): what a recording could answer. The
/// attack evaluation builds from it the schedule that matches a clip's real timing.
pub fn seen_in_order(frames: &[FrameSignals], config: &LivenessConfig) -> Vec<ActionResult> {
    let find = finder(frames, config);
    let mut out = Vec::new();
    let mut from = 0;
    while let Some((action, f)) = Action::ALL
        .into_iter()
        .filter_map(|a| find(a, from).map(|f| (a, f)))
        .min_by_key(|(_, f)| f.seen)
    {
        from = f.last + 1;
        out.push(ActionResult {
            action,
            done: true,
            timing: ActionTiming::Untimed,
            prompted_at_s: None,
            seen_at_s: Some(frames[f.seen].time_s),
            frames: Some((f.first, f.last)),
        });
    }
    out
}

/// The head turns the video holds beyond those the schedule asks, per direction: an ordinary recording
/// turns its head when nobody asked, a person following prompts turns when asked (and a return from a
/// turn is not a turn, see [`find_turn`]). Blinks are left out: people blink unasked all the time.
pub fn unprompted_turns(
    schedule: &Schedule,
    frames: &[FrameSignals],
    config: &LivenessConfig,
) -> Vec<Action> {
    let find = finder(frames, config);
    [Action::TurnLeft, Action::TurnRight]
        .into_iter()
        .filter(|&turn| {
            let asked = schedule.actions().filter(|a| *a == turn).count();
            let mut seen = 0;
            let mut from = 0;
            while let Some(f) = find(turn, from) {
                seen += 1;
                from = f.last + 1;
            }
            seen > asked
        })
        .collect()
}

/// Finds the first occurrence of an action from a frame on, in the whole video's indices.
fn finder<'a>(
    frames: &'a [FrameSignals],
    config: &'a LivenessConfig,
) -> impl Fn(Action, usize) -> Option<Found> + 'a {
    let ear_open = open_eye_ear(frames, config);
    move |action, from| {
        let rest = frames.get(from..).filter(|r| !r.is_empty())?;
        match action {
            Action::Blink => find_blink(rest, config, ear_open),
            Action::TurnLeft | Action::TurnRight => {
                find_turn(rest, turn_sign(action, config), config)
            }
        }
        .map(|f| f.after(from))
    }
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
) -> Option<Found> {
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
            return Some(Found {
                first: i,
                seen: i,
                last: end,
            });
        }
        i = end + 1;
    }
    None
}

/// A head turn: yaw moves by at least `turn_min_deg` in direction `sign` from a frontal frame, out of
/// the frontal zone on that side, and stays there for `turn_min_frames` consecutive frames, and the
/// nose moves across the face the same way by `turn_min_nose_shift` (a photo turned in the picture
/// plane fools the pose model, not the geometry). Leaving the frontal zone is what tells a turn from
/// coming back out of one the other way: a head returning from the right to just left of centre changes
/// yaw as much, and ordinary recordings are full of such returns.
/// The reference is the frontal frame furthest the other way (a turn sweeps through the frontal zone,
/// so the latest frontal frame is already part of it). It is seen on the run's first frame.
fn find_turn(frames: &[FrameSignals], sign: f32, config: &LivenessConfig) -> Option<Found> {
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
                && yaw > config.frontal_max_deg
                && nose - nose_from >= config.turn_min_nose_shift
            {
                run += 1;
                if run >= config.turn_min_frames.max(1) {
                    return Some(Found {
                        first: start,
                        seen: i + 1 - run,
                        last: i,
                    });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::liveness::testing::*;
    use crate::liveness::verdict::{liveness_verdict, Verdict};
    use crate::vision::quality::QualityConfig;

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
            &anytime(&[Action::TurnRight]),
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
            &anytime(&[Action::TurnLeft]),
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
    fn coming_back_from_a_turn_is_not_a_turn_the_other_way() {
        // Turned right to yaw +14 (inside the frontal zone), then back to −8: a 22° change to the left
        // that never leaves the frontal zone.
        let mut v = still(10);
        v.extend((0..5).map(|_| f(14.0)));
        v.extend((0..8).map(|_| f(-8.0)));
        v.extend(still(5));
        assert!(!run(&[Action::TurnLeft], v).actions[0].done);
        // The same change that ends past −15° is a turn.
        let mut v = still(10);
        v.extend((0..5).map(|_| f(4.0)));
        v.extend((0..8).map(|_| f(-18.0)));
        v.extend(still(5));
        assert!(run(&[Action::TurnLeft], v).actions[0].done);
    }

    #[test]
    fn turns_nobody_asked_for_are_listed() {
        let mut v = turn_video(-30.0);
        v.extend(turn_video(30.0));
        v.extend(turn_video(-30.0));
        let fs = frames(v);
        let config = LivenessConfig::default();
        let asked = |names: &[Action]| unprompted_turns(&anytime(names), &fs, &config);
        assert_eq!(
            asked(&[Action::TurnLeft]),
            [Action::TurnLeft, Action::TurnRight]
        );
        assert_eq!(
            asked(&[Action::TurnLeft, Action::TurnRight, Action::TurnLeft]),
            []
        );
        assert_eq!(
            asked(&[Action::Blink, Action::TurnLeft, Action::TurnLeft]),
            [Action::TurnRight]
        );
    }

    #[test]
    fn the_actions_a_video_holds_are_listed_in_order() {
        let mut v = turn_video(-30.0); // left turn seen at 0.73 s
        v.extend(blink_video()); // blink at 2.53 s
        v.extend(turn_video(30.0)); // right turn seen at 4.2 s
        let seen = seen_in_order(&frames(v), &LivenessConfig::default());
        let got: Vec<(Action, f64)> = seen
            .iter()
            .map(|r| (r.action, (r.seen_at_s.unwrap() * 100.0).round() / 100.0))
            .collect();
        assert_eq!(
            got,
            [
                (Action::TurnLeft, 0.73),
                (Action::Blink, 2.53),
                (Action::TurnRight, 4.2)
            ]
        );
        assert!(seen_in_order(&frames(still(30)), &LivenessConfig::default()).is_empty());
    }

    // ---- timing, at 15 frames per second ----

    /// `n` frontal frames, then a blink of 2 frames.
    fn blink_at_frame(n: usize) -> Vec<F> {
        let mut v = still(n);
        v.extend([shut(f(0.0)), shut(f(0.0))]);
        v
    }

    fn timings(d: &crate::liveness::LivenessDecision) -> Vec<ActionTiming> {
        d.actions.iter().map(|a| a.timing).collect()
    }

    #[test]
    fn an_action_on_time_counts_and_is_recorded_with_its_prompt() {
        // Blink seen at 2.0 s (frame 30), prompted at 1.5 s with a 3 s window.
        let mut v = blink_at_frame(30);
        v.extend(still(20));
        let d = run_schedule(&Schedule::timed(&[Action::Blink], &[1.5], 3.0), v);
        assert_eq!(d.verdict, Verdict::Pass, "{:?}", d.reasons);
        let a = &d.actions[0];
        assert_eq!(
            (a.timing, a.prompted_at_s, a.seen_at_s, a.frames),
            (ActionTiming::OnTime, Some(1.5), Some(2.0), Some((30, 31)))
        );
        // The window's edges: seen exactly at the prompt, and exactly as the window closes.
        let mut v = blink_at_frame(30);
        v.extend(still(20));
        let at_prompt = run_schedule(&Schedule::timed(&[Action::Blink], &[2.0], 3.0), v);
        assert_eq!(timings(&at_prompt), [ActionTiming::OnTime]);
        let mut v = blink_at_frame(30);
        v.extend(still(20));
        let at_close = run_schedule(&Schedule::timed(&[Action::Blink], &[1.0], 1.0), v);
        assert_eq!(timings(&at_close), [ActionTiming::OnTime]);
    }

    #[test]
    fn an_action_before_its_prompt_is_early_and_fails() {
        let mut v = blink_at_frame(15); // 1.0 s
        v.extend(still(40));
        let d = run_schedule(&Schedule::timed(&[Action::Blink], &[1.5], 3.0), v);
        assert_eq!(d.verdict, Verdict::Fail);
        assert_eq!(d.reasons, ["challenge_not_performed"]);
        assert_eq!(timings(&d), [ActionTiming::Early]);
        assert_eq!(d.actions[0].seen_at_s, Some(1.0));
        assert!(!d.actions[0].done);
    }

    #[test]
    fn an_early_occurrence_is_skipped_for_one_in_the_window() {
        let mut v = blink_at_frame(15); // 1.0 s: before the prompt
        v.extend(blink_at_frame(20)); // 2.47 s: in the window
        v.extend(still(20));
        let d = run_schedule(&Schedule::timed(&[Action::Blink], &[1.5], 3.0), v);
        assert_eq!(d.verdict, Verdict::Pass, "{:?}", d.reasons);
        assert_eq!(d.actions[0].frames, Some((37, 38)));
    }

    #[test]
    fn an_action_after_its_window_is_late_and_fails() {
        let mut v = blink_at_frame(75); // 5.0 s
        v.extend(still(20));
        let d = run_schedule(&Schedule::timed(&[Action::Blink], &[1.5], 3.0), v);
        assert_eq!(d.verdict, Verdict::Fail);
        assert_eq!(timings(&d), [ActionTiming::Late]);
        assert_eq!(d.actions[0].seen_at_s, Some(5.0));
    }

    #[test]
    fn actions_out_of_the_asked_order_fail() {
        // The video turns left (seen at 0.73 s), then blinks (2.53 s); the schedule asks the reverse.
        let mut v = turn_video(-30.0);
        v.extend(blink_video());
        let s = Schedule::timed(&[Action::Blink, Action::TurnLeft], &[0.3, 2.3], 1.0);
        let d = run_schedule(&s, v);
        assert_eq!(d.verdict, Verdict::Fail);
        assert_eq!(timings(&d), [ActionTiming::Late, ActionTiming::Early]);
        // The same footage in its own order and timing passes.
        let mut v = turn_video(-30.0);
        v.extend(blink_video());
        let s = Schedule::timed(&[Action::TurnLeft, Action::Blink], &[0.3, 2.3], 1.0);
        assert_eq!(run_schedule(&s, v).verdict, Verdict::Pass);
    }

    #[test]
    fn a_repeated_action_needs_one_occurrence_per_prompt() {
        // Two separate left turns (seen at 0.73 s and 2.47 s) answer two prompts.
        let mut twice = turn_video(-30.0);
        twice.extend(turn_video(-30.0));
        let s = Schedule::timed(&[Action::TurnLeft, Action::TurnLeft], &[0.5, 2.0], 3.0);
        let d = run_schedule(&s, twice);
        assert_eq!(d.verdict, Verdict::Pass, "{:?}", d.reasons);
        assert_eq!(timings(&d), [ActionTiming::OnTime; 2]);
        // One turn held for 2.7 s answers the first prompt only.
        let mut held = still(10);
        held.extend((0..40).map(|_| f(-30.0)));
        held.extend(still(10));
        let d = run_schedule(&s, held);
        assert_eq!(timings(&d), [ActionTiming::OnTime, ActionTiming::Missing]);
        assert_eq!(d.verdict, Verdict::Fail);
        // Two blinks in the first window: the second came before its own prompt.
        let mut v = blink_at_frame(15); // 1.0 s
        v.extend(blink_at_frame(13)); // 2.0 s
        v.extend(still(30));
        let s = Schedule::timed(&[Action::Blink, Action::Blink], &[0.8, 2.5], 3.0);
        let d = run_schedule(&s, v);
        assert_eq!(timings(&d), [ActionTiming::OnTime, ActionTiming::Early]);
    }

    #[test]
    fn untimed_actions_are_searched_in_order_and_only_refer() {
        let mut v = blink_video();
        v.extend(turn_video(-30.0));
        let s = Schedule::untimed(&[Action::Blink, Action::TurnLeft], 3.0);
        let d = run_schedule(&s, v);
        assert_eq!(d.verdict, Verdict::Refer);
        assert_eq!(d.reasons, ["challenge_untimed"]);
        assert_eq!(timings(&d), [ActionTiming::Untimed; 2]);
        assert!(d
            .actions
            .iter()
            .all(|a| a.done && a.prompted_at_s.is_none()));
        // Out of order, an untimed challenge still fails.
        let mut v = blink_video();
        v.extend(turn_video(-30.0));
        let s = Schedule::untimed(&[Action::TurnLeft, Action::Blink], 3.0);
        let d = run_schedule(&s, v);
        assert_eq!(d.verdict, Verdict::Fail);
        assert_eq!(timings(&d), [ActionTiming::Untimed, ActionTiming::Missing]);
    }
}
