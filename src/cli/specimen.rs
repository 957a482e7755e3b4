//! `idv specimen --face IMG --out FILE`: a specimen identity document (marked SPECIMEN, never a real
//! one) with a sample face as its portrait, photographed as a phone would; for trying the service and
//! for the tests. The MRZ lines are printed.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use idv::eval::specimen::{
    mrz_lines, photograph, portrait_crop, render, Shot, SpecimenHolder, SpecimenKind, OCR_B_FONT,
};
use idv::models::ModelKind;
use idv::pipeline::face::Faces;
use idv::pipeline::FaceAnalyzer;
use idv::settings::Settings;
use time::Date;

use super::{load_engine, read_image, CliError, EngineArgs};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KindArg {
    /// A passport data page (TD3: two 44-character MRZ lines under the portrait).
    Passport,
    /// An identity card (TD1: three 30-character lines on the back), front and back side by side.
    IdCard,
}

#[derive(Args, Debug)]
pub struct SpecimenArgs {
    /// Photo whose face becomes the portrait (found with the face detector, cut head and shoulders).
    #[arg(long)]
    pub face: PathBuf,
    /// Where to write the photographed document (JPEG).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value_t = KindArg::Passport)]
    pub kind: KindArg,
    #[arg(long, default_value = "Eriksson")]
    pub surname: String,
    #[arg(long, default_value = "Anna Maria")]
    pub given_names: String,
    /// YYYY-MM-DD.
    #[arg(long, default_value = "1974-08-12", value_parser = parse_date)]
    pub date_of_birth: Date,
    /// YYYY-MM-DD (default: ten years from today).
    #[arg(long, value_parser = parse_date)]
    pub expiry: Option<Date>,
    /// F, M or < (unspecified).
    #[arg(long, default_value_t = 'F')]
    pub sex: char,
    #[arg(long, default_value = "L898902C3")]
    pub number: String,
    /// Issuing state and nationality (ICAO code; UTO is ICAO's fictional Utopia).
    #[arg(long, default_value = "UTO")]
    pub state: String,
    /// Clockwise turn of the photo: 0, 90, 180 or 270.
    #[arg(long, default_value_t = 0)]
    pub rotation: u16,
    /// Perspective: how far each corner may move, as a share of the document's size.
    #[arg(long, default_value_t = 0.04)]
    pub perspective: f32,
    /// Gaussian blur sigma, in pixels of the photo.
    #[arg(long, default_value_t = 0.8)]
    pub blur: f32,
    /// The scene photographed, as a multiple of the document's size (4: a small card on a large desk).
    #[arg(long, default_value_t = 1.35)]
    pub scene: f32,
    /// The photo's width over its height, the desk extended to fit (e.g. 1.333 for a phone's 4:3);
    /// default: the scene's own.
    #[arg(long)]
    pub frame_aspect: Option<f32>,
    /// The photo's long side in pixels.
    #[arg(long, default_value_t = 1600)]
    pub long_side: u32,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Result<Date, String> {
    idv::document::yyyy_mm_dd::parse(s).ok_or_else(|| format!("`{s}` is not a date YYYY-MM-DD"))
}

pub fn run(settings: Settings, args: SpecimenArgs) -> Result<ExitCode, CliError> {
    if ![0, 90, 180, 270].contains(&args.rotation) {
        return Err(CliError::input(
            "invalid_argument",
            "--rotation must be 0, 90, 180 or 270",
        ));
    }
    let font_bytes = std::fs::read(OCR_B_FONT).map_err(|e| {
        CliError::new(
            "font_missing",
            format!("cannot read the OCR-B font {OCR_B_FONT} ({e}); run `make setup` (it installs fonts-ocr-b)"),
        )
    })?;
    let font = ab_glyph::FontRef::try_from_slice(&font_bytes)
        .map_err(|e| CliError::new("font_invalid", format!("{OCR_B_FONT}: {e}")))?;
    let photo =
        read_image(&args.face, &settings.limits).map_err(|e| e.about("face", &args.face))?;
    let engine = load_engine(&args.engine, &ModelKind::MATCHING)?;
    let analysis = FaceAnalyzer::new(&engine, settings.detector).analyse(&photo, Faces::Primary)?;
    let face = analysis.primary().ok_or_else(|| {
        CliError::input(
            "no_face",
            format!("{}: no face found for the portrait", args.face.display()),
        )
    })?;
    let face = portrait_crop(&photo, &face.bbox);
    let today = idv::domain::clock::Clock::system().today();
    let holder = SpecimenHolder {
        surname: args.surname,
        given_names: args.given_names,
        date_of_birth: args.date_of_birth,
        sex: args.sex,
        expiry_date: args
            .expiry
            .unwrap_or_else(|| today.replace_year(today.year() + 10).unwrap_or(today)),
        document_number: args.number,
        issuing_state: args.state.clone(),
        nationality: args.state,
    };
    let kind = match args.kind {
        KindArg::Passport => SpecimenKind::Passport,
        KindArg::IdCard => SpecimenKind::IdCard,
    };
    let page = render(kind, &holder, &face, &font);
    let shot = Shot {
        rotation: args.rotation,
        perspective: args.perspective,
        blur: args.blur,
        scene: args.scene,
        frame_aspect: args.frame_aspect,
        long_side: args.long_side,
        seed: args.seed,
        ..Shot::default()
    };
    std::fs::write(&args.out, photograph(&page, &shot))
        .map_err(|e| CliError::new("write_failed", format!("{}: {e}", args.out.display())))?;
    for line in mrz_lines(kind, &holder) {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}
