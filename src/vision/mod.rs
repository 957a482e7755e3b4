//! Pure pre- and post-processing for the face models and the document OCR models (`ocr`): no ONNX
//! Runtime, no I/O.
//!
//! Every function here takes plain values and returns plain values, so each step is unit-tested
//! without models. The exact recipes (crop rules, colour orders, normalisations) are those measured
//! in `../shared/notes/models.md` §2; where that note says the vendor's JavaScript is wrong, the
//! correct version is implemented and the difference is noted at the function.

pub mod align;
pub mod canvas;
pub mod detect;
pub mod embed;
pub mod eye;
pub mod geometry;
pub mod landmarks;
pub mod ocr;
pub mod passive;
pub mod pose;
pub mod quality;

pub use canvas::Canvas;
pub use geometry::{BoxF, Point, RectI};
