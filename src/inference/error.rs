//! What can go wrong loading ONNX Runtime and the models, or running one: shared by the engine that
//! loads them and the workers that run them.

use std::path::PathBuf;

use super::ORT_LIB_NAME;
use crate::models::{ModelError, ModelKind};

#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    #[error(
        "ONNX Runtime 1.31.1 was not found (looked for {looked}); run `make setup`, or pass --ort-lib / set IDV_ORT_LIB to the path of {ORT_LIB_NAME}"
    )]
    RuntimeMissing { looked: String },
    #[error("cannot load ONNX Runtime from {path}: {message}")]
    RuntimeLoad { path: PathBuf, message: String },
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("cannot create the {model} session: {message}")]
    Session { model: ModelKind, message: String },
    #[error("the CUDA device was requested but this build has no CUDA support; rebuild with `cargo build --release --features cuda`")]
    CudaNotBuilt,
    #[error("running the {model} model failed: {message}")]
    Run { model: ModelKind, message: String },
    #[error("the {model} model takes {expected} values, got {actual}")]
    BadInput {
        model: ModelKind,
        expected: usize,
        actual: usize,
    },
    #[error("the {model} model does not take an input of shape {shape:?}")]
    BadShape { model: ModelKind, shape: Vec<usize> },
    #[error("the {0} model has dynamic dimensions: run it with an input shape")]
    ShapeNeeded(ModelKind),
    #[error("the {model} model's output does not fit the manifest: {message}")]
    OutputMismatch { model: ModelKind, message: String },
    #[error("the {0} model is not loaded")]
    NotLoaded(ModelKind),
    #[error("the {0} model worker has stopped")]
    WorkerGone(ModelKind),
}
