//! Identifiers, secrets and tokens (pure): API key secrets, console session and capture-link tokens,
//! and the constant-time comparison of the ones a client sends back. All are 256-bit random, so the
//! server keeps only a sha256 digest of each (a slow password hash adds nothing at that entropy).

use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Every API key secret starts with this, so a leaked one is recognisable.
pub const SECRET_PREFIX: &str = "idv_";

/// A new API key secret, `idv_` + 64 hex characters.
pub fn generate_secret() -> String {
    format!("{SECRET_PREFIX}{}", hex::encode(random_bytes()))
}

/// What the database holds for a secret or a token: its sha256, hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A short random identifier with a type prefix, e.g. `ver_3f9c…`.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// A session or link token: 32 random bytes, URL-safe base64 (43 characters).
pub fn random_token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes())
}

fn random_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// Whether a token a client sent back equals the expected one, in constant time (lengths are not
/// secret here); an empty expected token never matches.
pub fn token_matches(expected: &str, submitted: Option<&str>) -> bool {
    match submitted {
        Some(s) if !expected.is_empty() => expected.as_bytes().ct_eq(s.as_bytes()).into(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_prefixed_and_hashed_stably() {
        let (a, b) = (generate_secret(), generate_secret());
        assert_ne!(a, b);
        assert!(a.starts_with(SECRET_PREFIX) && a.len() == SECRET_PREFIX.len() + 64);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), token_hash(&b));
        assert!(new_id("ver").starts_with("ver_"));
    }

    #[test]
    fn tokens_are_url_safe_and_compared_exactly() {
        let t = random_token();
        assert_eq!(t.len(), 43);
        assert!(t
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert!(token_matches(&t, Some(&t)));
        assert!(!token_matches(&t, Some(&t[..42])));
        assert!(!token_matches(&t, None));
        assert!(!token_matches("", Some("")), "an empty token never matches");
    }
}
