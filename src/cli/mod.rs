//! Subcommands, their flags (each also an `IDV_*` environment variable) and their shared plumbing.

mod admin;
mod audit;
mod document;
mod embed;
mod eval;
mod eval_documents;
mod eval_liveness;
mod liveness;
mod serve;
mod specimen;
mod verify;
mod webhooks;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use idv::inference::{Device, Engine, EngineConfig, InferenceError};
use idv::media::image::{decode_image, DecodeLimits, ImageError};
use idv::models::ModelKind;
use idv::settings::Settings;

#[derive(Parser, Debug)]
#[command(
    name = "idv",
    version,
    about = "Biometric identity verification: ID document photo vs selfie"
)]
pub struct Cli {
    /// TOML file with thresholds, quality gates, detector and input limits (see docs/CONFIG.md).
    #[arg(long, env = "IDV_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// File holding the master key for encryption at rest (see docs/PRIVACY.md); overrides
    /// privacy.master_key_file. IDV_MASTER_KEY (the key itself) takes precedence over both.
    #[arg(long, env = "IDV_MASTER_KEY_FILE", global = true)]
    pub master_key_file: Option<PathBuf>,
    /// File holding the audit chain's signing key; overrides audit.signing_key_file.
    /// IDV_AUDIT_SIGNING_KEY (the key itself) takes precedence over both.
    #[arg(long, env = "IDV_AUDIT_SIGNING_KEY_FILE", global = true)]
    pub audit_signing_key_file: Option<PathBuf>,
    /// The append-only file of the audit chain's signed checkpoints; overrides audit.checkpoint_file.
    #[arg(long, env = "IDV_AUDIT_CHECKPOINT_FILE", global = true)]
    pub audit_checkpoint_file: Option<PathBuf>,
    /// Log filter (tracing EnvFilter syntax), written to stderr. Default: `info` for `serve`, else `warn`.
    #[arg(long, env = "IDV_LOG", global = true)]
    pub log: Option<String>,
    /// Log line format: `text` for people, `json` for log collectors.
    #[arg(long, env = "IDV_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

/// Where and how the models run; flattened into each subcommand that loads them (and only those).
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Model engine")]
pub struct EngineArgs {
    /// Path to libonnxruntime.so.1.31.1 (default: ORT_DYLIB_PATH, then .idv/onnxruntime/ from `make setup`).
    #[arg(long, env = "IDV_ORT_LIB")]
    pub ort_lib: Option<PathBuf>,
    /// Folder holding the model files listed in models/manifest.toml.
    #[arg(long, env = "IDV_MODELS", default_value = "models")]
    pub models: PathBuf,
    /// Where the models run. `cuda` needs a build with `--features cuda` and fails rather than fall back.
    #[arg(long, env = "IDV_DEVICE", value_enum, default_value_t = Device::Cpu)]
    pub device: Device,
    /// Threads per model run. 1 suits concurrent work; 2+ only helps an otherwise idle machine.
    #[arg(long, env = "IDV_INTRA_THREADS", default_value_t = 1)]
    pub intra_threads: usize,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Compare the face on an ID document with the face in a selfie.
    Verify(verify::VerifyArgs),
    /// Detect, align and embed every face of each image (JSON Lines with --json).
    Embed(embed::EmbedArgs),
    /// Read the machine-readable zone (MRZ) of an identity document photo and check its check digits.
    Document(document::DocumentArgs),
    /// Measure verification accuracy on an identity-labelled image list.
    Eval(eval::EvalArgs),
    /// Measure MRZ reading over a folder of document photos (validity, exact lines, time).
    EvalDocuments(eval_documents::EvalDocumentsArgs),
    /// Check a selfie video for liveness against a challenge (blink, head turns), timed or not.
    Liveness(liveness::LivenessArgs),
    /// Replay genuine recordings against every challenge schedule the service can issue (replay APCER).
    EvalLiveness(eval_liveness::EvalLivenessArgs),
    /// Run the HTTP service.
    Serve(serve::ServeArgs),
    /// Manage API keys.
    Keys(admin::KeysArgs),
    /// Manage reviewer accounts of the console (/review).
    Reviewers(admin::ReviewersArgs),
    /// Check the tamper-evident audit log against its signed checkpoints; print the checkpoints' public key.
    Audit(audit::AuditArgs),
    /// Manage an organisation's webhook endpoints (also `POST/GET/DELETE /v1/webhooks` with an admin key).
    Webhooks(webhooks::WebhooksArgs),
    /// Apply the retention policy (idv serve also does it in the background).
    Retention(admin::RetentionArgs),
    /// Make a specimen identity document (marked SPECIMEN) from a sample face, for trials and tests.
    Specimen(specimen::SpecimenArgs),
}

/// The database every data command shares.
#[derive(Args, Debug)]
pub struct DatabaseArg {
    /// `sqlite://FILE` (created on first start) or `postgres://USER@HOST/DB` (default from the config file,
    /// else sqlite://idv.db).
    #[arg(long, env = "IDV_DATABASE")]
    pub database: Option<String>,
}

impl DatabaseArg {
    pub fn resolve(&self, configured: &str) -> String {
        self.database
            .clone()
            .unwrap_or_else(|| configured.to_string())
    }
}

/// A failure the user has to act on: a stable code, a message, and the process exit status.
#[derive(Debug)]
pub struct CliError {
    pub code: &'static str,
    pub message: String,
    pub exit: u8,
    /// The input it is about, when it is about one of several (`selfie`), and its path.
    pub input: Option<(&'static str, PathBuf)>,
}

impl CliError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        CliError {
            code,
            message: message.into(),
            exit: 1,
            input: None,
        }
    }
    /// Bad input (an image or a list we were given), as opposed to a broken installation.
    pub fn input(code: &'static str, message: impl Into<String>) -> Self {
        CliError {
            exit: 3,
            ..CliError::new(code, message)
        }
    }

    /// Names the input this error is about (`document`, `selfie`, `video`) and its path in the message,
    /// so a user with two images knows which one to fix.
    pub fn about(mut self, input: &'static str, path: &Path) -> Self {
        let shown = path.display().to_string();
        self.message = if self.message.contains(&shown) {
            format!("{input}: {}", self.message)
        } else {
            format!("{input} {shown}: {}", self.message)
        };
        self.input = Some((input, path.to_path_buf()));
        self
    }

    /// The error as one JSON object, for commands asked for `--json`: a script reading stdout gets
    /// `{"error": {"code", "input", "path", "message"}}` instead of nothing.
    pub fn to_json(&self) -> serde_json::Value {
        let (input, path) = match &self.input {
            Some((input, path)) => (Some(*input), Some(path.display().to_string())),
            None => (None, None),
        };
        serde_json::json!({
            "error": {
                "code": self.code,
                "input": input,
                "path": path,
                "message": self.message,
            }
        })
    }
}

impl From<InferenceError> for CliError {
    fn from(e: InferenceError) -> Self {
        let code = match &e {
            InferenceError::RuntimeMissing { .. } | InferenceError::RuntimeLoad { .. } => {
                "runtime_unavailable"
            }
            InferenceError::Model(_) => "model_unavailable",
            InferenceError::CudaNotBuilt | InferenceError::Session { .. } => "device_unavailable",
            _ => "inference_failed",
        };
        CliError::new(code, e.to_string())
    }
}

impl From<ImageError> for CliError {
    fn from(e: ImageError) -> Self {
        CliError::input(e.code(), e.to_string())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Whether log lines get ANSI colours: only on a terminal, and never when `NO_COLOR` is set to anything
/// but the empty string (no-color.org). Log files and collectors must not receive escape codes.
pub fn log_colours(stream_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stream_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Logs go to stderr (stdout carries results). They never contain biometric data or subject references.
pub fn init_tracing(cli: &Cli) {
    let default = if matches!(cli.command, Command::Serve(_)) {
        "info"
    } else {
        "warn"
    };
    let filter = cli.log.as_deref().unwrap_or(default);
    let filter = tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| default.into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(log_colours(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
        ))
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Makes a write to a closed stdout end the process quietly, as it does for other Unix tools
/// (`idv liveness v.mp4 | head -3`). Rust ignores SIGPIPE, so such a write is an error and `println!`
/// panics on it (exit 101); the default action ends the process by the signal instead. Not for
/// `serve`: a service outlives whoever reads its output.
pub fn end_quietly_on_closed_stdout(cli: &Cli) {
    #[cfg(unix)]
    if !matches!(cli.command, Command::Serve(_)) {
        // SAFETY: called at start-up, before any thread is spawned; restores a default disposition.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
}

impl Command {
    /// The subcommand prints one JSON document on stdout (`--json`), so its errors go there too.
    fn prints_json(&self) -> bool {
        match self {
            Command::Verify(args) => args.json,
            Command::Liveness(args) => args.json,
            Command::Eval(args) => args.json,
            Command::Document(args) => args.json,
            Command::EvalDocuments(args) => args.json,
            Command::EvalLiveness(args) => args.json,
            _ => false,
        }
    }
}

pub fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let json = cli.command.prints_json();
    let result = run_command(cli);
    if let (true, Err(e)) = (json, &result) {
        println!(
            "{}",
            serde_json::to_string_pretty(&e.to_json()).expect("serialisable")
        );
    }
    result
}

fn run_command(cli: Cli) -> Result<ExitCode, CliError> {
    let mut settings = Settings::load(cli.config.as_deref())
        .map_err(|e| CliError::new("config_invalid", e.to_string()))?;
    if let Some(file) = &cli.master_key_file {
        settings.privacy.master_key_file = Some(file.display().to_string());
    }
    if let Some(file) = &cli.audit_signing_key_file {
        settings.audit.signing_key_file = Some(file.display().to_string());
    }
    if let Some(file) = &cli.audit_checkpoint_file {
        settings.audit.checkpoint_file = Some(file.display().to_string());
    }
    match cli.command {
        Command::Verify(args) => verify::run(&args.engine.clone(), settings, args),
        Command::Embed(args) => embed::run(&args.engine.clone(), settings, args),
        Command::Eval(args) => eval::run(&args.engine.clone(), settings, args),
        Command::Document(args) => document::run(&args.engine.clone(), settings, args),
        Command::EvalDocuments(args) => eval_documents::run(&args.engine.clone(), settings, args),
        Command::Liveness(args) => liveness::run(&args.engine.clone(), settings, args),
        Command::EvalLiveness(args) => eval_liveness::run(&args.engine.clone(), settings, args),
        Command::Serve(args) => serve::run(&args.engine.clone(), settings, args),
        Command::Keys(args) => admin::keys(settings, args),
        Command::Reviewers(args) => admin::reviewers(settings, args),
        Command::Audit(args) => audit::run(settings, args),
        Command::Specimen(args) => specimen::run(settings, args),
        Command::Retention(args) => admin::retention(settings, args),
        Command::Webhooks(args) => webhooks::run(settings, args),
    }
}

/// Loads the given models with the engine flags, one session each (sequential work).
pub fn load_engine(args: &EngineArgs, kinds: &[ModelKind]) -> Result<Engine, CliError> {
    load_engine_with_sessions(args, kinds, 1)
}

/// Loads the given models with `sessions` sessions each, for that many concurrent runs.
pub fn load_engine_with_sessions(
    args: &EngineArgs,
    kinds: &[ModelKind],
    sessions: usize,
) -> Result<Engine, CliError> {
    let config = EngineConfig {
        ort_lib: args.ort_lib.clone(),
        models_dir: resolve_models_dir(&args.models),
        device: args.device,
        intra_threads: args.intra_threads,
        sessions_per_model: sessions,
    };
    Ok(Engine::load(&config, kinds)?)
}

/// The models folder as given, or, for the default relative `models`, the project's folder above the
/// executable (so `target/release/idv` works from anywhere in the checkout).
fn resolve_models_dir(given: &Path) -> PathBuf {
    if given.is_dir() || given.is_absolute() {
        return given.to_path_buf();
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.ancestors()
                .skip(1)
                .take(4)
                .map(|d| d.join(given))
                .find(|p| p.is_dir())
        })
        .unwrap_or_else(|| given.to_path_buf())
}

/// Reads and decodes one image file, refusing oversized files before reading them whole.
pub fn read_image(path: &Path, limits: &DecodeLimits) -> Result<image::RgbImage, CliError> {
    let bytes = read_bounded(path, limits.max_bytes, |bytes| {
        ImageError::TooLarge {
            bytes,
            limit: limits.max_bytes,
        }
        .into()
    })?;
    Ok(decode_image(&bytes, limits)?)
}

/// Reads a whole input file, refusing one over `limit` bytes (the error from `too_large`) before
/// reading it.
pub fn read_bounded(
    path: &Path,
    limit: u64,
    too_large: impl FnOnce(u64) -> CliError,
) -> Result<Vec<u8>, CliError> {
    let unreadable = |e: std::io::Error| {
        CliError::input(
            "file_unreadable",
            format!("cannot read {}: {e}", path.display()),
        )
    };
    let size = std::fs::metadata(path).map_err(unreadable)?.len();
    if size > limit {
        return Err(too_large(size));
    }
    std::fs::read(path).map_err(unreadable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn logs_are_coloured_only_on_a_terminal_without_no_color() {
        assert!(log_colours(true, None));
        assert!(log_colours(true, Some(OsStr::new(""))));
        assert!(!log_colours(true, Some(OsStr::new("1"))));
        assert!(!log_colours(false, None));
    }

    #[test]
    fn an_input_error_names_the_input_once() {
        let path = Path::new("/tmp/me.jpg");
        let e = CliError::input("image_corrupt", "the JPEG file is corrupt").about("selfie", path);
        assert_eq!(e.message, "selfie /tmp/me.jpg: the JPEG file is corrupt");
        let e = CliError::input("file_unreadable", "cannot read /tmp/me.jpg: gone")
            .about("selfie", path);
        assert_eq!(e.message, "selfie: cannot read /tmp/me.jpg: gone");
        assert_eq!(e.to_json()["error"]["input"], "selfie");
        assert_eq!(e.to_json()["error"]["path"], "/tmp/me.jpg");
        assert_eq!(
            CliError::new("runtime_unavailable", "x").to_json()["error"]["input"],
            serde_json::Value::Null
        );
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
