//! A selfie video in, per-frame signals and the liveness verdict out: decode → sample → for each frame the
//! primary face, its landmarks, eyes, pose, passive score, quality and (on some frames) the embedding →
//! the pure verdict of `liveness::verdict`.
//!
//! Decoding runs on its own thread and hands frames over a short queue, so on two cores it overlaps with
//! the models instead of adding to them; at most a few decoded frames exist at any time.

use std::ops::ControlFlow;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use image::RgbImage;
use serde::Serialize;

use super::face::{FaceAnalyzer, LocatedFace};
use super::verify::QualityConfig;
use crate::inference::{Engine, InferenceError};
use crate::liveness::signals::{nose_offset, FaceSignals, FrameSignals};
use crate::liveness::verdict::{
    check_actions, decide, ActionResult, LivenessConfig, Verdict, VideoSummary,
};
use crate::liveness::Action;
use crate::media::video::{decode_video, VideoError, VideoInfo, VideoLimits};
use crate::models::ModelKind;
use crate::vision::embed::Embedding;
use crate::vision::{detect, eye, landmarks, liveness, pose, quality, BoxF, Canvas};

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
    /// Time spent analysing frames (models with their pre- and post-processing).
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

/// Per-frame analysis. Borrows the engine; needs [`LIVENESS_MODELS`] loaded.
pub struct FrameAnalyzer<'e> {
    faces: &'e FaceAnalyzer<'e>,
    engine: &'e Engine,
}

impl<'e> FrameAnalyzer<'e> {
    pub fn new(faces: &'e FaceAnalyzer<'e>) -> Self {
        FrameAnalyzer {
            faces,
            engine: faces.engine(),
        }
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
            let passive = liveness::crop(face_box, w, h)
                .filter(|_| work.passive)
                .map(|crop| {
                    scope.spawn(move || {
                        self.engine
                            .run(ModelKind::Liveness, liveness::input_tensor(&canvas, crop))
                            .map(|out| liveness::p_live(&out[0]))
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
        let mut frames = Vec::new();
        let mut analysis = Duration::ZERO;
        let mut failure = None;
        let (decoded, decode_busy) = std::thread::scope(|scope| {
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
            for frame in rx {
                let begun = Instant::now();
                let work = FrameWork::for_frame(frame.index, config);
                match self.frame(&frame.image, frame.index, frame.time_s, work) {
                    Ok(signals) => frames.push(signals),
                    Err(e) => {
                        failure = Some(e);
                        break; // dropping the receiver stops the decoder
                    }
                }
                analysis += begun.elapsed();
            }
            decoder
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        });
        if let Some(e) = failure {
            return Err(e.into());
        }
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
pub struct FrameRow {
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
    /// The challenge's actions, in order, and where each was found.
    pub actions: Vec<ActionResult>,
    /// Actions found anywhere in the video, each searched on its own (for reviewers and calibration).
    pub actions_seen: Vec<Action>,
    pub summary: VideoSummary,
    pub video: VideoInfo,
    pub frames: Vec<FrameRow>,
    #[serde(rename = "timings_ms")]
    pub timings: VideoTimings,
    #[serde(skip)]
    pub best_embedding: Option<Embedding>,
}

/// Decodes and analyses a video, then judges it against the challenge.
pub fn check_video(
    analyzer: &FrameAnalyzer,
    bytes: Vec<u8>,
    challenge: &[Action],
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
    challenge: &[Action],
    config: &LivenessConfig,
    quality: &QualityConfig,
) -> LivenessReport {
    let frames = analysed.frames;
    let decision = decide(challenge, &frames, config, quality);
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
        .filter(|&a| check_actions(&[a], &frames, config)[0].done)
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
            FrameRow {
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
