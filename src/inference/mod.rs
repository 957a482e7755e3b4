//! ONNX Runtime: one environment per process, one worker thread per model session.

pub mod engine;
pub mod error;
pub mod worker;

pub use engine::{Device, Engine, EngineConfig};
pub use error::InferenceError;
pub use worker::{ShapedOutputs, Tensor};

/// The ONNX Runtime release idv is built and tested against.
pub const ORT_LIB_NAME: &str = "libonnxruntime.so.1.31.1";
/// Where `make setup` puts it, relative to the project folder.
pub const ORT_LIB_LOCAL: &str = ".idv/onnxruntime/libonnxruntime.so.1.31.1";
