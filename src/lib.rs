//! idv: biometric identity verification. An ID document photo and a selfie go in; faces are found,
//! aligned and embedded with ONNX models, compared, and the outcome comes out with its evidence.
//!
//! Layout: `media` decodes untrusted bytes; `vision` holds the pure pre- and post-processing of each
//! model; `inference` owns ONNX Runtime (a worker thread per session); `pipeline` orchestrates them and
//! holds the pure decision policy; `liveness` holds the challenge and the pure video verdict; `eval`
//! measures accuracy on labelled data; `api` is the HTTP service and `console` its reviewer pages.

pub mod api;
pub mod audit;
pub mod capture;
pub mod console;
pub mod domain;
pub mod eval;
pub mod inference;
pub mod liveness;
pub mod media;
pub mod models;
pub mod pipeline;
pub mod settings;
pub mod store;
pub mod vault;
pub mod vision;
