//! The machine-readable zone (ICAO 9303 parts 3–7): its formats, check digits, reading OCR'd rows
//! into lines ([`assemble()`]), validating exact lines ([`parse()`]) and the fields ([`fields()`]).
//!
//! A read ([`MrzRead`]) keeps the lines exactly as read after correction, every check digit one by one,
//! and every character the reading changed, so that a record can show what was printed, what was
//! computed, and what was corrected.

mod assemble;
mod check;
mod fields;
mod format;
mod read;

pub use assemble::{assemble, clean};
pub use check::{check_digit, CheckDigit, CheckedField};
pub use fields::{birth_date, expiry_date, fields, MrzFields, Sex};
pub use format::{in_alphabet, MrzFormat, ALPHABET};
pub use read::{parse, Correction, MrzRead};
