//! Decoding of untrusted uploads, with limits checked before any large allocation.

pub mod image;
pub mod video;
