//! The case page's content from the case, its decision record and the media still held: the reasons
//! as sentences, each liveness figure beside its threshold, the video's key frames, an invigilation
//! case's evidence frames, the identity document's checks.

use super::html::{CaseView, CheckRow, ComparisonRow, DocumentSection, KeyFrame, ResolutionView};
use super::words;
use crate::document::mrz::CheckedField;
use crate::service::caller::Caller;
use crate::service::error::ApiError;
use crate::service::record::{DocumentRecord, LivenessRecord};
use crate::service::review_queue;
use crate::service::reviews::{self, IdentityView};
use crate::service::state::AppState;

/// A video's liveness check as the case page says it: "refer: turn_left found, blink not found" (pure).
fn liveness_check(l: &LivenessRecord) -> String {
    let actions: Vec<String> = l
        .actions
        .iter()
        .map(|a| {
            let found = if a.done { "found" } else { "not found" };
            format!("{} {found}", a.action.as_str())
        })
        .collect();
    format!("{}: {}", l.verdict.as_str(), actions.join(", "))
}

/// Each figure of a video's liveness check beside its threshold, in words (pure).
fn liveness_lines(l: &LivenessRecord) -> Vec<String> {
    let t = &l.thresholds;
    let mut lines = Vec::new();
    for a in &l.actions {
        let timing = a.timing.map(|t| t.as_str()).unwrap_or("untimed");
        let when = match (a.prompted_at_s, a.seen_at_s) {
            (Some(p), Some(s)) => format!("asked at {p:.1} s, seen at {s:.1} s"),
            (Some(p), None) => format!("asked at {p:.1} s, not seen"),
            (None, Some(s)) => format!("seen at {s:.1} s"),
            (None, None) => "not seen".into(),
        };
        let window = l
            .window_s
            .map(|w| format!(" (must begin within {w:.1} s of its prompt)"))
            .unwrap_or_default();
        lines.push(format!(
            "{}: {} — {timing}, {when}{window}",
            a.action.as_str(),
            if a.done { "performed" } else { "not performed" },
        ));
    }
    if let Some(p) = l.passive_median {
        lines.push(words::score_words(
            "Passive liveness (median P(live) over the frames)",
            p,
            t.passive_min,
        ));
    }
    if let Some(s) = l.selfie_to_video {
        lines.push(words::score_words(
            "Still selfie against the video's best frame: similarity",
            s,
            t.same_person_min,
        ));
    }
    lines.push(format!(
        "Frames: {} decoded, {} analysed; every frame must stay the same person (similarity to the \
         best frame {:.2} or above; below {:.2} on {} frames is another person)",
        l.frames_decoded,
        l.frames_analysed,
        t.same_person_min,
        t.different_person_below,
        t.different_person_frames
    ));
    lines
}

/// The frames of a video worth seeing: the best one (compared with the document), then each action
/// where it was seen, or where it was asked for when it was not (pure).
fn key_frames(l: &LivenessRecord) -> Vec<KeyFrame> {
    let ms = |s: f64| (s.max(0.0) * 1000.0).round().min(u32::MAX as f64) as u32;
    let mut frames = Vec::new();
    if let Some(b) = l.best_frame_s {
        frames.push(KeyFrame {
            at_ms: ms(b),
            label: format!("best frame at {b:.1} s (compared with the document)"),
            missed: false,
        });
    }
    for a in &l.actions {
        let action = a.action.as_str();
        let frame = match (a.seen_at_s, a.prompted_at_s) {
            (Some(s), _) => KeyFrame {
                at_ms: ms(s),
                label: format!(
                    "{action} seen at {s:.1} s{}",
                    if a.done { "" } else { " (not on time)" }
                ),
                missed: !a.done,
            },
            (None, Some(p)) => KeyFrame {
                at_ms: ms(p),
                label: format!("{action} asked at {p:.1} s, not seen"),
                missed: true,
            },
            (None, None) => continue,
        };
        frames.push(frame);
    }
    frames
}

/// What the case page shows, from the case, its decision record and the media still held.
pub(super) async fn case_view(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<CaseView, ApiError> {
    let detail = reviews::get(state, caller, id).await?;
    let (case, record) = (detail.case, detail.verification.record);
    let (media, rest): (Vec<String>, Vec<String>) = detail
        .media
        .into_iter()
        .map(|m| m.kind)
        .partition(|k| ["document", "selfie", "video"].contains(&k.as_str()));
    let (evidence, other_media): (Vec<String>, Vec<String>) =
        rest.into_iter().partition(|k| k.starts_with("frame-"));
    let resolution = case.resolution.map(|r| ResolutionView {
        outcome: r.outcome,
        reason: r.reason,
        resolved_by: r.resolved_by,
        resolved_at: r.resolved_at,
    });
    let r = record.as_ref();
    let reasons = review_queue::why(&case.reasons, r.map(|r| r.comparison.as_str()), &case.kind)
        .into_iter()
        .map(|c| {
            let s = words::reason_sentence(&c);
            (c, s)
        })
        .collect();
    let liveness = r.and_then(|r| r.liveness.as_ref());
    Ok(CaseView {
        id: case.id,
        purpose: case.purpose,
        kind: case.kind,
        status: case.status,
        created_at: case.created_at,
        reasons,
        liveness_lines: liveness.map(liveness_lines).unwrap_or_default(),
        face_at: state.settings.detector.min_score,
        key_frames: liveness.map(key_frames).unwrap_or_default(),
        best_frame_ms: liveness
            .and_then(|l| l.best_frame_s)
            .map(|s| (s.max(0.0) * 1000.0).round() as u32),
        evidence_frames: evidence
            .into_iter()
            .map(|k| {
                let label = format!("frame {}", k.trim_start_matches("frame-"));
                (k, label)
            })
            .collect(),
        decision: r.map(|r| r.decision.to_string()),
        comparison: r.map(|r| r.comparison.as_str().to_string()),
        similarity: r.and_then(|r| r.scores.similarity),
        match_at: r.map(|r| r.thresholds.match_at),
        no_match_below: r.map(|r| r.thresholds.no_match_below),
        liveness: r.and_then(|r| r.scores.liveness),
        liveness_check: r.and_then(|r| r.liveness.as_ref()).map(liveness_check),
        document_face_score: r.and_then(|r| r.scores.document_face_score),
        selfie_face_score: r.and_then(|r| r.scores.selfie_face_score),
        policy_version: r.map(|r| r.policy_version.clone()),
        media,
        other_media,
        resolution,
        document: match r.and_then(|r| r.document.as_ref()) {
            Some(d) => {
                let identity = reviews::view_identity(state, caller, id).await?;
                Some(document_section(d, &identity))
            }
            None => None,
        },
        notice: None,
    })
}

/// The document's checks in words, the fields read, declared against read.
fn document_section(d: &DocumentRecord, identity: &IdentityView) -> DocumentSection {
    let yes_no = |ok: bool, yes: &str, no: &str| if ok { yes.to_string() } else { no.to_string() };
    let mut checks = vec![CheckRow {
        label: "Machine-readable zone".into(),
        result: match d.format {
            Some(f) => format!("read ({})", f.as_str()),
            None => "not found".into(),
        },
        passed: d.mrz_found,
    }];
    for (field, passed) in &d.check_digits {
        checks.push(CheckRow {
            label: format!("Check digit: {}", field_label(*field)),
            result: yes_no(*passed, "passes", "does not pass"),
            passed: *passed,
        });
    }
    if d.corrections > 0 {
        checks.push(CheckRow {
            label: "OCR corrections".into(),
            result: format!("{} character(s) settled by the check digits", d.corrections),
            passed: true,
        });
    }
    if let Some(expired) = d.expired {
        checks.push(CheckRow {
            label: "Expiry".into(),
            result: yes_no(!expired, "not expired", "expired"),
            passed: !expired,
        });
    }
    checks.push(CheckRow {
        label: "Portrait on the page with the zone".into(),
        result: match d.portrait_on_mrz_page {
            Some(true) => "yes".into(),
            Some(false) => "no".into(),
            None => "no portrait found".into(),
        },
        passed: d.portrait_on_mrz_page == Some(true),
    });
    let date = |v: Option<time::Date>| v.map(|d| d.to_string()).unwrap_or_else(|| "—".into());
    let fields = identity
        .read
        .as_ref()
        .map(|r| {
            let f = &r.fields;
            vec![
                ("Document type", f.document_type.clone()),
                ("Issuing state", f.issuing_state.clone()),
                ("Document number", f.document_number.clone()),
                ("Surname", f.surname.clone()),
                ("Given names", f.given_names.clone()),
                ("Nationality", f.nationality.clone()),
                ("Date of birth", date(f.date_of_birth)),
                ("Sex", f.sex.as_str().to_string()),
                ("Expiry date", date(f.expiry_date)),
            ]
        })
        .unwrap_or_default();
    DocumentSection {
        checks,
        comparison: identity
            .comparison
            .iter()
            .map(|c| ComparisonRow {
                label: match c.field {
                    "surname" => "Surname",
                    "given_names" => "Given names",
                    _ => "Date of birth",
                },
                declared: c.declared.clone(),
                read: c.read.clone(),
                agrees: c.agrees,
            })
            .collect(),
        fields,
        lines: identity
            .read
            .as_ref()
            .map(|r| r.mrz.lines.clone())
            .unwrap_or_default(),
    }
}

fn field_label(f: CheckedField) -> &'static str {
    match f {
        CheckedField::DocumentNumber => "document number",
        CheckedField::DateOfBirth => "date of birth",
        CheckedField::ExpiryDate => "expiry date",
        CheckedField::OptionalData => "optional data",
        CheckedField::Composite => "composite",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::liveness::{Action, ActionTiming, LivenessConfig, Verdict};
    use crate::service::record::{ActionOutcome, VideoFacts};

    fn record() -> LivenessRecord {
        LivenessRecord {
            verdict: Verdict::Fail,
            reasons: vec!["challenge_not_performed".into()],
            challenge_id: "chl_1".into(),
            actions: vec![
                ActionOutcome {
                    action: Action::Blink,
                    done: true,
                    timing: Some(ActionTiming::OnTime),
                    prompted_at_s: Some(1.0),
                    seen_at_s: Some(1.46),
                },
                ActionOutcome {
                    action: Action::TurnLeft,
                    done: false,
                    timing: Some(ActionTiming::Missing),
                    prompted_at_s: Some(3.0),
                    seen_at_s: None,
                },
            ],
            window_s: Some(2.0),
            frames_decoded: 120,
            frames_analysed: 60,
            best_frame_s: Some(0.5),
            passive_median: Some(0.12),
            selfie_to_video: None,
            video: VideoFacts {
                container: "webm".into(),
                codec: "vp8".into(),
                width: 640,
                height: 480,
                duration_s: 4.0,
            },
            thresholds: LivenessConfig::default(),
        }
    }

    #[test]
    fn key_frames_are_the_best_frame_then_each_action_found_or_missed() {
        let frames = key_frames(&record());
        let shown: Vec<(u32, &str, bool)> = frames
            .iter()
            .map(|k| (k.at_ms, k.label.as_str(), k.missed))
            .collect();
        assert_eq!(
            shown,
            [
                (
                    500,
                    "best frame at 0.5 s (compared with the document)",
                    false
                ),
                (1460, "blink seen at 1.5 s", false),
                (3000, "turn_left asked at 3.0 s, not seen", true),
            ]
        );
    }

    #[test]
    fn liveness_figures_are_said_against_their_thresholds() {
        let r = record();
        let lines = liveness_lines(&r);
        assert!(lines[0].starts_with("blink: performed — on_time, asked at 1.0 s, seen at 1.5 s"));
        assert!(
            lines[1].starts_with("turn_left: not performed — missing, asked at 3.0 s, not seen")
        );
        assert!(lines[1].ends_with("(must begin within 2.0 s of its prompt)"));
        assert_eq!(
            lines[2],
            format!(
                "Passive liveness (median P(live) over the frames) 0.12 — falls short: the machine \
                 needs {:.2} or above",
                r.thresholds.passive_min
            )
        );
        assert!(lines[3].starts_with("Frames: 120 decoded, 60 analysed"));
    }
}
