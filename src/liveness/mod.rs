//! Liveness from a selfie video: the challenge the applicant is given (its actions and when each is
//! prompted), the signals measured on each frame, the search for the asked actions (where and when), and
//! the verdict, a pure function of all of them (`pipeline::liveness` runs the models).

pub mod action;
pub mod challenge;
pub mod config;
pub mod schedule;
pub mod search;
pub mod signals;
#[cfg(test)]
pub(crate) mod testing;
pub mod verdict;

pub use action::Action;
pub use challenge::Challenge;
pub use schedule::{Schedule, ScheduleConfig, ScheduledAction};
pub use search::{ActionResult, ActionTiming};
pub use verdict::{liveness_verdict, LivenessConfig, LivenessDecision, Verdict};
