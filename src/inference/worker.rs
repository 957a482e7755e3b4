//! Threads that each own one ort `Session` of a model and run it for whoever sends a job.
//!
//! `Session::run` takes `&mut self`, so a session has exactly one owner. A model may have several
//! sessions (one per thread, all taking jobs from one queue), so concurrent verifications do not queue
//! behind a single session of the slowest model. Callers on any thread (pipeline code in
//! `spawn_blocking`, CLI loops, benches) send an input and wait on a one-shot reply.

use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use ort::session::Session;
use ort::value::TensorRef;
use tokio::sync::oneshot;

use super::error::InferenceError;
use crate::models::ModelKind;

/// Every output of one run, flattened, in the order of the names the worker was built with.
pub type Outputs = Vec<Vec<f32>>;

/// One output of a run with its shape (row-major data).
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Every output of one run with its shape, in the order of the names the worker was built with.
pub type ShapedOutputs = Vec<Tensor>;

/// How a worker calls its model: the input's name, its shape (fixed, or `None` when each run gives one)
/// and the outputs to return.
#[derive(Debug, Clone)]
pub struct Signature {
    pub input: String,
    pub shape: Option<Vec<usize>>,
    pub outputs: Vec<String>,
}

struct Job {
    input: Vec<f32>,
    /// The run's input shape; `None` for the signature's fixed one.
    shape: Option<Vec<usize>>,
    reply: oneshot::Sender<Result<ShapedOutputs, InferenceError>>,
    span: tracing::Span,
}

pub struct ModelWorker {
    kind: ModelKind,
    tx: Option<mpsc::Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

impl ModelWorker {
    /// Moves each session onto its own thread; they serve one shared queue until the worker is dropped.
    pub fn spawn(kind: ModelKind, sessions: Vec<Session>, signature: Signature) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let threads = sessions
            .into_iter()
            .enumerate()
            .map(|(i, session)| {
                let (rx, signature) = (rx.clone(), signature.clone());
                std::thread::Builder::new()
                    .name(format!("ort-{kind}-{i}"))
                    .spawn(move || serve(kind, session, signature, rx))
                    .expect("spawning a model worker thread")
            })
            .collect();
        ModelWorker {
            kind,
            tx: Some(tx),
            threads,
        }
    }

    /// Runs the model on one input (its NCHW data, batch 1, in the model's fixed shape) and waits for the
    /// outputs. Call from a blocking context, never from inside an async task.
    pub fn run(&self, input: Vec<f32>) -> Result<Outputs, InferenceError> {
        let outputs = self.submit(input, None)?;
        Ok(outputs.into_iter().map(|t| t.data).collect())
    }

    /// Runs the model on one input of the given shape (a model with dynamic dimensions) and waits for
    /// the outputs with their shapes. Call from a blocking context.
    pub fn run_shaped(
        &self,
        shape: Vec<usize>,
        input: Vec<f32>,
    ) -> Result<ShapedOutputs, InferenceError> {
        self.submit(input, Some(shape))
    }

    fn submit(
        &self,
        input: Vec<f32>,
        shape: Option<Vec<usize>>,
    ) -> Result<ShapedOutputs, InferenceError> {
        let (reply, rx) = oneshot::channel();
        let job = Job {
            input,
            shape,
            reply,
            span: tracing::Span::current(),
        };
        let tx = self.tx.as_ref().expect("sender lives until drop");
        tx.send(job)
            .map_err(|_| InferenceError::WorkerGone(self.kind))?;
        rx.blocking_recv()
            .map_err(|_| InferenceError::WorkerGone(self.kind))?
    }
}

impl Drop for ModelWorker {
    fn drop(&mut self) {
        // Closing the channel ends the worker's loop; wait so the session is released before we return.
        drop(self.tx.take());
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn serve(
    kind: ModelKind,
    mut session: Session,
    signature: Signature,
    rx: Arc<Mutex<mpsc::Receiver<Job>>>,
) {
    loop {
        // The lock is held only while waiting for the next job, never while running one.
        let next = rx.lock().map(|r| r.recv());
        let Ok(Ok(job)) = next else {
            return; // the channel closed (the engine was dropped) or another thread panicked
        };
        let _enter = job.span.enter();
        if job.reply.is_closed() {
            continue; // the caller gave up; do not spend the CPU
        }
        let result = match job.shape.as_ref().or(signature.shape.as_ref()) {
            Some(shape) => run_once(kind, &mut session, &signature, shape, &job.input),
            None => Err(InferenceError::ShapeNeeded(kind)),
        };
        let _ = job.reply.send(result);
    }
}

/// One run on zeros, on the caller's thread: a session's first run allocates its buffers, so this is
/// paid at start-up rather than by the first request, and a model that cannot run is found then.
/// Returns the outputs' shapes, which the engine checks against the manifest.
pub(super) fn warm_up(
    kind: ModelKind,
    session: &mut Session,
    signature: &Signature,
    shape: &[usize],
) -> Result<Vec<Vec<usize>>, InferenceError> {
    let zeros = vec![0.0; shape.iter().product()];
    let outputs = run_once(kind, session, signature, shape, &zeros)?;
    Ok(outputs.into_iter().map(|t| t.shape).collect())
}

fn run_once(
    kind: ModelKind,
    session: &mut Session,
    signature: &Signature,
    shape: &[usize],
    input: &[f32],
) -> Result<ShapedOutputs, InferenceError> {
    let expected: usize = shape.iter().product();
    if input.len() != expected {
        return Err(InferenceError::BadInput {
            model: kind,
            expected,
            actual: input.len(),
        });
    }
    let fail = |e: ort::Error| InferenceError::Run {
        model: kind,
        message: e.to_string(),
    };
    let tensor = TensorRef::from_array_view((shape.to_vec(), input)).map_err(fail)?;
    let out = session
        .run(ort::inputs![signature.input.as_str() => tensor])
        .map_err(fail)?;
    signature
        .outputs
        .iter()
        .map(|name| {
            let value = out.get(name.as_str()).ok_or_else(|| InferenceError::Run {
                model: kind,
                message: format!("the model has no output named `{name}`"),
            })?;
            let (shape, data) = value.try_extract_tensor::<f32>().map_err(fail)?;
            Ok(Tensor {
                shape: shape.iter().map(|&d| d.max(0) as usize).collect(),
                data: data.to_vec(),
            })
        })
        .collect()
}
