//! `idv document FILE`: the machine-readable zone of an identity document photo, read and checked.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use idv::document::mrz::MrzRead;
use idv::models::ModelKind;
use idv::pipeline::document::{read_mrz_with, DocumentTimings, MrzConfig, MrzReading, Reread};
use idv::settings::Settings;
use serde::Serialize;

use super::{load_engine, read_image, CliError, EngineArgs};

#[derive(Args, Debug)]
pub struct DocumentArgs {
    /// Photo or scan of the identity document (JPEG, PNG or WebP): a passport's data page, the back of
    /// an identity card, a visa; any right-angle rotation.
    pub file: PathBuf,
    /// Print one JSON object instead of the human summary.
    #[arg(long, env = "IDV_JSON")]
    pub json: bool,
    #[command(flatten)]
    pub search: SearchArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// How the MRZ is searched for (defaults: the measured ones).
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "MRZ search")]
pub struct SearchArgs {
    /// Long sides of the text detector's input, tried in turn until a read is valid.
    #[arg(long, value_delimiter = ',', default_values_t = MrzConfig::default().long_sides)]
    pub detector_sides: Vec<u32>,
    /// When to re-read the name line with the small recogniser: `auto` when the tiny recogniser was
    /// unsure of a character, `always`, or `never` (faster; names may keep a `<` read as A or C).
    #[arg(long, value_enum, default_value_t = RereadArg::Auto)]
    pub name_reread: RereadArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RereadArg {
    Auto,
    Always,
    Never,
}

impl SearchArgs {
    pub fn config(&self) -> Result<MrzConfig, CliError> {
        if self.detector_sides.is_empty()
            || self
                .detector_sides
                .iter()
                .any(|&s| !(32..=4096).contains(&s))
        {
            return Err(CliError::input(
                "argument_invalid",
                "--detector-sides takes sides from 32 to 4096 pixels",
            ));
        }
        Ok(MrzConfig {
            long_sides: self.detector_sides.clone(),
            reread: match self.name_reread {
                RereadArg::Auto => Reread::default(),
                RereadArg::Always => Reread::Always,
                RereadArg::Never => Reread::Never,
            },
            ..MrzConfig::default()
        })
    }

    /// The models the search needs: the small recogniser only when names are re-read.
    pub fn models(&self) -> Vec<ModelKind> {
        let mut kinds = ModelKind::DOCUMENT.to_vec();
        if self.name_reread == RereadArg::Never {
            kinds.retain(|k| *k != ModelKind::OcrRecogniseSmall);
        }
        kinds
    }
}

/// What `idv document --json` prints: one object per document, each finding in its own member
/// (`mrz` now; the parsed fields, the declared identity's comparison and the portrait beside it).
#[derive(Serialize)]
pub struct DocumentReport<'a> {
    pub mrz: Option<MrzReport<'a>>,
    pub timings_ms: TimingsReport,
}

/// The MRZ as read: format, lines, validity, every check digit and correction, and where it was.
#[derive(Serialize)]
pub struct MrzReport<'a> {
    #[serde(flatten)]
    pub read: &'a MrzRead,
    /// The clockwise turn applied to the photo to read it.
    pub rotation_degrees: u16,
    /// The zone's corners in the photo's pixels, in reading order (top-left, top-right, bottom-right,
    /// bottom-left of the text).
    pub quad: Option<[[f32; 2]; 4]>,
}

#[derive(Serialize)]
pub struct TimingsReport {
    pub decode: f64,
    pub detect: f64,
    pub recognise: f64,
    pub reread: f64,
    pub total: f64,
    /// Orientations searched (counts, not milliseconds).
    pub rotations_tried: u32,
    pub rows_recognised: u32,
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

impl TimingsReport {
    pub fn new(decode_ms: f64, t: &DocumentTimings) -> Self {
        TimingsReport {
            decode: round2(decode_ms),
            detect: round2(t.detect_ms),
            recognise: round2(t.recognise_ms),
            reread: round2(t.reread_ms),
            total: round2(decode_ms + t.total_ms),
            rotations_tried: t.rotations_tried,
            rows_recognised: t.rows_recognised,
        }
    }
}

impl<'a> DocumentReport<'a> {
    pub fn new(reading: &'a MrzReading, decode_ms: f64) -> Self {
        DocumentReport {
            mrz: reading.read.as_ref().map(|read| MrzReport {
                read,
                rotation_degrees: reading.rotation_degrees,
                quad: reading.quad.map(|q| q.map(|(x, y)| [x.round(), y.round()])),
            }),
            timings_ms: TimingsReport::new(decode_ms, &reading.timings),
        }
    }
}

pub fn run(
    engine_args: &EngineArgs,
    settings: Settings,
    args: DocumentArgs,
) -> Result<ExitCode, CliError> {
    let config = args.search.config()?;
    let engine = load_engine(engine_args, &args.search.models())?;
    let started = Instant::now();
    let image =
        read_image(&args.file, &settings.limits).map_err(|e| e.about("document", &args.file))?;
    let decode_ms = started.elapsed().as_secs_f64() * 1e3;
    let reading = read_mrz_with(&engine, &image, &config)?;
    let report = DocumentReport::new(&reading, decode_ms);
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

fn print_human(report: &DocumentReport) {
    match &report.mrz {
        None => println!("MRZ: not found"),
        Some(m) => {
            let passed = m.read.check_digits.values().filter(|c| c.valid).count();
            println!(
                "MRZ: {} {}  ({passed} of {} check digits pass{})",
                m.read.format.as_str(),
                if m.read.valid { "valid" } else { "NOT valid" },
                m.read.check_digits.len(),
                if m.rotation_degrees == 0 {
                    String::new()
                } else {
                    format!("; photo turned {}° to read it", m.rotation_degrees)
                }
            );
            for line in &m.read.lines {
                println!("  {line}");
            }
            let checks: Vec<String> = m
                .read
                .check_digits
                .iter()
                .map(|(field, c)| {
                    let verdict = if c.valid {
                        "ok".to_string()
                    } else {
                        format!("FAILS (computed {})", c.computed)
                    };
                    format!("{} {} {verdict}", field.as_str(), c.printed)
                })
                .collect();
            println!("check digits: {}", checks.join(", "));
            if m.read.corrections.is_empty() {
                println!("corrections: none");
            } else {
                let listed: Vec<String> = m
                    .read
                    .corrections
                    .iter()
                    .map(|c| {
                        format!(
                            "line {} col {} {}→{}",
                            c.line + 1,
                            c.position + 1,
                            c.read,
                            c.corrected
                        )
                    })
                    .collect();
                println!("corrections: {}", listed.join(", "));
            }
        }
    }
    let t = &report.timings_ms;
    println!(
        "timings: decode {:.1} ms | detect {:.1} | recognise {:.1} | name re-read {:.1} | total {:.1} ms ({} orientation(s), {} row(s) read)",
        t.decode, t.detect, t.recognise, t.reread, t.total, t.rotations_tried, t.rows_recognised
    );
}
