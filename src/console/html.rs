//! The console's pages, rendered from plain data (pure). Every value from outside goes through `esc`;
//! attributes are always double-quoted. No inline script or style: the Content-Security-Policy is
//! `default-src 'self'`, and the one stylesheet is `/review/static/console.css`.

use std::fmt::Write as _;

use crate::http::page::{esc, query_value};

/// Who is signed in, for the page header and its sign-out form.
pub struct Reviewer<'a> {
    pub username: &'a str,
    pub org: &'a str,
    pub csrf: &'a str,
}

fn page(title: &str, reviewer: Option<&Reviewer>, body: &str) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <title>{} · idv review</title><link rel=\"stylesheet\" href=\"/review/static/console.css\"></head><body>\
         <header class=\"top\"><a class=\"brand\" href=\"/review/queue\">idv · review</a>",
        esc(title)
    );
    if let Some(r) = reviewer {
        let _ = write!(
            h,
            "<span class=\"who\">{} · {}</span>\
             <form method=\"post\" action=\"/review/signout\" class=\"signout\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\">Sign out</button></form>",
            esc(r.username),
            esc(r.org),
            esc(r.csrf)
        );
    }
    let _ = writeln!(h, "</header><main>{body}</main></body></html>");
    h
}

/// The sign-in form; `error` is shown as it is (always the same generic text).
pub fn signin_page(signin_token: &str, error: Option<&str>) -> String {
    let mut b = String::from("<section class=\"signin\"><h1>Reviewer sign-in</h1>");
    if let Some(e) = error {
        let _ = write!(b, "<p class=\"error\" role=\"alert\">{}</p>", esc(e));
    }
    let _ = write!(
        b,
        "<form method=\"post\" action=\"/review/signin\" autocomplete=\"off\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label>Username <input name=\"username\" required autocomplete=\"username\" autocapitalize=\"none\" spellcheck=\"false\"></label>\
         <label>Password <input name=\"password\" type=\"password\" required autocomplete=\"current-password\"></label>\
         <label>Authenticator code <input name=\"code\" required inputmode=\"numeric\" pattern=\"[0-9]{{6}}\" maxlength=\"6\" autocomplete=\"one-time-code\"></label>\
         <button type=\"submit\">Sign in</button></form></section>",
        esc(signin_token)
    );
    page("Sign in", None, &b)
}

/// One row of the queue.
pub struct QueueRow {
    pub id: String,
    pub purpose: String,
    pub kind: String,
    pub reasons: Vec<String>,
    pub created_at: String,
}

pub fn queue_page(
    reviewer: &Reviewer,
    rows: &[QueueRow],
    purposes: &[&str],
    selected: Option<&str>,
) -> String {
    let mut b = String::from("<h1>Open cases</h1><nav class=\"filter\">Purpose: ");
    let link = |label: &str, href: String, on: bool| {
        format!(
            "<a href=\"{}\"{}>{}</a>",
            esc(&href),
            if on {
                " class=\"on\" aria-current=\"page\""
            } else {
                ""
            },
            esc(label)
        )
    };
    b.push_str(&link("all", "/review/queue".into(), selected.is_none()));
    for p in purposes {
        b.push_str(&link(
            p,
            format!("/review/queue?purpose={}", query_value(p)),
            selected == Some(*p),
        ));
    }
    b.push_str("</nav>");
    if rows.is_empty() {
        b.push_str("<p class=\"empty\">No open cases.</p>");
        return page("Queue", Some(reviewer), &b);
    }
    b.push_str(
        "<table class=\"queue\"><thead><tr><th>Opened</th><th>Purpose</th><th>Kind</th><th>Reasons</th><th></th></tr></thead><tbody>",
    );
    for r in rows {
        let reasons: Vec<String> = r
            .reasons
            .iter()
            .map(|x| format!("<code>{}</code>", esc(x)))
            .collect();
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><a class=\"open\" href=\"/review/cases/{}\">Open case</a></td></tr>",
            esc(&r.created_at),
            esc(&r.purpose),
            esc(&r.kind),
            reasons.join(" "),
            esc(&query_value(&r.id))
        );
    }
    b.push_str("</tbody></table>");
    page("Queue", Some(reviewer), &b)
}

/// A resolution already recorded.
pub struct ResolutionView {
    pub outcome: String,
    pub reason: String,
    pub resolved_by: String,
    pub resolved_at: String,
}

/// Everything the case page shows.
pub struct CaseView {
    pub id: String,
    pub purpose: String,
    pub kind: String,
    pub status: String,
    pub created_at: String,
    pub reasons: Vec<String>,
    pub decision: Option<String>,
    pub comparison: Option<String>,
    pub similarity: Option<f32>,
    pub match_at: Option<f32>,
    pub no_match_below: Option<f32>,
    pub liveness: Option<f32>,
    /// A video's liveness check in words: the verdict and each action asked.
    pub liveness_check: Option<String>,
    pub document_face_score: Option<f32>,
    pub selfie_face_score: Option<f32>,
    pub policy_version: Option<String>,
    /// Which of `document`, `selfie` and `video` are still held.
    pub media: Vec<String>,
    /// Held but not shown here (e.g. `video`).
    pub other_media: Vec<String>,
    pub resolution: Option<ResolutionView>,
    /// A note from the last action (e.g. a form error).
    pub notice: Option<String>,
}

fn num(v: Option<f32>) -> String {
    v.map(|v| format!("{v:.3}")).unwrap_or_else(|| "—".into())
}

/// Where the similarity falls against the thresholds, in words.
pub fn band(
    similarity: Option<f32>,
    match_at: Option<f32>,
    no_match_below: Option<f32>,
) -> &'static str {
    match (similarity, match_at, no_match_below) {
        (Some(s), Some(m), _) if s >= m => "at or above the match threshold",
        (Some(s), _, Some(n)) if s < n => "below the no-match threshold",
        (Some(_), Some(_), Some(_)) => "between the thresholds (uncertain)",
        _ => "not available",
    }
}

pub const OUTCOMES: [(&str, &str); 3] = [
    ("confirmed_match", "Confirmed match — same person"),
    (
        "confirmed_mismatch",
        "Confirmed mismatch — different people",
    ),
    (
        "new_evidence_needed",
        "New evidence needed — cannot tell from these images",
    ),
];

pub fn case_page(reviewer: &Reviewer, c: &CaseView) -> String {
    let id = esc(&c.id);
    let id_path = esc(&query_value(&c.id));
    let mut b = String::new();
    let _ = write!(
        b,
        "<p class=\"back\"><a href=\"/review/queue\">← Queue</a></p>\
         <h1>Case <code>{id}</code></h1>\
         <p class=\"meta\">{} · {} · opened {} · <span class=\"status {}\">{}</span></p>",
        esc(&c.purpose),
        esc(&c.kind),
        esc(&c.created_at),
        esc(&c.status),
        esc(&c.status)
    );
    if let Some(n) = &c.notice {
        let _ = write!(b, "<p class=\"error\" role=\"alert\">{}</p>", esc(n));
    }
    b.push_str("<div class=\"faces\">");
    for (kind, label) in [("document", "ID document"), ("selfie", "Selfie")] {
        if c.media.iter().any(|m| m == kind) {
            let _ = write!(
                b,
                "<figure><img id=\"{kind}-image\" src=\"/review/cases/{id_path}/media/{kind}\" alt=\"{label} image\"><figcaption>{label}</figcaption></figure>"
            );
        } else {
            let _ = write!(
                b,
                "<figure class=\"missing\"><div class=\"none\">not held (retention or erasure)</div><figcaption>{label}</figcaption></figure>"
            );
        }
    }
    // The liveness video loads only when played, so each view in the audit log is a real one.
    if c.media.iter().any(|m| m == "video") {
        let _ = write!(
            b,
            "<figure><video id=\"video-clip\" controls preload=\"none\" src=\"/review/cases/{id_path}/media/video\">\
             The liveness video cannot be played in this browser.</video><figcaption>Liveness video</figcaption></figure>"
        );
    }
    b.push_str("</div>");
    if !c.other_media.is_empty() {
        let kinds: Vec<String> = c.other_media.iter().map(|k| esc(k)).collect();
        let _ = write!(
            b,
            "<p class=\"note\">Also held, not shown here: {}.</p>",
            kinds.join(", ")
        );
    }
    b.push_str("<div class=\"evidence\"><section><h2>Face comparison</h2><dl>");
    let _ = write!(
        b,
        "<dt>Similarity</dt><dd><strong id=\"similarity\">{}</strong> <span class=\"band\">{}</span>",
        num(c.similarity),
        band(c.similarity, c.match_at, c.no_match_below)
    );
    if let (Some(s), Some(m), Some(n)) = (c.similarity, c.match_at, c.no_match_below) {
        let _ = write!(
            b,
            "<br><meter min=\"-1\" max=\"1\" low=\"{n}\" high=\"{m}\" optimum=\"1\" value=\"{s}\" title=\"similarity {s:.3}\"></meter>"
        );
    }
    b.push_str("</dd>");
    let _ = write!(
        b,
        "<dt>Match at or above</dt><dd id=\"match-at\">{}</dd>\
         <dt>No match below</dt><dd id=\"no-match-below\">{}</dd>\
         <dt>Automated decision</dt><dd>{} ({})</dd>\
         <dt>Face detection</dt><dd>document {} · selfie {}</dd>\
         <dt>Liveness</dt><dd id=\"liveness\">{}</dd>\
         <dt>Policy</dt><dd>{}</dd></dl></section>",
        num(c.match_at),
        num(c.no_match_below),
        esc(c.decision.as_deref().unwrap_or("—")),
        esc(c.comparison.as_deref().unwrap_or("—")),
        num(c.document_face_score),
        num(c.selfie_face_score),
        match (&c.liveness_check, c.liveness) {
            (Some(check), Some(l)) => format!("{}; passive liveness score {l:.3}", esc(check)),
            (Some(check), None) => esc(check),
            (None, Some(l)) => format!("passive liveness score {l:.3}"),
            (None, None) => "not assessed (no video)".into(),
        },
        esc(c.policy_version.as_deref().unwrap_or("—")),
    );
    b.push_str("<section><h2>Reason codes</h2>");
    if c.reasons.is_empty() {
        b.push_str("<p>none</p>");
    } else {
        b.push_str("<ul class=\"reasons\">");
        for r in &c.reasons {
            let _ = write!(b, "<li><code>{}</code></li>", esc(r));
        }
        b.push_str("</ul>");
    }
    b.push_str("</section>");
    match &c.resolution {
        Some(r) => {
            let _ = write!(
                b,
                "<section class=\"resolved\" id=\"resolution\"><h2>Resolution</h2><dl>\
                 <dt>Outcome</dt><dd id=\"outcome\">{}</dd><dt>Reason</dt><dd>{}</dd>\
                 <dt>By</dt><dd>{}</dd><dt>At</dt><dd>{}</dd></dl></section>",
                esc(&r.outcome),
                esc(&r.reason),
                esc(&r.resolved_by),
                esc(&r.resolved_at)
            );
        }
        None => {
            let _ = write!(
                b,
                "<section class=\"resolve\"><h2>Resolution</h2>\
                 <form method=\"post\" action=\"/review/cases/{id_path}/resolution\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{}\"><fieldset><legend>Outcome</legend>",
                esc(reviewer.csrf)
            );
            for (value, label) in OUTCOMES {
                let _ = write!(
                    b,
                    "<label><input type=\"radio\" name=\"outcome\" value=\"{value}\" required> {label}</label>"
                );
            }
            b.push_str(
                "</fieldset><label>Reason (required: what you saw)\
                 <textarea name=\"reason\" required maxlength=\"2000\" rows=\"3\"></textarea></label>\
                 <p class=\"hint\">The automated decision stays as it is; your resolution is recorded beside it.</p>\
                 <button type=\"submit\">Record resolution</button></form></section>",
            );
        }
    }
    b.push_str("</div>");
    page(&format!("Case {}", c.id), Some(reviewer), &b)
}

/// An error page: a short message and the stable code.
pub fn error_page(reviewer: Option<&Reviewer>, code: &str, message: &str) -> String {
    let body = format!(
        "<section class=\"problem\"><h1>{}</h1><p>Code: <code id=\"error-code\">{}</code></p>\
         <p><a href=\"/review/queue\">Back to the queue</a></p></section>",
        esc(message),
        esc(code)
    );
    page(message, reviewer, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_both_quotes() {
        assert_eq!(
            esc("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
        assert_eq!(esc("plain"), "plain");
        assert_eq!(query_value("a b/c?d"), "a%20b%2Fc%3Fd");
    }

    fn reviewer() -> Reviewer<'static> {
        Reviewer {
            username: "alice",
            org: "acme",
            csrf: "tok\"en",
        }
    }

    fn case() -> CaseView {
        CaseView {
            id: "rev_1".into(),
            purpose: "ecs_application".into(),
            kind: "referred".into(),
            status: "open".into(),
            created_at: "2026-11-22T00:00:00Z".into(),
            reasons: vec!["<b>no_match</b>".into()],
            decision: Some("referred".into()),
            comparison: Some("no_match".into()),
            similarity: Some(0.123),
            match_at: Some(0.4),
            no_match_below: Some(0.3),
            liveness: None,
            liveness_check: None,
            document_face_score: Some(0.9),
            selfie_face_score: Some(0.8),
            policy_version: Some("p".into()),
            media: vec!["document".into(), "selfie".into()],
            other_media: vec![],
            resolution: None,
            notice: None,
        }
    }

    #[test]
    fn a_video_case_offers_the_video_on_demand_and_says_what_liveness_found() {
        let mut c = case();
        assert!(!case_page(&reviewer(), &c).contains("<video"));
        c.media.push("video".into());
        c.liveness = Some(0.98);
        c.liveness_check = Some("refer: blink found, turn_left not found".into());
        let html = case_page(&reviewer(), &c);
        assert!(html.contains(
            "<video id=\"video-clip\" controls preload=\"none\" src=\"/review/cases/rev_1/media/video\">"
        ));
        assert!(
            html.contains("refer: blink found, turn_left not found; passive liveness score 0.980")
        );
    }

    #[test]
    fn the_case_page_shows_both_faces_the_scores_and_a_form_with_its_token() {
        let html = case_page(&reviewer(), &case());
        assert!(html.contains("src=\"/review/cases/rev_1/media/document\""));
        assert!(html.contains("src=\"/review/cases/rev_1/media/selfie\""));
        assert!(html.contains("<strong id=\"similarity\">0.123</strong>"));
        assert!(html.contains("<dd id=\"match-at\">0.400</dd>"));
        assert!(html.contains("below the no-match threshold"));
        assert!(
            html.contains("&lt;b&gt;no_match&lt;/b&gt;"),
            "reasons escaped"
        );
        assert!(!html.contains("<b>no_match"));
        assert_eq!(
            html.matches("name=\"csrf\" value=\"tok&quot;en\"").count(),
            2
        );
        assert!(!html.contains("<script") && !html.contains("style="));
    }

    #[test]
    fn a_resolved_case_shows_its_resolution_and_no_form() {
        let mut c = case();
        c.status = "resolved".into();
        c.resolution = Some(ResolutionView {
            outcome: "confirmed_mismatch".into(),
            reason: "<i>ears</i>".into(),
            resolved_by: "reviewer:alice".into(),
            resolved_at: "t".into(),
        });
        let html = case_page(&reviewer(), &c);
        assert!(!html.contains("/resolution\""));
        assert!(html.contains("&lt;i&gt;ears&lt;/i&gt;"));
    }

    #[test]
    fn the_queue_links_each_case_and_escapes_what_it_shows() {
        let rows = [QueueRow {
            id: "rev_\"1".into(),
            purpose: "ecs_application".into(),
            kind: "referred".into(),
            reasons: vec!["a<b".into()],
            created_at: "t".into(),
        }];
        let html = queue_page(
            &reviewer(),
            &rows,
            &["ecs_application"],
            Some("ecs_application"),
        );
        assert!(html.contains("href=\"/review/cases/rev_%221\""));
        assert!(html.contains("a&lt;b"));
        assert!(html.contains("aria-current=\"page\">ecs_application"));
        let empty = queue_page(&reviewer(), &[], &[], None);
        assert!(empty.contains("No open cases."));
    }

    #[test]
    fn bands_follow_the_thresholds() {
        assert_eq!(
            band(Some(0.5), Some(0.4), Some(0.3)),
            "at or above the match threshold"
        );
        assert_eq!(
            band(Some(0.35), Some(0.4), Some(0.3)),
            "between the thresholds (uncertain)"
        );
        assert_eq!(band(None, Some(0.4), Some(0.3)), "not available");
    }

    #[test]
    fn the_signin_page_escapes_its_error_and_carries_its_token() {
        let html = signin_page("pre", Some("<bad>"));
        assert!(html.contains("&lt;bad&gt;"));
        assert!(html.contains("name=\"csrf\" value=\"pre\""));
        assert!(!html.contains("Sign out"));
    }
}
