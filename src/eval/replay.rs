//! Replay of a genuine recording against time-bound challenges: the per-frame signals of a real clip
//! (computed once) judged against every schedule the service could issue. The verdict is pure, so
//! thousands of schedules take a moment. The share that passes is the replay APCER; the clip judged
//! against the schedule that matches its own timing is the bona fide case, and must not fail.

use serde::Serialize;

use crate::liveness::search::seen_in_order;
use crate::liveness::signals::FrameSignals;
use crate::liveness::{liveness_verdict, LivenessConfig, Schedule, Verdict};
use crate::vision::quality::QualityConfig;

/// How long before a clip's action was seen the matched schedule prompts it: a quick but ordinary
/// response (people begin a blink or a turn half a second to a second after a prompt).
pub const MATCHED_LAG_S: f64 = 0.5;

/// The verdicts of one clip over many schedules.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReplayTally {
    pub schedules: usize,
    pub pass: usize,
    pub refer: usize,
    pub fail: usize,
    /// Schedules whose every action the clip performed on time, whatever else the verdict found
    /// (another face, a poor best frame): the chance that the footage answers a challenge at all.
    pub challenge_met: usize,
}

impl ReplayTally {
    pub fn add(&mut self, other: &ReplayTally) {
        self.schedules += other.schedules;
        self.pass += other.pass;
        self.refer += other.refer;
        self.fail += other.fail;
        self.challenge_met += other.challenge_met;
    }

    /// The share of schedules passed: the replay APCER.
    pub fn apcer(&self) -> f64 {
        share(self.pass, self.schedules)
    }

    pub fn challenge_met_share(&self) -> f64 {
        share(self.challenge_met, self.schedules)
    }
}

fn share(n: usize, of: usize) -> f64 {
    if of == 0 {
        0.0
    } else {
        n as f64 / of as f64
    }
}

/// Judges one clip's frames against each schedule.
pub fn replay_against(
    frames: &[FrameSignals],
    schedules: impl IntoIterator<Item = Schedule>,
    config: &LivenessConfig,
    quality: &QualityConfig,
) -> ReplayTally {
    let mut tally = ReplayTally::default();
    for schedule in schedules {
        let d = liveness_verdict(&schedule, frames, config, quality);
        tally.schedules += 1;
        match d.verdict {
            Verdict::Pass => tally.pass += 1,
            Verdict::Refer => tally.refer += 1,
            Verdict::Fail => tally.fail += 1,
        }
        if d.actions.iter().all(|a| a.done) {
            tally.challenge_met += 1;
        }
    }
    tally
}

/// The schedule that matches a clip's real timing: its actions (the first `max_actions`) in the order seen,
/// each prompted [`MATCHED_LAG_S`] before it was seen (to the tenth of a second below, not before the
/// recording's start). `None` when the clip holds no action.
pub fn matched_schedule(
    frames: &[FrameSignals],
    config: &LivenessConfig,
    max_actions: usize,
    window_s: f64,
) -> Option<Schedule> {
    let seen = seen_in_order(frames, config);
    let (actions, times): (Vec<_>, Vec<_>) = seen
        .iter()
        .take(max_actions)
        .filter_map(|r| {
            // The epsilon keeps 1.4 − 0.5 at 0.9 despite binary fractions.
            let at = ((r.seen_at_s? - MATCHED_LAG_S) * 10.0 + 1e-6).floor() / 10.0;
            Some((r.action, at.max(0.0)))
        })
        .unzip();
    (!actions.is_empty()).then(|| Schedule::timed(&actions, &times, window_s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::liveness::testing::{blink_video, frames, still, turn_video};
    use crate::liveness::ScheduleConfig;

    #[test]
    fn a_clip_passes_its_matched_schedule_and_few_of_the_grid() {
        // A left turn seen at 1.4 s, a blink at 4.53 s, a right turn at 6.2 s, in 7.2 s of video.
        let mut spec = still(10);
        spec.extend(turn_video(-30.0));
        spec.extend(still(20));
        spec.extend(blink_video());
        spec.extend(turn_video(30.0));
        let fs = frames(spec);
        let config = LivenessConfig::default();
        let quality = QualityConfig::default();
        let matched = matched_schedule(&fs, &config, 3, 3.0).unwrap();
        assert_eq!(matched.to_string(), "turn_left@0.9,blink@4,turn_right@5.7");
        let own = replay_against(&fs, [matched], &config, &quality);
        assert_eq!((own.pass, own.challenge_met), (1, 1));

        let grid = ScheduleConfig::default();
        let all = replay_against(&fs, grid.all_schedules(), &config, &quality);
        assert_eq!(all.schedules, 1500);
        assert_eq!(all.pass + all.refer + all.fail, 1500);
        assert_eq!(all.pass, all.challenge_met, "nothing else refers this clip");
        // Only turn_left@1, blink@3..4, turn_right@≤6.2 match: 6 of the 75 timings of that sequence.
        assert_eq!(all.pass, 6, "{all:?}");
        let mut total = ReplayTally::default();
        total.add(&all);
        total.add(&own);
        assert_eq!(total.schedules, 1501);
        assert!((total.apcer() - (all.pass + 1) as f64 / 1501.0).abs() < 1e-12);
        assert!(matched_schedule(&frames(still(20)), &config, 3, 3.0).is_none());
    }
}
