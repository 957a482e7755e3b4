//! Loads ONNX Runtime (dynamically, from a file we fetched and checked) and the model sessions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;

use super::error::InferenceError;
use super::worker::{warm_up, ModelWorker, Outputs, ShapedOutputs, Signature};
use super::ORT_LIB_LOCAL;
use crate::models::{Manifest, ModelKind, ModelSpec, TensorSpec};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    #[default]
    Cpu,
    /// NVIDIA GPU through the CUDA execution provider (needs a build with `--features cuda`).
    Cuda,
}

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Explicit path to `libonnxruntime.so.1.31.1`; otherwise `ORT_DYLIB_PATH`, then `.idv/onnxruntime/`.
    pub ort_lib: Option<PathBuf>,
    pub models_dir: PathBuf,
    pub device: Device,
    /// Threads each session may use for one run. 1 is best when requests run in parallel; more only help
    /// an otherwise idle machine (models.md §6).
    pub intra_threads: usize,
    /// Sessions (each on its own thread) per model: how many runs of one model can happen at once.
    /// One is enough for sequential work; a service wants as many as verifications run in parallel.
    pub sessions_per_model: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            ort_lib: None,
            models_dir: PathBuf::from("models"),
            device: Device::Cpu,
            intra_threads: 1,
            sessions_per_model: 1,
        }
    }
}

/// Finds the ONNX Runtime library: the explicit path, `ORT_DYLIB_PATH`, then the project-local set-up
/// folder next to the working directory or above the executable (so `target/release/idv` finds it).
pub fn locate_runtime(explicit: Option<&Path>) -> Result<PathBuf, InferenceError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let mut candidates = vec![PathBuf::from(ORT_LIB_LOCAL)];
    if let Ok(exe) = std::env::current_exe() {
        candidates.extend(
            exe.ancestors()
                .skip(1)
                .take(4)
                .map(|dir| dir.join(ORT_LIB_LOCAL)),
        );
    }
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| InferenceError::RuntimeMissing {
            looked: candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// The process-wide ONNX Runtime environment. ort allows one per process, bound to the first library loaded.
static RUNTIME: OnceLock<Result<(PathBuf, ort::environment::Environment), String>> =
    OnceLock::new();

fn init_runtime(path: &Path) -> Result<&'static ort::environment::Environment, InferenceError> {
    let loaded = RUNTIME.get_or_init(|| {
        let env = ort::init_from(path)
            .map_err(|e| e.to_string())?
            .with_name("idv")
            .with_telemetry(false)
            .build()
            .map_err(|e| e.to_string())?;
        Ok((path.to_path_buf(), env))
    });
    match loaded {
        Ok((_, env)) => Ok(env),
        Err(message) => Err(InferenceError::RuntimeLoad {
            path: path.to_path_buf(),
            message: message.clone(),
        }),
    }
}

/// The loaded models, each behind its own worker thread.
pub struct Engine {
    workers: BTreeMap<ModelKind, Loaded>,
    /// (model, sha256) of what is loaded: recorded with every decision.
    model_ids: Vec<(ModelKind, String)>,
}

/// One loaded model: its worker, what its input admits, and a recogniser's labels.
struct Loaded {
    worker: ModelWorker,
    input: TensorSpec,
    dictionary: Option<Vec<String>>,
}

impl Engine {
    /// Loads ONNX Runtime (once per process) and the given models, each checked against the manifest
    /// (and a recogniser's dictionary with it), and runs each once on zeros of its warm-up shape.
    pub fn load(config: &EngineConfig, kinds: &[ModelKind]) -> Result<Engine, InferenceError> {
        let manifest = Manifest::builtin();
        let mut workers = BTreeMap::new();
        let mut model_ids = Vec::new();
        for &kind in kinds {
            let spec = manifest.spec(kind)?;
            let dictionary = match &spec.dictionary {
                Some(_) => Some(manifest.verified_dictionary(&config.models_dir, kind)?),
                None => None,
            };
            let signature = Signature {
                input: spec.inputs[0].name.clone(),
                shape: spec.inputs[0].fixed_shape(),
                outputs: spec.outputs.iter().map(|o| o.name.clone()).collect(),
            };
            let warm_shape =
                spec.warm_up_input_shape()
                    .ok_or_else(|| InferenceError::OutputMismatch {
                        model: kind,
                        message: "the manifest gives no warm-up shape for its dynamic input".into(),
                    })?;
            let sessions = (0..config.sessions_per_model.max(1))
                .map(|_| {
                    let mut session = open_session(config, kind)?;
                    let shapes = warm_up(kind, &mut session, &signature, &warm_shape)?;
                    check_outputs(kind, spec, &shapes, dictionary.as_deref())?;
                    Ok(session)
                })
                .collect::<Result<Vec<_>, InferenceError>>()?;
            let loaded = Loaded {
                worker: ModelWorker::spawn(kind, sessions, signature),
                input: spec.inputs[0].clone(),
                dictionary,
            };
            workers.insert(kind, loaded);
            model_ids.push((kind, spec.sha256.clone()));
        }
        tracing::info!(models = ?kinds, device = ?config.device, intra_threads = config.intra_threads, "models loaded");
        Ok(Engine { workers, model_ids })
    }

    fn loaded(&self, kind: ModelKind) -> Result<&Loaded, InferenceError> {
        self.workers
            .get(&kind)
            .ok_or(InferenceError::NotLoaded(kind))
    }

    /// Runs one model of fixed input shape on one input (blocking; call from a blocking context).
    pub fn run(&self, kind: ModelKind, input: Vec<f32>) -> Result<Outputs, InferenceError> {
        self.loaded(kind)?.worker.run(input)
    }

    /// Runs one model on an input of the given shape (for models with dynamic dimensions, such as the
    /// OCR detector and recognisers) and returns every output with its shape. Blocking.
    pub fn run_shaped(
        &self,
        kind: ModelKind,
        shape: Vec<usize>,
        input: Vec<f32>,
    ) -> Result<ShapedOutputs, InferenceError> {
        let loaded = self.loaded(kind)?;
        if !loaded.input.admits(&shape) {
            return Err(InferenceError::BadShape { model: kind, shape });
        }
        loaded.worker.run_shaped(shape, input)
    }

    /// A recogniser's labels, one a line of its dictionary (checked by sha256 when it was loaded).
    pub fn dictionary(&self, kind: ModelKind) -> Option<&[String]> {
        self.workers.get(&kind)?.dictionary.as_deref()
    }

    pub fn has(&self, kind: ModelKind) -> bool {
        self.workers.contains_key(&kind)
    }

    pub fn model_ids(&self) -> &[(ModelKind, String)] {
        &self.model_ids
    }
}

/// The warm-up run's output shapes fit the manifest, and a recogniser has one score per label: the CTC
/// blank, each dictionary line, and a space.
fn check_outputs(
    kind: ModelKind,
    spec: &ModelSpec,
    shapes: &[Vec<usize>],
    dictionary: Option<&[String]>,
) -> Result<(), InferenceError> {
    let mismatch = |message: String| InferenceError::OutputMismatch {
        model: kind,
        message,
    };
    for (want, got) in spec.outputs.iter().zip(shapes) {
        if !want.admits(got) {
            return Err(mismatch(format!(
                "`{}` has shape {got:?}, the manifest says {:?}",
                want.name, want.shape
            )));
        }
    }
    if let (Some(labels), Some(shape)) = (dictionary, shapes.first()) {
        let scores = shape.last().copied().unwrap_or(0);
        if scores != labels.len() + 2 {
            return Err(mismatch(format!(
                "{scores} scores per step for a dictionary of {} labels (expected labels + 2)",
                labels.len()
            )));
        }
    }
    Ok(())
}

/// One bare session of a checked model, with idv's session options. `Engine::load` puts each behind a
/// worker; benchmarks use one directly to time the model alone.
pub fn open_session(config: &EngineConfig, kind: ModelKind) -> Result<Session, InferenceError> {
    let env = init_runtime(&locate_runtime(config.ort_lib.as_deref())?)?;
    let manifest = Manifest::builtin();
    let path = manifest.verified_path(&config.models_dir, kind)?;
    build_session(
        env,
        kind,
        &path,
        &manifest.spec(kind)?.disable_optimizers,
        config,
    )
}

fn build_session(
    env: &ort::environment::Environment,
    kind: ModelKind,
    path: &Path,
    disabled_optimizers: &[String],
    config: &EngineConfig,
) -> Result<Session, InferenceError> {
    let fail = |e: ort::Error| InferenceError::Session {
        model: kind,
        message: e.to_string(),
    };
    let mut builder = Session::builder(env)
        .map_err(fail)?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(|e| fail(e.into()))?
        .with_intra_threads(config.intra_threads.max(1))
        .map_err(|e| fail(e.into()))?
        .with_inter_threads(1)
        .map_err(|e| fail(e.into()))?
        // Spinning pool threads of one session steal the CPU from the next: 4–10× slower (models.md §6).
        .with_intra_op_spinning(false)
        .map_err(|e| fail(e.into()))?;
    if !disabled_optimizers.is_empty() {
        builder = builder
            .with_config_entry(
                "optimization.disable_specified_optimizers",
                disabled_optimizers.join(","),
            )
            .map_err(|e| fail(e.into()))?;
    }
    match config.device {
        Device::Cpu => {}
        #[cfg(feature = "cuda")]
        Device::Cuda => {
            // error_on_failure: a GPU deployment must never run silently on the CPU.
            builder = builder
                .with_execution_providers([ort::ep::CUDA::default().build().error_on_failure()])
                .map_err(|e| fail(e.into()))?;
        }
        #[cfg(not(feature = "cuda"))]
        Device::Cuda => return Err(InferenceError::CudaNotBuilt),
    }
    builder.commit_from_file(path).map_err(fail)
}
