//! A selfie video in, per-frame signals and the liveness verdict out: decode → sample → for each frame the
//! primary face, its landmarks, eyes, pose, passive score, quality and (on some frames) the embedding →
//! the pure verdict of `liveness::verdict`.
//!
//! Decoding runs on its own thread and hands frames over a short queue, so on two cores it overlaps with
//! the models instead of adding to them; the face models of a couple of frames run while the next
//! frame's face is located. At most a few decoded frames exist at any time.

use std::borrow::Borrow;
use std::ops::ControlFlow;
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use image::RgbImage;
use serde::Serialize;

use super::face::{FaceAnalyzer, Located, LocatedFace};
use crate::inference::{Engine, InferenceError};
use crate::liveness::search::{check_actions, ActionResult};
use crate::liveness::signals::{nose_offset, FaceSignals, FrameSignals};
use crate::liveness::verdict::{liveness_verdict, LivenessConfig, Verdict, VideoSummary};
use crate::liveness::{Action, Schedule};
use crate::media::video::{decode_video, VideoError, VideoFrame, VideoInfo, VideoLimits};
use crate::models::ModelKind;
use crate::vision::embed::Embedding;
use crate::vision::quality::{self, QualityConfig};
use crate::vision::{detect, eye, landmarks, passive, pose, BoxF, Canvas};

#[derive(Debug, thiserror::Error)]
pub enum LivenessError {
    #[error(transparent)]
    Video(#[from] VideoError),
    #[error(transparent)]
    Inference(#[from] InferenceError),
}

/// Which of the costlier models run on a frame.
#[derive(Debug, Clone, Copy)]
pub struct FrameWork {
    /// Embed the face (identity throughout, best frame).
    pub identity: bool,
    /// Run the passive liveness model.
    pub passive: bool,
}

impl FrameWork {
    pub const ALL: FrameWork = FrameWork {
        identity: true,
        passive: true,
    };

    /// The work for the `index`-th sampled frame under `config`'s strides.
    pub fn for_frame(index: usize, config: &LivenessConfig) -> FrameWork {
        FrameWork {
            identity: index.is_multiple_of(config.identity_every.max(1)),
            passive: index.is_multiple_of(config.passive_every.max(1)),
        }
    }
}

/// The result of a scoped worker thread, its panic carried on.
fn join<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Where the time went.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct VideoTimings {
    /// Wall time of the whole analysis (decoding overlaps with the models).
    #[serde(serialize_with = "ms")]
    pub total: Duration,
    /// Time the decoding thread was busy (demux, decode, colour conversion, rotation).
    #[serde(serialize_with = "ms")]
    pub decode: Duration,
    /// Wall time from the first sampled frame's arrival to the last frame's signals (the models, with
    /// their pre- and post-processing, of a few frames at once).
    #[serde(serialize_with = "ms")]
    pub analysis: Duration,
}

fn ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1e5).round() / 100.0)
}

/// The frames of one video and how they were obtained.
#[derive(Debug, Clone)]
pub struct VideoAnalysis {
    pub info: VideoInfo,
    pub frames: Vec<FrameSignals>,
    pub timings: VideoTimings,
}

/// The models needed for liveness: the matching ones plus eyes, pose and passive liveness.
pub const LIVENESS_MODELS: [ModelKind; 6] = ModelKind::ALL;

/// Frames of a video whose face models may run while the next frame's face is located: two keep both
/// cores busy (docs/BENCHMARKS.md §"Liveness video"); each holds one decoded picture.
pub const FRAMES_IN_FLIGHT: usize = 2;

/// Per-frame analysis. Borrows the engine; needs [`LIVENESS_MODELS`] loaded.
pub struct FrameAnalyzer<'e> {
    faces: &'e FaceAnalyzer<'e>,
    engine: &'e Engine,
    in_flight: usize,
}

impl<'e> FrameAnalyzer<'e> {
    pub fn new(faces: &'e FaceAnalyzer<'e>) -> Self {
        FrameAnalyzer {
            faces,
            engine: faces.engine(),
            in_flight: FRAMES_IN_FLIGHT,
        }
    }

    /// How many frames' face models may run while the next frame is located ([`FRAMES_IN_FLIGHT`] by
    /// default). 0 analyses one frame at a time, each finished before the next is looked at: the
    /// schedule before frames overlapped, kept for the benchmark's comparison.
    pub fn with_frames_in_flight(mut self, frames: usize) -> Self {
        self.in_flight = frames;
        self
    }

    /// The signals of one picture.
    pub fn frame(
        &self,
        image: &RgbImage,
        index: usize,
        time_s: f64,
        work: FrameWork,
    ) -> Result<FrameSignals, InferenceError> {
        let located = self.faces.locate_primary(image)?;
        let face = match &located.face {
            Some(face) => {
                Some(self.face_signals(image, face, located.padded, located.cut_off, work)?)
            }
            None => None,
        };
        Ok(FrameSignals {
            index,
            time_s,
            faces: located.detected,
            face,
        })
    }

    /// Eyes, pose, passive score, quality and optionally the embedding of a located face.
    pub fn face_signals(
        &self,
        image: &RgbImage,
        face: &LocatedFace,
        padded: bool,
        cut_off: bool,
        work: FrameWork,
    ) -> Result<FaceSignals, InferenceError> {
        let (w, h) = (image.width() as i64, image.height() as i64);
        let canvas = Canvas::new(image);
        // Pose, passive liveness and quality see the unpadded image; a face found only on the padded
        // canvas is clipped back into the picture first (models.md §2.1.9).
        let bbox = if padded {
            let (xm, ym) = (w as f32 - 1.0, h as f32 - 1.0);
            BoxF {
                x1: face.bbox.x1.clamp(0.0, xm),
                y1: face.bbox.y1.clamp(0.0, ym),
                x2: face.bbox.x2.clamp(0.0, xm),
                y2: face.bbox.y2.clamp(0.0, ym),
            }
        } else {
            face.bbox
        };
        let face_box = landmarks::int_box(&detect::square_box(&bbox, w as f32, h as f32));

        // The embedding and the passive model run on their own workers while this thread feeds the eye
        // and pose models: on two cores a frame costs the longest of them, not their sum.
        std::thread::scope(|scope| {
            let identity = work
                .identity
                .then(|| scope.spawn(|| self.faces.embed_points(image, &face.landmarks)));
            let passive = passive::crop(face_box, w, h)
                .filter(|_| work.passive)
                .map(|crop| {
                    scope.spawn(move || {
                        self.engine
                            .run(ModelKind::Liveness, passive::input_tensor(&canvas, crop))
                            .map(|out| passive::p_live(&out[0]))
                    })
                });

            let mut p_closed = [None, None];
            for (p, eye_box) in p_closed
                .iter_mut()
                .zip(eye::eye_boxes(&face.landmarks68, w, h))
            {
                if let Some(eye_box) = eye_box {
                    let out = self
                        .engine
                        .run(ModelKind::Eye, eye::input_tensor(&canvas, eye_box))?;
                    *p = Some(eye::p_closed(&out[0]));
                }
            }
            let head = match pose::crop(face_box, w, h) {
                Some(crop) => {
                    let out = self
                        .engine
                        .run(ModelKind::Pose, pose::input_tensor(&canvas, crop))?;
                    pose::decode(&out[0], &out[1], &out[2])
                }
                None => pose::HeadPose {
                    yaw: f32::NAN,
                    pitch: f32::NAN,
                    roll: f32::NAN,
                },
            };
            let (sharpness, exposure) = match landmarks::scaled_rect(face_box, w, h, 1.0) {
                Some(rect) => {
                    let gray = quality::face_gray(&canvas, rect);
                    (
                        quality::sharpness(&gray, quality::CROP_SIDE),
                        quality::exposure(&gray),
                    )
                }
                None => (0.0, quality::exposure(&[])),
            };
            let p_live = passive.map(join).transpose()?;
            let (embedding, norm) = match identity.map(join).transpose()?.flatten() {
                Some((e, n)) => (Some(e), Some(n)),
                None => (None, None),
            };
            Ok(FaceSignals {
                bbox: face.bbox,
                score: face.score,
                cut_off,
                landmarks68: face.landmarks68.clone(),
                p_closed,
                ear: eye::eye_aspect_ratio(&face.landmarks68),
                nose_offset: nose_offset(&face.landmarks68),
                pose: head,
                p_live,
                sharpness,
                exposure,
                embedding,
                norm,
            })
        })
    }

    /// The signals of a sequence of sampled frames, in order. While this thread detects and locates the
    /// face of one frame, face workers run the eyes, pose, passive and embedding models of up to
    /// [`Self::with_frames_in_flight`] earlier ones, so the models of different frames overlap on the
    /// cores instead of each frame waiting for its slowest model (the embedding). The signals are the
    /// same whatever the number in flight; only the schedule differs.
    pub fn frames<F>(
        &self,
        frames: impl IntoIterator<Item = F>,
        config: &LivenessConfig,
    ) -> Result<Vec<FrameSignals>, InferenceError>
    where
        F: Borrow<VideoFrame> + Send,
    {
        self.frames_timed(frames, config)
            .map(|(signals, _)| signals)
    }

    /// [`Self::frames`] and the wall time from the first frame's arrival to the last frame's signals.
    fn frames_timed<F>(
        &self,
        frames: impl IntoIterator<Item = F>,
        config: &LivenessConfig,
    ) -> Result<(Vec<FrameSignals>, Duration), InferenceError>
    where
        F: Borrow<VideoFrame> + Send,
    {
        let mut frames = frames.into_iter();
        let mut out: Vec<Option<FrameSignals>> = Vec::new();
        let Some(first) = frames.next() else {
            return Ok((Vec::new(), Duration::ZERO));
        };
        let started = Instant::now();
        let frames = std::iter::once(first).chain(frames);
        if self.in_flight == 0 {
            // One frame at a time, each finished before the next is looked at.
            for frame in frames {
                let f = frame.borrow();
                let work = FrameWork::for_frame(f.index, config);
                out.push(Some(self.frame(&f.image, f.index, f.time_s, work)?));
            }
        } else {
            self.pipelined(frames, config, &mut out)?;
        }
        let signals = out
            .into_iter()
            .map(|s| s.expect("every frame analysed"))
            .collect();
        Ok((signals, started.elapsed()))
    }

    /// Locates the face of each frame on this thread and hands the rest of its work to the first free
    /// face worker; `out[k]` receives the `k`-th frame's signals. A failure stops the loop, which drops
    /// the frames (and so stops the decoder).
    fn pipelined<F>(
        &self,
        frames: impl Iterator<Item = F>,
        config: &LivenessConfig,
        out: &mut Vec<Option<FrameSignals>>,
    ) -> Result<(), InferenceError>
    where
        F: Borrow<VideoFrame> + Send,
    {
        struct Job<F> {
            position: usize,
            frame: F,
            located: Located,
            work: FrameWork,
        }
        // One worker per frame in flight, and no queue: a frame is handed over when a worker is free,
        // so at most `in_flight` frames wait for their models besides the one being located here.
        let (job_tx, job_rx) = mpsc::sync_channel::<Job<F>>(0);
        let job_rx = Mutex::new(job_rx);
        let (done_tx, done_rx) = mpsc::channel();
        std::thread::scope(|scope| {
            for _ in 0..self.in_flight {
                let (job_rx, done_tx) = (&job_rx, done_tx.clone());
                scope.spawn(move || loop {
                    // The lock is held only while waiting for a job, not while working on one.
                    let next = job_rx.lock().map(|rx| rx.recv());
                    let Ok(Ok(job)) = next else {
                        return; // the queue closed: no more frames
                    };
                    let f = job.frame.borrow();
                    let face = job
                        .located
                        .face
                        .as_ref()
                        .map(|face| {
                            let (padded, cut_off) = (job.located.padded, job.located.cut_off);
                            self.face_signals(&f.image, face, padded, cut_off, job.work)
                        })
                        .transpose();
                    let signals = face.map(|face| FrameSignals {
                        index: f.index,
                        time_s: f.time_s,
                        faces: job.located.detected,
                        face,
                    });
                    if done_tx.send((job.position, signals)).is_err() {
                        return;
                    }
                });
            }
            drop(done_tx);
            let mut failure = None;
            let collect = |out: &mut Vec<Option<FrameSignals>>, failure: &mut Option<_>| {
                for (position, signals) in done_rx.try_iter() {
                    match signals {
                        Ok(signals) => out[position] = Some(signals),
                        Err(e) => *failure = Some(e),
                    }
                }
            };
            for (position, frame) in frames.enumerate() {
                out.push(None);
                let f = frame.borrow();
                let located = match self.faces.locate_primary(&f.image) {
                    Ok(located) => located,
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                };
                let work = FrameWork::for_frame(f.index, config);
                let job = Job {
                    position,
                    frame,
                    located,
                    work,
                };
                if job_tx.send(job).is_err() {
                    break; // every worker is gone: a panic, carried on when the scope ends
                }
                collect(out, &mut failure);
                if failure.is_some() {
                    break; // dropping the frames stops the decoder
                }
            }
            drop(job_tx);
            // The workers finish the frames in flight and hang up.
            for (position, signals) in done_rx.iter() {
                match signals {
                    Ok(signals) => out[position] = Some(signals),
                    Err(e) => failure = Some(e),
                }
            }
            failure.map_or(Ok(()), Err)
        })
    }

    /// Decodes `bytes` and analyses every sampled frame. Decoding runs on a second thread, a couple of
    /// frames ahead of the models.
    pub fn video(
        &self,
        bytes: Vec<u8>,
        limits: &VideoLimits,
        config: &LivenessConfig,
    ) -> Result<VideoAnalysis, LivenessError> {
        let started = Instant::now();
        let (tx, rx) = mpsc::sync_channel(2);
        let (analysed, (decoded, decode_busy)) = std::thread::scope(|scope| {
            let decoder = scope.spawn(move || {
                let mut blocked = Duration::ZERO;
                let started = Instant::now();
                let info = decode_video(bytes, limits, |frame| {
                    let waiting = Instant::now();
                    let sent = tx.send(frame);
                    blocked += waiting.elapsed();
                    match sent {
                        Ok(()) => ControlFlow::Continue(()),
                        Err(_) => ControlFlow::Break(()), // the analysis stopped
                    }
                });
                (info, started.elapsed().saturating_sub(blocked))
            });
            // On a failure the receiver is dropped with the iterator, which stops the decoder.
            let analysed = self.frames_timed(rx, config);
            (analysed, join(decoder))
        });
        let (frames, analysis) = analysed?;
        let info = decoded?;
        Ok(VideoAnalysis {
            info,
            frames,
            timings: VideoTimings {
                total: started.elapsed(),
                decode: decode_busy,
                analysis,
            },
        })
    }
}

/// The chosen selfie frame.
#[derive(Debug, Clone, Serialize)]
pub struct BestFrame {
    pub index: usize,
    pub time_s: f64,
    #[serde(rename = "box")]
    pub bbox: BoxF,
    pub pose: pose::HeadPose,
    pub norm: Option<f32>,
}

/// One row of the per-frame table: the signals and the cosine to the best frame where embedded.
#[derive(Debug, Clone, Serialize)]
pub struct AnalysedFrame {
    #[serde(flatten)]
    pub signals: FrameSignals,
    pub similarity: Option<f32>,
}

/// Everything `idv liveness` reports. The embedding of the best frame is kept for the comparison with a
/// document but never serialised.
#[derive(Debug, Clone, Serialize)]
pub struct LivenessReport {
    pub verdict: Verdict,
    pub reasons: Vec<String>,
    pub frames_decoded: u64,
    pub frames_analysed: usize,
    pub best_frame: Option<BestFrame>,
    /// The challenge's actions, in order: when each was prompted, and where and when it was seen.
    pub actions: Vec<ActionResult>,
    /// Actions found anywhere in the video, each searched on its own (for reviewers and calibration).
    pub actions_seen: Vec<Action>,
    pub summary: VideoSummary,
    pub video: VideoInfo,
    pub frames: Vec<AnalysedFrame>,
    #[serde(rename = "timings_ms")]
    pub timings: VideoTimings,
    #[serde(skip)]
    pub best_embedding: Option<Embedding>,
}

/// Decodes and analyses a video, then judges it against the challenge.
pub fn check_video(
    analyzer: &FrameAnalyzer,
    bytes: Vec<u8>,
    challenge: &Schedule,
    limits: &VideoLimits,
    config: &LivenessConfig,
    quality: &QualityConfig,
) -> Result<LivenessReport, LivenessError> {
    let analysed = analyzer.video(bytes, limits, config)?;
    Ok(report(analysed, challenge, config, quality))
}

/// The verdict and the report for analysed frames (pure).
pub fn report(
    analysed: VideoAnalysis,
    challenge: &Schedule,
    config: &LivenessConfig,
    quality: &QualityConfig,
) -> LivenessReport {
    let frames = analysed.frames;
    let decision = liveness_verdict(challenge, &frames, config, quality);
    let best_face = decision
        .best_frame
        .and_then(|i| frames[i].face.as_ref().map(|f| (i, f)));
    let best_embedding = best_face.and_then(|(_, f)| f.embedding.clone());
    let best_frame = best_face.map(|(i, f)| BestFrame {
        index: frames[i].index,
        time_s: frames[i].time_s,
        bbox: f.bbox,
        pose: f.pose,
        norm: f.norm,
    });
    let actions_seen = Action::ALL
        .into_iter()
        .filter(|&a| check_actions(&Schedule::untimed(&[a], 0.0), &frames, config)[0].done)
        .collect();
    let rows = frames
        .into_iter()
        .map(|signals| {
            let similarity = match (
                &best_embedding,
                signals.face.as_ref().and_then(|f| f.embedding.as_ref()),
            ) {
                (Some(best), Some(e)) => Some(best.cosine(e)),
                _ => None,
            };
            AnalysedFrame {
                signals,
                similarity,
            }
        })
        .collect();
    LivenessReport {
        verdict: decision.verdict,
        reasons: decision.reasons,
        frames_decoded: analysed.info.frames_decoded,
        frames_analysed: decision.summary.frames_analysed,
        best_frame,
        actions: decision.actions,
        actions_seen,
        summary: decision.summary,
        video: analysed.info,
        frames: rows,
        timings: analysed.timings,
        best_embedding,
    }
}
