//! Orchestration of the models over images, and the pure policy that turns scores into outcomes.

pub mod crop;
pub mod document;
pub mod document_check;
pub mod face;
pub mod invigilation;
pub mod liveness;
pub mod policy;
pub mod verify;

pub use face::{Analysis, Face, FaceAnalyzer, Faces, StageTimings};
