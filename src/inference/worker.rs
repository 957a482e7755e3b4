//! A thread that owns one ort `Session` and runs it for whoever sends it a job.
//!
//! `Session::run` takes `&mut self`, so a session has exactly one owner. Callers on any thread (pipeline
//! code in `spawn_blocking`, CLI loops, benches) send an input and wait on a one-shot reply.

use std::sync::mpsc;
use std::thread::JoinHandle;

use ort::session::Session;
use ort::value::TensorRef;
use tokio::sync::oneshot;

use super::engine::InferenceError;
use crate::models::ModelKind;

/// Every output of one run, flattened, in the order of the names the worker was built with.
pub type Outputs = Vec<Vec<f32>>;

struct Job {
    input: Vec<f32>,
    reply: oneshot::Sender<Result<Outputs, InferenceError>>,
    span: tracing::Span,
}

pub struct ModelWorker {
    kind: ModelKind,
    tx: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl ModelWorker {
    /// Moves `session` onto a new thread that serves jobs until the worker is dropped.
    pub fn spawn(
        kind: ModelKind,
        session: Session,
        input_shape: Vec<usize>,
        outputs: Vec<String>,
    ) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name(format!("ort-{kind}"))
            .spawn(move || serve(kind, session, input_shape, outputs, rx))
            .expect("spawning a model worker thread");
        ModelWorker {
            kind,
            tx: Some(tx),
            thread: Some(thread),
        }
    }

    /// Runs the model on one input (its NCHW data, batch 1) and waits for the outputs.
    /// Call from a blocking context, never from inside an async task.
    pub fn run(&self, input: Vec<f32>) -> Result<Outputs, InferenceError> {
        let (reply, rx) = oneshot::channel();
        let job = Job {
            input,
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
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    kind: ModelKind,
    mut session: Session,
    shape: Vec<usize>,
    outputs: Vec<String>,
    rx: mpsc::Receiver<Job>,
) {
    for job in rx {
        let _enter = job.span.enter();
        if job.reply.is_closed() {
            continue; // the caller gave up; do not spend the CPU
        }
        let result = run_once(kind, &mut session, &shape, &outputs, &job.input);
        let _ = job.reply.send(result);
    }
}

fn run_once(
    kind: ModelKind,
    session: &mut Session,
    shape: &[usize],
    names: &[String],
    input: &[f32],
) -> Result<Outputs, InferenceError> {
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
    let out = session.run(ort::inputs!["input" => tensor]).map_err(fail)?;
    names
        .iter()
        .map(|name| {
            let value = out.get(name.as_str()).ok_or_else(|| InferenceError::Run {
                model: kind,
                message: format!("the model has no output named `{name}`"),
            })?;
            let (_, data) = value.try_extract_tensor::<f32>().map_err(fail)?;
            Ok(data.to_vec())
        })
        .collect()
}
