//! Console sessions and form tokens (pure): random tokens, their stored hashes, the cookie's text, and
//! constant-time checks of CSRF tokens.

use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The session cookie: a random token; the server keeps only its sha256.
pub const SESSION_COOKIE: &str = "idv_review";
/// Before sign-in: a random token in a cookie that the sign-in form must repeat (double submit), so
/// another site cannot sign a browser in to an account of its choosing.
pub const SIGNIN_COOKIE: &str = "idv_review_signin";
/// Every cookie of the console is confined to it.
pub const COOKIE_PATH: &str = "/review";

/// 32 random bytes, URL-safe base64 (43 characters).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database holds for a session token: its sha256, hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Byte-wise equality that takes the same time wherever the first difference is (lengths are not
/// secret here).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && std::hint::black_box(a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y))) == 0
}

/// Whether a submitted form token equals the expected one (constant time; empty never matches).
pub fn csrf_ok(expected: &str, submitted: Option<&str>) -> bool {
    match submitted {
        Some(s) if !expected.is_empty() => constant_time_eq(expected.as_bytes(), s.as_bytes()),
        _ => false,
    }
}

/// The value of cookie `name` in a `Cookie` request header.
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value for a console cookie: HttpOnly, SameSite=Strict, confined to `/review`;
/// `Secure` when configured. `max_age_secs` 0 deletes it.
pub fn set_cookie(name: &str, value: &str, max_age_secs: i64, secure: bool) -> String {
    let mut c = format!(
        "{name}={value}; Path={COOKIE_PATH}; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}"
    );
    if secure {
        c.push_str("; Secure");
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_stored_only_as_hashes() {
        let a = random_token();
        let b = random_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
        assert_eq!(token_hash("abc"), token_hash("abc"));
    }

    #[test]
    fn csrf_tokens_must_match_exactly() {
        assert!(csrf_ok("tok", Some("tok")));
        assert!(!csrf_ok("tok", Some("tok2")));
        assert!(!csrf_ok("tok", Some("")));
        assert!(!csrf_ok("tok", None));
        assert!(!csrf_ok("", Some("")));
    }

    #[test]
    fn cookies_are_read_by_name_and_written_strict() {
        let h = "a=1; idv_review=xyz; idv_review_signin=pre";
        assert_eq!(cookie_value(h, SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie_value(h, SIGNIN_COOKIE), Some("pre"));
        assert_eq!(cookie_value(h, "b"), None);
        assert_eq!(cookie_value("idv_review=", SESSION_COOKIE), None);
        assert_eq!(
            set_cookie(SESSION_COOKIE, "v", 60, true),
            "idv_review=v; Path=/review; HttpOnly; SameSite=Strict; Max-Age=60; Secure"
        );
        assert!(!set_cookie(SESSION_COOKIE, "", 0, false).contains("Secure"));
    }
}
