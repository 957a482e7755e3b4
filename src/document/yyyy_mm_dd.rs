//! Calendar dates as `YYYY-MM-DD` text, strictly (four-digit year, two-digit month and day): the form
//! dates take in records, JSON and command-line flags. Use with `#[serde(with = "yyyy_mm_dd")]`, or
//! `yyyy_mm_dd::option` for an `Option<Date>` (`null` when absent).

use serde::{Deserialize, Deserializer, Serializer};
use time::{Date, Month};

/// `2026-12-01`. Years outside 0..=9999 (never read from an MRZ) are written with their sign.
pub fn format(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// Parses exactly `YYYY-MM-DD`; `None` for any other shape or a day that does not exist.
pub fn parse(text: &str) -> Option<Date> {
    let bytes = text.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let year = digits(&bytes[0..4])?;
    let month = Month::try_from(u8::try_from(digits(&bytes[5..7])?).ok()?).ok()?;
    let day = u8::try_from(digits(&bytes[8..10])?).ok()?;
    Date::from_calendar_date(i32::try_from(year).ok()?, month, day).ok()
}

fn digits(bytes: &[u8]) -> Option<u32> {
    bytes.iter().try_fold(0u32, |acc, b| {
        b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
    })
}

pub fn serialize<S: Serializer>(date: &Date, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format(*date))
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Date, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse(&text).ok_or_else(|| serde::de::Error::custom(format!("not a YYYY-MM-DD date: {text:?}")))
}

/// The same for `Option<Date>`: `None` is `null`.
pub mod option {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;

    pub fn serialize<S: Serializer>(date: &Option<Date>, serializer: S) -> Result<S::Ok, S::Error> {
        match date {
            Some(date) => serializer.serialize_str(&super::format(*date)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Date>, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            None => Ok(None),
            Some(text) => super::parse(&text).map(Some).ok_or_else(|| {
                serde::de::Error::custom(format!("not a YYYY-MM-DD date: {text:?}"))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ymd(year: i32, month: u8, day: u8) -> Date {
        Date::from_calendar_date(year, Month::try_from(month).unwrap(), day).unwrap()
    }

    #[test]
    fn formats_with_leading_zeros() {
        assert_eq!(format(ymd(1974, 8, 12)), "1974-08-12");
        assert_eq!(format(ymd(987, 1, 2)), "0987-01-02");
    }

    #[test]
    fn parses_only_the_exact_shape() {
        assert_eq!(parse("1974-08-12"), Some(ymd(1974, 8, 12)));
        assert_eq!(parse("2000-02-29"), Some(ymd(2000, 2, 29)));
        for bad in [
            "",
            "1974-8-12",
            "74-08-12",
            "1974/08/12",
            "1974-08-12 ",
            "1974-13-01",
            "1974-00-10",
            "1974-02-30",
            "1900-02-29",
            "+974-08-12",
            "1974-08-1a",
            "１９７４-08-12",
            "1974-08-12T00",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn serde_round_trips_plain_and_optional() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct Both {
            #[serde(with = "super")]
            plain: Date,
            #[serde(with = "super::option")]
            optional: Option<Date>,
        }
        let both = Both {
            plain: ymd(2026, 12, 1),
            optional: None,
        };
        let json = serde_json::to_string(&both).unwrap();
        assert_eq!(json, r#"{"plain":"2026-12-01","optional":null}"#);
        assert_eq!(serde_json::from_str::<Both>(&json).unwrap(), both);
        let with_some: Both =
            serde_json::from_str(r#"{"plain":"2026-12-01","optional":"1999-12-31"}"#).unwrap();
        assert_eq!(with_some.optional, Some(ymd(1999, 12, 31)));
        assert!(serde_json::from_str::<Both>(r#"{"plain":"2026-12-32","optional":null}"#).is_err());
        assert!(serde_json::from_str::<Both>(r#"{"plain":"2026-12-01","optional":"x"}"#).is_err());
    }
}
