//! `idv eval`: embeds every image of an identity-labelled list and scores all genuine and impostor pairs.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::metrics::{all_pairs, error_rates, fmr_fnmr_at, ErrorRates};
use crate::pipeline::policy::MatchThresholds;
use crate::vision::embed::Embedding;

/// The false-match rates every evaluation reports FNMR at.
pub const TARGET_FMRS: [f64; 3] = [1e-2, 1e-3, 1e-4];

/// One labelled image.
#[derive(Debug, Clone, PartialEq)]
pub struct Labelled {
    pub identity: String,
    pub file: String,
    /// Line of the list it was read from (1-based), to name the row in messages.
    pub line: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum PairsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: expected `identity,file`")]
    Malformed { path: PathBuf, line: usize },
    #[error("{path}:{line}: {message}")]
    Unparsable {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("{path} lists no images")]
    Empty { path: PathBuf },
}

/// Parses `identity,file` rows as CSV (RFC 4180 quoting, so a quoted field may hold a comma; a header
/// row naming those columns is skipped; blank lines and `#` comments too).
pub fn parse_pairs_csv(text: &str, path: &Path) -> Result<Vec<Labelled>, PairsError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| PairsError::Unparsable {
            path: path.to_path_buf(),
            line: e.position().map_or(0, |p| p.line()),
            message: e.to_string(),
        })?;
        let line = record.position().map_or(0, |p| p.line()) as usize;
        if record.iter().all(str::is_empty) {
            continue;
        }
        let malformed = || PairsError::Malformed {
            path: path.to_path_buf(),
            line,
        };
        let (identity, file) = match (record.len(), record.get(0), record.get(1)) {
            (2, Some(identity), Some(file)) => (identity, file),
            _ => return Err(malformed()),
        };
        if i == 0 && identity.eq_ignore_ascii_case("identity") && file.eq_ignore_ascii_case("file")
        {
            continue;
        }
        if identity.is_empty() || file.is_empty() {
            return Err(malformed());
        }
        rows.push(Labelled {
            identity: identity.to_string(),
            file: file.to_string(),
            line,
        });
    }
    if rows.is_empty() {
        return Err(PairsError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(rows)
}

pub fn read_pairs_csv(path: &Path) -> Result<Vec<Labelled>, PairsError> {
    let text = std::fs::read_to_string(path).map_err(|source| PairsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_pairs_csv(&text, path)
}

/// A scored pair, for the list of hardest cases.
#[derive(Debug, Clone, Serialize)]
pub struct PairScore {
    pub a: String,
    pub b: String,
    pub score: f32,
}

/// An image that could not be enrolled, and why (an error code).
#[derive(Debug, Clone, Serialize)]
pub struct EnrolFailure {
    pub file: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub images: usize,
    pub identities: usize,
    pub enrolled: usize,
    pub failures_to_enrol: Vec<EnrolFailure>,
    /// Pairs involving an image that failed to enrol are not scored (they are counted here).
    pub pairs_not_scored: usize,
    pub rates: ErrorRates,
    /// FMR and FNMR at the configured thresholds.
    pub at_configured: ConfiguredPoint,
    pub lowest_genuine: Vec<PairScore>,
    pub highest_impostor: Vec<PairScore>,
    /// Every score, for the DET plot.
    #[serde(skip)]
    pub genuine_scores: Vec<f32>,
    #[serde(skip)]
    pub impostor_scores: Vec<f32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConfiguredPoint {
    pub match_at: f32,
    pub fmr_at_match: f64,
    pub fnmr_at_match: f64,
    pub no_match_below: f32,
    /// Genuine pairs that would be declared `no_match` (the rest below `match_at` are `uncertain`).
    pub genuine_rejected: f64,
}

/// Scores every pair from per-image embeddings (`None` = failed to enrol). Pure.
pub fn score_pairs(
    rows: &[Labelled],
    embeddings: &[Option<Embedding>],
    failures: Vec<EnrolFailure>,
    thresholds: &MatchThresholds,
    worst: usize,
) -> EvalReport {
    let identities: Vec<String> = rows.iter().map(|r| r.identity.clone()).collect();
    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
    let (mut gen_pairs, mut imp_pairs) = (Vec::new(), Vec::new());
    let mut not_scored = 0;
    for (a, b, same) in all_pairs(&identities) {
        let (Some(ea), Some(eb)) = (&embeddings[a], &embeddings[b]) else {
            not_scored += 1;
            continue;
        };
        let score = ea.cosine(eb);
        let pair = PairScore {
            a: rows[a].file.clone(),
            b: rows[b].file.clone(),
            score,
        };
        if same {
            genuine.push(score);
            gen_pairs.push(pair);
        } else {
            impostor.push(score);
            imp_pairs.push(pair);
        }
    }
    let rates = error_rates(&genuine, &impostor, &TARGET_FMRS);
    let (fmr_at_match, fnmr_at_match) = fmr_fnmr_at(&genuine, &impostor, thresholds.match_at);
    let genuine_rejected = if genuine.is_empty() {
        f64::NAN
    } else {
        genuine
            .iter()
            .filter(|&&s| s < thresholds.no_match_below)
            .count() as f64
            / genuine.len() as f64
    };
    gen_pairs.sort_by(|x, y| x.score.total_cmp(&y.score));
    imp_pairs.sort_by(|x, y| y.score.total_cmp(&x.score));
    gen_pairs.truncate(worst);
    imp_pairs.truncate(worst);
    let mut distinct = identities.clone();
    distinct.sort();
    distinct.dedup();
    EvalReport {
        images: rows.len(),
        identities: distinct.len(),
        enrolled: embeddings.iter().filter(|e| e.is_some()).count(),
        failures_to_enrol: failures,
        pairs_not_scored: not_scored,
        rates,
        at_configured: ConfiguredPoint {
            match_at: thresholds.match_at,
            fmr_at_match,
            fnmr_at_match,
            no_match_below: thresholds.no_match_below,
            genuine_rejected,
        },
        lowest_genuine: gen_pairs,
        highest_impostor: imp_pairs,
        genuine_scores: genuine,
        impostor_scores: impostor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rows_skipping_header_comments_and_blanks() {
        let text = "identity,file\n# note\n\nalice,a/1.jpg\n\"bob\", b/2.jpg \n";
        let rows = parse_pairs_csv(text, Path::new("p.csv")).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[1],
            Labelled {
                identity: "bob".into(),
                file: "b/2.jpg".into(),
                line: 5,
            }
        );
    }

    #[test]
    fn a_quoted_field_may_hold_a_comma() {
        let text = "identity,file\n\"Smith, John\",\"photos/smith, j.jpg\"\nalice,a.jpg\n";
        let rows = parse_pairs_csv(text, Path::new("p.csv")).unwrap();
        assert_eq!(rows[0].identity, "Smith, John");
        assert_eq!(rows[0].file, "photos/smith, j.jpg");
        assert_eq!((rows[1].identity.as_str(), rows[1].line), ("alice", 3));
        // An unquoted extra comma is a third column: refused, naming the line.
        let err = parse_pairs_csv("alice,a.jpg\nbob,b,2.jpg\n", Path::new("p.csv")).unwrap_err();
        assert_eq!(err.to_string(), "p.csv:2: expected `identity,file`");
    }

    #[test]
    fn malformed_and_empty_lists_are_errors() {
        let err =
            parse_pairs_csv("identity,file\nno-comma-here\n", Path::new("p.csv")).unwrap_err();
        assert_eq!(err.to_string(), "p.csv:2: expected `identity,file`");
        assert!(matches!(
            parse_pairs_csv("identity,file\n", Path::new("p.csv")),
            Err(PairsError::Empty { .. })
        ));
    }

    #[test]
    fn scores_pairs_and_skips_failed_enrolments() {
        let rows: Vec<Labelled> = [("a", "a1"), ("a", "a2"), ("b", "b1"), ("b", "b2")]
            .iter()
            .enumerate()
            .map(|(line, (i, f))| Labelled {
                identity: i.to_string(),
                file: f.to_string(),
                line: line + 1,
            })
            .collect();
        let e = |v: [f32; 2]| Embedding::from_raw(&v).map(|(e, _)| e);
        let embeddings = vec![e([1.0, 0.0]), e([0.8, 0.6]), e([0.0, 1.0]), None];
        let failures = vec![EnrolFailure {
            file: "b2".into(),
            reason: "no_face".into(),
        }];
        let report = score_pairs(&rows, &embeddings, failures, &MatchThresholds::default(), 5);
        assert_eq!(
            (report.images, report.identities, report.enrolled),
            (4, 2, 3)
        );
        // Pairs: a1-a2 genuine 0.8; a1-b1 impostor 0.0; a2-b1 impostor 0.6; the 3 with b2 not scored.
        assert_eq!(report.pairs_not_scored, 3);
        assert_eq!(
            (report.rates.genuine_pairs, report.rates.impostor_pairs),
            (1, 2)
        );
        assert!((report.lowest_genuine[0].score - 0.8).abs() < 1e-6);
        assert_eq!(report.highest_impostor[0].a, "a2");
        assert!((report.highest_impostor[0].score - 0.6).abs() < 1e-6);
        // At match_at 0.40: the 0.6 impostor is accepted (FMR 1/2), the genuine pair too (FNMR 0).
        assert_eq!(report.at_configured.fmr_at_match, 0.5);
        assert_eq!(report.at_configured.fnmr_at_match, 0.0);
    }
}
