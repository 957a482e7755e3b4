//! What the front ends send to browsers besides JSON: the escaper of every HTML template, the headers
//! of every page (console and capture page), and the media a reviewer opens (API and console alike).

use std::fmt;

use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};

/// The escaper of every `.html` template (askama.toml names it), so every value a page shows is escaped
/// by construction: `&`, `<`, `>`, `"` and `'` become `&amp;`, `&lt;`, `&gt;`, `&quot;` and `&#39;`,
/// safe in element content and in attribute values (always double-quoted in our templates). askama's
/// own escaper writes the same characters as numeric entities (`&#60;`); these are the entities idv has
/// always written, so the pages stay as they were byte for byte, and so do the privacy notices'
/// versions, which are digests of the notices' escaped text.
#[derive(Clone, Copy, Debug, Default)]
pub struct HtmlEscaper;

impl askama::filters::Escaper for HtmlEscaper {
    fn write_escaped_str<W: fmt::Write>(&self, mut dest: W, s: &str) -> fmt::Result {
        let mut from = 0;
        for (at, byte) in s.bytes().enumerate() {
            let entity = match byte {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                b'\'' => "&#39;",
                _ => continue,
            };
            dest.write_str(&s[from..at])?;
            dest.write_str(entity)?;
            from = at + 1;
        }
        dest.write_str(&s[from..])
    }
}

/// A page from its template. Rendering cannot fail: the templates only display their page's own data
/// (strings, numbers, and filters that always succeed).
pub fn render(page: &impl askama::Template) -> String {
    page.render()
        .expect("a page's template only displays its data")
}

/// The headers of every page idv serves to a browser (console and capture page): `csp`, nothing
/// cached, framed or sniffed, no Referer.
pub fn page_headers(h: &mut HeaderMap, csp: &'static str) {
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, csp),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
}

/// The content type of an image or video we accepted, from its first bytes.
fn image_type(bytes: &[u8]) -> &'static str {
    match bytes {
        [0xff, 0xd8, ..] => "image/jpeg",
        [0x89, b'P', b'N', b'G', ..] => "image/png",
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => "image/webp",
        [0x1a, 0x45, 0xdf, 0xa3, ..] => "video/webm",
        [_, _, _, _, b'f', b't', b'y', b'p', ..] => "video/mp4",
        _ => "application/octet-stream",
    }
}

/// An image or video of a case: typed from its bytes, never cached, never sniffed.
pub fn media_response(bytes: Vec<u8>) -> Response {
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static(image_type(&bytes)),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ];
    (headers, bytes).into_response()
}

/// JSON that carries personal data (a subject's identity): never stored by a cache.
pub fn private_json<T: serde::Serialize>(body: &T) -> Response {
    let headers = [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))];
    (headers, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_escaper_covers_markup_and_both_quotes_and_keeps_the_rest() {
        let esc = |s: &str| {
            askama::filters::escape(s, HtmlEscaper)
                .expect("infallible")
                .to_string()
        };
        assert_eq!(
            esc("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
        assert_eq!(esc("plain é ✓"), "plain é ✓");
        assert_eq!(esc("&&"), "&amp;&amp;");
        assert_eq!(esc(""), "");
    }

    #[test]
    fn image_types_come_from_the_bytes() {
        assert_eq!(image_type(&[0xff, 0xd8, 0xff, 0xe0]), "image/jpeg");
        assert_eq!(image_type(b"\x89PNG\r\n"), "image/png");
        assert_eq!(image_type(b"RIFF\0\0\0\0WEBPVP8 "), "image/webp");
        assert_eq!(image_type(b"\x1a\x45\xdf\xa3\x9f"), "video/webm");
        assert_eq!(image_type(b"\0\0\0\x20ftypisom"), "video/mp4");
        assert_eq!(image_type(b"<svg"), "application/octet-stream");
    }
}
