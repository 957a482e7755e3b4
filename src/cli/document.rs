//! `idv document FILE`: the machine-readable zone of an identity document photo, read and checked.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use idv::document::identity::DeclaredIdentity;
use idv::document::mrz::{MrzFields, MrzRead};
use idv::domain::clock::Clock;
use idv::models::ModelKind;
use idv::pipeline::document::{
    analyse_document, read_mrz_with, DocumentTimings, MrzConfig, Reread,
};
use idv::pipeline::document_check::{examine, unrotated_centre, DocumentExamination};
use idv::pipeline::FaceAnalyzer;
use idv::settings::Settings;
use idv::vision::Point;
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
    pub declared: DeclaredArgs,
    #[command(flatten)]
    pub search: SearchArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// What the applicant typed into the application, compared with the document's machine-readable zone.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Declared identity")]
pub struct DeclaredArgs {
    /// The surname as typed (accents welcome: it is compared as ICAO 9303 transliterates it).
    #[arg(long, requires = "date_of_birth")]
    pub surname: Option<String>,
    /// All given names, space-separated (may be empty).
    #[arg(long, requires = "surname")]
    pub given_names: Option<String>,
    /// YYYY-MM-DD.
    #[arg(long, requires = "surname", value_parser = super::specimen::parse_date)]
    pub date_of_birth: Option<time::Date>,
}

impl DeclaredArgs {
    /// The declared identity, checked; `None` when none was given.
    pub fn declared(&self) -> Result<Option<DeclaredIdentity>, CliError> {
        let (Some(surname), Some(date_of_birth)) = (&self.surname, self.date_of_birth) else {
            return Ok(None);
        };
        let d = DeclaredIdentity {
            surname: surname.clone(),
            given_names: self.given_names.clone().unwrap_or_default(),
            date_of_birth,
        };
        d.validate()
            .map_err(|m| CliError::input("argument_invalid", format!("declared identity: {m}")))?;
        Ok(Some(d))
    }
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

/// What `idv document --json` prints (and `idv verify --json` as its `document`): the MRZ as read,
/// its fields, the portrait, the reason codes and the time taken.
#[derive(Serialize)]
pub struct DocumentReport<'a> {
    pub mrz: Option<MrzReport<'a>>,
    pub fields: Option<&'a MrzFields>,
    pub portrait: PortraitReport,
    /// Whether a declared identity was compared with the MRZ.
    pub declared_compared: bool,
    pub reasons: &'a [&'static str],
    pub timings_ms: TimingsReport,
}

/// The document's portrait: whether one was found, and whether it is on the page that carries the MRZ.
#[derive(Serialize)]
pub struct PortraitReport {
    pub found: bool,
    pub on_mrz_page: Option<bool>,
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
    pub fn new(exam: &'a DocumentExamination, portrait_found: bool, decode_ms: f64) -> Self {
        let reading = &exam.reading;
        DocumentReport {
            mrz: reading.read.as_ref().map(|read| MrzReport {
                read,
                rotation_degrees: reading.rotation_degrees,
                quad: reading.quad.map(|q| q.map(|(x, y)| [x.round(), y.round()])),
            }),
            fields: exam.fields.as_ref(),
            portrait: PortraitReport {
                found: portrait_found,
                on_mrz_page: exam.portrait_on_mrz_page,
            },
            declared_compared: exam.declared_compared,
            reasons: &exam.reasons,
            timings_ms: TimingsReport::new(decode_ms, &reading.timings),
        }
    }
}

/// The document's portrait (found as the face pipeline finds it): its centre in the unturned photo.
pub fn portrait_centre(
    analyzer: &FaceAnalyzer,
    image: &image::RgbImage,
) -> Result<Option<Point>, CliError> {
    let (analysis, degrees) = analyse_document(analyzer, image)?;
    Ok(analysis.primary().map(|f| {
        unrotated_centre(
            &f.bbox,
            degrees,
            image.width() as f32,
            image.height() as f32,
        )
    }))
}

pub fn run(
    engine_args: &EngineArgs,
    settings: Settings,
    args: DocumentArgs,
) -> Result<ExitCode, CliError> {
    let config = args.search.config()?;
    let declared = args.declared.declared()?;
    let mut models = args.search.models();
    models.extend(ModelKind::MATCHING);
    let engine = load_engine(engine_args, &models)?;
    let started = Instant::now();
    let image =
        read_image(&args.file, &settings.limits).map_err(|e| e.about("document", &args.file))?;
    let decode_ms = started.elapsed().as_secs_f64() * 1e3;
    let reading = read_mrz_with(&engine, &image, &config)?;
    let portrait = portrait_centre(&FaceAnalyzer::new(&engine, settings.detector), &image)?;
    let exam = examine(
        reading,
        portrait,
        declared.as_ref(),
        Clock::system().today(),
        &settings.document.accept,
    );
    let report = DocumentReport::new(&exam, portrait.is_some(), decode_ms);
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

pub fn print_human(report: &DocumentReport) {
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
    if let Some(f) = report.fields {
        let date = |d: Option<time::Date>| d.map_or("unreadable".to_string(), |d| d.to_string());
        println!(
            "fields: {} {} no. {} | {}, {} | born {} | sex {} | nationality {} | expires {}",
            f.document_type,
            f.issuing_state,
            f.document_number,
            f.surname,
            f.given_names,
            date(f.date_of_birth),
            f.sex.as_str(),
            f.nationality,
            date(f.expiry_date)
        );
    }
    println!(
        "portrait: {}",
        match (report.portrait.found, report.portrait.on_mrz_page) {
            (false, _) => "not found",
            (true, Some(false)) => "found, NOT on the page that carries the MRZ",
            (true, _) => "found",
        }
    );
    if report.declared_compared {
        println!("declared identity: compared with the MRZ");
    }
    if report.reasons.is_empty() {
        println!("reasons: none");
    } else {
        println!("reasons: {}", report.reasons.join(", "));
    }
    let t = &report.timings_ms;
    println!(
        "timings: decode {:.1} ms | detect {:.1} | recognise {:.1} | name re-read {:.1} | total {:.1} ms ({} orientation(s), {} row(s) read)",
        t.decode, t.detect, t.recognise, t.reread, t.total, t.rotations_tried, t.rows_recognised
    );
}
