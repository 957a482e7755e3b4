//! The document checks as reason codes. Each refers the case to a person; none rejects anyone (the
//! machine never decides against an applicant on its own).

use serde::{Deserialize, Serialize};
use time::Date;

use super::identity::{declared_reasons, DeclaredIdentity};
use super::mrz::{MrzFields, MrzRead};

/// No machine-readable zone was read (none there, e.g. a bank card; or unreadable).
pub const MRZ_NOT_FOUND: &str = "document_mrz_not_found";
/// A zone was read but not every check digit passes (the read's `check_digits` say which).
pub const MRZ_INVALID: &str = "document_mrz_invalid";
/// The expiry date read is before today.
pub const EXPIRED: &str = "document_expired";
/// The document code or issuing state is not in the [`DocumentPolicy`].
pub const TYPE_NOT_ACCEPTED: &str = "document_type_not_accepted";
/// A portrait was found, but not on the page that carries the zone.
pub const PORTRAIT_NOT_ON_MRZ_PAGE: &str = "document_portrait_not_on_mrz_page";
/// The declared name does not agree with the zone's (ICAO transliteration and truncation allowed).
pub const DECLARED_NAME_MISMATCH: &str = "declared_name_mismatch";
/// The declared date of birth is not the zone's.
pub const DECLARED_DATE_OF_BIRTH_MISMATCH: &str = "declared_date_of_birth_mismatch";

/// Every reason [`document_reasons`] may give, in the order it gives them.
pub const REASONS: [&str; 7] = [
    MRZ_NOT_FOUND,
    MRZ_INVALID,
    EXPIRED,
    TYPE_NOT_ACCEPTED,
    PORTRAIT_NOT_ON_MRZ_PAGE,
    DECLARED_NAME_MISMATCH,
    DECLARED_DATE_OF_BIRTH_MISMATCH,
];

/// Which documents are accepted without referral (configuration: `[document.accept]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DocumentPolicy {
    /// Document code prefixes: `P` accepts every passport (`P`, `PD`, `PO`, …), `I`, `A` and `C` the
    /// identity cards (`I`, `ID`, `IR`, `AC`, `C`, …). Visas (`V`) are not accepted by default: a visa
    /// is not an identity document on its own.
    pub accepted_types: Vec<String>,
    /// ICAO codes of the accepted issuing states or organisations, as the MRZ prints them without
    /// fillers (`GBR`, `D` for Germany, `UTO`, `EUE`); empty accepts any.
    pub accepted_issuing_states: Vec<String>,
}

impl Default for DocumentPolicy {
    fn default() -> Self {
        DocumentPolicy {
            accepted_types: ["P", "I", "A", "C"].map(String::from).to_vec(),
            accepted_issuing_states: Vec::new(),
        }
    }
}

impl DocumentPolicy {
    /// At least one accepted type; each type 1–2 letters `A`–`Z`, each state 1–3 (upper case, as the
    /// MRZ prints them, so that a typo is an error rather than a type that never matches).
    pub fn validate(&self) -> Result<(), String> {
        if self.accepted_types.is_empty() {
            return Err(
                "document.accept.accepted_types is empty: no document would be accepted".into(),
            );
        }
        let letters = |s: &str, max: usize| {
            (1..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_uppercase())
        };
        if let Some(bad) = self.accepted_types.iter().find(|t| !letters(t, 2)) {
            return Err(format!(
                "document.accept.accepted_types: {bad:?} is not a document code prefix (1–2 letters A–Z)"
            ));
        }
        if let Some(bad) = self.accepted_issuing_states.iter().find(|s| !letters(s, 3)) {
            return Err(format!(
                "document.accept.accepted_issuing_states: {bad:?} is not an ICAO code (1–3 letters A–Z)"
            ));
        }
        Ok(())
    }

    /// Is a document of this code and issuing state (as in [`MrzFields`]) accepted?
    pub fn accepts(&self, document_type: &str, issuing_state: &str) -> bool {
        let type_ok = !document_type.is_empty()
            && self
                .accepted_types
                .iter()
                .any(|prefix| document_type.starts_with(prefix.as_str()));
        let state_ok = self.accepted_issuing_states.is_empty()
            || self
                .accepted_issuing_states
                .iter()
                .any(|s| s == issuing_state);
        type_ok && state_ok
    }
}

/// What the pipeline found, as plain data.
#[derive(Debug, Clone, Copy, Default)]
pub struct DocumentFindings<'a> {
    /// The best read of the zone, valid or not; `None` when none was read.
    pub mrz: Option<&'a MrzRead>,
    /// Its fields (from [`super::mrz::fields()`]).
    pub fields: Option<&'a MrzFields>,
    /// Whether the portrait is on the page that carries the zone; `None` when no portrait was found
    /// (a face-finding matter, reported elsewhere). A TD1 card's zone is on its back: the pipeline
    /// passes `Some(false)` when no portrait is beside it (the front was not photographed).
    pub portrait_on_mrz_page: Option<bool>,
    /// What the applicant typed, when sent.
    pub declared: Option<&'a DeclaredIdentity>,
}

/// The document's reason codes, in this order, each at most once:
///
/// 1. `document_mrz_not_found`: no read at all. Then nothing else is claimed: with no zone there is
///    nothing to check the document or the declared identity against (a bank card gives this alone).
/// 2. `document_mrz_invalid`: a check digit of the read fails.
/// 3. `document_expired`: the expiry date read is before `today` (the record's date); valid through
///    its expiry day.
/// 4. `document_type_not_accepted`: the document code or issuing state is not in `policy`.
/// 5. `document_portrait_not_on_mrz_page`: a portrait was found, not on the zone's page.
/// 6. `declared_name_mismatch`, 7. `declared_date_of_birth_mismatch`: when an identity was declared
///    ([`declared_reasons`]).
///
/// Checks 3, 4, 6 and 7 read the fields as read, even when a check digit failed (2 says so): a
/// misread then refers the case, which is the safe direction. They are skipped when no fields were
/// passed; 3 also when no expiry date could be read.
pub fn document_reasons(
    f: &DocumentFindings,
    today: Date,
    policy: &DocumentPolicy,
) -> Vec<&'static str> {
    let Some(mrz) = f.mrz else {
        return vec![MRZ_NOT_FOUND];
    };
    let mut reasons = Vec::new();
    if !mrz.valid {
        reasons.push(MRZ_INVALID);
    }
    if let Some(fields) = f.fields {
        if fields.expiry_date.is_some_and(|expiry| expiry < today) {
            reasons.push(EXPIRED);
        }
        if !policy.accepts(&fields.document_type, &fields.issuing_state) {
            reasons.push(TYPE_NOT_ACCEPTED);
        }
    }
    if f.portrait_on_mrz_page == Some(false) {
        reasons.push(PORTRAIT_NOT_ON_MRZ_PAGE);
    }
    if let (Some(declared), Some(fields)) = (f.declared, f.fields) {
        reasons.extend(declared_reasons(
            declared,
            fields,
            mrz.name_field_truncated(),
        ));
    }
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::mrz::{check_digit, fields, parse};
    use time::Month;

    fn ymd(year: i32, month: u8, day: u8) -> Date {
        Date::from_calendar_date(year, Month::try_from(month).unwrap(), day).unwrap()
    }

    fn today() -> Date {
        ymd(2026, 12, 1)
    }

    /// A TD3 (or, with code `V`, MRV-A) zone with every check digit computed.
    fn zone(code: &str, state: &str, expiry: &str) -> MrzRead {
        let line1 = format!("{code:<<2}{state:<<3}ERIKSSON<<ANNA<MARIA");
        let line1 = format!("{line1:<<44}");
        let number = "L898902C3";
        let optional = "ZE184226B<<<<<";
        let mut line2 = format!(
            "{number}{}{state:<<3}7408122F{expiry}{}",
            check_digit(number),
            check_digit(expiry)
        );
        if code.starts_with('V') {
            line2 = format!("{line2}{optional:<<16}");
        } else {
            line2 = format!("{line2}{optional}{}", check_digit(optional));
            let composite_of = format!("{}{}{}", &line2[0..10], &line2[13..20], &line2[21..43]);
            line2.push(check_digit(&composite_of));
        }
        let read = parse(&[&line1, &line2]).expect("a format fits");
        assert!(read.valid, "{line1} {line2}");
        read
    }

    fn reasons_of(
        read: &MrzRead,
        declared: Option<&DeclaredIdentity>,
        portrait: Option<bool>,
        policy: &DocumentPolicy,
    ) -> Vec<&'static str> {
        let f = fields(read, today());
        let findings = DocumentFindings {
            mrz: Some(read),
            fields: Some(&f),
            portrait_on_mrz_page: portrait,
            declared,
        };
        document_reasons(&findings, today(), policy)
    }

    fn anna() -> DeclaredIdentity {
        DeclaredIdentity {
            surname: "Eriksson".into(),
            given_names: "Anna Maria".into(),
            date_of_birth: ymd(1974, 8, 12),
        }
    }

    #[test]
    fn a_good_document_gives_no_reason() {
        let read = zone("P<", "UTO", "300101");
        let policy = DocumentPolicy::default();
        assert!(reasons_of(&read, Some(&anna()), Some(true), &policy).is_empty());
        assert!(reasons_of(&read, None, None, &policy).is_empty());
    }

    /// A bank card, or a page with no zone: only `document_mrz_not_found`, and no mismatch is claimed
    /// although an identity was declared and the portrait is not beside a zone.
    #[test]
    fn no_mrz_gives_only_not_found() {
        let anna = anna();
        let findings = DocumentFindings {
            mrz: None,
            fields: None,
            portrait_on_mrz_page: Some(false),
            declared: Some(&anna),
        };
        assert_eq!(
            document_reasons(&findings, today(), &DocumentPolicy::default()),
            [MRZ_NOT_FOUND]
        );
        assert_eq!(
            document_reasons(
                &DocumentFindings::default(),
                today(),
                &DocumentPolicy::default()
            ),
            [MRZ_NOT_FOUND]
        );
    }

    #[test]
    fn a_failed_check_digit_is_invalid() {
        let mut lines = zone("P<", "UTO", "300101").lines;
        lines[1].replace_range(19..20, "3");
        let read = parse(&[&lines[0], &lines[1]]).unwrap();
        assert_eq!(
            reasons_of(&read, None, None, &DocumentPolicy::default()),
            [MRZ_INVALID]
        );
    }

    #[test]
    fn expired_before_today_not_on_its_last_day() {
        let policy = DocumentPolicy::default();
        assert_eq!(
            reasons_of(&zone("P<", "UTO", "261130"), None, None, &policy),
            [EXPIRED]
        );
        assert!(reasons_of(&zone("P<", "UTO", "261201"), None, None, &policy).is_empty());
        assert_eq!(
            reasons_of(&zone("P<", "UTO", "991231"), None, None, &policy),
            [EXPIRED]
        );
        // The ICAO specimen expired in 2012.
        let specimen = parse(&[
            "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
            "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
        ])
        .unwrap();
        assert_eq!(
            reasons_of(&specimen, Some(&anna()), Some(true), &policy),
            [EXPIRED]
        );
    }

    #[test]
    fn types_and_states_follow_the_policy() {
        let default = DocumentPolicy::default();
        assert!(reasons_of(&zone("PD", "D", "300101"), None, None, &default).is_empty());
        assert!(reasons_of(&zone("PO", "UTO", "300101"), None, None, &default).is_empty());
        let visa = zone("V<", "UTO", "300101");
        assert_eq!(visa.format, crate::document::mrz::MrzFormat::MrvA);
        assert_eq!(reasons_of(&visa, None, None, &default), [TYPE_NOT_ACCEPTED]);
        let with_visas = DocumentPolicy {
            accepted_types: vec!["P".into(), "V".into()],
            ..DocumentPolicy::default()
        };
        assert!(reasons_of(&visa, None, None, &with_visas).is_empty());
        let british_only = DocumentPolicy {
            accepted_issuing_states: vec!["GBR".into()],
            ..DocumentPolicy::default()
        };
        assert_eq!(
            reasons_of(&zone("P<", "UTO", "300101"), None, None, &british_only),
            [TYPE_NOT_ACCEPTED]
        );
        assert!(reasons_of(&zone("P<", "GBR", "300101"), None, None, &british_only).is_empty());
        let german = DocumentPolicy {
            accepted_issuing_states: vec!["D".into()],
            ..DocumentPolicy::default()
        };
        assert!(reasons_of(&zone("P<", "D", "300101"), None, None, &german).is_empty());
        let passports_only = DocumentPolicy {
            accepted_types: vec!["P".into()],
            ..DocumentPolicy::default()
        };
        assert!(passports_only.accepts("P", "UTO"));
        assert!(!passports_only.accepts("ID", "UTO"));
        assert!(
            default.accepts("ID", "UTO")
                && default.accepts("AC", "UTO")
                && default.accepts("C", "UTO")
        );
        assert!(!default.accepts("", "UTO"));
    }

    #[test]
    fn a_portrait_off_the_mrz_page() {
        let read = zone("P<", "UTO", "300101");
        let policy = DocumentPolicy::default();
        assert_eq!(
            reasons_of(&read, None, Some(false), &policy),
            [PORTRAIT_NOT_ON_MRZ_PAGE]
        );
        assert!(reasons_of(&read, None, Some(true), &policy).is_empty());
        assert!(
            reasons_of(&read, None, None, &policy).is_empty(),
            "no portrait: reported elsewhere"
        );
    }

    #[test]
    fn declared_identity_mismatches() {
        let read = zone("P<", "UTO", "300101");
        let policy = DocumentPolicy::default();
        let mut other = anna();
        other.surname = "Andersson".into();
        assert_eq!(
            reasons_of(&read, Some(&other), None, &policy),
            [DECLARED_NAME_MISMATCH]
        );
        let mut other = anna();
        other.date_of_birth = ymd(1974, 8, 21);
        assert_eq!(
            reasons_of(&read, Some(&other), None, &policy),
            [DECLARED_DATE_OF_BIRTH_MISMATCH]
        );
    }

    #[test]
    fn every_reason_at_once_in_order() {
        let mut lines = zone("V<", "UTO", "200101").lines;
        lines[1].replace_range(0..1, "K");
        let read = parse(&[&lines[0], &lines[1]]).unwrap();
        let stranger = DeclaredIdentity {
            surname: "Smith".into(),
            given_names: "John".into(),
            date_of_birth: ymd(1980, 1, 1),
        };
        let reasons = reasons_of(
            &read,
            Some(&stranger),
            Some(false),
            &DocumentPolicy::default(),
        );
        assert_eq!(reasons, REASONS[1..]);
    }

    /// Without fields (the pipeline did not parse them), only the read's own validity is checked.
    #[test]
    fn a_read_without_fields_checks_validity_only() {
        let read = zone("V<", "UTO", "200101");
        let anna = anna();
        let findings = DocumentFindings {
            mrz: Some(&read),
            fields: None,
            portrait_on_mrz_page: None,
            declared: Some(&anna),
        };
        assert!(document_reasons(&findings, today(), &DocumentPolicy::default()).is_empty());
    }

    #[test]
    fn policy_validation() {
        assert_eq!(DocumentPolicy::default().validate(), Ok(()));
        let bad = |types: &[&str], states: &[&str]| DocumentPolicy {
            accepted_types: types.iter().map(|s| s.to_string()).collect(),
            accepted_issuing_states: states.iter().map(|s| s.to_string()).collect(),
        };
        assert!(bad(&["P", "ID"], &["GBR", "D", "EUE"]).validate().is_ok());
        for (types, states) in [
            (&[][..], &[][..]),
            (&["p"], &[]),
            (&["PPP"], &[]),
            (&[""], &[]),
            (&["P<"], &[]),
            (&["P"], &["gbr"]),
            (&["P"], &["GBRX"]),
            (&["P"], &[""]),
            (&["P"], &["D<<"]),
        ] {
            assert!(
                bad(types, states).validate().is_err(),
                "{types:?} {states:?}"
            );
        }
    }

    #[test]
    fn policy_serde_defaults_and_strictness() {
        let empty: DocumentPolicy = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, DocumentPolicy::default());
        assert_eq!(empty.accepted_types, ["P", "I", "A", "C"]);
        let states: DocumentPolicy =
            serde_json::from_str(r#"{"accepted_issuing_states":["GBR"]}"#).unwrap();
        assert_eq!(states.accepted_types, ["P", "I", "A", "C"]);
        assert!(serde_json::from_str::<DocumentPolicy>(r#"{"accepted_type":["P"]}"#).is_err());
    }

    #[test]
    fn reasons_are_the_documented_codes() {
        assert_eq!(
            REASONS,
            [
                "document_mrz_not_found",
                "document_mrz_invalid",
                "document_expired",
                "document_type_not_accepted",
                "document_portrait_not_on_mrz_page",
                "declared_name_mismatch",
                "declared_date_of_birth_mismatch",
            ]
        );
    }
}
