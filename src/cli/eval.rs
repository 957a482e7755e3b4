//! `idv eval --pairs CSV --root DIR`: accuracy on identity-labelled images.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use idv::eval::metrics::det_points;
use idv::eval::pairs::{read_pairs_csv, score_pairs, EnrolFailure, EvalReport, Labelled};
use idv::eval::plot::draw_det_png;
use idv::models::ModelKind;
use idv::pipeline::{FaceAnalyzer, Faces};
use idv::settings::Settings;
use indicatif::{ProgressBar, ProgressStyle};

use super::verify::ThresholdArgs;
use super::{load_engine, read_image, CliError, EngineArgs};

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// CSV of `identity,file` rows; every same-identity pair is genuine, every other pair an impostor.
    #[arg(long, env = "IDV_EVAL_PAIRS")]
    pub pairs: PathBuf,
    /// Folder the `file` column is relative to.
    #[arg(long, env = "IDV_EVAL_ROOT")]
    pub root: PathBuf,
    /// Print the report as JSON.
    #[arg(long, env = "IDV_JSON")]
    pub json: bool,
    /// Also draw the DET curve to this PNG file.
    #[arg(long, env = "IDV_EVAL_PLOT")]
    pub plot: Option<PathBuf>,
    /// How many of the hardest genuine and impostor pairs to list.
    #[arg(long, env = "IDV_EVAL_WORST", default_value_t = 5)]
    pub worst: usize,
    #[command(flatten)]
    pub thresholds: ThresholdArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
}

pub fn run(
    engine_args: &EngineArgs,
    settings: Settings,
    args: EvalArgs,
) -> Result<ExitCode, CliError> {
    let thresholds = args.thresholds.apply(settings.matching)?;
    let rows =
        read_pairs_csv(&args.pairs).map_err(|e| CliError::input("pairs_invalid", e.to_string()))?;
    let engine = load_engine(engine_args, &ModelKind::MATCHING)?;
    let analyzer = FaceAnalyzer::new(&engine, settings.detector);

    let bar = ProgressBar::new(rows.len() as u64).with_style(
        ProgressStyle::with_template("{spinner} embedding {pos}/{len} [{bar:30}] {eta} left")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let mut embeddings = Vec::with_capacity(rows.len());
    let mut failures = Vec::new();
    for row in &rows {
        let enrolled = read_image(&args.root.join(&row.file), &settings.limits)
            .and_then(|img| Ok(analyzer.analyse(&img, Faces::Primary)?));
        match enrolled {
            Ok(analysis) => match analysis.faces.into_iter().next() {
                Some(face) => embeddings.push(Some(face.embedding)),
                None => {
                    bar.suspend(|| warn_not_enrolled(&args, row, "no_face", "no face found"));
                    failures.push(EnrolFailure {
                        file: row.file.clone(),
                        reason: "no_face".into(),
                    });
                    embeddings.push(None);
                }
            },
            Err(e) if e.exit == 3 => {
                bar.suspend(|| warn_not_enrolled(&args, row, e.code, &e.message));
                failures.push(EnrolFailure {
                    file: row.file.clone(),
                    reason: e.code.into(),
                });
                embeddings.push(None);
            }
            Err(e) => return Err(e), // the installation, not the image: stop
        }
        bar.inc(1);
    }
    bar.finish_and_clear();

    let report = score_pairs(&rows, &embeddings, failures, &thresholds, args.worst);
    if report.rates.genuine_pairs + report.rates.impostor_pairs == 0 {
        return Err(CliError::input(
            "no_pairs_scored",
            format!(
                "no pair of {} could be scored: {} of {} images failed to enrol (named above)",
                args.pairs.display(),
                report.failures_to_enrol.len(),
                report.images
            ),
        ));
    }
    let mut warnings = Vec::new();
    if let Some(plot) = &args.plot {
        let points = det_points(&report.genuine_scores, &report.impostor_scores);
        let title = format!(
            "DET: {} ({} genuine, {} impostor pairs)",
            args.pairs.display(),
            report.rates.genuine_pairs,
            report.rates.impostor_pairs
        );
        warnings = draw_det_png(plot, &points, &report.rates, &title).map_err(|e| {
            CliError::new(
                "plot_failed",
                format!("cannot draw {}: {e:#}", plot.display()),
            )
        })?;
    }
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("serialisable")
        );
    } else {
        print_human(&report);
    }
    Ok(ExitCode::SUCCESS)
}

/// Names a row whose image could not be enrolled; the pairs it is in are left out and counted.
fn warn_not_enrolled(args: &EvalArgs, row: &Labelled, code: &str, message: &str) {
    eprintln!(
        "warning: {}:{} ({}): {code}: {message}; its pairs are not scored",
        args.pairs.display(),
        row.line,
        row.file
    );
}

/// A rate as a percentage, `n/a` when it could not be measured (no pairs of a kind were scored).
fn percent(rate: f64, decimals: usize) -> String {
    if rate.is_finite() {
        format!("{:.decimals$} %", 100.0 * rate)
    } else {
        "n/a".into()
    }
}

/// A score threshold, `n/a` when it could not be measured.
fn threshold(t: f64) -> String {
    if t.is_finite() {
        format!("{t:.3}")
    } else {
        "n/a".into()
    }
}

fn print_human(r: &EvalReport) {
    println!(
        "images: {} of {} identities; enrolled {} ({} failed to enrol)",
        r.images,
        r.identities,
        r.enrolled,
        r.failures_to_enrol.len()
    );
    for f in &r.failures_to_enrol {
        println!("  failed to enrol: {} ({})", f.file, f.reason);
    }
    println!(
        "pairs:  {} genuine, {} impostor{}",
        r.rates.genuine_pairs,
        r.rates.impostor_pairs,
        if r.pairs_not_scored > 0 {
            format!(", {} not scored", r.pairs_not_scored)
        } else {
            String::new()
        }
    );
    if r.rates.genuine_pairs == 0 || r.rates.impostor_pairs == 0 {
        println!("EER:    n/a (it needs both genuine and impostor pairs)");
    } else {
        println!(
            "EER:    {} at threshold {}",
            percent(r.rates.eer, 3),
            threshold(r.rates.eer_threshold as f64)
        );
    }
    for p in &r.rates.at_fmr {
        println!(
            "FNMR:   {:>9} at FMR {:.0e} (threshold {}, measured FMR {})",
            percent(p.fnmr, 3),
            p.target_fmr,
            threshold(p.threshold as f64),
            percent(p.fmr, 4)
        );
    }
    let c = &r.at_configured;
    println!(
        "configured: match at {:.2} → FMR {}, FNMR {}; {} of genuine pairs below no-match {:.2}",
        c.match_at,
        percent(c.fmr_at_match, 4),
        percent(c.fnmr_at_match, 3),
        percent(c.genuine_rejected, 3),
        c.no_match_below
    );
    println!("lowest genuine pairs:");
    for p in &r.lowest_genuine {
        println!("  {:.3}  {}  ~  {}", p.score, p.a, p.b);
    }
    println!("highest impostor pairs:");
    for p in &r.highest_impostor {
        println!("  {:.3}  {}  ~  {}", p.score, p.a, p.b);
    }
}
