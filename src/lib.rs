//! idv: biometric identity verification. An ID document photo and a selfie go in; faces are found,
//! aligned and embedded with ONNX models, compared, and the outcome comes out with its evidence.
//!
//! Layers, top to bottom (docs/ARCHITECTURE.md): `http` (the one router and the application) over the
//! front ends `api`, `console` and `capture` (thin handlers); `service` (the use cases, no HTTP);
//! `pipeline` (face, verify, liveness, invigilation orchestration and the pure policy); `liveness` (the
//! pure challenge and verdict); `vision` (per-model pre- and post-processing); `inference` (ONNX Runtime
//! workers) and `media` (decoding untrusted bytes); `store`, `vault` and `audit` (persistence);
//! `document` (pure: the MRZ, the declared identity, the document checks) and `domain` (vocabulary,
//! clock, tokens) at the bottom. `eval` measures accuracy on labelled data.

pub mod api;
pub mod audit;
pub mod capture;
pub mod console;
pub mod document;
pub mod domain;
pub mod eval;
pub mod http;
pub mod inference;
pub mod liveness;
pub mod media;
pub mod models;
pub mod pipeline;
pub mod service;
pub mod settings;
pub mod store;
pub mod vault;
pub mod vision;
