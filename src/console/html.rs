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

/// One row of the queue: why the case is here, and what a reviewer sorts by.
pub struct QueueRow {
    pub id: String,
    pub purpose: String,
    pub kind: String,
    /// Each reason code with its sentence.
    pub reasons: Vec<(String, String)>,
    /// The similarity (two decimals), or "—".
    pub similarity: String,
    pub external_ref: Option<String>,
    /// How long it has waited ("3 h").
    pub waited: String,
    /// When it was opened (RFC 3339), for the tooltip.
    pub created_at: String,
}

/// What the queue is narrowed to, and what it can be narrowed by.
pub struct QueueFilters<'a> {
    pub purposes: &'a [&'a str],
    pub purpose: Option<&'a str>,
    pub reasons: &'a [String],
    pub reason: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "console/queue.html")]
struct QueuePage<'a> {
    title: &'a str,
    reviewer: Option<&'a Reviewer<'a>>,
    rows: &'a [QueueRow],
    f: &'a QueueFilters<'a>,
    /// The purpose filter as a query prefix for the reason links (`purpose=…&`), or empty.
    purpose_query: String,
}

pub fn queue_page(reviewer: &Reviewer, rows: &[QueueRow], f: &QueueFilters) -> String {
    render(&QueuePage {
        title: "Queue",
        reviewer: Some(reviewer),
        rows,
        f,
        purpose_query: f
            .purpose
            .map(|p| format!("purpose={}&", crate::domain::text::percent_encode(p)))
            .unwrap_or_default(),
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
    /// Each reason code with its sentence.
    pub reasons: Vec<(String, String)>,
    pub decision: Option<String>,
    pub comparison: Option<String>,
    pub similarity: Option<f32>,
    pub match_at: Option<f32>,
    pub no_match_below: Option<f32>,
    pub liveness: Option<f32>,
    /// A video's liveness check in words: the verdict and each action asked.
    pub liveness_check: Option<String>,
    /// Each liveness figure beside its threshold, in words.
    pub liveness_lines: Vec<String>,
    /// The face detector's level (P(face) at or above which a face counts).
    pub face_at: f32,
    /// Frames of the liveness video worth seeing: the best frame, each action found or missed.
    pub key_frames: Vec<KeyFrame>,
    /// Where the video's best frame (the one compared with the document) is, in milliseconds.
    pub best_frame_ms: Option<u32>,
    /// An invigilation case's evidence frames (`frame-<seq>`), in order, with when they were taken.
    pub evidence_frames: Vec<(String, String)>,
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

/// One frame of the liveness video on the case page.
pub struct KeyFrame {
    pub at_ms: u32,
    /// What it shows: "best frame (compared with the document)", "blink seen at 1.2 s", …
    pub label: String,
    /// A frame where an action was missed or late.
    pub missed: bool,
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

/// One of the two faces: its aligned crop and whole image if held, a placeholder if not.
struct Face {
    /// The item it is cropped from: `document`, `selfie` or `video`.
    kind: &'static str,
    label: &'static str,
    /// What the whole item is called in its link.
    whole: &'static str,
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
    /// The video's poster: its best frame, in milliseconds.
    poster_ms: Option<u32>,
    crop_side: usize,
    similarity: String,
    similarity_words: Option<String>,
    detection_words: String,
    band: &'static str,
    meter: Option<Meter>,
    match_at: String,
    no_match_below: String,
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
    // The live face: the still selfie, or else the video's best frame.
    let live = if held("selfie") || !held("video") {
        Face {
            kind: "selfie",
            label: "Selfie",
            whole: "whole selfie",
            held: held("selfie"),
        }
    } else {
        Face {
            kind: "video",
            label: "Live face (best video frame)",
            whole: "whole frame",
            held: c.best_frame_ms.is_some(),
        }
    };
    let detection_words = {
        let one = |what: &str, v: Option<f32>| {
            v.map(|v| format!("{what} {v:.2}"))
                .unwrap_or_else(|| format!("{what}: no face"))
        };
        let live = match c.selfie_face_score {
            None if held("video") => "the live face comes from the video (see liveness)".into(),
            v => one("selfie", v),
        };
        format!(
            "{}, {live} — how sure the detector is that each is a face; it counts one at {:.2} or \
             above",
            one("document", c.document_face_score),
            c.face_at
        )
    };
    render(&CasePage {
        title: format!("Case {}", c.id),
        reviewer: Some(reviewer),
        csrf: reviewer.csrf,
        c,
        faces: [
            Face {
                kind: "document",
                label: "ID document portrait",
                whole: "whole document",
                held: held("document"),
            },
            live,
        ],
        video: held("video"),
        poster_ms: c.best_frame_ms,
        crop_side: crate::service::review_views::CROP_SIDE,
        similarity: num(c.similarity),
        similarity_words: match (c.similarity, c.match_at, c.no_match_below) {
            (Some(s), Some(m), Some(n)) => Some(super::words::similarity_words(s, m, n)),
            _ => None,
        },
        detection_words,
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
            reasons: vec![("<b>no_match</b>".into(), "The faces do not match.".into())],
            decision: Some("referred".into()),
            comparison: Some("no_match".into()),
            similarity: Some(0.123),
            match_at: Some(0.4),
            no_match_below: Some(0.3),
            liveness: None,
            liveness_check: None,
            liveness_lines: vec![],
            face_at: 0.5,
            key_frames: vec![],
            best_frame_ms: None,
            evidence_frames: vec![],
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
    fn a_video_case_offers_the_video_on_demand_its_key_frames_and_says_what_liveness_found() {
        let mut c = case();
        assert!(!case_page(&reviewer(), &c).contains("<video"));
        c.media = vec!["document".into(), "video".into()];
        c.liveness = Some(0.98);
        c.liveness_check = Some("refer: blink found, turn_left not found".into());
        c.liveness_lines = vec!["blink: performed — on_time".into()];
        c.best_frame_ms = Some(1200);
        c.key_frames = vec![
            KeyFrame {
                at_ms: 1200,
                label: "best frame".into(),
                missed: false,
            },
            KeyFrame {
                at_ms: 2500,
                label: "turn_left asked at 2.5 s, not seen".into(),
                missed: true,
            },
        ];
        let html = case_page(&reviewer(), &c);
        assert!(html.contains(
            "<video id=\"video-clip\" controls preload=\"none\" poster=\"/review/cases/rev_1/frames/1200\" src=\"/review/cases/rev_1/media/video\">"
        ));
        assert!(
            html.contains("refer: blink found, turn_left not found; passive liveness score 0.980")
        );
        assert!(html.contains("<li>blink: performed — on_time</li>"));
        // The live face is the best frame's crop; the key frames load lazily.
        assert!(html.contains("src=\"/review/cases/rev_1/faces/video\""));
        assert!(html.contains(
            "<li class=\"missed\"><img loading=\"lazy\" width=\"240\" src=\"/review/cases/rev_1/frames/2500\""
        ));
    }

    #[test]
    fn an_invigilation_case_shows_its_evidence_frames_in_order() {
        let mut c = case();
        c.evidence_frames = vec![
            ("frame-3".into(), "frame 3".into()),
            ("frame-4".into(), "frame 4".into()),
        ];
        let html = case_page(&reviewer(), &c);
        let third = html.find("/media/frame-3\"").unwrap();
        let fourth = html.find("/media/frame-4\"").unwrap();
        assert!(third < fourth && html.contains("id=\"evidence-frames\""));
    }

    #[test]
    fn the_case_page_shows_both_faces_the_scores_and_a_form_with_its_token() {
        let html = case_page(&reviewer(), &case());
        // Aligned crops of one size, the whole images a link away (loaded only when followed).
        assert!(html
            .contains("width=\"360\" height=\"360\" src=\"/review/cases/rev_1/faces/document\""));
        assert!(
            html.contains("width=\"360\" height=\"360\" src=\"/review/cases/rev_1/faces/selfie\"")
        );
        assert!(html.contains("href=\"/review/cases/rev_1/media/document\""));
        assert!(!html.contains("src=\"/review/cases/rev_1/media/"));
        assert!(html.contains("similarity 0.12 — below 0.30 the machine finds no match"));
        assert!(html.contains("document 0.90, selfie 0.80 — how sure the detector is"));
        assert!(html.contains("it counts one at 0.50 or above"));
        assert!(html.contains("The faces do not match."));
        assert!(html.contains("accesskey=\"1\"") && html.contains("accesskey=\"n\""));
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

    fn row(id: &str) -> QueueRow {
        QueueRow {
            id: id.into(),
            purpose: "ecs_application".into(),
            kind: "referred".into(),
            reasons: vec![("a<b".into(), "Sentence.".into())],
            similarity: "0.12".into(),
            external_ref: Some("app-7".into()),
            waited: "3 h".into(),
            created_at: "t".into(),
        }
    }

    #[test]
    fn the_queue_says_why_links_each_case_and_escapes_what_it_shows() {
        let rows = [row("rev_\"1")];
        let reasons = vec!["no_match".to_string()];
        let f = QueueFilters {
            purposes: &["ecs_application"],
            purpose: Some("ecs_application"),
            reasons: &reasons,
            reason: Some("no_match"),
        };
        let html = queue_page(&reviewer(), &rows, &f);
        assert!(html.contains("href=\"/review/cases/rev_%221\""));
        assert!(html.contains("<code>a&lt;b</code> Sentence."));
        assert!(html.contains(">3 h</time>") && html.contains(">0.12</td>"));
        assert!(html.contains("app-7"));
        assert!(html.contains("aria-current=\"page\">ecs_application"));
        assert!(html.contains(
            "href=\"/review/queue?purpose=ecs_application&amp;reason=no_match\" class=\"on\" aria-current=\"page\">no_match"
        ));
        let none = QueueFilters {
            purposes: &[],
            purpose: None,
            reasons: &[],
            reason: None,
        };
        let empty = queue_page(&reviewer(), &[], &none);
        assert!(empty.contains("No open cases.") && !empty.contains("Reason:"));
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
            reasons: vec![(HOSTILE.into(), HOSTILE.into())],
            similarity: HOSTILE.into(),
            external_ref: Some(HOSTILE.into()),
            waited: HOSTILE.into(),
            created_at: HOSTILE.into(),
        }];
        let reasons = vec![HOSTILE.to_string()];
        let f = QueueFilters {
            purposes: &[HOSTILE],
            purpose: Some(HOSTILE),
            reasons: &reasons,
            reason: None,
        };
        let html = queue_page(&r, &rows, &f);
        // The header, the purpose filter, the reason filter, the row (opened twice, waited, kind,
        // reason and its sentence, similarity, purpose, reference).
        assert_escaped(&html, 3 + 1 + 1 + 9);
        let id = crate::domain::text::percent_encode(HOSTILE);
        assert!(html.contains(&format!("href=\"/review/cases/{id}\"")));
        assert!(html.contains(&format!("href=\"/review/queue?purpose={id}\"")));

        let c = CaseView {
            id: HOSTILE.into(),
            purpose: HOSTILE.into(),
            kind: HOSTILE.into(),
            status: HOSTILE.into(),
            created_at: HOSTILE.into(),
            reasons: vec![(HOSTILE.into(), HOSTILE.into())],
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
        // decision, comparison, liveness, policy, reason and its sentence, and the form's token.
        let html = case_page(&r, &c);
        assert_escaped(&html, 4 + 15);
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
        assert_escaped(&case_page(&r, &resolved), 4 + 14 + 4);
    }

    #[test]
    fn the_signin_page_escapes_its_error_and_carries_its_token() {
        let html = signin_page("pre", Some("<bad>"));
        assert!(html.contains("&lt;bad&gt;"));
        assert!(html.contains("name=\"csrf\" value=\"pre\""));
        assert!(!html.contains("Sign out"));
    }
}
