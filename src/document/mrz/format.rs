//! The five ICAO 9303 MRZ formats and where each field sits in them (parts 4–7), as one table that the
//! check digits, the letter/digit corrections and the field parsing all read.

use serde::{Deserialize, Serialize};

/// The 37 characters an MRZ is printed in (OCR-B): `A`–`Z`, `0`–`9` and the filler `<`.
pub const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<";

/// Is `c` one of the [`ALPHABET`]'s characters?
pub fn in_alphabet(c: char) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit() || c == '<'
}

/// TD3 passports (2×44), TD1 cards (3×30), TD2 documents (2×36), and the two machine-readable visas
/// (MRV-A 2×44, MRV-B 2×36, document code `V`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum MrzFormat {
    #[serde(rename = "TD1")]
    Td1,
    #[serde(rename = "TD2")]
    Td2,
    #[serde(rename = "TD3")]
    Td3,
    #[serde(rename = "MRVA")]
    MrvA,
    #[serde(rename = "MRVB")]
    MrvB,
}

impl MrzFormat {
    pub const ALL: [MrzFormat; 5] = [
        MrzFormat::Td1,
        MrzFormat::Td2,
        MrzFormat::Td3,
        MrzFormat::MrvA,
        MrzFormat::MrvB,
    ];

    /// The name used in JSON and records: `TD1`, `TD2`, `TD3`, `MRVA`, `MRVB`.
    pub fn as_str(self) -> &'static str {
        match self {
            MrzFormat::Td1 => "TD1",
            MrzFormat::Td2 => "TD2",
            MrzFormat::Td3 => "TD3",
            MrzFormat::MrvA => "MRVA",
            MrzFormat::MrvB => "MRVB",
        }
    }

    pub fn line_count(self) -> usize {
        match self {
            MrzFormat::Td1 => 3,
            _ => 2,
        }
    }

    pub fn line_len(self) -> usize {
        match self {
            MrzFormat::Td1 => 30,
            MrzFormat::Td2 | MrzFormat::MrvB => 36,
            MrzFormat::Td3 | MrzFormat::MrvA => 44,
        }
    }

    /// The format of lines with this count and length. Two-line formats share their sizes with a visa
    /// format: a first line starting with `V` (the visa document code) is the visa.
    pub fn detect(
        line_count: usize,
        line_len: usize,
        first_char: Option<char>,
    ) -> Option<MrzFormat> {
        let visa = first_char == Some('V');
        match (line_count, line_len) {
            (3, 30) => Some(MrzFormat::Td1),
            (2, 36) if visa => Some(MrzFormat::MrvB),
            (2, 36) => Some(MrzFormat::Td2),
            (2, 44) if visa => Some(MrzFormat::MrvA),
            (2, 44) => Some(MrzFormat::Td3),
            _ => None,
        }
    }

    pub(crate) fn layout(self) -> &'static Layout {
        match self {
            MrzFormat::Td1 => &TD1,
            MrzFormat::Td2 => &TD2,
            MrzFormat::Td3 => &TD3,
            MrzFormat::MrvA => &MRVA,
            MrzFormat::MrvB => &MRVB,
        }
    }
}

impl std::fmt::Display for MrzFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Characters `start..end` of line `line` (0-based, end exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub line: usize,
    pub start: usize,
    pub end: usize,
}

const fn span(line: usize, start: usize, end: usize) -> Span {
    Span { line, start, end }
}

/// A field followed by its check digit (at `field.end` on the same line).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Checked {
    pub field: Span,
}

impl Checked {
    pub fn digit(&self) -> Span {
        span(self.field.line, self.field.end, self.field.end + 1)
    }
}

const fn checked(line: usize, start: usize, end: usize) -> Checked {
    Checked {
        field: span(line, start, end),
    }
}

/// Where every field of one format sits.
#[derive(Debug)]
pub(crate) struct Layout {
    pub document_code: Span,
    pub issuing_state: Span,
    pub name: Span,
    /// The first nine characters of the document number, then its check digit.
    pub document_number: Checked,
    /// TD1 and TD2: a document number longer than nine characters has `<` in place of its check
    /// digit and continues at the start of this optional data field, followed by its check digit and
    /// a filler (9303 parts 5 and 6).
    pub number_overflow: Option<Span>,
    pub nationality: Span,
    pub date_of_birth: Checked,
    pub sex: Span,
    pub expiry_date: Checked,
    /// One or two optional data fields (TD1 has two), in reading order.
    pub optional_data: &'static [Span],
    /// TD3 only: the optional data (personal number) has a check digit of its own.
    pub optional_check: Option<Checked>,
    /// The composite check digit and the spans it covers, in order (not on visas).
    pub composite: Option<(&'static [Span], Span)>,
}

impl Layout {
    /// Positions that ICAO fills with digits only (dates and check digits; a check digit may also be
    /// `<`, which the corrections leave alone): a letter read there is an OCR confusion.
    pub fn digit_spans(&self) -> Vec<Span> {
        let mut spans = vec![
            self.document_number.digit(),
            self.date_of_birth.field,
            self.date_of_birth.digit(),
            self.expiry_date.field,
            self.expiry_date.digit(),
        ];
        if let Some(optional) = self.optional_check {
            spans.push(optional.digit());
        }
        if let Some((_, digit)) = self.composite {
            spans.push(digit);
        }
        spans
    }

    /// Positions that ICAO fills with letters (or `<`) only: document code, issuing state,
    /// nationality and the name field. A digit read there is an OCR confusion.
    pub fn letter_spans(&self) -> Vec<Span> {
        vec![
            self.document_code,
            self.issuing_state,
            self.nationality,
            self.name,
        ]
    }
}

const TD1: Layout = Layout {
    document_code: span(0, 0, 2),
    issuing_state: span(0, 2, 5),
    document_number: checked(0, 5, 14),
    number_overflow: Some(span(0, 15, 30)),
    date_of_birth: checked(1, 0, 6),
    sex: span(1, 7, 8),
    expiry_date: checked(1, 8, 14),
    nationality: span(1, 15, 18),
    optional_data: &[span(0, 15, 30), span(1, 18, 29)],
    optional_check: None,
    composite: Some((
        &[
            span(0, 5, 30),
            span(1, 0, 7),
            span(1, 8, 15),
            span(1, 18, 29),
        ],
        span(1, 29, 30),
    )),
    name: span(2, 0, 30),
};

const TD2: Layout = Layout {
    document_code: span(0, 0, 2),
    issuing_state: span(0, 2, 5),
    name: span(0, 5, 36),
    document_number: checked(1, 0, 9),
    number_overflow: Some(span(1, 28, 35)),
    nationality: span(1, 10, 13),
    date_of_birth: checked(1, 13, 19),
    sex: span(1, 20, 21),
    expiry_date: checked(1, 21, 27),
    optional_data: &[span(1, 28, 35)],
    optional_check: None,
    composite: Some((
        &[span(1, 0, 10), span(1, 13, 20), span(1, 21, 35)],
        span(1, 35, 36),
    )),
};

const TD3: Layout = Layout {
    document_code: span(0, 0, 2),
    issuing_state: span(0, 2, 5),
    name: span(0, 5, 44),
    document_number: checked(1, 0, 9),
    number_overflow: None,
    nationality: span(1, 10, 13),
    date_of_birth: checked(1, 13, 19),
    sex: span(1, 20, 21),
    expiry_date: checked(1, 21, 27),
    optional_data: &[span(1, 28, 42)],
    optional_check: Some(checked(1, 28, 42)),
    composite: Some((
        &[span(1, 0, 10), span(1, 13, 20), span(1, 21, 43)],
        span(1, 43, 44),
    )),
};

const MRVA: Layout = Layout {
    document_code: span(0, 0, 2),
    issuing_state: span(0, 2, 5),
    name: span(0, 5, 44),
    document_number: checked(1, 0, 9),
    number_overflow: None,
    nationality: span(1, 10, 13),
    date_of_birth: checked(1, 13, 19),
    sex: span(1, 20, 21),
    expiry_date: checked(1, 21, 27),
    optional_data: &[span(1, 28, 44)],
    optional_check: None,
    composite: None,
};

const MRVB: Layout = Layout {
    document_code: span(0, 0, 2),
    issuing_state: span(0, 2, 5),
    name: span(0, 5, 36),
    document_number: checked(1, 0, 9),
    number_overflow: None,
    nationality: span(1, 10, 13),
    date_of_birth: checked(1, 13, 19),
    sex: span(1, 20, 21),
    expiry_date: checked(1, 21, 27),
    optional_data: &[span(1, 28, 36)],
    optional_check: None,
    composite: None,
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Every span of every layout lies inside its format's lines, and the spans that must be digits
    /// and those that must be letters never overlap.
    #[test]
    fn layouts_fit_their_formats() {
        for format in MrzFormat::ALL {
            let layout = format.layout();
            let digits = layout.digit_spans();
            let letters = layout.letter_spans();
            let mut all: Vec<Span> = digits.iter().chain(&letters).copied().collect();
            all.extend(layout.optional_data);
            all.push(layout.document_number.field);
            all.push(layout.sex);
            all.extend(layout.number_overflow);
            if let Some((spans, digit)) = layout.composite {
                all.extend(spans);
                all.push(digit);
            }
            for s in &all {
                assert!(s.line < format.line_count(), "{format} {s:?}");
                assert!(
                    s.start < s.end && s.end <= format.line_len(),
                    "{format} {s:?}"
                );
            }
            for d in &digits {
                for l in &letters {
                    let overlap = d.line == l.line && d.start < l.end && l.start < d.end;
                    assert!(!overlap, "{format}: {d:?} and {l:?}");
                }
            }
        }
    }

    #[test]
    fn sizes_and_names() {
        let expected = [
            (MrzFormat::Td1, "TD1", 3, 30),
            (MrzFormat::Td2, "TD2", 2, 36),
            (MrzFormat::Td3, "TD3", 2, 44),
            (MrzFormat::MrvA, "MRVA", 2, 44),
            (MrzFormat::MrvB, "MRVB", 2, 36),
        ];
        for (format, name, count, len) in expected {
            assert_eq!(format.as_str(), name);
            assert_eq!(format.to_string(), name);
            assert_eq!(format.line_count(), count);
            assert_eq!(format.line_len(), len);
            assert_eq!(
                serde_json::to_string(&format).unwrap(),
                format!("\"{name}\"")
            );
            assert_eq!(
                serde_json::from_str::<MrzFormat>(&format!("\"{name}\"")).unwrap(),
                format
            );
        }
    }

    #[test]
    fn detects_by_size_and_visa_code() {
        assert_eq!(MrzFormat::detect(3, 30, Some('I')), Some(MrzFormat::Td1));
        assert_eq!(MrzFormat::detect(2, 36, Some('I')), Some(MrzFormat::Td2));
        assert_eq!(MrzFormat::detect(2, 36, Some('V')), Some(MrzFormat::MrvB));
        assert_eq!(MrzFormat::detect(2, 44, Some('P')), Some(MrzFormat::Td3));
        assert_eq!(MrzFormat::detect(2, 44, Some('V')), Some(MrzFormat::MrvA));
        assert_eq!(MrzFormat::detect(2, 30, Some('I')), None);
        assert_eq!(MrzFormat::detect(3, 44, Some('P')), None);
        assert_eq!(MrzFormat::detect(1, 44, Some('P')), None);
        assert_eq!(MrzFormat::detect(2, 44, None), Some(MrzFormat::Td3));
    }
}
