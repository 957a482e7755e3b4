#![no_main]

//! The MRZ code on untrusted text: whatever the OCR reads (any bytes as UTF-8, split into rows) goes
//! through cleaning, assembly, parsing and the fields without a panic. The OCR output is bounded by
//! the recogniser's width, so rows are capped at 256 characters as the pipeline sees them.

use idv::document::identity::{declared_reasons, mrz_name_variants, DeclaredIdentity};
use idv::document::mrz::{assemble, clean, fields, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let rows: Vec<String> = text
        .split('\n')
        .take(3)
        .map(|r| r.chars().take(256).collect())
        .collect();
    let cleaned: Vec<String> = rows.iter().map(|r| clean(r)).collect();
    let refs: Vec<&str> = cleaned.iter().map(String::as_str).collect();
    let today = time::macros::date!(2026 - 12 - 01);
    for read in [assemble(&refs), parse(&refs)].into_iter().flatten() {
        let f = fields(&read, today);
        let declared = DeclaredIdentity {
            surname: rows[0].clone(),
            given_names: rows.get(1).cloned().unwrap_or_default(),
            date_of_birth: today,
        };
        let _ = declared_reasons(&declared, &f, read.name_field_truncated());
    }
    let _ = mrz_name_variants(&rows[0]);
});
