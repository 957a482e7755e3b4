//! The privacy notices the capture page shows before anything is collected, one per purpose, and the
//! version a consent records. The text is filled in from the configuration (controller, contact,
//! retention periods) and the version ends with a digest of exactly what is shown, so a consent always
//! names the words the person read: change a period or a sentence and the version changes with it.

use askama::Template;
use sha2::{Digest, Sha256};

use crate::domain::Purpose;
use crate::http::page::render;
use crate::settings::Settings;

/// Bumped when the notices are rewritten; the digest after it tells apart what configuration fills in.
const EDITION: &str = "2026-12";

/// A notice as shown, already HTML (its text escaped by templates/capture/notice.html).
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// What the page is for, as its heading says.
    pub title: &'static str,
    pub version: String,
    /// The notice: headings, paragraphs and lists.
    pub html: String,
    /// What declining means and the other way to proceed.
    pub decline_html: String,
}

fn texts(purpose: Purpose) -> (&'static str, &'static str, &'static str) {
    match purpose {
        Purpose::EcsApplication => (
            "Confirm your identity for your competence card application",
            include_str!("notices/ecs_application.txt"),
            include_str!("notices/ecs_application_decline.txt"),
        ),
        Purpose::RemoteInvigilation => (
            "Confirm your identity for online assessments",
            include_str!("notices/remote_invigilation.txt"),
            include_str!("notices/remote_invigilation_decline.txt"),
        ),
    }
}

/// The notice for `purpose` under `settings` (pure).
pub fn notice(purpose: Purpose, settings: &Settings) -> Notice {
    let (title, body, decline) = texts(purpose);
    let policy = settings.retention.policy(purpose);
    let years = policy.decision_record_days as f64 / 365.0;
    let fill = |text: &str| {
        text.replace("{controller}", &settings.capture.controller)
            .replace("{contact}", &settings.capture.privacy_contact)
            .replace("{media_days}", &policy.media_days.to_string())
            .replace("{embedding_days}", &policy.embedding_days.to_string())
            .replace("{record_years}", &format!("{years:.0}"))
    };
    let html = to_html(&fill(body));
    let decline_html = to_html(&fill(decline));
    let digest = Sha256::new()
        .chain_update(title)
        .chain_update([0])
        .chain_update(&html)
        .chain_update([0])
        .chain_update(&decline_html)
        .finalize();
    Notice {
        title,
        version: format!(
            "{}-{EDITION}-{}",
            purpose.as_str().replace('_', "-"),
            &hex::encode(digest)[..8]
        ),
        html,
        decline_html,
    }
}

/// One block of a notice's small markup.
enum Block<'a> {
    Heading(&'a str),
    List(Vec<&'a str>),
    /// Its lines joined by spaces.
    Paragraph(String),
}

#[derive(Template)]
#[template(path = "capture/notice.html")]
struct NoticeHtml<'a> {
    blocks: Vec<Block<'a>>,
}

/// The notices' small markup: blocks separated by blank lines; `## ` starts a heading, lines starting
/// `- ` make a list, anything else is a paragraph (pure).
fn blocks(text: &str) -> Vec<Block<'_>> {
    let mut out = Vec::new();
    for block in text.split("\n\n").map(str::trim).filter(|b| !b.is_empty()) {
        let mut lines = block.lines().peekable();
        while let Some(line) = lines.next() {
            if let Some(heading) = line.strip_prefix("## ") {
                out.push(Block::Heading(heading));
            } else if let Some(item) = line.strip_prefix("- ") {
                let mut items = vec![item];
                while let Some(item) = lines.peek().and_then(|l| l.strip_prefix("- ")) {
                    items.push(item);
                    lines.next();
                }
                out.push(Block::List(items));
            } else {
                let mut paragraph = line.to_string();
                while let Some(next) = lines.peek().filter(|l| !l.starts_with("- ")) {
                    paragraph.push(' ');
                    paragraph.push_str(next);
                    lines.next();
                }
                out.push(Block::Paragraph(paragraph));
            }
        }
    }
    out
}

/// The notice's markup as HTML, its text escaped (pure).
fn to_html(text: &str) -> String {
    render(&NoticeHtml {
        blocks: blocks(text),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_makes_headings_lists_and_escaped_paragraphs() {
        let html = to_html("## Why <us>\nWe ask & you answer.\n\n- one\n- two\n\nlast\nline");
        assert_eq!(
            html,
            "<h3>Why &lt;us&gt;</h3>\n<p>We ask &amp; you answer.</p>\n<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n<p>last line</p>\n"
        );
    }

    #[test]
    fn the_notice_says_the_configured_periods_and_contact() {
        let mut settings = Settings::default();
        settings.capture.privacy_contact = "dpo@scheme.example".into();
        let n = notice(Purpose::EcsApplication, &settings);
        assert!(n.html.contains("dpo@scheme.example"));
        assert!(n.html.contains("30 days"), "{}", n.html);
        assert!(n.html.contains("365 days"));
        assert!(n.html.contains("6 years"));
        assert!(!n.html.contains('{'), "a placeholder was left: {}", n.html);
        assert!(!n.decline_html.contains('{'));
        assert!(n.version.starts_with("ecs-application-2026-12-"));
    }

    #[test]
    fn the_version_changes_with_the_words_shown() {
        let settings = Settings::default();
        let a = notice(Purpose::EcsApplication, &settings);
        assert_eq!(a, notice(Purpose::EcsApplication, &settings));
        let mut longer = settings.clone();
        longer.retention.ecs_application.media_days = 60;
        let b = notice(Purpose::EcsApplication, &longer);
        assert_ne!(a.version, b.version);
        let c = notice(Purpose::RemoteInvigilation, &settings);
        assert_ne!(a.version, c.version);
        assert!(c.version.starts_with("remote-invigilation-"));
    }
}
