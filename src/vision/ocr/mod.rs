//! Pure pre- and post-processing for the document OCR models (PaddleOCR PP-OCRv6: a DB text detector
//! and CTC text-line recognisers): no ONNX Runtime, no I/O.
//!
//! The recipe is the one measured with the Python prototype in `../shared/reference/mrz/` (its README):
//! the detector's input and its probability map turned into boxes ([`detect`], on the hull and rotating
//! calipers of [`geometry`]), boxes merged into text rows and rows stacked as MRZ lines are ([`rows`]),
//! each row straightened into a 48-pixel-high strip ([`strip`]), and the recogniser's scores decoded to
//! the 37 MRZ characters ([`ctc`]).

pub mod ctc;
pub mod detect;
pub mod geometry;
pub mod rows;
pub mod strip;
pub mod turn;

pub use ctc::{Alphabet, Decoded};
pub use detect::{DetectConfig, TextBox};
pub use geometry::Quad;
