//! ID documents: read the machine-readable zone ([`read_mrz`]), and find the upright orientation of a
//! portrait photographed or scanned sideways ([`analyse_document`], models.md §2.3.6).
//!
//! Reading the MRZ (the recipe of `../shared/reference/mrz/`, measured again here): the text detector
//! runs on the photo scaled to a long side of 640 (then 960 when nothing valid was found); its boxes are
//! merged into rows; the MRZ-like rows (long and thin) are recognised by the tiny recogniser widest first,
//! each followed by the rows stacked next to it, and every stack of 2–3 recognised rows is assembled by
//! `document::mrz` (line lengths, letter/digit fixes, check digits), until a read is valid and plausible
//! (document code, name and sex, which no check digit covers, look right). Up to four right-angle turns
//! are tried, the quarter turns first when most boxes stand upright; the detector's input is turned
//! rather than the photo. Check digits do not cover the name line, and the tiny recogniser reads some
//! `<` fillers of names as `A` or `C`: when it was unsure of a character of the name row, that row is
//! read again by the small recogniser, and its read is kept when the MRZ it gives is valid and
//! plausible too.
//!
//! For portraits: the face detector finds faces at any right angle, and the landmark model draws an
//! upright face on anything, so neither can tell the orientation. The raw embedding norm can: an upright
//! face gives ≈ 3.3–4.5, the same face at 90/180/270° ≈ 1.5–2.7.

mod search;

use std::time::Instant;

use image::RgbImage;
use serde::Serialize;

use self::search::{
    detect_turned, outer_quad, plausible, recognise, score, search, upright_score, Found, Page,
    Spent,
};
use super::face::{Analysis, FaceAnalyzer, Faces};
use crate::document::mrz::{assemble, MrzRead};
use crate::inference::{Engine, InferenceError};
use crate::models::ModelKind;
use crate::vision::detect as vision_detect;
use crate::vision::ocr::ctc::Alphabet;
use crate::vision::ocr::detect::{self, DetectConfig, DetectorInput};
use crate::vision::ocr::geometry::{quad_prefix, text_region, Quad};
use crate::vision::ocr::rows::vertical_vote;
use crate::vision::ocr::turn::Turn;

/// How the MRZ is searched for.
#[derive(Debug, Clone, PartialEq)]
pub struct MrzConfig {
    /// The detector's long sides, tried in turn (each over every orientation) until a read is valid
    /// and plausible: a small one is fast and finds most zones, a larger one the small print of the
    /// rest. (On the PassportEye specimens: 512 missed one name, 960 alone read three lines wrongly and
    /// took 40 % longer; see the report of `idv eval-documents --detector-sides`.)
    pub long_sides: Vec<u32>,
    /// How the detector's map becomes boxes.
    pub detect: DetectConfig,
    /// The recogniser's input width at most (a 44-character row is about 900 at height 48).
    pub max_row_width: usize,
    /// Rows recognised at most in one orientation, and in all: bounds the time an image full of text
    /// rows can take. (A valid read of the PassportEye specimens needed at most 10 in its orientation.)
    pub max_rows_per_orientation: u32,
    pub max_rows: u32,
    /// When to re-read the chosen name row with the small recogniser (when it is loaded).
    pub reread: Reread,
}

impl Default for MrzConfig {
    fn default() -> Self {
        MrzConfig {
            long_sides: vec![640, 960],
            detect: DetectConfig::default(),
            max_row_width: 1600,
            max_rows_per_orientation: 20,
            max_rows: 60,
            reread: Reread::default(),
        }
    }
}

/// When the name row is read again by the small recogniser.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reread {
    Never,
    Always,
    /// When a character of the tiny recogniser's name row scored below this. Its misreadings of names
    /// (`<` as `A` or `C`, a `<` dropped, `M` as `H`) all scored under 0.6 on the PassportEye specimens.
    Below(f32),
}

impl Default for Reread {
    fn default() -> Self {
        Reread::Below(0.75)
    }
}

/// Trailing fillers of the name row kept in the re-read (the rest is cut off: fewer columns to read).
const FILLERS_KEPT: usize = 2;

/// Where the time of one reading went, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct DocumentTimings {
    /// The text detector's runs (model time).
    pub detect_ms: f64,
    /// The tiny recogniser's runs (model time).
    pub recognise_ms: f64,
    /// The small recogniser's re-read of the name row (model time).
    pub reread_ms: f64,
    /// The whole reading, pre- and post-processing included.
    pub total_ms: f64,
    /// Orientations searched (over every detector size).
    pub rotations_tried: u32,
    /// Rows recognised (both recognisers).
    pub rows_recognised: u32,
}

impl DocumentTimings {
    /// Two readings' timings together (the whole photo, then a closer look).
    fn plus(&self, other: &DocumentTimings) -> DocumentTimings {
        DocumentTimings {
            detect_ms: self.detect_ms + other.detect_ms,
            recognise_ms: self.recognise_ms + other.recognise_ms,
            reread_ms: self.reread_ms + other.reread_ms,
            total_ms: self.total_ms + other.total_ms,
            rotations_tried: self.rotations_tried + other.rotations_tried,
            rows_recognised: self.rows_recognised + other.rows_recognised,
        }
    }
}

/// The result of looking for the machine-readable zone on a document photo.
#[derive(Debug, Clone, PartialEq)]
pub struct MrzReading {
    /// The best read found (valid or not), or `None` when no stack of rows looked like an MRZ.
    pub read: Option<MrzRead>,
    /// The MRZ rows' outer quad in the original image's pixel coordinates, its corners in the text's
    /// reading order: top-left, top-right, bottom-right, bottom-left of the zone as read.
    pub quad: Option<[(f32, f32); 4]>,
    /// The clockwise turn (0, 90, 180, 270) applied to the photo to read it.
    pub rotation_degrees: u16,
    pub timings: DocumentTimings,
}

impl MrzReading {
    pub fn valid(&self) -> bool {
        self.read.as_ref().is_some_and(|r| r.valid)
    }
}

/// Reads the MRZ of a document photo with the default [`MrzConfig`]. Needs the OCR detector and the
/// tiny recogniser loaded (`ModelKind::DOCUMENT`); the small recogniser too for the name re-read.
pub fn read_mrz(engine: &Engine, image: &RgbImage) -> Result<MrzReading, InferenceError> {
    read_mrz_with(engine, image, &MrzConfig::default())
}

fn alphabet(engine: &Engine, kind: ModelKind) -> Result<Alphabet, InferenceError> {
    let dictionary = engine
        .dictionary(kind)
        .ok_or(InferenceError::NotLoaded(kind))?;
    Alphabet::mrz(dictionary).ok_or_else(|| InferenceError::OutputMismatch {
        model: kind,
        message: "its dictionary lacks characters of the MRZ alphabet".into(),
    })
}

/// [`read_mrz`] with an explicit configuration.
pub fn read_mrz_with(
    engine: &Engine,
    image: &RgbImage,
    config: &MrzConfig,
) -> Result<MrzReading, InferenceError> {
    let (whole, text) = read_whole(engine, image, config)?;
    if whole.valid() {
        return Ok(whole);
    }
    // Print too small for the detector's view of the whole photo (a card photographed from afar): read
    // again where the text is, when that is a small part of the photo.
    let (w, h) = image.dimensions();
    let Some((x, y, rw, rh)) = text_region(&text, w, h, CLOSER_MARGIN, CLOSER_MIN_ZOOM) else {
        return Ok(whole);
    };
    let crop = image::imageops::crop_imm(image, x, y, rw, rh).to_image();
    let (mut closer, _) = read_whole(engine, &crop, config)?;
    closer.quad = closer
        .quad
        .map(|q| q.map(|(qx, qy)| (qx + x as f32, qy + y as f32)));
    let better = match (&closer.read, &whole.read) {
        (Some(c), Some(w)) => score(c) > score(w),
        (c, _) => c.is_some(),
    };
    let timings = whole.timings.plus(&closer.timings);
    let mut chosen = if better { closer } else { whole };
    chosen.timings = timings;
    Ok(chosen)
}

/// The share of the text region's size added on each side before reading it closer.
const CLOSER_MARGIN: f32 = 0.15;
/// Read closer only when the region is at most 1 / this of the photo's long side.
const CLOSER_MIN_ZOOM: f32 = 1.6;

/// One reading of the whole photo, and the text boxes its detector saw upright at its largest input
/// (image pixels), for [`text_region`].
fn read_whole(
    engine: &Engine,
    image: &RgbImage,
    config: &MrzConfig,
) -> Result<(MrzReading, Vec<Quad>), InferenceError> {
    let started = Instant::now();
    let page = Page {
        engine,
        image,
        config,
    };
    let tiny = alphabet(engine, ModelKind::OcrRecognise)?;
    let mut spent = Spent::default();
    let mut rotations_tried = 0u32;
    let (w, h) = image.dimensions();
    // (found, turn) of the best read so far.
    let mut best: Option<(Found, Turn)> = None;
    let mut text = Vec::new();
    'sides: for &side in &config.long_sides {
        let input = detect::input_tensor(image, side);
        let mut frames: Vec<(u16, Vec<Quad>)> = Vec::with_capacity(4);
        let upright = boxes_in(page, &input, 0, &mut frames, &mut spent)?;
        text.clone_from(&upright);
        // A valid read that only failed plausibility has found the orientation: a larger detector input
        // is tried in that orientation alone.
        let mut turns: Vec<u16> = match &best {
            Some((b, turn)) if b.read.valid => vec![turn.degrees],
            _ if vertical_vote(&upright) > 0 => vec![90, 270, 0, 180],
            _ => vec![0, 180, 90, 270],
        };
        // Text standing upright is turned by a quarter one way or the other: read the widest row both
        // ways and search the way it reads better first (one row more, instead of a whole search of
        // text upside down).
        if turns.len() == 4 && turns[0] == 90 {
            let mut scores = [0.0f32; 2];
            for (k, degrees) in [90u16, 270].into_iter().enumerate() {
                let boxes = boxes_in(page, &input, degrees, &mut frames, &mut spent)?;
                let turn = Turn::new(degrees, w, h);
                scores[k] = upright_score(page, &tiny, &boxes, turn, &mut spent)?;
            }
            if scores[1] > scores[0] {
                turns.swap(0, 1);
            }
        }
        for degrees in turns {
            let turn = Turn::new(degrees, w, h);
            let boxes = boxes_in(page, &input, degrees, &mut frames, &mut spent)?;
            rotations_tried += 1;
            let found = search(page, &tiny, &boxes, turn, &mut spent)?;
            if let Some(found) = found {
                if best
                    .as_ref()
                    .is_none_or(|(b, _)| score(&found.read) > score(&b.read))
                {
                    best = Some((found, turn));
                }
            }
            match &best {
                Some((b, _)) if b.read.valid && plausible(&b.read) => break 'sides,
                Some((b, _)) if b.read.valid => continue 'sides,
                _ => {}
            }
        }
    }
    let mut reread_ms = 0.0;
    if let Some((found, turn)) = best.as_mut() {
        if config.reread != Reread::Never
            && found.read.valid
            && engine.has(ModelKind::OcrRecogniseSmall)
        {
            let before = spent.recognise_ms;
            reread_name(page, found, *turn, &mut spent)?;
            reread_ms = spent.recognise_ms - before;
            spent.recognise_ms = before;
        }
    }
    let (read, quad, rotation_degrees) = match best {
        Some((found, turn)) => {
            let quad =
                outer_quad(&found.rows).map(|q| q.map(|p| turn.back(p)).map(|[x, y]| (x, y)));
            (Some(found.read), quad, turn.degrees)
        }
        None => (None, None, 0),
    };
    let timings = DocumentTimings {
        detect_ms: spent.detect_ms,
        recognise_ms: spent.recognise_ms,
        reread_ms,
        total_ms: started.elapsed().as_secs_f64() * 1e3,
        rotations_tried,
        rows_recognised: spent.rows_recognised,
    };
    tracing::debug!(
        found = read.is_some(),
        valid = read.as_ref().is_some_and(|r| r.valid),
        rotation = rotation_degrees,
        rotations_tried,
        rows = spent.rows_recognised,
        total_ms = timings.total_ms,
        "MRZ search"
    );
    let reading = MrzReading {
        read,
        quad,
        rotation_degrees,
        timings,
    };
    Ok((reading, text))
}

/// The detector's boxes in the frame turned by `degrees`, detected once per frame.
fn boxes_in(
    page: Page,
    input: &DetectorInput,
    degrees: u16,
    frames: &mut Vec<(u16, Vec<Quad>)>,
    spent: &mut Spent,
) -> Result<Vec<Quad>, InferenceError> {
    if let Some((_, boxes)) = frames.iter().find(|(d, _)| *d == degrees) {
        return Ok(boxes.clone());
    }
    let (w, h) = page.image.dimensions();
    let boxes = detect_turned(
        page.engine,
        input,
        Turn::new(degrees, w, h),
        page.config,
        spent,
    )?;
    frames.push((degrees, boxes.clone()));
    Ok(boxes)
}

/// Reads the name row of a valid read again with the small recogniser (unless [`Reread`] says the
/// tiny recogniser was sure enough), and keeps the MRZ that gives when it is valid and plausible too.
/// The name is the first line, or the third of a three-line card (TD1). Only the row up to the name's
/// end and two fillers is read again; the trailing fillers the tiny recogniser read are kept.
fn reread_name(
    page: Page,
    found: &mut Found,
    turn: Turn,
    spent: &mut Spent,
) -> Result<(), InferenceError> {
    let name_row = if found.rows.len() == 3 { 2 } else { 0 };
    let tiny = &found.texts[name_row];
    if let Reread::Below(threshold) = page.config.reread {
        if tiny.min_score() >= threshold {
            return Ok(());
        }
    }
    let (row, tail) = match tiny.filler_tail(FILLERS_KEPT) {
        Some((start, fraction)) => (
            quad_prefix(&found.rows[name_row], fraction),
            tiny.text.get(start..).unwrap_or_default().to_string(),
        ),
        None => (found.rows[name_row], String::new()),
    };
    let small = alphabet(page.engine, ModelKind::OcrRecogniseSmall)?;
    let mut text = recognise(
        page,
        ModelKind::OcrRecogniseSmall,
        &small,
        &row,
        turn,
        spent,
    )?;
    text.text.push_str(&tail);
    let mut lines: Vec<&str> = found.texts.iter().map(|t| t.text.as_str()).collect();
    lines[name_row] = &text.text;
    if let Some(read) = assemble(&lines).filter(|r| r.valid && plausible(r)) {
        found.read = read;
        found.texts[name_row] = text;
    }
    Ok(())
}

/// Clockwise rotations tried, in order: upright first, as most documents are.
pub const ROTATIONS: [u16; 4] = [0, 90, 180, 270];

/// A norm at which the first orientation tried is accepted without trying the others: above what any
/// rotated face reached in the measurements (2.7), below most upright ones.
pub const UPRIGHT_NORM: f32 = 3.0;

/// The zooms of the closer portrait search, in order: tiles on which the face is 2, then 3 times larger
/// than in the detector's view of the whole photo.
pub const PORTRAIT_ZOOMS: [f32; 2] = [2.0, 3.0];

/// The closer search's budget in detector runs (one per tile, about 4 ms each on one core): all four
/// orientations at both zooms of a 4:3 or 16:9 photo (4 × (9 + 16) and 2 × (12 + 20) + 2 × (15 + 28)
/// = 150); a longer photo has more tiles and gets as many orientations of the second zoom as fit.
pub const PORTRAIT_TILE_RUNS: usize = 160;

/// When no orientation of the whole photo shows a face: the portrait may be small on a large photo (a
/// card photographed from afar, a small grey portrait). Looks closer, on tiles, zoom by zoom and
/// orientation by orientation, until a face is clearly upright or the budget is spent, only at zooms
/// that do not upsample and only for faces small enough for the whole view to have missed (on a scan
/// of a card's back, tiles find print and patterns, never a portrait); each orientation
/// keeps its face with the largest norm (the desk's grain can pass for a large face at the first zoom,
/// but its norm is low), for `pick_upright`.
fn closer_search(
    analyzer: &FaceAnalyzer,
    image: &RgbImage,
    tried: &mut [(u16, Analysis)],
    timings: &mut super::face::StageTimings,
) -> Result<usize, InferenceError> {
    let mut runs = 0;
    for zoom in PORTRAIT_ZOOMS {
        for (degrees, analysis) in tried.iter_mut() {
            let (w, h) = match degrees {
                90 | 270 => (image.height(), image.width()),
                _ => (image.width(), image.height()),
            };
            if !vision_detect::tiles_downsample(w, h, zoom) {
                continue;
            }
            let tiles = FaceAnalyzer::tile_count(w, h, zoom);
            if runs + tiles > PORTRAIT_TILE_RUNS {
                return Ok(runs);
            }
            runs += tiles;
            let closer = analyzer.analyse_tiled(
                &rotate(image, *degrees),
                zoom,
                vision_detect::missable_face_height(w, h),
                Faces::Primary,
            )?;
            timings.add(&closer.timings);
            let norm = |a: &Analysis| a.primary().map(|f| f.norm);
            if norm(&closer) > norm(analysis) {
                *analysis = closer;
            }
            if norm(analysis).is_some_and(|n| n >= UPRIGHT_NORM) {
                return Ok(runs);
            }
        }
    }
    Ok(runs)
}

/// Among (rotation, primary-face norm) candidates, the index of the upright one: the largest norm.
pub fn pick_upright(candidates: &[(u16, Option<f32>)]) -> Option<usize> {
    candidates
        .iter()
        .enumerate()
        .filter_map(|(i, (_, norm))| norm.map(|n| (i, n)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| i)
}

pub fn rotate(image: &RgbImage, degrees: u16) -> RgbImage {
    match degrees {
        90 => image::imageops::rotate90(image),
        180 => image::imageops::rotate180(image),
        270 => image::imageops::rotate270(image),
        _ => image.clone(),
    }
}

/// The document's primary face in its upright orientation, with the clockwise rotation applied to the
/// image to get there. Coordinates in the analysis refer to the rotated image.
pub fn analyse_document(
    analyzer: &FaceAnalyzer,
    image: &RgbImage,
) -> Result<(Analysis, u16), InferenceError> {
    let first = analyzer.analyse(image, Faces::Primary)?;
    if first.primary().is_some_and(|f| f.norm >= UPRIGHT_NORM) {
        return Ok((first, 0));
    }
    let mut tried = vec![(0u16, first)];
    for degrees in &ROTATIONS[1..] {
        let analysis = analyzer.analyse(&rotate(image, *degrees), Faces::Primary)?;
        tried.push((*degrees, analysis));
    }
    let mut timings = super::face::StageTimings::default();
    for (_, a) in &tried {
        timings.add(&a.timings);
    }
    if tried.iter().all(|(_, a)| a.primary().is_none()) {
        let runs = closer_search(analyzer, image, &mut tried, &mut timings)?;
        let found = tried.iter().any(|(_, a)| a.primary().is_some());
        tracing::debug!(runs, found, "portrait: closer search on tiles");
    }
    let norms: Vec<(u16, Option<f32>)> = tried
        .iter()
        .map(|(d, a)| (*d, a.primary().map(|f| f.norm)))
        .collect();
    let best = pick_upright(&norms).unwrap_or(0);
    let (degrees, mut analysis) = tried.swap_remove(best);
    analysis.timings = timings; // the search cost belongs to this document
    Ok((analysis, degrees))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_largest_norm_and_skips_missing_faces() {
        let c = [
            (0, Some(2.1)),
            (90, None),
            (180, Some(1.7)),
            (270, Some(3.9)),
        ];
        assert_eq!(pick_upright(&c), Some(3));
        assert_eq!(pick_upright(&[(0, None), (90, None)]), None);
        assert_eq!(pick_upright(&[(0, Some(2.0))]), Some(0));
    }

    #[test]
    fn rotations_turn_clockwise() {
        // A 2×1 image: red on the left, blue on the right.
        let mut img = RgbImage::new(2, 1);
        img.put_pixel(0, 0, image::Rgb([255, 0, 0]));
        img.put_pixel(1, 0, image::Rgb([0, 0, 255]));
        let r90 = rotate(&img, 90);
        assert_eq!(r90.dimensions(), (1, 2));
        assert_eq!(r90.get_pixel(0, 0).0, [255, 0, 0]); // left went to the top
        let r270 = rotate(&img, 270);
        assert_eq!(r270.get_pixel(0, 0).0, [0, 0, 255]);
        assert_eq!(rotate(&img, 180).get_pixel(0, 0).0, [0, 0, 255]);
    }
}
