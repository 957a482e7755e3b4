//! The models and the media they read, without the service, one test binary (so the models load once
//! per engine): the still-image pipeline, agreement with the Python reference, video liveness and its
//! attack evaluation, video decoding, reading identity documents' MRZ.

#[path = "../support/mod.rs"]
mod support;

mod document;
mod from_afar;
mod liveness;
mod pipeline;
mod reference;
mod specimens;
mod video;
