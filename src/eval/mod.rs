//! Accuracy measurement: ISO/IEC 19795-1 style error rates over identity-labelled images.

pub mod metrics;
pub mod pairs;
pub mod plot;
pub mod replay;
pub mod specimen;
