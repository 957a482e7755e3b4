//! The fields of a read, as a person reads them: fillers trimmed or shown as spaces, the document
//! number whole, dates with their century.

use serde::{Deserialize, Serialize};
use time::{Date, Month};

use super::super::yyyy_mm_dd;
use super::check::{long_document_number, text};
use super::read::MrzRead;

/// The holder's sex as the MRZ prints it: `F`, `M`, or `<`/`X` (unspecified; anything unreadable
/// counts as unspecified too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Female,
    Male,
    Unspecified,
}

impl Sex {
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Female => "female",
            Sex::Male => "male",
            Sex::Unspecified => "unspecified",
        }
    }

    fn from_mrz(text: &str) -> Sex {
        match text {
            "F" => Sex::Female,
            "M" => Sex::Male,
            _ => Sex::Unspecified,
        }
    }
}

/// The fields of a read. Codes and numbers have their fillers removed; names and optional data show
/// each run of fillers inside them as one space. Dates are `None` when the six characters are not a
/// date (unknown parts printed as `<`, or an impossible day); they serialise as `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MrzFields {
    /// `P`, `I`, `ID`, `AC`, `V`, … (the one- or two-letter document code).
    pub document_type: String,
    /// ICAO code of the issuing state or organisation: `UTO`, `D`, `GBR`, `EUE`, …
    pub issuing_state: String,
    /// The primary identifier: everything before the first `<<` of the name field.
    pub surname: String,
    /// The secondary identifier: everything after it.
    pub given_names: String,
    /// The whole number: a TD1 or TD2 number longer than nine characters continues in the optional
    /// data (its check digit not included).
    pub document_number: String,
    pub nationality: String,
    #[serde(with = "yyyy_mm_dd::option")]
    pub date_of_birth: Option<Date>,
    pub sex: Sex,
    #[serde(with = "yyyy_mm_dd::option")]
    pub expiry_date: Option<Date>,
    /// TD3's personal number, or a TD1's two optional data fields joined by a space (after the end of
    /// a long document number), or the TD2 and visa optional data.
    pub optional_data: String,
}

/// `<`-separated parts as words: `ANNA<MARIA<<<` → `ANNA MARIA`.
fn words(field: &str) -> String {
    field
        .split('<')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The name field split into surname and given names at the first `<<` (ICAO's separator).
fn split_name(field: &str) -> (String, String) {
    let name = field.trim_end_matches('<');
    let (surname, given_names) = name.split_once("<<").unwrap_or((name, ""));
    (words(surname), words(given_names))
}

/// The fields of `read`, with two-digit years resolved against `today` ([`birth_date`],
/// [`expiry_date`]). Never fails: a read of the wrong shape (deserialised from elsewhere) gives empty
/// fields rather than a panic.
pub fn fields(read: &MrzRead, today: Date) -> MrzFields {
    let layout = read.format.layout();
    let lines = &read.lines;
    let long_number = long_document_number(lines, layout);
    let document_number = match &long_number {
        Some((number, _, _)) => number.replace('<', ""),
        None => text(lines, layout.document_number.field).replace('<', ""),
    };
    let optional_data = layout
        .optional_data
        .iter()
        .map(|span| match &long_number {
            Some((_, _, rest)) if layout.number_overflow == Some(*span) => words(rest),
            _ => words(text(lines, *span)),
        })
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let (surname, given_names) = split_name(text(lines, layout.name));
    MrzFields {
        document_type: words(text(lines, layout.document_code)),
        issuing_state: words(text(lines, layout.issuing_state)),
        surname,
        given_names,
        document_number,
        nationality: words(text(lines, layout.nationality)),
        date_of_birth: birth_date(text(lines, layout.date_of_birth.field), today),
        sex: Sex::from_mrz(text(lines, layout.sex)),
        expiry_date: expiry_date(text(lines, layout.expiry_date.field), today),
        optional_data,
    }
}

/// Two-digit year, month and day of exactly six ASCII digits forming a possible month and day.
fn split_yymmdd(yymmdd: &str) -> Option<(i32, Month, u8)> {
    let bytes = yymmdd.as_bytes();
    if bytes.len() != 6 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let two = |i: usize| (bytes[i] - b'0') * 10 + (bytes[i + 1] - b'0');
    let month = Month::try_from(two(2)).ok()?;
    Some((i32::from(two(0)), month, two(4)))
}

/// The start of `today`'s century (2000 for 2026).
fn century(today: Date) -> i32 {
    today.year().div_euclid(100) * 100
}

/// A date of birth from `YYMMDD`: the latest such date that is not after `today` (someone born
/// `261202` and read on 2026-12-01 was born in 1926). `None` when it is not a date (in any of the
/// centuries tried, so `000229` finds 2000 even when today's century year is not a leap year).
pub fn birth_date(yymmdd: &str, today: Date) -> Option<Date> {
    let (yy, month, day) = split_yymmdd(yymmdd)?;
    let century = century(today);
    [century, century - 100, century - 200]
        .into_iter()
        .filter_map(|c| Date::from_calendar_date(c + yy, month, day).ok())
        .find(|date| *date <= today)
}

/// An expiry date from `YYMMDD`: of the candidates in the previous, this and the next century, the
/// one closest to `today`. Documents are valid for at most about ten years, so the true date is always
/// the closest; an expired document is still read as expired (`991231` on 2026-12-01 is 1999-12-31,
/// not 2099). On an exact tie the earlier date is taken, which errs towards "expired".
pub fn expiry_date(yymmdd: &str, today: Date) -> Option<Date> {
    let (yy, month, day) = split_yymmdd(yymmdd)?;
    let century = century(today);
    [century - 100, century, century + 100]
        .into_iter()
        .filter_map(|c| Date::from_calendar_date(c + yy, month, day).ok())
        .min_by_key(|date| ((*date - today).abs(), *date))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::mrz::parse;
    use crate::document::mrz::read::tests::{MRVA, MRVB, TD1, TD2, TD3};

    fn ymd(year: i32, month: u8, day: u8) -> Date {
        Date::from_calendar_date(year, Month::try_from(month).unwrap(), day).unwrap()
    }

    fn today() -> Date {
        ymd(2026, 12, 1)
    }

    fn fields_of(lines: &[&str]) -> MrzFields {
        fields(&parse(lines).expect("a format fits"), today())
    }

    #[test]
    fn td3_specimen_fields() {
        assert_eq!(
            fields_of(&TD3),
            MrzFields {
                document_type: "P".into(),
                issuing_state: "UTO".into(),
                surname: "ERIKSSON".into(),
                given_names: "ANNA MARIA".into(),
                document_number: "L898902C3".into(),
                nationality: "UTO".into(),
                date_of_birth: Some(ymd(1974, 8, 12)),
                sex: Sex::Female,
                expiry_date: Some(ymd(2012, 4, 15)),
                optional_data: "ZE184226B".into(),
            }
        );
    }

    #[test]
    fn td1_td2_and_visa_specimen_fields() {
        let td1 = fields_of(&TD1);
        assert_eq!(
            (
                td1.document_type.as_str(),
                td1.document_number.as_str(),
                td1.optional_data.as_str()
            ),
            ("I", "D23145890", "")
        );
        assert_eq!(
            (td1.surname.as_str(), td1.given_names.as_str()),
            ("ERIKSSON", "ANNA MARIA")
        );
        assert_eq!(td1.nationality, "UTO");
        assert_eq!(td1.date_of_birth, Some(ymd(1974, 8, 12)));
        assert_eq!(td1.expiry_date, Some(ymd(2012, 4, 15)));
        let td2 = fields_of(&TD2);
        assert_eq!(td2.document_number, "D23145890");
        assert_eq!(
            (td2.surname.as_str(), td2.given_names.as_str()),
            ("ERIKSSON", "ANNA MARIA")
        );
        for visa in [&MRVA[..], &MRVB] {
            let f = fields_of(visa);
            assert_eq!(f.document_type, "V");
            assert_eq!(f.document_number, "L8988901C");
            assert_eq!(f.nationality, "XXX");
            assert_eq!(f.date_of_birth, Some(ymd(1940, 9, 7)));
            assert_eq!(f.expiry_date, Some(ymd(1996, 12, 10)));
            assert_eq!(f.sex, Sex::Female);
        }
        assert_eq!(fields_of(&MRVA).optional_data, "6ZE184226B");
        assert_eq!(fields_of(&MRVB).optional_data, "");
    }

    #[test]
    fn long_document_numbers_continue_in_the_optional_data() {
        let td1 = fields_of(&[
            "I<UTOD23145890<AB125<XY<12<<<<",
            "7408122F1204159UTO<<<<<<<<<<<6",
            "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
        ]);
        assert_eq!(td1.document_number, "D23145890AB12");
        assert_eq!(td1.optional_data, "XY 12");
        let td1_both = fields_of(&[
            "I<UTOD231458907ZZ99<<<<<<<<<<<",
            "7408122F1204159UTO1234<<<<<<<6",
            "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
        ]);
        assert_eq!(td1_both.document_number, "D23145890");
        assert_eq!(td1_both.optional_data, "ZZ99 1234");
        let td2 = fields_of(&[TD2[0], "D23145890<UTO7408122F1204159AB125<<3"]);
        assert_eq!(td2.document_number, "D23145890AB12");
        assert_eq!(td2.optional_data, "");
    }

    #[test]
    fn codes_names_and_sex_as_a_person_reads_them() {
        let lines = [
            "PDD<<VAN<DER<BERG<<JAN<PIETER<<<<<<<<<<<<<<<",
            "C01X00T478D<<6408125M2702283<<<<<<<<<<<<<<<4",
        ];
        let f = fields_of(&lines);
        assert_eq!(f.document_type, "PD");
        assert_eq!(f.issuing_state, "D");
        assert_eq!(f.nationality, "D");
        assert_eq!(f.surname, "VAN DER BERG");
        assert_eq!(f.given_names, "JAN PIETER");
        assert_eq!(f.document_number, "C01X00T47");
        assert_eq!(f.sex, Sex::Male);
        assert_eq!(f.optional_data, "");
        for (printed, sex) in [
            ("F", Sex::Female),
            ("M", Sex::Male),
            ("<", Sex::Unspecified),
            ("X", Sex::Unspecified),
            ("K", Sex::Unspecified),
        ] {
            assert_eq!(Sex::from_mrz(printed), sex);
        }
        // One name only (a mononym): all surname.
        assert_eq!(
            split_name("SUKARNO<<<<<<"),
            ("SUKARNO".into(), String::new())
        );
        // No surname: all given names.
        assert_eq!(split_name("<<ANNA<<<<"), (String::new(), "ANNA".into()));
        assert_eq!(split_name("<<<<<<"), (String::new(), String::new()));
    }

    #[test]
    fn serialises_dates_as_yyyy_mm_dd_and_sex_in_words() {
        let json = serde_json::to_value(fields_of(&TD3)).unwrap();
        assert_eq!(json["date_of_birth"], "1974-08-12");
        assert_eq!(json["expiry_date"], "2012-04-15");
        assert_eq!(json["sex"], "female");
        let mut unknown = fields_of(&TD3);
        unknown.date_of_birth = None;
        let json = serde_json::to_value(&unknown).unwrap();
        assert_eq!(json["date_of_birth"], serde_json::Value::Null);
        assert_eq!(serde_json::from_value::<MrzFields>(json).unwrap(), unknown);
    }

    /// Two-digit years, `today` fixed at 2026-12-01.
    #[test]
    fn birth_dates_are_the_latest_not_in_the_future() {
        assert_eq!(birth_date("991231", today()), Some(ymd(1999, 12, 31)));
        assert_eq!(birth_date("261130", today()), Some(ymd(2026, 11, 30)));
        assert_eq!(
            birth_date("261201", today()),
            Some(ymd(2026, 12, 1)),
            "born today"
        );
        assert_eq!(
            birth_date("261202", today()),
            Some(ymd(1926, 12, 2)),
            "tomorrow is future"
        );
        assert_eq!(birth_date("000101", today()), Some(ymd(2000, 1, 1)));
        assert_eq!(birth_date("270101", today()), Some(ymd(1927, 1, 1)));
        assert_eq!(birth_date("740812", today()), Some(ymd(1974, 8, 12)));
        // 29 February: in a century whose leap year fits.
        assert_eq!(birth_date("000229", today()), Some(ymd(2000, 2, 29)));
        assert_eq!(
            birth_date("000229", ymd(2100, 3, 1)),
            Some(ymd(2000, 2, 29))
        );
        assert_eq!(birth_date("250229", today()), None);
    }

    /// `700101`: 2070-01-01 is 43 years ahead, 1970-01-01 57 years back, so 2070, the closer. Either
    /// is impossible for a real document (ten years' validity at most); the rule only has to be right
    /// for the dates that occur, and picks the past on a tie.
    #[test]
    fn expiry_dates_are_the_closest_to_today() {
        assert_eq!(expiry_date("300101", today()), Some(ymd(2030, 1, 1)));
        assert_eq!(
            expiry_date("991231", today()),
            Some(ymd(1999, 12, 31)),
            "expired"
        );
        assert_eq!(expiry_date("700101", today()), Some(ymd(2070, 1, 1)));
        // Fifty years either way, counted in days (leap days decide): 2076-11-30 is 18262 days ahead,
        // 1976-11-30 18263 back; 1976-12-02 is 18261 back, 2076-12-02 18264 ahead.
        assert_eq!(expiry_date("761130", today()), Some(ymd(2076, 11, 30)));
        assert_eq!(expiry_date("761202", today()), Some(ymd(1976, 12, 2)));
        assert_eq!(expiry_date("770101", today()), Some(ymd(1977, 1, 1)));
        assert_eq!(
            expiry_date("261130", today()),
            Some(ymd(2026, 11, 30)),
            "expired yesterday"
        );
        assert_eq!(expiry_date("120415", today()), Some(ymd(2012, 4, 15)));
        // Near a century's turn: on 2098-06-01, 010101 is 2101, not 2001.
        assert_eq!(
            expiry_date("010101", ymd(2098, 6, 1)),
            Some(ymd(2101, 1, 1))
        );
        assert_eq!(
            expiry_date("980101", ymd(2001, 6, 1)),
            Some(ymd(1998, 1, 1))
        );
        // An exact tie: on 2050-03-01, 2000-03-01 and 2100-03-01 are both 18262 days away. The past
        // wins.
        let tie_today = ymd(2050, 3, 1);
        assert_eq!(tie_today - ymd(2000, 3, 1), ymd(2100, 3, 1) - tie_today);
        assert_eq!(expiry_date("000301", tie_today), Some(ymd(2000, 3, 1)));
    }

    #[test]
    fn not_dates_are_none() {
        for bad in [
            "991332",
            "991300",
            "990100",
            "990231",
            "9912",
            "99123",
            "9912311",
            "99<231",
            "<<<<<<",
            "",
            "ÄÖÜ123",
            "+91231",
            "99 231",
        ] {
            assert_eq!(birth_date(bad, today()), None, "{bad:?}");
            assert_eq!(expiry_date(bad, today()), None, "{bad:?}");
        }
        // In a read, such a date is a None field, not an error.
        let unknown_day = [TD3[0], "L898902C36UTO7408<<2F1204159ZE184226B<<<<<10"];
        assert_eq!(fields_of(&unknown_day).date_of_birth, None);
    }

    #[test]
    fn a_read_of_the_wrong_shape_gives_empty_fields() {
        let mut read = parse(&TD3).unwrap();
        read.lines = vec!["P<".into(), "É".into()];
        let f = fields(&read, today());
        assert_eq!(f.document_type, "P");
        assert_eq!((f.surname.as_str(), f.document_number.as_str()), ("", ""));
        assert_eq!(
            (f.date_of_birth, f.expiry_date, f.sex),
            (None, None, Sex::Unspecified)
        );
        read.lines.clear();
        assert_eq!(fields(&read, today()).document_type, "");
    }
}
