//! ICAO 9303 part 3 check digits (weights 7, 3, 1 repeating, sum modulo 10) and the checks of a read,
//! one per protected field.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::format::{Layout, Span};

/// A field protected by a check digit. Not every format has every one: visas have neither the
/// optional data's nor the composite check digit, and only TD3 checks its optional data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckedField {
    DocumentNumber,
    DateOfBirth,
    ExpiryDate,
    OptionalData,
    Composite,
}

impl CheckedField {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckedField::DocumentNumber => "document_number",
            CheckedField::DateOfBirth => "date_of_birth",
            CheckedField::ExpiryDate => "expiry_date",
            CheckedField::OptionalData => "optional_data",
            CheckedField::Composite => "composite",
        }
    }
}

/// One check digit: as printed (read), as computed from its field, and whether they agree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckDigit {
    pub printed: char,
    pub computed: char,
    pub valid: bool,
}

/// The value ICAO gives a character: digits their value, `A`–`Z` 10–35, the filler `<` 0. Anything
/// else (never in a read, which holds only [`super::ALPHABET`]) counts as a filler.
fn value(c: char) -> u32 {
    match c {
        '0'..='9' => u32::from(c) - u32::from('0'),
        'A'..='Z' => u32::from(c) - u32::from('A') + 10,
        _ => 0,
    }
}

/// The check digit of `field`: weights 7, 3, 1 repeating over the characters' values, modulo 10.
pub fn check_digit(field: &str) -> char {
    const WEIGHTS: [u32; 3] = [7, 3, 1];
    let sum = field
        .chars()
        .zip(WEIGHTS.iter().cycle())
        .fold(0u32, |acc, (c, w)| (acc + value(c) * w) % 10);
    char::from(b'0' + sum as u8)
}

/// `printed` checked against `field`. A printed `<` passes only over a field of fillers: ICAO allows
/// it for an empty optional data field (TD3's personal number), and it is what an unknown date's
/// digit looks like on some documents.
pub(crate) fn verify(field: &str, printed: char) -> CheckDigit {
    let computed = check_digit(field);
    let valid = printed == computed || (printed == '<' && field.chars().all(|c| c == '<'));
    CheckDigit {
        printed,
        computed,
        valid,
    }
}

/// The text of `span` in `lines`, or "" when the lines are too short (a read deserialised from
/// elsewhere is not trusted to have the right shape).
pub(crate) fn text(lines: &[String], span: Span) -> &str {
    lines
        .get(span.line)
        .and_then(|line| line.get(span.start..span.end))
        .unwrap_or("")
}

fn char_at(lines: &[String], span: Span) -> char {
    text(lines, span).chars().next().unwrap_or('<')
}

/// A TD1 or TD2 document number longer than nine characters: `<` in the check digit's place and the
/// rest of the number at the start of the optional data field, up to the first filler; the last
/// character before that filler is the check digit. Returns the whole number, its printed check
/// digit, and the optional data that follows (after the terminating filler).
pub(crate) fn long_document_number(
    lines: &[String],
    layout: &Layout,
) -> Option<(String, char, String)> {
    let overflow = layout.number_overflow?;
    let digit = char_at(lines, layout.document_number.digit());
    let continued = text(lines, overflow);
    if digit != '<' || continued.is_empty() || continued.starts_with('<') {
        return None;
    }
    let (head, rest) = continued.split_once('<').unwrap_or((continued, ""));
    let mut head_chars = head.chars();
    let printed = head_chars.next_back()?;
    let number = format!(
        "{}{}",
        text(lines, layout.document_number.field),
        head_chars.as_str()
    );
    Some((number, printed, rest.to_string()))
}

/// Every check digit of the format, computed and compared one by one.
pub(crate) fn check_all(lines: &[String], layout: &Layout) -> BTreeMap<CheckedField, CheckDigit> {
    let mut checks = BTreeMap::new();
    let number = match long_document_number(lines, layout) {
        Some((number, printed, _)) => verify(&number, printed),
        None => verify(
            text(lines, layout.document_number.field),
            char_at(lines, layout.document_number.digit()),
        ),
    };
    checks.insert(CheckedField::DocumentNumber, number);
    for (name, checked) in [
        (CheckedField::DateOfBirth, Some(layout.date_of_birth)),
        (CheckedField::ExpiryDate, Some(layout.expiry_date)),
        (CheckedField::OptionalData, layout.optional_check),
    ] {
        if let Some(checked) = checked {
            let check = verify(text(lines, checked.field), char_at(lines, checked.digit()));
            checks.insert(name, check);
        }
    }
    if let Some((spans, digit)) = layout.composite {
        let covered: String = spans.iter().map(|s| text(lines, *s)).collect();
        checks.insert(
            CheckedField::Composite,
            verify(&covered, char_at(lines, digit)),
        );
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_follow_icao() {
        assert_eq!(value('0'), 0);
        assert_eq!(value('9'), 9);
        assert_eq!(value('A'), 10);
        assert_eq!(value('Z'), 35);
        assert_eq!(value('<'), 0);
    }

    /// Worked examples from 9303 part 3 and the specimens' fields.
    #[test]
    fn check_digits_of_known_fields() {
        assert_eq!(check_digit("520727"), '3');
        assert_eq!(check_digit("L898902C3"), '6');
        assert_eq!(check_digit("D23145890"), '7');
        assert_eq!(check_digit("740812"), '2');
        assert_eq!(check_digit("120415"), '9');
        assert_eq!(check_digit("ZE184226B<<<<<"), '1');
        assert_eq!(check_digit("AB2134<<<"), '5');
        assert_eq!(check_digit(""), '0');
        assert_eq!(check_digit("<<<<<<<<<<<<<<"), '0');
    }

    #[test]
    fn a_filler_check_digit_passes_only_over_fillers() {
        assert!(verify("<<<<<<<<<<<<<<", '<').valid);
        assert!(verify("<<<<<<<<<<<<<<", '0').valid);
        assert!(!verify("ZE184226B<<<<<", '<').valid);
        let failed = verify("740812", '3');
        assert_eq!(
            (failed.printed, failed.computed, failed.valid),
            ('3', '2', false)
        );
    }

    /// Weights 7, 3 and 1 are all prime to 10, so no substitution of one digit by another goes
    /// unnoticed. (A letter whose value differs from a digit's by 10, like C = 12 and 2, can: the
    /// check digits cannot settle every confusion, which is why corrections are limited to positions
    /// that must be digits or letters.)
    #[test]
    fn every_single_digit_substitution_is_caught() {
        let field = "L898902C3";
        let printed = check_digit(field);
        for (i, original) in field.char_indices() {
            for replacement in '0'..='9' {
                if replacement == original || !original.is_ascii_digit() {
                    continue;
                }
                let mut changed = field.to_string();
                changed.replace_range(i..i + 1, &replacement.to_string());
                assert!(!verify(&changed, printed).valid, "{changed}");
            }
        }
        assert_eq!(check_digit("L89890223"), check_digit("L898902C3"));
    }

    #[test]
    fn text_of_a_short_or_missing_line_is_empty() {
        let lines = vec!["ABC".to_string()];
        assert_eq!(
            text(
                &lines,
                Span {
                    line: 0,
                    start: 1,
                    end: 3
                }
            ),
            "BC"
        );
        assert_eq!(
            text(
                &lines,
                Span {
                    line: 0,
                    start: 2,
                    end: 5
                }
            ),
            ""
        );
        assert_eq!(
            text(
                &lines,
                Span {
                    line: 4,
                    start: 0,
                    end: 1
                }
            ),
            ""
        );
        let multibyte = vec!["ÄÖ".to_string()];
        assert_eq!(
            text(
                &multibyte,
                Span {
                    line: 0,
                    start: 1,
                    end: 2
                }
            ),
            ""
        );
    }
}
