//! Reading identity documents, the pure part: the ICAO 9303 machine-readable zone (formats, check
//! digits, line-length and letter/digit fixes, fields, two-digit years), the applicant's declared
//! identity compared with the MRZ as ICAO writes names, and the document checks as reason codes.
//!
//! No models, no images, no I/O, and nothing else of idv is imported: `pipeline` finds and recognises
//! the MRZ rows and hands their text here; `service` stores what comes back.

pub mod checks;
pub mod identity;
pub mod mrz;
mod transliteration;
pub mod yyyy_mm_dd;
