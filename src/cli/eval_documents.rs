//! `idv eval-documents --root DIR [--expected FILE]`: MRZ reading over a folder of document photos: per
//! file the format, validity, lines and time; in all the share fully valid, the median and maximum time,
//! and with expected lines the share read exactly.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use idv::pipeline::document::read_mrz_with;
use idv::settings::Settings;
use serde::Serialize;

use super::document::SearchArgs;
use super::{load_engine, read_image, CliError, EngineArgs};

#[derive(Args, Debug)]
pub struct EvalDocumentsArgs {
    /// Folder of document photos (JPEG, PNG, WebP), searched recursively.
    #[arg(long, env = "IDV_EVAL_DOCUMENTS_ROOT")]
    pub root: PathBuf,
    /// Expected MRZ lines: CSV rows `file,line1,line2[,line3]`, or a TOML table `"file" = ["line1",
    /// "line2"]` (a `.toml` file); paths relative to --root.
    #[arg(long, env = "IDV_EVAL_DOCUMENTS_EXPECTED")]
    pub expected: Option<PathBuf>,
    /// Print one JSON object instead of the table.
    #[arg(long, env = "IDV_JSON")]
    pub json: bool,
    #[command(flatten)]
    pub search: SearchArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(Serialize)]
struct FileResult {
    file: String,
    format: Option<&'static str>,
    valid: bool,
    lines: Vec<String>,
    /// Whether the lines are the expected ones (only with --expected and an entry for the file).
    exact: Option<bool>,
    rotation_degrees: u16,
    /// Decoding and reading, in milliseconds of wall time.
    ms: f64,
    /// The CPU time the process spent on it (every thread): the time on one otherwise idle core.
    cpu_ms: f64,
    detect_ms: f64,
    recognise_ms: f64,
    reread_ms: f64,
    rows_recognised: u32,
    rotations_tried: u32,
    error: Option<&'static str>,
}

#[derive(Serialize)]
struct Summary {
    files: usize,
    fully_valid: usize,
    fully_valid_share: f64,
    median_ms: f64,
    max_ms: f64,
    /// CPU time (all threads): with one intra-op thread, the time on one idle core.
    median_cpu_ms: f64,
    max_cpu_ms: f64,
    /// With --expected: files with expected lines, and those read exactly.
    expected: Option<usize>,
    exact: Option<usize>,
}

pub fn run(
    engine_args: &EngineArgs,
    settings: Settings,
    args: EvalDocumentsArgs,
) -> Result<ExitCode, CliError> {
    let config = args.search.config()?;
    let expected = match &args.expected {
        Some(path) => Some(read_expected(path)?),
        None => None,
    };
    let files = image_files(&args.root)?;
    if files.is_empty() {
        return Err(CliError::input(
            "root_empty",
            format!("no JPEG, PNG or WebP file under {}", args.root.display()),
        ));
    }
    let engine = load_engine(engine_args, &args.search.models())?;
    let mut results = Vec::with_capacity(files.len());
    for path in &files {
        let rel = path
            .strip_prefix(&args.root)
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/");
        let (started, cpu_started) = (Instant::now(), process_cpu_ms());
        let reading = read_image(path, &settings.limits)
            .and_then(|image| Ok(read_mrz_with(&engine, &image, &config)?));
        let ms = started.elapsed().as_secs_f64() * 1e3;
        let cpu_ms = process_cpu_ms() - cpu_started;
        let want = expected.as_ref().and_then(|e| e.get(&rel));
        let result = match reading {
            Ok(r) => {
                let lines = r.read.as_ref().map(|m| m.lines.clone()).unwrap_or_default();
                FileResult {
                    file: rel,
                    format: r.read.as_ref().map(|m| m.format.as_str()),
                    valid: r.valid(),
                    exact: want.map(|w| *w == lines),
                    lines,
                    rotation_degrees: r.rotation_degrees,
                    ms,
                    cpu_ms,
                    detect_ms: r.timings.detect_ms,
                    recognise_ms: r.timings.recognise_ms,
                    reread_ms: r.timings.reread_ms,
                    rows_recognised: r.timings.rows_recognised,
                    rotations_tried: r.timings.rotations_tried,
                    error: None,
                }
            }
            Err(e) if e.exit == 3 => FileResult {
                file: rel,
                format: None,
                valid: false,
                lines: Vec::new(),
                exact: want.map(|_| false),
                rotation_degrees: 0,
                ms,
                cpu_ms,
                detect_ms: 0.0,
                recognise_ms: 0.0,
                reread_ms: 0.0,
                rows_recognised: 0,
                rotations_tried: 0,
                error: Some(e.code),
            },
            Err(e) => return Err(e),
        };
        if !args.json {
            print_row(&result);
        }
        results.push(result);
    }
    let summary = summarise(&results);
    if args.json {
        let out = serde_json::json!({ "files": results, "summary": summary });
        println!(
            "{}",
            serde_json::to_string_pretty(&out).expect("serialisable")
        );
    } else {
        print_summary(&summary);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_row(r: &FileResult) {
    let status = match (r.error, r.valid, r.format) {
        (Some(code), _, _) => format!("error {code}"),
        (None, true, _) => "valid".into(),
        (None, false, Some(_)) => "NOT valid".into(),
        (None, false, None) => "no MRZ".into(),
    };
    let exact = match r.exact {
        Some(true) => " exact",
        Some(false) => " NOT exact",
        None => "",
    };
    let turned = if r.rotation_degrees == 0 {
        String::new()
    } else {
        format!(" turned {}°", r.rotation_degrees)
    };
    println!(
        "{:<32} {:<5} {:<9}{exact}{turned}  {:>7.1} ms (CPU {:.0}; detect {:.0}, recognise {:.0}, re-read {:.0}; {} orientation(s), {} row(s))  {}",
        r.file,
        r.format.unwrap_or("-"),
        status,
        r.ms,
        r.cpu_ms,
        r.detect_ms,
        r.recognise_ms,
        r.reread_ms,
        r.rotations_tried,
        r.rows_recognised,
        r.lines.join(" / ")
    );
}

/// The median and the maximum, rounded to 0.1.
fn median_max(mut values: Vec<f64>) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    let median = match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    };
    let round = |v: f64| (v * 10.0).round() / 10.0;
    (round(median), round(values.last().copied().unwrap_or(0.0)))
}

fn summarise(results: &[FileResult]) -> Summary {
    let (median_ms, max_ms) = median_max(results.iter().map(|r| r.ms).collect());
    let (median_cpu_ms, max_cpu_ms) = median_max(results.iter().map(|r| r.cpu_ms).collect());
    let fully_valid = results.iter().filter(|r| r.valid).count();
    let with_expected: Vec<&FileResult> = results.iter().filter(|r| r.exact.is_some()).collect();
    Summary {
        files: results.len(),
        fully_valid,
        fully_valid_share: fully_valid as f64 / results.len().max(1) as f64,
        median_ms,
        max_ms,
        median_cpu_ms,
        max_cpu_ms,
        expected: (!with_expected.is_empty()).then_some(with_expected.len()),
        exact: (!with_expected.is_empty()).then(|| {
            with_expected
                .iter()
                .filter(|r| r.exact == Some(true))
                .count()
        }),
    }
}

fn print_summary(s: &Summary) {
    println!(
        "fully valid: {}/{} ({:.1} %); time per document: median {:.1} ms, max {:.1} ms (CPU time: median {:.1} ms, max {:.1} ms)",
        s.fully_valid,
        s.files,
        100.0 * s.fully_valid_share,
        s.median_ms,
        s.max_ms,
        s.median_cpu_ms,
        s.max_cpu_ms
    );
    if let (Some(n), Some(k)) = (s.expected, s.exact) {
        println!(
            "read exactly: {k}/{n} ({:.1} %) of the files with expected lines",
            100.0 * k as f64 / n as f64
        );
    }
}

/// CPU time the process has used so far (user and system, every thread), in milliseconds.
fn process_cpu_ms() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0.0;
    }
    let ms = |t: libc::timeval| t.tv_sec as f64 * 1e3 + t.tv_usec as f64 / 1e3;
    ms(usage.ru_utime) + ms(usage.ru_stime)
}

/// Image files under `root`, sorted by path.
fn image_files(root: &Path) -> Result<Vec<PathBuf>, CliError> {
    let mut out = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| {
            CliError::input(
                "file_unreadable",
                format!("cannot read {}: {e}", dir.display()),
            )
        })?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                matches!(
                    e.to_ascii_lowercase().as_str(),
                    "jpg" | "jpeg" | "png" | "webp"
                )
            }) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The expected lines by file: TOML (`"file" = ["line", …]`) or CSV (`file,line1,line2[,line3]`).
fn read_expected(path: &Path) -> Result<BTreeMap<String, Vec<String>>, CliError> {
    let invalid =
        |m: String| CliError::input("expected_invalid", format!("{}: {m}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::input(
            "file_unreadable",
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    let is_toml = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    let map = if is_toml {
        toml::from_str::<BTreeMap<String, Vec<String>>>(&text)
            .map_err(|e| invalid(e.to_string()))?
    } else {
        parse_csv(&text).map_err(invalid)?
    };
    if let Some((file, _)) = map
        .iter()
        .find(|(_, lines)| !(2..=3).contains(&lines.len()))
    {
        return Err(invalid(format!("{file}: an MRZ has 2 or 3 lines")));
    }
    Ok(map)
}

fn parse_csv(text: &str) -> Result<BTreeMap<String, Vec<String>>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let mut map = BTreeMap::new();
    for record in reader.records() {
        let record = record.map_err(|e| e.to_string())?;
        let mut fields = record.iter().map(str::trim);
        let Some(file) = fields.next().filter(|f| !f.is_empty()) else {
            continue;
        };
        if file == "file" {
            continue; // a header row
        }
        map.insert(file.to_string(), fields.map(str::to_string).collect());
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_lines_from_csv_skip_headers_and_comments() {
        let text = "file,line1,line2\n# a comment\na.jpg,P<UTO,L898\n\nb/c.png, I<UTO , D231 ,X\n";
        let map = parse_csv(text).unwrap();
        assert_eq!(map["a.jpg"], vec!["P<UTO", "L898"]);
        assert_eq!(map["b/c.png"], vec!["I<UTO", "D231", "X"]);
        assert_eq!(map.len(), 2);
    }

    #[test]
    fn the_summary_has_the_median_and_the_exact_share() {
        let row = |ms: f64, valid: bool, exact: Option<bool>| FileResult {
            file: String::new(),
            format: None,
            valid,
            lines: Vec::new(),
            exact,
            rotation_degrees: 0,
            ms,
            cpu_ms: ms,
            detect_ms: 0.0,
            recognise_ms: 0.0,
            reread_ms: 0.0,
            rows_recognised: 0,
            rotations_tried: 0,
            error: None,
        };
        let s = summarise(&[
            row(10.0, true, Some(true)),
            row(30.0, true, Some(false)),
            row(20.0, false, None),
            row(50.0, true, None),
        ]);
        assert_eq!((s.files, s.fully_valid), (4, 3));
        assert_eq!((s.median_ms, s.max_ms), (25.0, 50.0));
        assert_eq!((s.expected, s.exact), (Some(2), Some(1)));
    }
}
