//! Turning a similarity and quality flags into an outcome. Pure; thresholds come from configuration.

use serde::{Deserialize, Serialize};

/// The two similarity thresholds of the three-way decision, calibrated with `idv eval`
/// (see README "Operating point" and docs/ACCURACY.md).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MatchThresholds {
    /// Cosine similarity at or above which two faces are declared the same person.
    pub match_at: f32,
    /// Cosine similarity below which two faces are declared different people.
    pub no_match_below: f32,
}

impl Default for MatchThresholds {
    fn default() -> Self {
        MatchThresholds {
            match_at: 0.40,
            no_match_below: 0.30,
        }
    }
}

impl MatchThresholds {
    /// Both thresholds in [-1, 1] and ordered.
    pub fn validate(&self) -> Result<(), String> {
        let ok = |v: f32| (-1.0..=1.0).contains(&v);
        if !ok(self.match_at) || !ok(self.no_match_below) {
            return Err("match thresholds must lie between -1 and 1".into());
        }
        if self.no_match_below > self.match_at {
            return Err(format!(
                "no_match_below ({}) must not exceed match_at ({})",
                self.no_match_below, self.match_at
            ));
        }
        Ok(())
    }
}

/// The machine's view of whether two faces are the same person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Match,
    NoMatch,
    /// The machine cannot settle it: a person must look.
    Uncertain,
}

crate::domain::enum_names!(Outcome {
    Match => "match",
    NoMatch => "no_match",
    Uncertain => "uncertain",
});

/// The outcome for a similarity (`None` when the faces could not be compared). A `no_match` resting on
/// an image with a quality problem is only `uncertain`: a poor capture must not turn into a rejection.
pub fn match_outcome(
    similarity: Option<f32>,
    thresholds: &MatchThresholds,
    quality_problem: bool,
) -> Outcome {
    match similarity {
        None => Outcome::Uncertain,
        Some(s) if s >= thresholds.match_at => Outcome::Match,
        Some(s) if s < thresholds.no_match_below && !quality_problem => Outcome::NoMatch,
        Some(_) => Outcome::Uncertain,
    }
}

/// The service's decision from the comparison: only a clean match is `verified`; anything else goes to a
/// person (`referred`). The machine never rejects on its own (UK GDPR Art. 22; NIST SP 800-63A-4).
pub fn service_decision(outcome: Outcome, reasons: &[String]) -> crate::domain::Decision {
    if outcome == Outcome::Match && reasons.is_empty() {
        crate::domain::Decision::Verified
    } else {
        crate::domain::Decision::Referred
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Decision;

    #[test]
    fn only_a_clean_match_is_verified() {
        assert_eq!(service_decision(Outcome::Match, &[]), Decision::Verified);
        assert_eq!(
            service_decision(Outcome::Match, &["selfie_face_cut_off".into()]),
            Decision::Referred
        );
        assert_eq!(service_decision(Outcome::NoMatch, &[]), Decision::Referred);
        assert_eq!(
            service_decision(Outcome::Uncertain, &[]),
            Decision::Referred
        );
    }

    const T: MatchThresholds = MatchThresholds {
        match_at: 0.4,
        no_match_below: 0.3,
    };

    #[test]
    fn three_way_outcome_at_the_thresholds() {
        assert_eq!(match_outcome(Some(0.4), &T, false), Outcome::Match);
        assert_eq!(match_outcome(Some(0.9), &T, true), Outcome::Match);
        assert_eq!(match_outcome(Some(0.399), &T, false), Outcome::Uncertain);
        assert_eq!(match_outcome(Some(0.3), &T, false), Outcome::Uncertain);
        assert_eq!(match_outcome(Some(0.299), &T, false), Outcome::NoMatch);
        assert_eq!(match_outcome(Some(-0.5), &T, false), Outcome::NoMatch);
    }

    #[test]
    fn no_comparison_or_poor_quality_is_never_a_rejection() {
        assert_eq!(match_outcome(None, &T, false), Outcome::Uncertain);
        assert_eq!(match_outcome(Some(0.0), &T, true), Outcome::Uncertain);
    }

    #[test]
    fn thresholds_are_validated() {
        assert!(T.validate().is_ok());
        assert!(MatchThresholds {
            match_at: 0.3,
            no_match_below: 0.4
        }
        .validate()
        .is_err());
        assert!(MatchThresholds {
            match_at: 1.5,
            no_match_below: 0.4
        }
        .validate()
        .is_err());
    }
}
