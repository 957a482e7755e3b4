//! `idv verify --document DOC --selfie IMG`

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use idv::models::ModelKind;
use idv::pipeline::policy::{match_outcome, MatchThresholds, Outcome};
use idv::pipeline::verify::{verify, verify_video, ImageReport, Verification};
use idv::pipeline::FaceAnalyzer;
use idv::settings::{Settings, POLICY_VERSION};
use serde::Serialize;

use super::document::{DeclaredArgs, DocumentReport};
use super::{load_engine, read_image, CliError, EngineArgs};
use idv::domain::clock::Clock;
use idv::pipeline::document_check::examine_document;

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("capture").required(true).args(["selfie", "video"])))]
pub struct VerifyArgs {
    /// Photo or scan of the identity document (JPEG, PNG or WebP); any right-angle rotation is found.
    #[arg(long, env = "IDV_DOCUMENT")]
    pub document: PathBuf,
    /// Photo of the person (JPEG, PNG or WebP).
    #[arg(long, env = "IDV_SELFIE")]
    pub selfie: Option<PathBuf>,
    /// Liveness video of the person instead of a photo (MP4 or WebM): checked for liveness against
    /// `--challenge`, then its best frame is compared with the document.
    #[arg(long, env = "IDV_VIDEO", conflicts_with = "selfie")]
    pub video: Option<PathBuf>,
    /// With --video: the challenge as issued, each action with the second it was prompted at
    /// (`blink@2.0,turn_left@5.5`; see `idv liveness --help`).
    #[arg(long, env = "IDV_CHALLENGE", requires = "video", value_parser = super::liveness::parse_challenge)]
    pub challenge: Option<super::liveness::ChallengeArg>,
    /// With --challenge: seconds after its prompt within which each action must begin.
    #[arg(long, env = "IDV_WINDOW", requires = "challenge", value_parser = super::liveness::parse_window)]
    pub window: Option<f64>,
    /// With --video: the video is mirrored (left and right swap).
    #[arg(long, env = "IDV_MIRRORED", requires = "video")]
    pub mirrored: bool,
    /// Print one JSON object instead of the human summary.
    #[arg(long, env = "IDV_JSON")]
    pub json: bool,
    #[command(flatten)]
    pub declared: DeclaredArgs,
    #[command(flatten)]
    pub thresholds: ThresholdArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Overrides of the configured match thresholds.
#[derive(Args, Debug)]
pub struct ThresholdArgs {
    /// Similarity at or above which the faces are a match.
    #[arg(long, env = "IDV_MATCH_AT")]
    pub match_at: Option<f32>,
    /// Similarity below which the faces are not a match.
    #[arg(long, env = "IDV_NO_MATCH_BELOW")]
    pub no_match_below: Option<f32>,
}

impl ThresholdArgs {
    pub fn apply(&self, mut t: MatchThresholds) -> Result<MatchThresholds, CliError> {
        t.match_at = self.match_at.unwrap_or(t.match_at);
        t.no_match_below = self.no_match_below.unwrap_or(t.no_match_below);
        t.validate()
            .map_err(|m| CliError::new("config_invalid", m))?;
        Ok(t)
    }
}

#[derive(Serialize)]
struct Output<'a> {
    #[serde(flatten)]
    verification: &'a Verification,
    /// The document's examination (its MRZ read and checked), when `document.read_mrz` is on; as
    /// `idv document --json` prints it.
    #[serde(skip_serializing_if = "Option::is_none")]
    document_check: Option<DocumentReport<'a>>,
    policy_version: &'static str,
    timings_ms: Timings,
}

#[derive(Serialize)]
struct Timings {
    decode: f64,
    total: f64,
}

pub fn run(
    engine_args: &EngineArgs,
    settings: Settings,
    args: VerifyArgs,
) -> Result<ExitCode, CliError> {
    let thresholds = args.thresholds.apply(settings.matching)?;
    if let Some(video) = &args.video {
        return run_video(engine_args, &settings, &args, video, &thresholds);
    }
    let selfie_path = args
        .selfie
        .as_ref()
        .expect("clap requires --selfie or --video");
    let declared = args.declared.declared()?;
    // Eyes and pose as well: the selfie's sharpness, light, pose and eye gates need them.
    let mut models = ModelKind::ALL.to_vec();
    if settings.document.read_mrz {
        models.extend(ModelKind::DOCUMENT);
    }
    let engine = load_engine(engine_args, &models)?;
    let analyzer = FaceAnalyzer::new(&engine, settings.detector);

    let started = Instant::now();
    let document = read_document(&args, &settings)?;
    let selfie =
        read_image(selfie_path, &settings.limits).map_err(|e| e.about("selfie", selfie_path))?;
    let decode = started.elapsed();
    let mut verification = verify(
        &analyzer,
        &document,
        &selfie,
        &thresholds,
        &settings.quality,
    )?;
    let exam = settings
        .document
        .read_mrz
        .then(|| {
            examine_document(
                &engine,
                &document,
                &verification.document,
                declared.as_ref(),
                Clock::system().today(),
                &settings.document.accept,
            )
        })
        .transpose()?;
    if let Some(exam) = &exam {
        verification
            .reasons
            .extend(exam.reasons.iter().map(|r| r.to_string()));
    }
    let timings = Timings {
        decode: ms(decode),
        total: ms(started.elapsed()),
    };

    if args.json {
        let out = Output {
            verification: &verification,
            document_check: exam
                .as_ref()
                .map(|e| DocumentReport::new(e, verification.document.face_found, 0.0)),
            policy_version: POLICY_VERSION,
            timings_ms: timings,
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&out).expect("serialisable")
        );
    } else {
        print_human(&verification, &timings);
        if let Some(exam) = &exam {
            println!("-- the document");
            super::document::print_human(&DocumentReport::new(
                exam,
                verification.document.face_found,
                0.0,
            ));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `verify --video`: liveness first, then the best frame against the document.
fn run_video(
    engine_args: &EngineArgs,
    settings: &Settings,
    args: &VerifyArgs,
    video: &std::path::Path,
    thresholds: &MatchThresholds,
) -> Result<ExitCode, CliError> {
    let document = read_document(args, settings)?;
    let challenge = match &args.challenge {
        Some(c) => c.schedule(args.window, settings),
        None => idv::liveness::Schedule::none(),
    };
    let (engine, liveness) =
        super::liveness::liveness_of(engine_args, settings, video, &challenge, args.mirrored)?;
    let analyzer = FaceAnalyzer::new(&engine, settings.detector);
    let v = verify_video(
        &analyzer,
        &document,
        liveness,
        thresholds,
        &settings.quality,
    )?;
    if args.json {
        super::liveness::print_json(&v);
        return Ok(ExitCode::SUCCESS);
    }
    let outcome = v.outcome.as_str();
    let similarity = v
        .similarity
        .map_or("not compared".to_string(), |s| format!("similarity {s:.3}"));
    println!(
        "accepted: {}  (face match {}, {similarity}; match at >= {:.2}, no match below {:.2})",
        if v.accepted { "yes" } else { "no" },
        outcome,
        v.thresholds.match_at,
        v.thresholds.no_match_below
    );
    print_image("document", &v.document);
    super::liveness::print_human(&v.liveness);
    Ok(ExitCode::SUCCESS)
}

/// The document image, an error naming it when it cannot be used.
fn read_document(args: &VerifyArgs, settings: &Settings) -> Result<image::RgbImage, CliError> {
    read_image(&args.document, &settings.limits).map_err(|e| e.about("document", &args.document))
}

fn ms(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1e5).round() / 100.0
}

fn print_human(v: &Verification, t: &Timings) {
    let similarity = v
        .similarity
        .map_or("not compared".to_string(), |s| format!("similarity {s:.3}"));
    println!(
        "outcome: {}  ({similarity}; match at >= {:.2}, no match below {:.2})",
        v.outcome.as_str(),
        v.thresholds.match_at,
        v.thresholds.no_match_below
    );
    print_image("document", &v.document);
    print_image("selfie", &v.selfie);
    println!(
        "{}",
        reasons_line(v.outcome, v.similarity, &v.thresholds, &v.reasons)
    );
    let stage = |r: &ImageReport| {
        let s = &r.timings_ms;
        format!(
            "detect {:.1}, landmarks {:.1}, align {:.1}, embed {:.1}",
            ms(s.detect),
            ms(s.landmarks),
            ms(s.align),
            ms(s.embed)
        )
    };
    println!(
        "timings:  decode {:.1} ms | document {} | selfie {} | total {:.1} ms",
        t.decode,
        stage(&v.document),
        stage(&v.selfie),
        t.total
    );
}

/// The reasons, saying whether they changed the outcome: a reason only ever turns a `no_match` into
/// `uncertain`; beside any other outcome it is advisory (the service still sends the case to a person).
fn reasons_line(
    outcome: Outcome,
    similarity: Option<f32>,
    thresholds: &MatchThresholds,
    reasons: &[String],
) -> String {
    if reasons.is_empty() {
        return "reasons:  none".into();
    }
    let listed = reasons.join(", ");
    let without_reasons = match_outcome(similarity, thresholds, false);
    if similarity.is_none() {
        format!("reasons (why the faces were not compared): {listed}")
    } else if without_reasons == outcome {
        format!("reasons (advisory, the outcome stands): {listed}")
    } else {
        format!(
            "reasons (these make the outcome {} instead of {}): {listed}",
            outcome.as_str(),
            without_reasons.as_str()
        )
    }
}

fn print_image(label: &str, r: &ImageReport) {
    match (r.bbox, r.score, r.norm) {
        (Some(b), Some(score), Some(norm)) => {
            let rotation = r
                .rotation
                .filter(|d| *d != 0)
                .map(|d| format!(", turned {d}°"))
                .unwrap_or_default();
            println!(
                "{label:<9} face {score:.2} at [{:.0}, {:.0}, {:.0}, {:.0}] ({:.0} px, norm {norm:.2}{rotation}), {} detected",
                b.x1,
                b.y1,
                b.x2,
                b.y2,
                b.height(),
                r.faces_detected
            );
        }
        _ => println!("{label:<9} no face found"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reasons_say_whether_they_change_the_outcome() {
        let t = MatchThresholds::default();
        let frontal = ["selfie_not_frontal".to_string()];
        assert_eq!(
            reasons_line(Outcome::Match, Some(0.8), &t, &[]),
            "reasons:  none"
        );
        assert_eq!(
            reasons_line(Outcome::Match, Some(0.8), &t, &frontal),
            "reasons (advisory, the outcome stands): selfie_not_frontal"
        );
        assert_eq!(
            reasons_line(Outcome::Uncertain, Some(0.35), &t, &frontal),
            "reasons (advisory, the outcome stands): selfie_not_frontal"
        );
        assert_eq!(
            reasons_line(Outcome::Uncertain, Some(0.1), &t, &frontal),
            "reasons (these make the outcome uncertain instead of no_match): selfie_not_frontal"
        );
        assert_eq!(
            reasons_line(Outcome::Uncertain, None, &t, &["selfie_no_face".into()]),
            "reasons (why the faces were not compared): selfie_no_face"
        );
    }
}
