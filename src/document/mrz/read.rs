//! A read of the machine-readable zone: its lines, its check digits one by one, its corrections.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::check::{self, CheckDigit, CheckedField};
use super::format::{in_alphabet, MrzFormat};

/// One character the reading changed: `read` at 0-based `line` and `position` of the final lines
/// became `corrected` (a letter where ICAO puts only digits, or a digit where it puts only letters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Correction {
    pub line: usize,
    pub position: usize,
    pub read: char,
    pub corrected: char,
}

/// A machine-readable zone as read: its format, its lines exactly as read after correction, whether
/// every check digit passes, each check digit, and the corrections made (empty when the lines are
/// exactly what the OCR produced, apart from line-length fixes). A read is `valid` with corrections
/// when its check digits pass only after them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MrzRead {
    pub format: MrzFormat,
    pub lines: Vec<String>,
    pub valid: bool,
    pub check_digits: BTreeMap<CheckedField, CheckDigit>,
    pub corrections: Vec<Correction>,
}

impl MrzRead {
    /// The key to choose the better of two candidate reads of the same document (greater is better):
    /// a valid read first; then the larger share of check digits passed (in thousandths, so that
    /// formats with different numbers of check digits compare); then fewer corrections.
    pub fn rank(&self) -> (bool, u32, std::cmp::Reverse<usize>) {
        let total = self.check_digits.len() as u32;
        let passed = self.check_digits.values().filter(|c| c.valid).count() as u32;
        let share = (passed * 1000).checked_div(total).unwrap_or(0);
        (self.valid, share, std::cmp::Reverse(self.corrections.len()))
    }

    /// The fields whose check digit does not pass, in [`CheckedField`] order.
    pub fn failed_checks(&self) -> Vec<CheckedField> {
        self.check_digits
            .iter()
            .filter(|(_, check)| !check.valid)
            .map(|(field, _)| *field)
            .collect()
    }

    /// The name field as printed, fillers included: `ERIKSSON<<ANNA<MARIA<<<<…` (TD1: the third line;
    /// the others: the first line after the document code and issuing state).
    pub fn name_field(&self) -> &str {
        check::text(&self.lines, self.format.layout().name)
    }

    /// Was the name cut at the end of its field? ICAO 9303 part 3 truncates a name too long for the
    /// field so that its last character is a letter; an untruncated name ends in fillers. (A name that
    /// fills the field exactly looks the same; the comparison treats it as possibly truncated, which
    /// only matters when the declared name continues beyond it.)
    pub fn name_field_truncated(&self) -> bool {
        self.name_field()
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_uppercase())
    }
}

/// A read of `lines` in `format` with `corrections` already applied: every check digit computed.
pub(crate) fn evaluate(
    format: MrzFormat,
    lines: Vec<String>,
    corrections: Vec<Correction>,
) -> MrzRead {
    let check_digits = check::check_all(&lines, format.layout());
    let valid = check_digits.values().all(|c| c.valid);
    MrzRead {
        format,
        lines,
        valid,
        check_digits,
        corrections,
    }
}

/// Validates exact lines: 2 or 3 lines of one format's length in the MRZ alphabet, as printed (no
/// cleaning, no length fixing, no corrections; for expected lines, tests and fuzzing). `None` when no
/// format has these line counts and lengths, or a character is outside the [`super::ALPHABET`].
pub fn parse(lines: &[&str]) -> Option<MrzRead> {
    let first = lines.first()?;
    let len = first.len();
    if !lines
        .iter()
        .all(|line| line.len() == len && line.chars().all(in_alphabet))
    {
        return None;
    }
    let format = MrzFormat::detect(lines.len(), len, first.chars().next())?;
    let owned = lines.iter().map(|line| line.to_string()).collect();
    Some(evaluate(format, owned, Vec::new()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::document::mrz::check_digit;

    pub(crate) const TD3: [&str; 2] = [
        "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
        "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
    ];
    pub(crate) const TD1: [&str; 3] = [
        "I<UTOD231458907<<<<<<<<<<<<<<<",
        "7408122F1204159UTO<<<<<<<<<<<6",
        "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
    ];
    pub(crate) const TD2: [&str; 2] = [
        "I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<",
        "D231458907UTO7408122F1204159<<<<<<<6",
    ];
    /// The 9303 part 7 visa specimens (check digits recomputed by the Python prototype).
    pub(crate) const MRVA: [&str; 2] = [
        "V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
        "L8988901C4XXX4009078F96121096ZE184226B<<<<<<",
    ];
    pub(crate) const MRVB: [&str; 2] = [
        "V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<",
        "L8988901C4XXX4009078F9612109<<<<<<<<",
    ];

    fn check(printed: char, computed: char) -> CheckDigit {
        CheckDigit {
            printed,
            computed,
            valid: printed == computed,
        }
    }

    fn checks(list: &[(CheckedField, char)]) -> BTreeMap<CheckedField, CheckDigit> {
        list.iter().map(|&(f, d)| (f, check(d, d))).collect()
    }

    /// `lines` with character `position` of line `line` replaced.
    fn with_char(lines: &[&str], line: usize, position: usize, c: char) -> Vec<String> {
        let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        out[line].replace_range(position..position + 1, &c.to_string());
        out
    }

    fn parse_owned(lines: &[String]) -> MrzRead {
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        parse(&refs).expect("a format fits")
    }

    #[test]
    fn td3_specimen_every_check_digit() {
        let read = parse(&TD3).unwrap();
        assert_eq!(read.format, MrzFormat::Td3);
        assert!(read.valid);
        use CheckedField::*;
        let expected = checks(&[
            (DocumentNumber, '6'),
            (DateOfBirth, '2'),
            (ExpiryDate, '9'),
            (OptionalData, '1'),
            (Composite, '0'),
        ]);
        assert_eq!(read.check_digits, expected);
        assert!(read.corrections.is_empty());
        assert_eq!(read.lines, TD3);
    }

    #[test]
    fn td1_specimen_every_check_digit() {
        let read = parse(&TD1).unwrap();
        assert_eq!(read.format, MrzFormat::Td1);
        assert!(read.valid);
        use CheckedField::*;
        let expected = checks(&[
            (DocumentNumber, '7'),
            (DateOfBirth, '2'),
            (ExpiryDate, '9'),
            (Composite, '6'),
        ]);
        assert_eq!(read.check_digits, expected);
    }

    #[test]
    fn td2_specimen_every_check_digit() {
        let read = parse(&TD2).unwrap();
        assert_eq!(read.format, MrzFormat::Td2);
        assert!(read.valid);
        use CheckedField::*;
        let expected = checks(&[
            (DocumentNumber, '7'),
            (DateOfBirth, '2'),
            (ExpiryDate, '9'),
            (Composite, '6'),
        ]);
        assert_eq!(read.check_digits, expected);
    }

    #[test]
    fn visa_specimens_every_check_digit() {
        use CheckedField::*;
        let expected = checks(&[(DocumentNumber, '4'), (DateOfBirth, '8'), (ExpiryDate, '9')]);
        let a = parse(&MRVA).unwrap();
        assert_eq!((a.format, a.valid), (MrzFormat::MrvA, true));
        assert_eq!(a.check_digits, expected);
        let b = parse(&MRVB).unwrap();
        assert_eq!((b.format, b.valid), (MrzFormat::MrvB, true));
        assert_eq!(b.check_digits, expected);
        // The same check digits computed here agree with the Python prototype's.
        assert_eq!(check_digit("L8988901C"), '4');
        assert_eq!(check_digit("400907"), '8');
        assert_eq!(check_digit("961210"), '9');
    }

    /// Each field's check digit catches a digit changed in its field, and the composite catches it too
    /// (when the format has one): (format lines, line, position inside the field, the field's check).
    #[test]
    fn a_flipped_digit_is_caught_per_field() {
        use CheckedField::*;
        let cases: &[(&[&str], usize, usize, CheckedField)] = &[
            (&TD3, 1, 3, DocumentNumber),
            (&TD3, 1, 15, DateOfBirth),
            (&TD3, 1, 24, ExpiryDate),
            (&TD3, 1, 31, OptionalData),
            (&TD1, 0, 8, DocumentNumber),
            (&TD1, 1, 2, DateOfBirth),
            (&TD1, 1, 10, ExpiryDate),
            (&TD2, 1, 4, DocumentNumber),
            (&TD2, 1, 14, DateOfBirth),
            (&TD2, 1, 25, ExpiryDate),
            (&MRVA, 1, 2, DocumentNumber),
            (&MRVA, 1, 16, DateOfBirth),
            (&MRVA, 1, 22, ExpiryDate),
            (&MRVB, 1, 5, DocumentNumber),
            (&MRVB, 1, 13, DateOfBirth),
            (&MRVB, 1, 26, ExpiryDate),
        ];
        for &(lines, line, position, field) in cases {
            let original = lines[line].as_bytes()[position];
            assert!(original.is_ascii_digit(), "{lines:?} {line} {position}");
            let flipped = char::from(b'0' + (original - b'0' + 1) % 10);
            let read = parse_owned(&with_char(lines, line, position, flipped));
            assert!(!read.valid);
            let mut failed = vec![field];
            if read.check_digits.contains_key(&Composite) {
                failed.push(Composite);
            }
            assert_eq!(
                read.failed_checks(),
                failed,
                "{:?} {line} {position}",
                read.format
            );
        }
    }

    /// A check digit itself misprinted fails its own check (and the composite, which covers it), and
    /// the record keeps what was printed and what was computed.
    #[test]
    fn a_wrong_check_digit_reports_printed_and_computed() {
        let read = parse_owned(&with_char(&TD3, 1, 19, '3'));
        assert_eq!(
            read.check_digits[&CheckedField::DateOfBirth],
            CheckDigit {
                printed: '3',
                computed: '2',
                valid: false
            }
        );
        assert_eq!(
            read.failed_checks(),
            [CheckedField::DateOfBirth, CheckedField::Composite]
        );
        let composite = parse_owned(&with_char(&TD1, 1, 29, '0'));
        assert_eq!(composite.failed_checks(), [CheckedField::Composite]);
    }

    /// ICAO: a TD3 personal number field of fillers may carry `<` or `0` as its check digit.
    #[test]
    fn filler_check_digit_of_empty_optional_data() {
        let line2 = "L898902C36UTO7408122F1204159<<<<<<<<<<<<<<<";
        let composite_of = format!("{}{}{}", &line2[0..10], &line2[13..20], &line2[21..43]);
        let with_filler = format!("{line2}{}", check_digit(&composite_of));
        let read = parse(&[TD3[0], &with_filler]).unwrap();
        assert!(read.valid, "{:?}", read.check_digits);
        assert_eq!(
            read.check_digits[&CheckedField::OptionalData],
            CheckDigit {
                printed: '<',
                computed: '0',
                valid: true
            }
        );
        // `0` in the same place is valid too (and changes nothing in the composite: `<` counts 0).
        let zero = with_char(&[TD3[0], &with_filler], 1, 42, '0');
        assert!(parse_owned(&zero).valid);
        // But `<` under a personal number that is not empty is not.
        let bad = with_char(&TD3, 1, 42, '<');
        let read = parse_owned(&bad);
        assert!(!read.check_digits[&CheckedField::OptionalData].valid);
    }

    /// ICAO 9303 part 5: a TD1 document number longer than nine characters has `<` where its check
    /// digit would be and continues in the optional data, followed by its check digit and a filler.
    #[test]
    fn td1_long_document_number() {
        let lines = [
            "I<UTOD23145890<AB125<<<<<<<<<<",
            "7408122F1204159UTO<<<<<<<<<<<6",
            "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
        ];
        let read = parse(&lines).unwrap();
        assert!(read.valid, "{:?}", read.check_digits);
        assert_eq!(check_digit("D23145890AB12"), '5');
        assert_eq!(
            read.check_digits[&CheckedField::DocumentNumber],
            CheckDigit {
                printed: '5',
                computed: '5',
                valid: true
            }
        );
        // A wrong digit in the continued part is caught by the document number's check digit.
        let wrong = parse_owned(&with_char(&lines, 0, 17, '2'));
        assert!(!wrong.check_digits[&CheckedField::DocumentNumber].valid);
        // A `<` check digit with nothing continued is not a long number, and fails.
        let nothing = parse_owned(&with_char(&TD1, 0, 14, '<'));
        assert!(!nothing.check_digits[&CheckedField::DocumentNumber].valid);
    }

    /// TD2 (9303 part 6) continues a long number the same way, in its optional data.
    #[test]
    fn td2_long_document_number() {
        let head = "D23145890<UTO7408122F1204159AB125<<";
        let composite_of = format!("{}{}{}", &head[0..10], &head[13..20], &head[21..35]);
        let line2 = format!("{head}{}", check_digit(&composite_of));
        let read = parse(&[TD2[0], &line2]).unwrap();
        assert!(read.valid, "{:?}", read.check_digits);
        assert_eq!(
            read.check_digits[&CheckedField::DocumentNumber].printed,
            '5'
        );
    }

    #[test]
    fn parse_takes_only_exact_lines_of_a_format() {
        assert!(parse(&[]).is_none());
        assert!(parse(&[TD3[0]]).is_none());
        assert!(parse(&[TD3[0], &TD3[1][..43]]).is_none());
        assert!(parse(&[TD3[0], TD3[1], TD3[1]]).is_none());
        assert!(parse(&[TD1[0], TD1[1]]).is_none());
        assert!(parse(&[&TD3[0].to_lowercase(), TD3[1]]).is_none());
        let multibyte = format!("P<UTOÉRIKSSON{}", "<".repeat(30));
        assert!(parse(&[&multibyte, TD3[1]]).is_none());
        // No corrections: an O in a date stays, and fails.
        let o_in_date = with_char(&TD3, 1, 13, 'O');
        let read = parse_owned(&o_in_date);
        assert!(read.corrections.is_empty());
        assert!(!read.valid);
    }

    #[test]
    fn rank_orders_valid_then_share_then_fewer_corrections() {
        let valid = parse(&TD3).unwrap();
        let one_failed = parse_owned(&with_char(&TD3, 1, 43, '9'));
        let two_failed = parse_owned(&with_char(&TD3, 1, 16, '0'));
        let three_failed = {
            let dob = with_char(&TD3, 1, 16, '0');
            let dob: Vec<&str> = dob.iter().map(String::as_str).collect();
            parse_owned(&with_char(&dob, 1, 24, '0'))
        };
        assert_eq!(one_failed.rank().1, 800);
        assert_eq!(two_failed.rank().1, 600);
        assert_eq!(three_failed.rank().1, 400);
        assert!(valid.rank() > one_failed.rank());
        assert!(one_failed.rank() > two_failed.rank());
        assert!(two_failed.rank() > three_failed.rank());
        let mut corrected = valid.clone();
        corrected.corrections.push(Correction {
            line: 1,
            position: 14,
            read: 'O',
            corrected: '0',
        });
        assert!(valid.rank() > corrected.rank());
        assert!(corrected.rank() > one_failed.rank());
        // Thousandths compare formats with different numbers of check digits: TD1 with 3 of 4 passed
        // ranks below TD3 with 4 of 5.
        let td1 = parse_owned(&with_char(&TD1, 1, 29, '0'));
        assert_eq!(td1.rank().1, 750);
        assert!(one_failed.rank() > td1.rank());
    }

    #[test]
    fn name_field_and_its_truncation() {
        let read = parse(&TD3).unwrap();
        assert_eq!(read.name_field(), "ERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<");
        assert!(!read.name_field_truncated());
        let td1 = parse(&TD1).unwrap();
        assert_eq!(td1.name_field(), TD1[2]);
        assert!(!td1.name_field_truncated());
        let long = ["P<UTOWOLFESCHLEGELSTEINHAUSENBERGERDORFF<<HU", TD3[1]];
        let truncated = parse(&long).unwrap();
        assert!(truncated.name_field_truncated());
        // A read of the wrong shape (from elsewhere) has an empty name field, not a panic.
        let mut broken = truncated.clone();
        broken.lines = vec!["P<".into()];
        assert_eq!(broken.name_field(), "");
        assert!(!broken.name_field_truncated());
    }

    #[test]
    fn serialises_for_the_record() {
        let read = parse(&TD2).unwrap();
        let text = serde_json::to_string(&read).unwrap();
        let order = [
            "document_number",
            "date_of_birth",
            "expiry_date",
            "composite",
        ]
        .map(|k| text.find(&format!("\"{k}\":{{")).unwrap());
        assert!(order.is_sorted(), "{text}");
        let json = serde_json::to_value(&read).unwrap();
        assert_eq!(json["format"], "TD2");
        assert_eq!(json["valid"], true);
        assert_eq!(
            json["check_digits"]["document_number"],
            serde_json::json!({"printed": "7", "computed": "7", "valid": true})
        );
        let back: MrzRead = serde_json::from_value(json).unwrap();
        assert_eq!(back, read);
    }
}
