//! `idv embed FILE...`: faces and embeddings, one JSON object per file per line with --json.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use idv::models::ModelKind;
use idv::pipeline::{Face, FaceAnalyzer, Faces};
use idv::settings::Settings;
use serde::Serialize;

use super::{load_engine, read_image, CliError, EngineArgs};

#[derive(Args, Debug)]
pub struct EmbedArgs {
    /// Print JSON Lines: {"file", "faces": [{"box", "score", "landmarks", "embedding", "norm"}], "error"}.
    #[arg(long, env = "IDV_JSON")]
    pub json: bool,
    /// Images to embed (JPEG, PNG or WebP).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(Serialize)]
struct Line<'a> {
    /// The path exactly as given.
    file: &'a str,
    faces: &'a [Face],
    /// An error code when the file could not be processed.
    error: Option<&'a str>,
}

pub fn run(
    engine_args: &EngineArgs,
    settings: Settings,
    args: EmbedArgs,
) -> Result<ExitCode, CliError> {
    let engine = load_engine(engine_args, &ModelKind::MATCHING)?;
    let analyzer = FaceAnalyzer::new(&engine, settings.detector);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut failed = false;
    for path in &args.files {
        let shown = path.to_string_lossy();
        // A bad file is reported on its own line and the others still run.
        let result = read_image(path, &settings.limits)
            .and_then(|img| Ok(analyzer.analyse(&img, Faces::All)?));
        let (faces, error) = match &result {
            Ok(analysis) => (analysis.faces.as_slice(), None),
            Err(e) => {
                failed = true;
                if !args.json {
                    eprintln!("{shown}: error[{}]: {}", e.code, e.message);
                }
                (&[][..], Some(e.code))
            }
        };
        let written = if args.json {
            let line = Line {
                file: &shown,
                faces,
                error,
            };
            writeln!(
                out,
                "{}",
                serde_json::to_string(&line).expect("serialisable")
            )
        } else if error.is_none() {
            writeln!(out, "{shown}: {}", summary(faces))
        } else {
            Ok(())
        };
        if written.is_err() {
            break; // stdout closed (e.g. piped into `head`)
        }
    }
    Ok(if failed {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

fn summary(faces: &[Face]) -> String {
    if faces.is_empty() {
        return "no face".into();
    }
    let listed: Vec<String> = faces
        .iter()
        .map(|f| {
            let b = f.bbox;
            format!(
                "[{:.0}, {:.0}, {:.0}, {:.0}] score {:.2} norm {:.2}",
                b.x1, b.y1, b.x2, b.y2, f.score, f.norm
            )
        })
        .collect();
    format!("{} face(s): {}", faces.len(), listed.join("; "))
}
