//! What the console says in words (pure): each reason code as a sentence a reviewer can act on, each
//! score beside the threshold it was held against, and how long a case has waited.

/// The sentence for a picture's quality code (`document_…`, `selfie_…`, `frame_…` without the prefix).
fn quality_sentence(picture: &str, code: &str) -> Option<String> {
    let what = match code {
        "no_face" => "no face was found",
        "face_cut_off" => "the face reaches the edge of the picture",
        "face_too_small" => "the face is too small to compare reliably",
        "low_quality" => "the face is blurred, partial or badly aligned (low embedding quality)",
        "multiple_faces" => "more than one face is visible (the largest, clearest one was used)",
        "blurry" => "the face is blurred",
        "too_dark" => "the face is too dark",
        "too_bright" => "the face is too bright or blown out",
        "not_frontal" => "the face is turned away from the camera",
        "eyes_closed" => "the eyes are closed",
        _ => return None,
    };
    Some(format!("{picture}: {what}."))
}

/// A reason code as a sentence; a code this console does not know is shown as it is.
pub fn reason_sentence(code: &str) -> String {
    let fixed = match code {
        "no_match" => "The faces do not match: the similarity is below the no-match threshold.",
        "uncertain" => {
            "The machine could not tell: the similarity lies between the thresholds, a face is \
             missing, or a no-match would rest on a poor image."
        }
        "quality_control_sample" => {
            "A verified decision drawn at random for quality control: check that it was right."
        }
        "selfie_not_in_video" => "The still selfie does not show the person in the liveness video.",
        "challenge_not_performed" => {
            "Liveness: an action asked for was not seen in order and on time (see each action below)."
        }
        "challenge_untimed" => {
            "Liveness: the challenge had no schedule, so a replayed recording cannot be excluded."
        }
        "unprompted_head_turn" => {
            "Liveness: more head turns than asked — a replayed recording, or prompts not followed."
        }
        "no_face_motion" => "Liveness: the face never changes shape — possibly a photo held up.",
        "no_challenge" => "Liveness: no challenge was given, so a replay cannot be excluded.",
        "face_not_found" => "Liveness: too few frames show a face to judge the video.",
        "multiple_faces" => "Liveness: more than one face in many frames.",
        "face_not_always_visible" => "Liveness: the face is missing from many frames.",
        "face_changed" => "Liveness: another person appears in some frames.",
        "identity_uncertain" => {
            "Liveness: some frames may show another person (their similarity to the best frame is low)."
        }
        "passive_liveness_low" => {
            "Liveness: the anti-spoofing model's score is low (it also rejects some real people)."
        }
        "no_usable_frame" => "Liveness: no frame with one face and open eyes to compare.",
        "liveness_fail" => "Liveness failed.",
        "liveness_refer" => "Liveness could not be settled by the machine.",
        "document_mrz_not_found" => "Document: no machine-readable zone was found.",
        "document_mrz_invalid" => "Document: the machine-readable zone's check digits do not pass.",
        "document_expired" => "Document: it has expired.",
        "document_type_not_accepted" => "Document: this type of document is not accepted.",
        "document_portrait_not_on_mrz_page" => {
            "Document: the portrait is not on the page with the machine-readable zone."
        }
        "declared_name_mismatch" => "The name the applicant declared differs from the document's.",
        "declared_date_of_birth_mismatch" => {
            "The date of birth the applicant declared differs from the document's."
        }
        "invigilation_no_face" => "Invigilation: no face was seen for a sustained run of frames.",
        "invigilation_multiple_faces" => {
            "Invigilation: more than one face was seen for a sustained run of frames."
        }
        "invigilation_different_person" => {
            "Invigilation: another person than the one enrolled was seen for a sustained run of frames."
        }
        _ => "",
    };
    if !fixed.is_empty() {
        return fixed.to_string();
    }
    for (prefix, picture) in [
        ("document_", "Document photo"),
        ("selfie_", "Selfie"),
        ("frame_", "Frame"),
    ] {
        if let Some(s) = code
            .strip_prefix(prefix)
            .and_then(|c| quality_sentence(picture, c))
        {
            return s;
        }
    }
    code.to_string()
}

/// The similarity beside the thresholds it was decided against, in words.
pub fn similarity_words(similarity: f32, match_at: f32, no_match_below: f32) -> String {
    let s = format!("similarity {similarity:.2}");
    if similarity >= match_at {
        format!("{s} — the machine matches at {match_at:.2} or above")
    } else if similarity < no_match_below {
        format!("{s} — below {no_match_below:.2} the machine finds no match")
    } else {
        format!(
            "{s} — between {no_match_below:.2} and {match_at:.2} the machine cannot tell \
             (it matches at {match_at:.2} or above)"
        )
    }
}

/// A score against the level it must reach, in words: "0.98 — passes at 0.30 or above".
pub fn score_words(what: &str, score: f32, at_least: f32) -> String {
    let verdict = if score >= at_least {
        "passes"
    } else {
        "falls short"
    };
    format!("{what} {score:.2} — {verdict}: the machine needs {at_least:.2} or above")
}

/// How long a case has waited, as a person says it: "40 min", "3 h", "2 d".
pub fn waited(ms: i64) -> String {
    let mins = ms.max(0) / 60_000;
    match mins {
        0 => "just now".into(),
        m if m < 60 => format!("{m} min"),
        m if m < 48 * 60 => format!("{} h", m / 60),
        m => format!("{} d", m / (24 * 60)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_reason_reads_as_a_sentence() {
        let codes = [
            "no_match",
            "uncertain",
            "quality_control_sample",
            "selfie_not_in_video",
            "challenge_not_performed",
            "challenge_untimed",
            "unprompted_head_turn",
            "no_face_motion",
            "no_challenge",
            "face_not_found",
            "multiple_faces",
            "face_not_always_visible",
            "face_changed",
            "identity_uncertain",
            "passive_liveness_low",
            "no_usable_frame",
            "liveness_fail",
            "liveness_refer",
            "document_mrz_not_found",
            "document_mrz_invalid",
            "document_expired",
            "document_type_not_accepted",
            "document_portrait_not_on_mrz_page",
            "declared_name_mismatch",
            "declared_date_of_birth_mismatch",
            "invigilation_no_face",
            "invigilation_multiple_faces",
            "invigilation_different_person",
            "document_no_face",
            "document_face_cut_off",
            "document_face_too_small",
            "document_low_quality",
            "selfie_multiple_faces",
            "selfie_blurry",
            "selfie_too_dark",
            "selfie_too_bright",
            "selfie_not_frontal",
            "selfie_eyes_closed",
            "frame_blurry",
        ];
        for code in codes {
            let s = reason_sentence(code);
            assert_ne!(s, code, "{code} has no sentence");
            assert!(s.ends_with('.'), "{code}: {s}");
            assert!(s.chars().next().unwrap().is_uppercase(), "{code}: {s}");
        }
        assert_eq!(
            reason_sentence("selfie_blurry"),
            "Selfie: the face is blurred."
        );
        assert_eq!(reason_sentence("something_new"), "something_new");
        assert_eq!(
            reason_sentence("selfie_something_new"),
            "selfie_something_new"
        );
    }

    #[test]
    fn scores_are_said_against_their_thresholds() {
        assert_eq!(
            similarity_words(0.62, 0.40, 0.30),
            "similarity 0.62 — the machine matches at 0.40 or above"
        );
        assert_eq!(
            similarity_words(0.12, 0.40, 0.30),
            "similarity 0.12 — below 0.30 the machine finds no match"
        );
        assert!(similarity_words(0.35, 0.40, 0.30).contains("between 0.30 and 0.40"));
        assert_eq!(
            score_words("passive liveness", 0.98, 0.3),
            "passive liveness 0.98 — passes: the machine needs 0.30 or above"
        );
        assert!(score_words("x", 0.1, 0.3).contains("falls short"));
    }

    #[test]
    fn waiting_times_read_as_a_person_says_them() {
        assert_eq!(waited(-5), "just now");
        assert_eq!(waited(59_999), "just now");
        assert_eq!(waited(40 * 60_000), "40 min");
        assert_eq!(waited(3 * 3_600_000 + 59 * 60_000), "3 h");
        assert_eq!(waited(47 * 3_600_000), "47 h");
        assert_eq!(waited(3 * 86_400_000), "3 d");
    }
}
