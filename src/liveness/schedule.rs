//! Time-bound challenges: which actions, and the moment each is prompted (`at_s`, seconds from the
//! recording's first frame). A replayed recording has to hold every action inside its window, so the
//! schedule, not only the order, is the secret a replay must match. Generation and the grid it draws
//! from are pure, so the attack evaluation can list every schedule the service could issue.

use rand::seq::IndexedRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::action::Action;

/// Most actions a schedule may hold (the command line's and the configuration's bound).
pub const MAX_ACTIONS: usize = 6;

/// Latest `at_s` the command line accepts: far beyond any accepted video, so a typo is caught.
const MAX_AT_S: f64 = 600.0;

/// One action and when it is prompted. Issued challenges always have `at_s`; an action without it is
/// untimed (a challenge stored before challenges had schedules): searched anywhere after the previous
/// action, for old recordings only.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ScheduledAction {
    /// `blink`, `turn_left` or `turn_right` (the person's own left and right).
    #[schema(value_type = String)]
    pub action: Action,
    /// When the prompt appears, in seconds from the recording's first frame; the action must begin
    /// within the challenge's `window_s` after it, and not before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_s: Option<f64>,
}

/// The actions of a challenge in order, with the window each must begin in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub actions: Vec<ScheduledAction>,
    /// Seconds after its prompt within which an action must begin.
    pub window_s: f64,
}

/// How challenges are drawn; `[challenge]` in the configuration file. Every value is on a grid of
/// `step_s`, so the schedules the service can issue are finite and can all be tried by the attack
/// evaluation (`idv eval-liveness`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleConfig {
    /// Actions per challenge.
    pub actions: usize,
    /// The first prompt comes between these (seconds after recording starts): the lead-in.
    pub lead_in_min_s: f64,
    pub lead_in_max_s: f64,
    /// Seconds between consecutive prompts, drawn between these.
    pub gap_min_s: f64,
    pub gap_max_s: f64,
    /// The grid every moment is drawn on.
    pub step_s: f64,
    /// An action must begin within this many seconds after its prompt, and not before it.
    pub window_s: f64,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig {
            actions: 3,
            lead_in_min_s: 1.0,
            lead_in_max_s: 2.0,
            gap_min_s: 2.0,
            gap_max_s: 4.0,
            step_s: 0.5,
            window_s: 3.0,
        }
    }
}

/// The grid values from `min` to `max` (inclusive) in steps of `step`.
fn grid(min: f64, max: f64, step: f64) -> Vec<f64> {
    let n = ((max - min) / step + 1e-9).floor().max(0.0) as usize;
    (0..=n).map(|k| round_ms(min + k as f64 * step)).collect()
}

/// To the millisecond: grid sums such as 1.1 + 2.2 print as written.
fn round_ms(s: f64) -> f64 {
    (s * 1000.0).round() / 1000.0
}

/// Blinks allowed per challenge. People blink every few seconds unasked, so a run of blink prompts is
/// what an ordinary recording matches most easily; head turns are rarer and may repeat.
const MAX_BLINKS: usize = 1;

impl ScheduleConfig {
    pub fn validate(&self, max_video_s: f64) -> Result<(), String> {
        if self.actions == 0 || self.actions > MAX_ACTIONS {
            return Err(format!(
                "challenge.actions must be between 1 and {MAX_ACTIONS}"
            ));
        }
        let all = [
            self.lead_in_min_s,
            self.lead_in_max_s,
            self.gap_min_s,
            self.gap_max_s,
            self.step_s,
            self.window_s,
        ];
        if all.iter().any(|v| !v.is_finite() || *v < 0.0) || self.step_s < 0.1 {
            return Err(
                "challenge times must be finite and not negative, step_s at least 0.1".into(),
            );
        }
        if self.lead_in_min_s > self.lead_in_max_s || self.gap_min_s > self.gap_max_s {
            return Err("challenge: each minimum must not exceed its maximum".into());
        }
        if self.window_s < 1.0 || self.gap_min_s < 1.0 {
            return Err("challenge.window_s and gap_min_s must be at least 1 s".into());
        }
        let longest = self.longest_recording_s();
        if longest >= max_video_s {
            return Err(format!(
                "the longest challenge needs a {longest:.1} s recording, not shorter than video.max_duration_s ({max_video_s:.1} s)"
            ));
        }
        Ok(())
    }

    /// The longest recording a challenge can need: the last prompt as late as it can be, its window,
    /// and the tail a finished action needs on the video (see [`Schedule::recording_s`]).
    pub fn longest_recording_s(&self) -> f64 {
        let last = self.lead_in_max_s + self.gap_max_s * self.actions.saturating_sub(1) as f64;
        round_ms(last + self.window_s + RECORDING_TAIL_S)
    }

    /// The action sequences a challenge may ask: every sequence of `actions` actions (repeats
    /// included) with at most one blink.
    pub fn sequences(&self) -> Vec<Vec<Action>> {
        let mut out: Vec<Vec<Action>> = vec![vec![]];
        for _ in 0..self.actions {
            out = out
                .into_iter()
                .flat_map(|seq| {
                    Action::ALL.into_iter().map(move |a| {
                        let mut s = seq.clone();
                        s.push(a);
                        s
                    })
                })
                .filter(|s| s.iter().filter(|a| **a == Action::Blink).count() <= MAX_BLINKS)
                .collect();
        }
        out
    }

    /// The prompt times a challenge may have: a lead-in, then gaps, all on the grid.
    pub fn timings(&self) -> Vec<Vec<f64>> {
        let mut out: Vec<Vec<f64>> = grid(self.lead_in_min_s, self.lead_in_max_s, self.step_s)
            .into_iter()
            .map(|t| vec![t])
            .collect();
        let gaps = grid(self.gap_min_s, self.gap_max_s, self.step_s);
        for _ in 1..self.actions {
            out = out
                .into_iter()
                .flat_map(|times| {
                    gaps.iter().map(move |g| {
                        let mut t = times.clone();
                        t.push(round_ms(t.last().expect("a lead-in") + g));
                        t
                    })
                })
                .collect();
        }
        out
    }

    /// Every schedule the service can issue (sequences × timings), for the attack evaluation.
    pub fn all_schedules(&self) -> impl Iterator<Item = Schedule> + '_ {
        let timings = self.timings();
        self.sequences().into_iter().flat_map(move |seq| {
            timings
                .clone()
                .into_iter()
                .map(move |times| Schedule::timed(&seq, &times, self.window_s))
        })
    }

    /// How many distinct schedules the service can issue.
    pub fn distinct_schedules(&self) -> usize {
        self.sequences().len() * self.timings().len()
    }

    /// A schedule drawn uniformly from [`all_schedules`](Self::all_schedules) (pure given `rng`).
    pub fn generate(&self, rng: &mut impl Rng) -> Schedule {
        let sequence = loop {
            let seq: Vec<Action> = (0..self.actions)
                .map(|_| *Action::ALL.choose(rng).expect("non-empty"))
                .collect();
            if seq.iter().filter(|a| **a == Action::Blink).count() <= MAX_BLINKS {
                break seq; // rejection keeps the draw uniform over the allowed sequences
            }
        };
        let lead_ins = grid(self.lead_in_min_s, self.lead_in_max_s, self.step_s);
        let gaps = grid(self.gap_min_s, self.gap_max_s, self.step_s);
        let mut at = *lead_ins.choose(rng).expect("a lead-in");
        let mut times = vec![at];
        for _ in 1..self.actions {
            at = round_ms(at + gaps.choose(rng).expect("a gap"));
            times.push(at);
        }
        Schedule::timed(&sequence, &times, self.window_s)
    }
}

/// Seconds recorded after the last window closes: a turn must be held for a couple of frames and a
/// blink seen to open again before the video ends.
pub const RECORDING_TAIL_S: f64 = 0.5;

impl Schedule {
    pub fn timed(actions: &[Action], at_s: &[f64], window_s: f64) -> Schedule {
        Schedule {
            actions: actions
                .iter()
                .zip(at_s)
                .map(|(&action, &at)| ScheduledAction {
                    action,
                    at_s: Some(at),
                })
                .collect(),
            window_s,
        }
    }

    /// A challenge without timing (stored before schedules, or `--challenge blink,turn_left`).
    pub fn untimed(actions: &[Action], window_s: f64) -> Schedule {
        Schedule {
            actions: actions
                .iter()
                .map(|&action| ScheduledAction { action, at_s: None })
                .collect(),
            window_s,
        }
    }

    /// No challenge at all.
    pub fn none() -> Schedule {
        Schedule::untimed(&[], ScheduleConfig::default().window_s)
    }

    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    pub fn actions(&self) -> impl Iterator<Item = Action> + '_ {
        self.actions.iter().map(|a| a.action)
    }

    /// How long the capture must record: until the last window closes, and a little after.
    pub fn recording_s(&self) -> Option<f64> {
        let last = self
            .actions
            .iter()
            .filter_map(|a| a.at_s)
            .reduce(f64::max)?;
        Some(round_ms(last + self.window_s + RECORDING_TAIL_S))
    }

    /// As stored in a challenge's row: the JSON of the schedule.
    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).expect("serialisable")
    }

    /// A stored challenge: a schedule, or the plain action list stored before schedules existed
    /// (read back as untimed actions with `window_s`).
    pub fn from_stored(text: &str, window_s: f64) -> Result<Schedule, serde_json::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Stored {
            Timed(Schedule),
            Legacy(Vec<Action>),
        }
        Ok(match serde_json::from_str(text)? {
            Stored::Timed(s) => s,
            Stored::Legacy(actions) => Schedule::untimed(&actions, window_s),
        })
    }
}

/// The command line's form, which [`parse_schedule`] reads back: `blink@2.5,turn_left@5` (no `@` for
/// an untimed action).
impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, a) in self.actions.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match a.at_s {
                Some(at) => write!(f, "{}@{at}", a.action)?,
                None => write!(f, "{}", a.action)?,
            }
        }
        Ok(())
    }
}

/// Parses the command line's `blink@2.0,turn_left@5.5`: 1 to [`MAX_ACTIONS`] actions, each with the
/// second it was prompted at, in increasing order; an action without `@` is untimed.
pub fn parse_schedule(text: &str, window_s: f64) -> Result<Schedule, String> {
    if !(window_s.is_finite() && window_s > 0.0) {
        return Err(format!(
            "the window must be a positive number of seconds, got {window_s}"
        ));
    }
    let mut actions = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, at) = match item.split_once('@') {
            Some((name, at)) => {
                let at: f64 = at.trim().parse().map_err(|_| {
                    format!("`{item}`: the time after @ must be seconds, e.g. blink@2.5")
                })?;
                if !(at.is_finite() && (0.0..=MAX_AT_S).contains(&at)) {
                    return Err(format!(
                        "`{item}`: the time must be between 0 and {MAX_AT_S} s"
                    ));
                }
                (name, Some(at))
            }
            None => (item, None),
        };
        let action: Action = name.parse()?;
        actions.push(ScheduledAction { action, at_s: at });
    }
    if actions.is_empty() || actions.len() > MAX_ACTIONS {
        return Err(format!(
            "a challenge has 1 to {MAX_ACTIONS} actions, got {}",
            actions.len()
        ));
    }
    let times: Vec<f64> = actions.iter().filter_map(|a| a.at_s).collect();
    if times.windows(2).any(|w| w[1] <= w[0]) {
        return Err("the actions' times must increase in the order given".into());
    }
    Ok(Schedule { actions, window_s })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use std::collections::HashSet;

    fn key(s: &Schedule) -> String {
        s.to_stored()
    }

    #[test]
    fn the_grid_is_counted_and_listed_without_repeats() {
        let config = ScheduleConfig::default();
        // 3 actions with at most one blink: 2³ + 3·2² = 20 sequences; 3 lead-ins × 5² gaps.
        assert_eq!(config.sequences().len(), 20);
        assert_eq!(config.timings().len(), 75);
        assert_eq!(config.distinct_schedules(), 1500);
        let all: HashSet<String> = config.all_schedules().map(|s| key(&s)).collect();
        assert_eq!(all.len(), 1500);
        for s in config.all_schedules() {
            let t: Vec<f64> = s.actions.iter().map(|a| a.at_s.unwrap()).collect();
            assert!((1.0..=2.0).contains(&t[0]), "{t:?}");
            assert!(t.windows(2).all(|w| (2.0..=4.0).contains(&(w[1] - w[0]))));
        }
        assert_eq!(config.longest_recording_s(), 13.5);
        assert!(config.validate(15.0).is_ok());
        assert!(config.validate(13.0).is_err());
    }

    #[test]
    fn generated_schedules_are_on_the_grid_uniform_and_seeded() {
        let config = ScheduleConfig::default();
        let grid: HashSet<String> = config.all_schedules().map(|s| key(&s)).collect();
        let mut rng = StdRng::seed_from_u64(7);
        let mut seen = HashSet::new();
        let mut firsts = [0usize; 3];
        for _ in 0..6000 {
            let s = config.generate(&mut rng);
            assert!(grid.contains(&key(&s)), "{s:?} is off the grid");
            seen.insert(key(&s));
            firsts[Action::ALL
                .iter()
                .position(|a| *a == s.actions[0].action)
                .unwrap()] += 1;
        }
        // 6000 draws of 1500 equally likely schedules leave about 1500·e⁻⁴ ≈ 27 unseen.
        assert!(seen.len() > 1400, "{}", seen.len());
        // A sequence starts with a blink in 4 of the 20 (then no other blink): 1200 of 6000 expected.
        assert!((1000..1400).contains(&firsts[0]), "{firsts:?}");
        let a = config.generate(&mut StdRng::seed_from_u64(1));
        assert_eq!(a, config.generate(&mut StdRng::seed_from_u64(1)));
    }

    #[test]
    fn a_schedule_is_stored_and_old_action_lists_read_as_untimed() {
        let s = Schedule::timed(&[Action::Blink, Action::TurnLeft], &[1.5, 4.0], 3.0);
        assert_eq!(
            s.to_stored(),
            r#"{"actions":[{"action":"blink","at_s":1.5},{"action":"turn_left","at_s":4.0}],"window_s":3.0}"#
        );
        assert_eq!(Schedule::from_stored(&s.to_stored(), 9.0).unwrap(), s);
        assert_eq!(s.recording_s(), Some(7.5));
        let old = Schedule::from_stored(r#"["blink","turn_left"]"#, 3.0).unwrap();
        assert_eq!(
            old,
            Schedule::untimed(&[Action::Blink, Action::TurnLeft], 3.0)
        );
        assert_eq!(old.recording_s(), None);
        assert!(Schedule::from_stored(r#"["nod"]"#, 3.0).is_err());
    }

    #[test]
    fn the_command_line_form_parses_timed_and_untimed_actions() {
        let s = parse_schedule("blink@2.0, turn_left@5.5", 3.0).unwrap();
        assert_eq!(
            s,
            Schedule::timed(&[Action::Blink, Action::TurnLeft], &[2.0, 5.5], 3.0)
        );
        assert_eq!(s.to_string(), "blink@2,turn_left@5.5");
        assert_eq!(parse_schedule(&s.to_string(), 3.0).unwrap(), s);
        let old = parse_schedule("blink,turn_left", 2.0).unwrap();
        assert_eq!(old.to_string(), "blink,turn_left");
        assert_eq!(
            old,
            Schedule::untimed(&[Action::Blink, Action::TurnLeft], 2.0)
        );
        assert!(parse_schedule("nod@1", 3.0).unwrap_err().contains("nod"));
        assert!(parse_schedule("blink@x", 3.0).is_err());
        assert!(parse_schedule("blink@-1", 3.0).is_err());
        assert!(parse_schedule("blink@NaN", 3.0).is_err());
        assert!(parse_schedule("blink@3,turn_left@2", 3.0)
            .unwrap_err()
            .contains("increase"));
        assert!(parse_schedule("", 3.0).is_err());
        assert!(parse_schedule("blink@1", 0.0).is_err());
        assert!(parse_schedule(&["turn_left"; 7].join(","), 3.0).is_err());
    }

    #[test]
    fn bad_configurations_are_refused() {
        let bad = |c: ScheduleConfig| c.validate(15.0).is_err();
        let d = ScheduleConfig::default();
        assert!(bad(ScheduleConfig { actions: 0, ..d }));
        assert!(bad(ScheduleConfig { step_s: 0.0, ..d }));
        assert!(bad(ScheduleConfig {
            gap_min_s: 5.0,
            ..d
        }));
        assert!(bad(ScheduleConfig {
            window_s: f64::NAN,
            ..d
        }));
        assert!(
            bad(ScheduleConfig { actions: 4, ..d }),
            "17.5 s is too long"
        );
    }
}
