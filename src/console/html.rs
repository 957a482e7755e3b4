//! The console's pages, rendered from plain data (pure) by the askama templates in templates/console/:
//! every value is escaped by construction (askama.toml), and attributes are always double-quoted. No
//! inline script or style: the Content-Security-Policy is `default-src 'self'`, and the one stylesheet is
//! `/review/static/console.css`.

use askama::Template;

use crate::http::page::render;

/// Who is signed in, for the page header and its sign-out form.
pub struct Reviewer<'a> {
    pub username: &'a str,
    pub org: &'a str,
    pub csrf: &'a str,
}

/// The templates' own filters.
mod filters {
    /// A value as one URI component (an id in a path, a query value): percent-encoded.
    #[askama::filter_fn]
    pub fn percent_encode<T: std::fmt::Display>(
        value: T,
        _: &dyn askama::Values,
    ) -> askama::Result<String> {
        Ok(crate::domain::text::percent_encode(&value.to_string()))
    }
}

#[derive(Template)]
#[template(path = "console/signin.html")]
struct SigninPage<'a> {
    title: &'a str,
    reviewer: Option<&'a Reviewer<'a>>,
    signin_token: &'a str,
    error: Option<&'a str>,
}

/// The sign-in form; `error` is shown as it is (always the same generic text).
pub fn signin_page(signin_token: &str, error: Option<&str>) -> String {
    render(&SigninPage {
        title: "Sign in",
        reviewer: None,
        signin_token,
        error,
    })
}

/// One row of the queue.
pub struct QueueRow {
    pub id: String,
    pub purpose: String,
    pub kind: String,
    pub reasons: Vec<String>,
    pub created_at: String,
}

#[derive(Template)]
#[template(path = "console/queue.html")]
struct QueuePage<'a> {
    title: &'a str,
    reviewer: Option<&'a Reviewer<'a>>,
    rows: &'a [QueueRow],
    purposes: &'a [&'a str],
    selected: Option<&'a str>,
}

pub fn queue_page(
    reviewer: &Reviewer,
    rows: &[QueueRow],
    purposes: &[&str],
    selected: Option<&str>,
) -> String {
    render(&QueuePage {
        title: "Queue",
        reviewer: Some(reviewer),
        rows,
        purposes,
        selected,
    })
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
    /// The identity document's examination, when it was read.
    pub document: Option<DocumentSection>,
    /// A note from the last action (e.g. a form error).
    pub notice: Option<String>,
}

/// The identity document on the case page: each check, the fields read, declared against read.
pub struct DocumentSection {
    pub checks: Vec<CheckRow>,
    /// Declared against read, field by field (when the applicant declared an identity).
    pub comparison: Vec<ComparisonRow>,
    /// The fields read from the machine-readable zone, labelled.
    pub fields: Vec<(&'static str, String)>,
    /// The zone's lines as read (after the corrections its check digits settled).
    pub lines: Vec<String>,
}

pub struct CheckRow {
    pub label: String,
    pub result: String,
    pub passed: bool,
}

pub struct ComparisonRow {
    pub label: &'static str,
    pub declared: String,
    pub read: String,
    pub agrees: bool,
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

/// One of the two faces: its image if held, a placeholder if not.
struct Face {
    kind: &'static str,
    label: &'static str,
    held: bool,
}

/// The similarity on a scale from -1 to 1, with the thresholds as its low and high marks.
struct Meter {
    similarity: f32,
    match_at: f32,
    no_match_below: f32,
}

#[derive(Template)]
#[template(path = "console/case.html")]
struct CasePage<'a> {
    title: String,
    reviewer: Option<&'a Reviewer<'a>>,
    csrf: &'a str,
    c: &'a CaseView,
    faces: [Face; 2],
    video: bool,
    similarity: String,
    band: &'static str,
    meter: Option<Meter>,
    match_at: String,
    no_match_below: String,
    document_face_score: String,
    selfie_face_score: String,
    liveness: String,
    outcomes: [(&'static str, &'static str); 3],
}

pub fn case_page(reviewer: &Reviewer, c: &CaseView) -> String {
    let held = |kind: &str| c.media.iter().any(|m| m == kind);
    let liveness = match (&c.liveness_check, c.liveness) {
        (Some(check), Some(l)) => format!("{check}; passive liveness score {l:.3}"),
        (Some(check), None) => check.clone(),
        (None, Some(l)) => format!("passive liveness score {l:.3}"),
        (None, None) => "not assessed (no video)".into(),
    };
    render(&CasePage {
        title: format!("Case {}", c.id),
        reviewer: Some(reviewer),
        csrf: reviewer.csrf,
        c,
        faces: [
            Face {
                kind: "document",
                label: "ID document",
                held: held("document"),
            },
            Face {
                kind: "selfie",
                label: "Selfie",
                held: held("selfie"),
            },
        ],
        video: held("video"),
        similarity: num(c.similarity),
        band: band(c.similarity, c.match_at, c.no_match_below),
        meter: match (c.similarity, c.match_at, c.no_match_below) {
            (Some(similarity), Some(match_at), Some(no_match_below)) => Some(Meter {
                similarity,
                match_at,
                no_match_below,
            }),
            _ => None,
        },
        match_at: num(c.match_at),
        no_match_below: num(c.no_match_below),
        document_face_score: num(c.document_face_score),
        selfie_face_score: num(c.selfie_face_score),
        liveness,
        outcomes: OUTCOMES,
    })
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage<'a> {
    /// The short message, as the page's title and heading.
    title: &'a str,
    reviewer: Option<&'a Reviewer<'a>>,
    code: &'a str,
}

/// An error page: a short message and the stable code.
pub fn error_page(reviewer: Option<&Reviewer>, code: &str, message: &str) -> String {
    render(&ErrorPage {
        title: message,
        reviewer,
        code,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value as a console template shows it: escaped by askama.toml's escaper.
    fn esc(v: &str) -> String {
        #[derive(Template)]
        #[template(source = "{{ v }}", ext = "html")]
        struct Shown<'a> {
            v: &'a str,
        }
        Shown { v }.render().unwrap()
    }

    /// A value as a console template puts it in a link (`percent_encode`, then escaped).
    fn query_value(v: &str) -> String {
        #[derive(Template)]
        #[template(source = "{{ v|percent_encode }}", ext = "html")]
        struct Linked<'a> {
            v: &'a str,
        }
        Linked { v }.render().unwrap()
    }

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
            document: None,
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

    /// Markup and both quotes, in every field a console page shows.
    const HOSTILE: &str = "<script>alert('x')</script>\"><b x='y'>";
    const ESCAPED: &str =
        "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&gt;&lt;b x=&#39;y&#39;&gt;";

    /// No markup from `HOSTILE` got through, and it shows, escaped, exactly `times` times.
    fn assert_escaped(html: &str, times: usize) {
        assert!(
            !html.contains("<script") && !html.contains("<b x"),
            "{html}"
        );
        assert!(!html.contains("'x'"), "{html}");
        assert_eq!(html.matches(ESCAPED).count(), times, "{html}");
    }

    #[test]
    fn every_field_of_every_page_is_escaped() {
        let r = Reviewer {
            username: HOSTILE,
            org: HOSTILE,
            csrf: HOSTILE,
        };
        // The title, then the header: username, org and the sign-out form's token.
        assert_escaped(&error_page(Some(&r), HOSTILE, HOSTILE), 4 + 2);
        assert_escaped(&signin_page(HOSTILE, Some(HOSTILE)), 2);

        let rows = [QueueRow {
            id: HOSTILE.into(),
            purpose: HOSTILE.into(),
            kind: HOSTILE.into(),
            reasons: vec![HOSTILE.into(), HOSTILE.into()],
            created_at: HOSTILE.into(),
        }];
        let html = queue_page(&r, &rows, &[HOSTILE], Some(HOSTILE));
        // The header, the purpose filter, the row (opened, purpose, kind, two reasons).
        assert_escaped(&html, 3 + 1 + 5);
        let id = crate::domain::text::percent_encode(HOSTILE);
        assert!(html.contains(&format!("href=\"/review/cases/{id}\"")));
        assert!(html.contains(&format!("href=\"/review/queue?purpose={id}\"")));

        let c = CaseView {
            id: HOSTILE.into(),
            purpose: HOSTILE.into(),
            kind: HOSTILE.into(),
            status: HOSTILE.into(),
            created_at: HOSTILE.into(),
            reasons: vec![HOSTILE.into()],
            decision: Some(HOSTILE.into()),
            comparison: Some(HOSTILE.into()),
            liveness_check: Some(HOSTILE.into()),
            policy_version: Some(HOSTILE.into()),
            media: vec!["document".into(), "selfie".into(), "video".into()],
            other_media: vec![HOSTILE.into()],
            notice: Some(HOSTILE.into()),
            ..case()
        };
        // Title and header, then id, purpose, kind, opened, status twice, notice, other media,
        // decision, comparison, liveness, policy, reason, and the form's token.
        let html = case_page(&r, &c);
        assert_escaped(&html, 4 + 14);
        for path in [
            "media/document",
            "media/selfie",
            "media/video",
            "resolution",
        ] {
            assert!(
                html.contains(&format!("/review/cases/{id}/{path}\"")),
                "{path}"
            );
        }
        let resolved = CaseView {
            resolution: Some(ResolutionView {
                outcome: HOSTILE.into(),
                reason: HOSTILE.into(),
                resolved_by: HOSTILE.into(),
                resolved_at: HOSTILE.into(),
            }),
            ..c
        };
        // The form's token gives way to the resolution's four fields.
        assert_escaped(&case_page(&r, &resolved), 4 + 13 + 4);
    }

    #[test]
    fn the_signin_page_escapes_its_error_and_carries_its_token() {
        let html = signin_page("pre", Some("<bad>"));
        assert!(html.contains("&lt;bad&gt;"));
        assert!(html.contains("name=\"csrf\" value=\"pre\""));
        assert!(!html.contains("Sign out"));
    }
}
