//! One image in, its faces out: detect → pick the primary face → 68 landmarks → 5 points → similarity
//! alignment → embedding. Orchestration only; every numeric step is a pure function in `vision`.

use std::time::{Duration, Instant};

use image::RgbImage;
use serde::Serialize;

use crate::inference::{Engine, InferenceError};
use crate::models::ModelKind;
use crate::vision::detect::{self, Detection, DetectorConfig};
use crate::vision::embed::{self, Embedding};
use crate::vision::{align, landmarks, BoxF, Canvas, Point, RectI};

/// How much neighbouring detection tiles overlap, at least, as a share of a tile's side.
const TILE_OVERLAP: f32 = 0.25;

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

/// The primary face of an image located (box and landmarks) but not embedded.
#[derive(Clone)]
pub struct LocatedFace {
    pub bbox: BoxF,
    pub score: f32,
    pub landmarks: [Point; 5],
    pub landmarks68: Vec<Point>,
}

// Landmarks describe a face's geometry: biometric, never printed.
impl std::fmt::Debug for LocatedFace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocatedFace")
            .field("bbox", &self.bbox)
            .field("score", &self.score)
            .finish_non_exhaustive()
    }
}

/// What `locate_primary` found: like [`Analysis`], without embeddings.
#[derive(Debug, Clone, Default)]
pub struct Located {
    pub face: Option<LocatedFace>,
    pub detected: usize,
    pub cut_off: bool,
    pub padded: bool,
    pub timings: StageTimings,
}

/// Detections on the canvas they were made on, and the primary among them.
struct Found<'i> {
    canvas: Canvas<'i>,
    dets: Vec<Detection>,
    primary: Option<usize>,
    padded: bool,
    cut_off: bool,
}

/// A detection and its landmarks, mapped from the canvas back to the image.
fn unpadded(
    canvas: &Canvas,
    det: &Detection,
    lm68: &[Point; 68],
    five: &[Point; 5],
) -> LocatedFace {
    let pad = canvas.pad() as f32;
    let unpad = |p: Point| [p[0] - pad, p[1] - pad];
    LocatedFace {
        bbox: det.bbox.translate(-pad, -pad),
        score: det.score,
        landmarks: five.map(unpad),
        landmarks68: lm68.iter().copied().map(unpad).collect(),
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
        let found = self.find(image, &mut timings)?;
        self.embed_found(found, which, timings)
    }

    /// Like [`analyse`](Self::analyse), with detection on overlapping tiles (`detect::tiles` at `zoom`)
    /// instead of the whole image, and no padded retry: a face a few percent of the image's height, too
    /// small for the detector's 320×240 view of the whole (a card photographed from afar), is `zoom`
    /// times larger in a tile's. Faces taller than `max_face_px` are dropped (the caller knows which
    /// sizes the whole view would have found). One detector run per tile
    /// ([`tile_count`](Self::tile_count)).
    pub fn analyse_tiled(
        &self,
        image: &RgbImage,
        zoom: f32,
        max_face_px: f32,
        which: Faces,
    ) -> Result<Analysis, InferenceError> {
        let mut timings = StageTimings::default();
        let started = Instant::now();
        let canvas = Canvas::new(image);
        let regions = detect::tiles(image.width(), image.height(), zoom, TILE_OVERLAP);
        // One run per tile at the lower threshold; the higher one applies when anything reaches it, as
        // in `find` (greedy NMS by score makes filtering after it the same as before it).
        let mut dets = self.detect_regions(&canvas, &regions, self.config.fallback_min_score)?;
        dets.retain(|d| d.bbox.height() <= max_face_px);
        if dets.iter().any(|d| d.score >= self.config.min_score) {
            dets.retain(|d| d.score >= self.config.min_score);
        }
        let primary = detect::primary_face(&dets, self.config.primary_min_area_ratio);
        let (w, h) = (image.width() as f32, image.height() as f32);
        let cut_off = primary.is_some_and(|i| detect::touches_border(&dets[i].bbox, w, h));
        timings.detect = started.elapsed();
        let found = Found {
            canvas,
            dets,
            primary,
            padded: false,
            cut_off,
        };
        self.embed_found(found, which, timings)
    }

    /// The detector runs [`analyse_tiled`](Self::analyse_tiled) makes on a `width`×`height` image.
    pub fn tile_count(width: u32, height: u32, zoom: f32) -> usize {
        detect::tiles(width, height, zoom, TILE_OVERLAP).len()
    }

    /// Landmarks, alignment and embedding of the found faces: the primary, then (for `Faces::All`) the
    /// others in score order.
    fn embed_found(
        &self,
        found: Found,
        which: Faces,
        mut timings: StageTimings,
    ) -> Result<Analysis, InferenceError> {
        let Some(primary) = found.primary else {
            return Ok(Analysis {
                detected: found.dets.len(),
                timings,
                ..Analysis::default()
            });
        };
        // The primary face first, then the others in score order.
        let mut order = vec![primary];
        if which == Faces::All {
            order.extend((0..found.dets.len()).filter(|&i| i != primary));
        }
        let mut faces = Vec::with_capacity(order.len());
        for i in order {
            if let Some(face) = self.embed_face(&found.canvas, &found.dets[i], &mut timings)? {
                faces.push(face);
            }
        }
        Ok(Analysis {
            faces,
            detected: found.dets.len(),
            cut_off: found.cut_off,
            padded: found.padded,
            timings,
        })
    }

    /// The primary face with its landmarks but without the embedding (13 ms of the 17): video frames
    /// between identity checks only need where the face and its features are.
    pub fn locate_primary(&self, image: &RgbImage) -> Result<Located, InferenceError> {
        let mut timings = StageTimings::default();
        let found = self.find(image, &mut timings)?;
        let face = match found.primary {
            Some(i) => self
                .landmarks_of(&found.canvas, &found.dets[i], &mut timings)?
                .map(|(lm68, five)| unpadded(&found.canvas, &found.dets[i], &lm68, &five)),
            None => None,
        };
        Ok(Located {
            face,
            detected: found.dets.len(),
            cut_off: found.cut_off,
            padded: found.padded,
            timings,
        })
    }

    /// The embedding (unit vector, raw norm) of a face located in `image`. Aligning on the unpadded image
    /// gives the same crop as on the padded canvas: the padding reads as black either way.
    pub fn embed_points(
        &self,
        image: &RgbImage,
        five: &[Point; 5],
    ) -> Result<Option<(Embedding, f32)>, InferenceError> {
        self.embed_aligned(&Canvas::new(image), five, &mut StageTimings::default())
    }

    /// Detection with the padded retry for face-filling pictures, and the choice of the primary face.
    fn find<'i>(
        &self,
        image: &'i RgbImage,
        timings: &mut StageTimings,
    ) -> Result<Found<'i>, InferenceError> {
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
        let pad = canvas.pad() as f32;
        let cut_off = primary
            .is_some_and(|i| detect::touches_border(&dets[i].bbox.translate(-pad, -pad), w, h));
        Ok(Found {
            canvas,
            dets,
            primary,
            padded,
            cut_off,
        })
    }

    /// Detections on the given regions of a canvas at a score threshold, in canvas pixels, merged by one
    /// NMS over all of them, after the minimum size (a face seen whole in two overlapping tiles is kept
    /// once, from the tile that saw it best).
    fn detect_regions(
        &self,
        canvas: &Canvas,
        regions: &[RectI],
        min_score: f32,
    ) -> Result<Vec<Detection>, InferenceError> {
        let mut all = Vec::new();
        for region in regions {
            let out = self
                .engine
                .run(ModelKind::Detect, detect::region_tensor(canvas, *region))?;
            let (rw, rh) = (region.w as f32, region.h as f32);
            let dets = detect::decode(&out[0], &out[1], rw, rh, min_score, self.config.top_k);
            all.extend(dets.into_iter().map(|d| Detection {
                bbox: d.bbox.translate(region.x as f32, region.y as f32),
                score: d.score,
            }));
        }
        let mut kept = detect::nms(all, self.config.nms_iou);
        kept.retain(|d| d.bbox.height() >= self.config.min_face_px);
        Ok(kept)
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

    /// The 68 landmarks and the 5 alignment points of one detection, in canvas pixels; `None` when the
    /// face box is empty.
    #[allow(clippy::type_complexity)]
    fn landmarks_of(
        &self,
        canvas: &Canvas,
        det: &Detection,
        timings: &mut StageTimings,
    ) -> Result<Option<([Point; 68], [Point; 5])>, InferenceError> {
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
        Ok(Some((lm68, five)))
    }

    /// Landmarks, alignment and embedding of one detection; `None` when the face cannot be aligned.
    /// The returned coordinates are mapped back from the canvas to the image.
    fn embed_face(
        &self,
        canvas: &Canvas,
        det: &Detection,
        timings: &mut StageTimings,
    ) -> Result<Option<Face>, InferenceError> {
        let Some((lm68, five)) = self.landmarks_of(canvas, det, timings)? else {
            return Ok(None);
        };
        let Some((embedding, norm)) = self.embed_aligned(canvas, &five, timings)? else {
            return Ok(None);
        };
        let located = unpadded(canvas, det, &lm68, &five);
        Ok(Some(Face {
            bbox: located.bbox,
            score: located.score,
            landmarks: located.landmarks,
            landmarks68: located.landmarks68,
            embedding,
            norm,
        }))
    }

    /// Alignment and embedding of the face whose 5 points (canvas pixels) are given; `None` when the
    /// points are degenerate or the model output is empty.
    fn embed_aligned(
        &self,
        canvas: &Canvas,
        five: &[Point; 5],
        timings: &mut StageTimings,
    ) -> Result<Option<(Embedding, f32)>, InferenceError> {
        let started = Instant::now();
        let aligned = align::align_face(canvas, five);
        timings.align += started.elapsed();
        let Some(aligned) = aligned else {
            return Ok(None);
        };
        let started = Instant::now();
        let out = self
            .engine
            .run(ModelKind::Feature, embed::input_tensor(&aligned))?;
        timings.embed += started.elapsed();
        Ok(Embedding::from_raw(&out[0]))
    }
}
