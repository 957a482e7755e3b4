//! Liveness from a selfie video: the challenge the applicant is given, the signals measured on each
//! frame, and the verdict, a pure function of both (`pipeline::liveness` runs the models).

pub mod challenge;
pub mod signals;
pub mod verdict;

pub use challenge::{Action, Challenge};
pub use verdict::{liveness_verdict, LivenessConfig, LivenessDecision, Verdict};
