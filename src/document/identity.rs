//! The identity the applicant declared (typed into the application), compared with the MRZ as ICAO 9303
//! part 3 writes names: upper case, transliterated (`Ü` → `UE` or `U`, `ß` → `SS`, accents dropped),
//! hyphens, commas and spaces as `<`, apostrophes dropped, and a name too long for its field cut at the
//! field's end.

use serde::{Deserialize, Serialize};
use time::Date;

use super::mrz::MrzFields;
use super::transliteration::{pieces, Piece, SEPARATOR};
use super::yyyy_mm_dd;

/// The longest name part accepted, in characters (the MRZ holds at most 39).
pub const MAX_NAME_CHARS: usize = 100;

/// What the applicant typed: surname, given names (may be empty: not everyone has one) and date of
/// birth (`YYYY-MM-DD` in JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclaredIdentity {
    /// As typed, with any accents (`Müller-Lüdenscheidt`); compared as ICAO 9303 transliterates it.
    #[schema(example = "Eriksson")]
    pub surname: String,
    /// All given names, space-separated; may be empty.
    #[schema(example = "Anna Maria")]
    pub given_names: String,
    #[serde(with = "yyyy_mm_dd")]
    #[schema(value_type = String, format = Date, example = "1974-08-12")]
    pub date_of_birth: Date,
}

impl DeclaredIdentity {
    /// A surname that is not blank; both names at most [`MAX_NAME_CHARS`] characters and free of
    /// control characters. The message names the field (callers prefix where it came from).
    pub fn validate(&self) -> Result<(), String> {
        if self.surname.trim().is_empty() {
            return Err("surname is empty".into());
        }
        for (field, value) in [
            ("surname", &self.surname),
            ("given_names", &self.given_names),
        ] {
            if value.chars().count() > MAX_NAME_CHARS {
                return Err(format!(
                    "{field} is longer than {MAX_NAME_CHARS} characters"
                ));
            }
            if value.chars().any(char::is_control) {
                return Err(format!("{field} contains a control character"));
            }
        }
        Ok(())
    }
}

/// At most this many variants are listed by [`mrz_name_variants`] (a name with many umlauts has two
/// forms per umlaut). The comparisons themselves consider every variant.
pub const MAX_VARIANTS: usize = 64;

/// The ways `name` (as typed) may be written in an MRZ, ICAO 9303 part 3: upper case; `Ä`, `Ö`, `Ü` as
/// `AE`, `OE`, `UE` or `A`, `O`, `U`; `Å` as `AA` or `A`; `Ø` as `OE` or `O`; `Æ` → `AE`, `Œ` → `OE`,
/// `ß` → `SS`, `Þ` → `TH`, `Ð` → `D`; other accents dropped; hyphens, commas and spaces as one `<`;
/// apostrophes, other punctuation and digits dropped. A letter of another script stays as `?`, which
/// matches no MRZ. The first variant is ICAO's recommended form; duplicates removed; at most
/// [`MAX_VARIANTS`].
pub fn mrz_name_variants(name: &str) -> Vec<String> {
    let mut variants = vec![String::new()];
    for piece in pieces(name) {
        let mut next = Vec::with_capacity(variants.len() * piece.len());
        for variant in &variants {
            for form in piece {
                if next.len() < MAX_VARIANTS {
                    next.push(format!("{variant}{form}"));
                }
            }
        }
        variants = next;
    }
    let mut unique: Vec<String> = Vec::with_capacity(variants.len());
    for variant in variants {
        if !unique.contains(&variant) {
            unique.push(variant);
        }
    }
    unique
}

/// An MRZ name (as in [`MrzFields`], spaces between parts, or in `<` form) in `<` form: upper case,
/// one `<` between parts, none at the ends. Anything but ASCII letters becomes `#`, which no variant
/// has (not even a name of another script, whose letters are `?`).
fn mrz_form(mrz: &str) -> String {
    let mut form = String::with_capacity(mrz.len());
    for part in mrz.split([' ', '<']).filter(|p| !p.is_empty()) {
        if !form.is_empty() {
            form.push('<');
        }
        form.extend(part.chars().map(|c| {
            if c.is_ascii_alphabetic() {
                c.to_ascii_uppercase()
            } else {
                '#'
            }
        }));
    }
    form
}

/// Does some variant of `pieces` equal `target` (or, with `prefix`, start with it)? A walk over the
/// pieces keeping every position of `target` reachable so far, so no variant list is built or capped.
fn spells(pieces: &[Piece], target: &str, prefix: bool) -> bool {
    let target = target.as_bytes();
    let mut reachable = vec![false; target.len() + 1];
    reachable[0] = true;
    for piece in pieces {
        if prefix && reachable[target.len()] {
            return true;
        }
        let mut next = vec![false; target.len() + 1];
        for position in (0..=target.len()).filter(|&p| reachable[p]) {
            let rest = &target[position..];
            for form in piece.iter().map(|f| f.as_bytes()) {
                if rest.starts_with(form) {
                    next[position + form.len()] = true;
                } else if prefix && form.starts_with(rest) {
                    // The target ends inside this piece: what is left of the name was cut off.
                    return true;
                }
            }
        }
        reachable = next;
    }
    reachable[target.len()]
}

/// Does the declared name part agree with the MRZ's? `mrz` as in [`MrzFields`] (`ANNA MARIA`) or in
/// `<` form. They agree when some ICAO variant of `declared` equals it; and, when the MRZ name field
/// was `truncated` ([`super::mrz::MrzRead::name_field_truncated`]) and this part runs to its end, also
/// when the MRZ's (non-empty) form is the start of a variant. Case never matters.
pub fn name_agrees(declared: &str, mrz: &str, truncated: bool) -> bool {
    let mrz = mrz_form(mrz);
    let declared = pieces(declared);
    spells(&declared, &mrz, false)
        || (truncated && !mrz.is_empty() && spells(&declared, &mrz, true))
}

/// Does the declared date of birth agree with the MRZ's? Compared as the MRZ prints it (two-digit
/// year, month, day), so the century the MRZ's date was given ([`super::mrz::birth_date`]) never
/// makes a centenarian disagree. No date read (unknown or unreadable) does not agree.
pub fn date_of_birth_agrees(declared: Date, mrz: Option<Date>) -> bool {
    mrz.is_some_and(|read| {
        read.year().rem_euclid(100) == declared.year().rem_euclid(100)
            && read.month() == declared.month()
            && read.day() == declared.day()
    })
}

/// The whole name, surname then given names, as the name field holds it: `SURNAME<<GIVEN<NAMES`.
fn whole_name_pieces(surname: &str, given_names: &str) -> Vec<Piece> {
    let mut whole = pieces(surname);
    let given = pieces(given_names);
    if !given.is_empty() {
        whole.push(SEPARATOR);
        whole.push(SEPARATOR);
        whole.extend(given);
    }
    whole
}

/// The declared identity against the MRZ's fields: `declared_name_mismatch` unless surname and given
/// names both agree (each an exact variant; when the name field was truncated, the whole name as the
/// field holds it may instead be cut anywhere, even inside the surname), then
/// `declared_date_of_birth_mismatch` unless [`date_of_birth_agrees`]. Pass
/// [`super::mrz::MrzRead::name_field_truncated`] as `name_field_truncated`.
pub fn declared_reasons(
    declared: &DeclaredIdentity,
    fields: &MrzFields,
    name_field_truncated: bool,
) -> Vec<&'static str> {
    let mut reasons = Vec::new();
    let parts_agree = name_agrees(&declared.surname, &fields.surname, false)
        && name_agrees(&declared.given_names, &fields.given_names, false);
    let cut_whole_agrees = name_field_truncated && {
        let mrz_whole = if fields.given_names.trim().is_empty() {
            mrz_form(&fields.surname)
        } else {
            format!(
                "{}<<{}",
                mrz_form(&fields.surname),
                mrz_form(&fields.given_names)
            )
        };
        !mrz_whole.is_empty()
            && spells(
                &whole_name_pieces(&declared.surname, &declared.given_names),
                &mrz_whole,
                true,
            )
    };
    if !parts_agree && !cut_whole_agrees {
        reasons.push("declared_name_mismatch");
    }
    if !date_of_birth_agrees(declared.date_of_birth, fields.date_of_birth) {
        reasons.push("declared_date_of_birth_mismatch");
    }
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::mrz::{fields, parse, Sex};
    use time::Month;

    fn ymd(year: i32, month: u8, day: u8) -> Date {
        Date::from_calendar_date(year, Month::try_from(month).unwrap(), day).unwrap()
    }

    fn declared(surname: &str, given_names: &str, date_of_birth: Date) -> DeclaredIdentity {
        DeclaredIdentity {
            surname: surname.into(),
            given_names: given_names.into(),
            date_of_birth,
        }
    }

    fn mrz_fields(surname: &str, given_names: &str, date_of_birth: Option<Date>) -> MrzFields {
        MrzFields {
            document_type: "P".into(),
            issuing_state: "UTO".into(),
            surname: surname.into(),
            given_names: given_names.into(),
            document_number: "L898902C3".into(),
            nationality: "UTO".into(),
            date_of_birth,
            sex: Sex::Female,
            expiry_date: Some(ymd(2030, 1, 1)),
            optional_data: String::new(),
        }
    }

    #[test]
    fn validate_bounds_the_typed_names() {
        let ok = declared("Eriksson", "Anna Maria", ymd(1974, 8, 12));
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(
            declared("Eriksson", "", ymd(1974, 8, 12)).validate(),
            Ok(())
        );
        assert_eq!(
            declared("Ö".repeat(100).as_str(), "", ymd(1974, 8, 12)).validate(),
            Ok(())
        );
        let cases = [
            (declared("", "Anna", ymd(1974, 8, 12)), "surname is empty"),
            (
                declared(" \t ", "Anna", ymd(1974, 8, 12)),
                "surname is empty",
            ),
            (
                declared(&"A".repeat(101), "", ymd(1974, 8, 12)),
                "surname is longer than 100 characters",
            ),
            (
                declared("Eriksson", &"Ö".repeat(101), ymd(1974, 8, 12)),
                "given_names is longer than 100 characters",
            ),
            (
                declared("Eriks\u{0}son", "", ymd(1974, 8, 12)),
                "surname contains a control character",
            ),
            (
                declared("Eriksson", "Anna\nMaria", ymd(1974, 8, 12)),
                "given_names contains a control character",
            ),
        ];
        for (identity, message) in cases {
            assert_eq!(identity.validate(), Err(message.to_string()));
        }
    }

    #[test]
    fn serde_is_strict() {
        let json = r#"{"surname":"Müller","given_names":"Zoë","date_of_birth":"1974-08-12"}"#;
        let parsed: DeclaredIdentity = serde_json::from_str(json).unwrap();
        assert_eq!(parsed, declared("Müller", "Zoë", ymd(1974, 8, 12)));
        assert_eq!(serde_json::to_string(&parsed).unwrap(), json);
        for bad in [
            r#"{"surname":"A","given_names":"","date_of_birth":"1974-08-12","nickname":"x"}"#,
            r#"{"surname":"A","given_names":"","date_of_birth":"12/08/1974"}"#,
            r#"{"surname":"A","date_of_birth":"1974-08-12"}"#,
        ] {
            assert!(
                serde_json::from_str::<DeclaredIdentity>(bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn variants_follow_icao_transliteration() {
        let cases: &[(&str, &[&str])] = &[
            ("Müller", &["MUELLER", "MULLER"]),
            ("Þórunn", &["THORUNN"]),
            ("Øyvind", &["OEYVIND", "OYVIND"]),
            ("Åse", &["AASE", "ASE"]),
            ("Strauß", &["STRAUSS"]),
            ("STRAUẞ", &["STRAUSS"]),
            ("Zoë", &["ZOE"]),
            ("François", &["FRANCOIS"]),
            ("Ægir Œdipe", &["AEGIR<OEDIPE"]),
            ("Łukasz Żółć", &["LUKASZ<ZOLC"]),
            ("Dvořák", &["DVORAK"]),
            ("Smith-Jones", &["SMITH<JONES"]),
            ("O'Brien", &["OBRIEN"]),
            ("d’Artagnan", &["DARTAGNAN"]),
            ("Anna Maria", &["ANNA<MARIA"]),
            ("  anna   MARIA ", &["ANNA<MARIA"]),
            ("Smith, John", &["SMITH<JOHN"]),
            ("Jean-Luc  d'Arc", &["JEAN<LUC<DARC"]),
            ("St. John", &["ST<JOHN"]),
            ("ÅÅ", &["AAAA", "AAA", "AA"]),
            ("", &[""]),
        ];
        for (name, expected) in cases {
            assert_eq!(mrz_name_variants(name), *expected, "{name}");
        }
        assert_eq!(
            mrz_name_variants("Müller-Lüdenscheidt"),
            [
                "MUELLER<LUEDENSCHEIDT",
                "MUELLER<LUDENSCHEIDT",
                "MULLER<LUEDENSCHEIDT",
                "MULLER<LUDENSCHEIDT"
            ]
        );
    }

    #[test]
    fn variants_are_bounded() {
        let many = "Ü".repeat(100);
        let variants = mrz_name_variants(&many);
        assert!(variants.len() <= MAX_VARIANTS);
        assert_eq!(variants[0], "UE".repeat(100));
        // The comparison still considers every variant: the last one is all `U`.
        assert!(name_agrees(&many, &"U".repeat(100), false));
        let mixed = format!("{}{}", "UE".repeat(50), "U".repeat(50));
        assert!(name_agrees(&many, &mixed, false));
    }

    #[test]
    fn names_agree_through_transliteration_and_case() {
        assert!(name_agrees("Müller", "MUELLER", false));
        assert!(name_agrees("müller", "MULLER", false));
        assert!(name_agrees("MÜLLER", "mueller", false));
        assert!(name_agrees("Mu\u{0308}ller", "MUELLER", false));
        assert!(name_agrees("Smith-Jones", "SMITH JONES", false));
        assert!(name_agrees("Smith Jones", "SMITH<JONES", false));
        assert!(name_agrees("Anna Maria", "ANNA MARIA", false));
        assert!(name_agrees("Anna-Maria", "ANNA<MARIA<<<<", false));
        assert!(name_agrees("O'Brien", "OBRIEN", false));
        assert!(name_agrees("Þórunn", "THORUNN", false));
        assert!(name_agrees("Åse", "ASE", false));
        assert!(name_agrees("", "", false));
        assert!(name_agrees("  ", "", false));
    }

    #[test]
    fn different_names_do_not_agree() {
        assert!(!name_agrees("Eriksson", "ERIKSEN", false));
        assert!(!name_agrees("Müller", "MILLER", false));
        assert!(!name_agrees("Müller", "MUELER", false));
        assert!(!name_agrees("Anna", "ANNA MARIA", false));
        assert!(!name_agrees("Anna Maria", "ANNA", false));
        assert!(!name_agrees("AnnaMaria", "ANNA MARIA", false));
        assert!(!name_agrees("", "ANNA", false));
        assert!(!name_agrees("Anna", "", false));
        assert!(!name_agrees("Иван", "IVAN", false));
        assert!(!name_agrees("Anna", "ANN?", false));
        assert!(
            !name_agrees("Иван", "Иван", false),
            "an MRZ holds no Cyrillic"
        );
        assert!(!name_agrees("Anna4", "ANNA4", false));
    }

    #[test]
    fn a_truncated_mrz_name_agrees_with_its_continuation() {
        let full = "Wolfeschlegelsteinhausenbergerdorff";
        let cut = "WOLFESCHLEGELSTEINHAUSENBERGERDOR";
        assert!(name_agrees(full, cut, true));
        assert!(
            !name_agrees(full, cut, false),
            "only when the field was full"
        );
        assert!(name_agrees("Müller", "MU", true));
        assert!(name_agrees("Müller", "MUE", true));
        assert!(name_agrees("Anna Maria", "ANNA MAR", true));
        assert!(!name_agrees("Anna Maria", "ANNA MAX", true));
        assert!(
            !name_agrees("Anna", "ANNA MARIA", true),
            "the MRZ is longer than the name"
        );
        assert!(
            !name_agrees("Anna", "", true),
            "an empty field is not a cut name"
        );
    }

    #[test]
    fn declared_identity_agrees_with_the_specimen() {
        let read = parse(&[
            "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
            "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
        ])
        .unwrap();
        let f = fields(&read, ymd(2026, 12, 1));
        let anna = declared("Eriksson", "Anna Maria", ymd(1974, 8, 12));
        assert!(declared_reasons(&anna, &f, read.name_field_truncated()).is_empty());
        let lower = declared("eriksson", "anna-maria", ymd(1974, 8, 12));
        assert!(declared_reasons(&lower, &f, false).is_empty());
    }

    #[test]
    fn declared_mismatches_are_reported_each() {
        let f = mrz_fields("ERIKSSON", "ANNA MARIA", Some(ymd(1974, 8, 12)));
        let other_name = declared("Eriksen", "Anna Maria", ymd(1974, 8, 12));
        assert_eq!(
            declared_reasons(&other_name, &f, false),
            ["declared_name_mismatch"]
        );
        let other_given = declared("Eriksson", "Anna", ymd(1974, 8, 12));
        assert_eq!(
            declared_reasons(&other_given, &f, false),
            ["declared_name_mismatch"]
        );
        let swapped = declared("Anna Maria", "Eriksson", ymd(1974, 8, 12));
        assert_eq!(
            declared_reasons(&swapped, &f, false),
            ["declared_name_mismatch"]
        );
        let other_day = declared("Eriksson", "Anna Maria", ymd(1974, 8, 13));
        assert_eq!(
            declared_reasons(&other_day, &f, false),
            ["declared_date_of_birth_mismatch"]
        );
        let neither = declared("Smith", "John", ymd(1980, 1, 1));
        assert_eq!(
            declared_reasons(&neither, &f, false),
            ["declared_name_mismatch", "declared_date_of_birth_mismatch"]
        );
        // No date read (unknown parts printed as fillers): it cannot agree.
        let unknown = mrz_fields("ERIKSSON", "ANNA MARIA", None);
        let anna = declared("Eriksson", "Anna Maria", ymd(1974, 8, 12));
        assert_eq!(
            declared_reasons(&anna, &unknown, false),
            ["declared_date_of_birth_mismatch"]
        );
    }

    /// The MRZ's two-digit year was given a century by the "latest not in the future" rule; a person
    /// born 1920 whose MRZ reads 200101 was read as 2020 but agrees with the declared 1920.
    #[test]
    fn date_of_birth_compares_as_printed() {
        assert!(date_of_birth_agrees(ymd(1920, 1, 1), Some(ymd(2020, 1, 1))));
        assert!(date_of_birth_agrees(
            ymd(1974, 8, 12),
            Some(ymd(1974, 8, 12))
        ));
        assert!(!date_of_birth_agrees(
            ymd(1974, 8, 12),
            Some(ymd(1974, 12, 8))
        ));
        assert!(!date_of_birth_agrees(
            ymd(1975, 8, 12),
            Some(ymd(1974, 8, 12))
        ));
        assert!(!date_of_birth_agrees(ymd(1974, 8, 12), None));
    }

    /// A TD3 name field (39 characters) that ICAO cut: its last character is a letter.
    #[test]
    fn a_truncated_td3_name_agrees_with_the_full_declared_name() {
        let read = parse(&[
            "P<UTOWOLFESCHLEGELSTEINHAUSENBERGERDORFF<<HU",
            "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
        ])
        .unwrap();
        assert!(read.name_field_truncated());
        let f = fields(&read, ymd(2026, 12, 1));
        assert_eq!(
            (f.surname.as_str(), f.given_names.as_str()),
            ("WOLFESCHLEGELSTEINHAUSENBERGERDORFF", "HU")
        );
        let hubert = declared(
            "Wolfeschlegelsteinhausenbergerdorff",
            "Hubert Blaine",
            ymd(1974, 8, 12),
        );
        assert!(declared_reasons(&hubert, &f, true).is_empty());
        // Not truncated (e.g. the reader padded the field): the cut name does not agree.
        assert_eq!(
            declared_reasons(&hubert, &f, false),
            ["declared_name_mismatch"]
        );
        // Truncated, but the name differs before the cut.
        let other = declared(
            "Wolfeschlegelsteinhausenbergerdorf",
            "Hubert",
            ymd(1974, 8, 12),
        );
        assert_eq!(
            declared_reasons(&other, &f, true),
            ["declared_name_mismatch"]
        );
        let other_given = declared(
            "Wolfeschlegelsteinhausenbergerdorff",
            "Hans",
            ymd(1974, 8, 12),
        );
        assert_eq!(
            declared_reasons(&other_given, &f, true),
            ["declared_name_mismatch"]
        );
    }

    /// A TD1 name field (30 characters) cut inside the surname: no given names are left in it.
    #[test]
    fn a_td1_name_cut_inside_the_surname_agrees() {
        let read = parse(&[
            "I<UTOD231458907<<<<<<<<<<<<<<<",
            "7408122F1204159UTO<<<<<<<<<<<6",
            "WOLFESCHLEGELSTEINHAUSENBERGER",
        ])
        .unwrap();
        assert!(read.name_field_truncated());
        let f = fields(&read, ymd(2026, 12, 1));
        assert_eq!(
            (f.surname.as_str(), f.given_names.as_str()),
            ("WOLFESCHLEGELSTEINHAUSENBERGER", "")
        );
        let hubert = declared(
            "Wolfeschlegelsteinhausenbergerdorff",
            "Hubert",
            ymd(1974, 8, 12),
        );
        assert!(declared_reasons(&hubert, &f, true).is_empty());
        // A non-truncated different name does not agree.
        let short = parse(&[
            "I<UTOD231458907<<<<<<<<<<<<<<<",
            "7408122F1204159UTO<<<<<<<<<<<6",
            "WOLFESCHLEGEL<<HUBERT<<<<<<<<<",
        ])
        .unwrap();
        assert!(!short.name_field_truncated());
        let f = fields(&short, ymd(2026, 12, 1));
        assert_eq!(
            declared_reasons(&hubert, &f, false),
            ["declared_name_mismatch"]
        );
    }

    /// Whatever is typed: no panic, variants bounded, and a name always agrees with its own first
    /// variant (the form ICAO recommends).
    #[test]
    fn arbitrary_typed_names() {
        let pool: Vec<char> = "aÄöüÅøßÞ-' ,<\u{308}\u{0}Иé字😀\u{2013}ǅŉĸ"
            .chars()
            .collect();
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..2000 {
            let len = (next() % 40) as usize;
            let name: String = (0..len)
                .map(|_| pool[(next() % pool.len() as u64) as usize])
                .collect();
            let variants = mrz_name_variants(&name);
            assert!(!variants.is_empty() && variants.len() <= MAX_VARIANTS);
            let first = &variants[0];
            assert!(
                !first.starts_with('<') && !first.ends_with('<') && !first.contains("<<"),
                "{name:?} → {first}"
            );
            if !first.contains('?') {
                assert!(name_agrees(&name, first, false), "{name:?} → {first}");
            }
            let other: String = (0..len)
                .map(|_| pool[(next() % pool.len() as u64) as usize])
                .collect();
            let _ = name_agrees(&name, &other, true);
            let identity = declared(&name, &other, ymd(2000, 1, 1));
            let _ = identity.validate();
            let _ = declared_reasons(&identity, &mrz_fields(&other, &name, None), true);
        }
    }

    #[test]
    fn names_with_umlauts_agree_either_way() {
        for mrz_surname in ["MUELLER", "MULLER"] {
            let f = mrz_fields(mrz_surname, "ZOE", Some(ymd(1990, 2, 3)));
            let typed = declared("Müller", "Zoë", ymd(1990, 2, 3));
            assert!(
                declared_reasons(&typed, &f, false).is_empty(),
                "{mrz_surname}"
            );
        }
    }
}
