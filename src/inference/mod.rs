//! ONNX Runtime: one environment per process, one worker thread per model session.

pub mod engine;
pub mod worker;

pub use engine::{Device, Engine, EngineConfig, InferenceError};
