//! One image in, its faces out: detect → pick the primary face → 68 landmarks → 5 points → similarity
//! alignment → embedding. Orchestration only; every numeric step is a pure function in `vision`.

use std::time::{Duration, Instant};

use image::RgbImage;
use serde::Serialize;

use crate::inference::{Engine, InferenceError};
use crate::models::ModelKind;
use crate::vision::detect::{self, Detection, DetectorConfig};
use crate::vision::embed::{self, Embedding};
use crate::vision::{align, landmarks, BoxF, Canvas, Point};

/// Which faces of an image to embed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Faces {
    /// Only the primary face (verification).
    Primary,
    /// Every detected face, the primary first (`idv embed`).
    All,
}

/// A face found, aligned and embedded. Coordinates are in pixels of the analysed image (after EXIF
/// orientation and any rotation the caller applied).
#[derive(Debug, Clone, Serialize)]
pub struct Face {
    /// The detector's box.
    #[serde(rename = "box")]
    pub bbox: BoxF,
    pub score: f32,
    /// Eye centres, nose tip, mouth corners.
    pub landmarks: [Point; 5],
    #[serde(skip)]
    pub landmarks68: Vec<Point>,
    pub embedding: Embedding,
    /// Norm of the raw embedding: low for blurred, partial or rotated faces.
    pub norm: f32,
}

impl Face {
    pub fn height(&self) -> f32 {
        self.bbox.height()
    }
}

/// Time spent per stage, summed over the faces of one image.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct StageTimings {
    #[serde(serialize_with = "ms")]
    pub detect: Duration,
    #[serde(serialize_with = "ms")]
    pub landmarks: Duration,
    #[serde(serialize_with = "ms")]
    pub align: Duration,
    #[serde(serialize_with = "ms")]
    pub embed: Duration,
}

fn ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1e5).round() / 100.0)
}

impl StageTimings {
    pub fn add(&mut self, other: &StageTimings) {
        self.detect += other.detect;
        self.landmarks += other.landmarks;
        self.align += other.align;
        self.embed += other.embed;
    }
}

/// The faces of one image.
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    /// Embedded faces, the primary first.
    pub faces: Vec<Face>,
    /// Faces the detector found (after NMS and the minimum size), embedded or not.
    pub detected: usize,
    /// The primary face reaches the image edge: part of it may be cut off.
    pub cut_off: bool,
    /// The face was only found on a padded canvas (it fills the frame).
    pub padded: bool,
    pub timings: StageTimings,
}

impl Analysis {
    pub fn primary(&self) -> Option<&Face> {
        self.faces.first()
    }
}

/// Runs the face models over images. Cheap to create; borrows the engine.
pub struct FaceAnalyzer<'e> {
    engine: &'e Engine,
    config: DetectorConfig,
}

impl<'e> FaceAnalyzer<'e> {
    pub fn new(engine: &'e Engine, config: DetectorConfig) -> Self {
        FaceAnalyzer { engine, config }
    }

    pub fn engine(&self) -> &'e Engine {
        self.engine
    }

    /// Detects, aligns and embeds the faces of `image`.
    pub fn analyse(&self, image: &RgbImage, which: Faces) -> Result<Analysis, InferenceError> {
        let mut timings = StageTimings::default();
        let (w, h) = (image.width() as f32, image.height() as f32);

        let started = Instant::now();
        let mut canvas = Canvas::new(image);
        let mut dets = self.detect(&canvas, self.config.min_score)?;
        if dets.is_empty() {
            dets = self.detect(&canvas, self.config.fallback_min_score)?;
        }
        let mut primary = detect::primary_face(&dets, self.config.primary_min_area_ratio);
        let touches = primary.is_some_and(|i| detect::touches_border(&dets[i].bbox, w, h));
        let mut padded = false;
        if primary.is_none() || touches {
            // The largest prior is 256 px on the 320×240 input, so a face filling the frame is missed or
            // clipped; on a black-padded canvas it is an ordinary face (models.md §2.1.9).
            let pad = (0.25 * w.max(h)) as u32;
            let padded_canvas = Canvas::padded(image, pad);
            let retry = self.detect(&padded_canvas, self.config.fallback_min_score)?;
            if let Some(i) = detect::primary_face(&retry, self.config.primary_min_area_ratio) {
                canvas = padded_canvas;
                dets = retry;
                primary = Some(i);
                padded = true;
            }
        }
        timings.detect = started.elapsed();

        let Some(primary) = primary else {
            return Ok(Analysis {
                detected: dets.len(),
                timings,
                ..Analysis::default()
            });
        };
        let pad = canvas.pad() as f32;
        let cut_off = detect::touches_border(&dets[primary].bbox.translate(-pad, -pad), w, h);

        // The primary face first, then the others in score order.
        let mut order = vec![primary];
        if which == Faces::All {
            order.extend((0..dets.len()).filter(|&i| i != primary));
        }
        let mut faces = Vec::with_capacity(order.len());
        for i in order {
            if let Some(face) = self.embed_face(&canvas, &dets[i], &mut timings)? {
                faces.push(face);
            }
        }
        Ok(Analysis {
            faces,
            detected: dets.len(),
            cut_off,
            padded,
            timings,
        })
    }

    /// Detections on a canvas at a score threshold, after NMS and the minimum size.
    fn detect(&self, canvas: &Canvas, min_score: f32) -> Result<Vec<Detection>, InferenceError> {
        let out = self
            .engine
            .run(ModelKind::Detect, detect::input_tensor(canvas))?;
        let (cw, ch) = (canvas.width() as f32, canvas.height() as f32);
        let dets = detect::decode(&out[0], &out[1], cw, ch, min_score, self.config.top_k);
        let mut kept = detect::nms(dets, self.config.nms_iou);
        kept.retain(|d| d.bbox.height() >= self.config.min_face_px);
        Ok(kept)
    }

    /// Landmarks, alignment and embedding of one detection; `None` when the face cannot be aligned.
    /// The returned coordinates are mapped back from the canvas to the image.
    fn embed_face(
        &self,
        canvas: &Canvas,
        det: &Detection,
        timings: &mut StageTimings,
    ) -> Result<Option<Face>, InferenceError> {
        let started = Instant::now();
        let (cw, ch) = (canvas.width() as f32, canvas.height() as f32);
        let face_box = landmarks::int_box(&detect::square_box(&det.bbox, cw, ch));
        let Some(crop) = landmarks::scaled_rect(face_box, cw as i64, ch as i64, 1.0) else {
            return Ok(None);
        };
        let out = self
            .engine
            .run(ModelKind::Landmark, landmarks::input_tensor(canvas, crop))?;
        let lm68 = landmarks::decode(&out[0], face_box);
        let five = landmarks::five_points(&lm68);
        timings.landmarks += started.elapsed();

        let started = Instant::now();
        let aligned = align::align_face(canvas, &five);
        timings.align += started.elapsed();
        let Some(aligned) = aligned else {
            return Ok(None);
        };

        let started = Instant::now();
        let out = self
            .engine
            .run(ModelKind::Feature, embed::input_tensor(&aligned))?;
        timings.embed += started.elapsed();
        let Some((embedding, norm)) = Embedding::from_raw(&out[0]) else {
            return Ok(None);
        };

        let pad = canvas.pad() as f32;
        let unpad = |p: Point| [p[0] - pad, p[1] - pad];
        Ok(Some(Face {
            bbox: det.bbox.translate(-pad, -pad),
            score: det.score,
            landmarks: five.map(unpad),
            landmarks68: lm68.iter().copied().map(unpad).collect(),
            embedding,
            norm,
        }))
    }
}
