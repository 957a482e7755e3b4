//! The console's cookies (pure): their names, reading one from a request, writing one. The tokens in
//! them are `domain::token`'s.

/// The session cookie: a random token; the server keeps only its sha256.
pub const SESSION_COOKIE: &str = "idv_review";
/// Before sign-in: a random token in a cookie that the sign-in form must repeat (double submit), so
/// another site cannot sign a browser in to an account of its choosing.
pub const SIGNIN_COOKIE: &str = "idv_review_signin";
/// Every cookie of the console is confined to it.
pub const COOKIE_PATH: &str = "/review";

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
