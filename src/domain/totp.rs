//! Time-based one-time passwords (RFC 6238 over RFC 4226): HMAC-SHA-1, 6 digits, 30-second steps,
//! one step of clock drift either way. Pure, apart from the caller's clock; with the base32 text form
//! (RFC 4648) authenticator apps take, and the `otpauth://` enrolment URI.

use ring::hmac;

use super::text::percent_encode;

pub const DIGITS: u32 = 6;
pub const STEP_SECS: i64 = 30;
/// Steps of clock drift accepted either side of now.
pub const DRIFT_STEPS: i64 = 1;

/// The 30-second step a Unix time falls in.
pub fn step_at(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(STEP_SECS)
}

/// HOTP (RFC 4226) of `secret` at counter `step`, as `digits` decimal digits.
pub fn hotp(secret: &[u8], step: u64, digits: u32) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let mac = hmac::sign(&key, &step.to_be_bytes());
    let mac = mac.as_ref();
    let offset = (mac[mac.len() - 1] & 0x0f) as usize;
    let binary = u32::from_be_bytes([
        mac[offset],
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]) & 0x7fff_ffff;
    let code = binary % 10u32.pow(digits);
    format!("{code:0width$}", width = digits as usize)
}

/// The 6-digit code for `secret` at a Unix time.
pub fn code_at(secret: &[u8], unix_secs: i64) -> String {
    hotp(secret, step_at(unix_secs) as u64, DIGITS)
}

/// The step whose code `code` is, within the drift window around `unix_secs`; `None` when it matches
/// none. Compared in constant time; the caller refuses a step already used (a code works once).
pub fn verify(secret: &[u8], code: &str, unix_secs: i64) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_at(unix_secs);
    let mut found = None;
    for step in now - DRIFT_STEPS..=now + DRIFT_STEPS {
        if step < 0 {
            continue;
        }
        let expected = hotp(secret, step as u64, DIGITS);
        if crate::domain::token::token_matches(&expected, Some(code)) {
            found = Some(step);
        }
    }
    found
}

/// Base32 (RFC 4648) without padding, as authenticator apps take secrets.
pub fn base32_encode(bytes: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(bytes)
}

/// Decodes base32, ignoring case, spaces and padding; `None` on any other character.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let normal: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '=')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    data_encoding::BASE32_NOPAD.decode(normal.as_bytes()).ok()
}

/// The enrolment URI authenticator apps read (often from a QR code):
/// `otpauth://totp/idv:USERNAME?secret=BASE32&issuer=idv`.
pub fn otpauth_uri(issuer: &str, username: &str, secret: &[u8]) -> String {
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}",
        percent_encode(issuer),
        percent_encode(username),
        base32_encode(secret),
        percent_encode(issuer)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 column (8 digits), and the 6-digit truncation of the same values.
    #[test]
    fn rfc6238_test_vectors() {
        let secret = b"12345678901234567890";
        for (t, expected) in [
            (59, "94287082"),
            (1111111109, "07081804"),
            (1111111111, "14050471"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
            (20000000000, "65353130"),
        ] {
            assert_eq!(hotp(secret, step_at(t) as u64, 8), expected, "T = {t}");
            assert_eq!(code_at(secret, t), expected[2..], "T = {t}");
        }
    }

    /// RFC 4226 appendix D.
    #[test]
    fn rfc4226_hotp_vectors() {
        let secret = b"12345678901234567890";
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(hotp(secret, counter as u64, 6), *code);
        }
    }

    #[test]
    fn codes_are_accepted_one_step_either_side_and_no_further() {
        let secret = b"12345678901234567890";
        let now = 1111111111;
        let code = code_at(secret, now);
        assert_eq!(verify(secret, &code, now), Some(step_at(now)));
        assert_eq!(verify(secret, &code, now + 30), Some(step_at(now)));
        assert_eq!(verify(secret, &code, now - 30), Some(step_at(now)));
        assert_eq!(verify(secret, &code, now + 90), None);
        assert_eq!(verify(secret, &code, now - 90), None);
        assert_eq!(
            verify(secret, &format!(" {code} "), now),
            Some(step_at(now))
        );
        assert_eq!(verify(secret, "12345", now), None);
        assert_eq!(verify(secret, "abcdef", now), None);
        assert_eq!(verify(secret, "1234567", now), None);
    }

    #[test]
    fn base32_round_trips_and_matches_rfc4648() {
        // RFC 4648 section 10, without padding.
        for (plain, encoded) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32_encode(plain.as_bytes()), encoded);
            assert_eq!(base32_decode(encoded).unwrap(), plain.as_bytes());
        }
        assert_eq!(base32_decode("mzxw 6ytb oi======").unwrap(), b"foobar");
        assert_eq!(base32_decode("MZ1"), None);
        let secret: Vec<u8> = (0..20).collect();
        assert_eq!(base32_decode(&base32_encode(&secret)).unwrap(), secret);
    }

    #[test]
    fn the_enrolment_uri_names_issuer_and_account() {
        assert_eq!(
            otpauth_uri("idv", "alice", b"foobar"),
            "otpauth://totp/idv:alice?secret=MZXW6YTBOI&issuer=idv"
        );
        assert_eq!(
            otpauth_uri("idv", "a b&c", b"f"),
            "otpauth://totp/idv:a%20b%26c?secret=MY&issuer=idv"
        );
    }
}
