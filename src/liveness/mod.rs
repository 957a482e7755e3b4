//! Liveness from a selfie video: the challenge the applicant is given (its actions and when each is
//! prompted), the signals measured on each frame, where the actions are and when, and the verdict, a
//! pure function of all of them (`pipeline::liveness` runs the models).

pub mod actions;
pub mod challenge;
pub mod config;
pub mod schedule;
pub mod signals;
#[cfg(test)]
pub(crate) mod testing;
pub mod verdict;

pub use actions::{ActionResult, ActionTiming};
pub use challenge::{Action, Challenge};
pub use schedule::{Schedule, ScheduleConfig, ScheduledAction};
pub use verdict::{liveness_verdict, LivenessConfig, LivenessDecision, Verdict};
