//! Face detection with fr_detect (Ultra-Light RFB-320): input tensor, decoding, NMS, the square box and
//! the choice of the primary face (models.md §2.1).

use serde::{Deserialize, Serialize};

use super::canvas::{resize_region, Canvas, ChannelOrder};
use super::geometry::{BoxF, RectI};

pub const INPUT_W: usize = 320;
pub const INPUT_H: usize = 240;
/// Priors in the graph: 40·30·3 + 20·15·2 + 10·8·2 + 5·4·3.
pub const NUM_PRIORS: usize = 4420;

/// Detector tuning, with the values measured in models.md §2.1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorConfig {
    /// Minimum P(face) on the first pass.
    pub min_score: f32,
    /// Minimum P(face) when the first pass finds nothing, and on the padded retry.
    pub fallback_min_score: f32,
    /// Greedy NMS suppresses a box overlapping a better one by more than this IoU.
    pub nms_iou: f32,
    /// Candidates kept (best first) before NMS.
    pub top_k: usize,
    /// Faces shorter than this (pixels) are discarded: the detector fires on small textures
    /// (a 6 px "face" on the back of an ID card).
    pub min_face_px: f32,
    /// Candidates for the primary face: faces with at least this share of the largest face's area.
    pub primary_min_area_ratio: f32,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            min_score: 0.65,
            fallback_min_score: 0.5,
            nms_iou: 0.4,
            top_k: 750,
            min_face_px: 32.0,
            primary_min_area_ratio: 0.25,
        }
    }
}

/// One detected face in canvas pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Detection {
    /// The detector's box.
    pub bbox: BoxF,
    /// P(face).
    pub score: f32,
}

/// The whole canvas resized to 320×240 (aspect ignored), RGB planes, (v − 127) / 128.
pub fn input_tensor(canvas: &Canvas) -> Vec<f32> {
    let region = RectI {
        x: 0,
        y: 0,
        w: canvas.width() as i64,
        h: canvas.height() as i64,
    };
    region_tensor(canvas, region)
}

/// One region of the canvas as the detector's input, like [`input_tensor`] for the whole canvas.
pub fn region_tensor(canvas: &Canvas, region: RectI) -> Vec<f32> {
    resize_region(canvas, region, INPUT_W, INPUT_H)
        .planes(ChannelOrder::Rgb, |v| (v - 127.0) / 128.0)
}

/// Whether tiles at `zoom` are at least the detector's input size, so it sees them at their own
/// resolution or finer. Upsampled tiles show it nothing new, only more chances to take print or
/// texture for a face.
pub fn tiles_downsample(width: u32, height: u32, zoom: f32) -> bool {
    let aspect = INPUT_W as f32 / INPUT_H as f32;
    let fit_w = (width as f32).min(height as f32 * aspect);
    fit_w / zoom.max(1.0) >= INPUT_W as f32
}

/// The tallest face the detector's view of a whole `width`×`height` image may miss for its size: one
/// under `MISSED_IN_VIEW_PX` tall or wide in the 320×240 view (which squeezes a long image along its
/// length). A larger face it did not find is not taken from tiles either: on a card it is print or
/// pattern, not a portrait.
pub fn missable_face_height(width: u32, height: u32) -> f32 {
    let tall = height as f32 / INPUT_H as f32;
    let wide = width as f32 / INPUT_W as f32 / FACE_BOX_ASPECT;
    MISSED_IN_VIEW_PX * tall.max(wide)
}

/// A face up to this size in the detector's 320×240 view may go unfound (its smallest priors are
/// 10 px; faces under about 20 px score low).
const MISSED_IN_VIEW_PX: f32 = 24.0;
/// The detector's face boxes are about this wide for their height.
const FACE_BOX_ASPECT: f32 = 0.8;

/// Overlapping tiles covering a `width`×`height` image, row by row, each of the detector's 4:3 aspect
/// and `1 / zoom` the size of the largest 4:3 box the image holds, so the detector sees a face `zoom`
/// times larger than in its view of the whole image, and unsquashed however long the image is (it
/// resizes without keeping the aspect). Neighbours overlap by at least `overlap` of a tile, so a face
/// smaller than that lies whole in one of them. For the small portrait of a card photographed from
/// afar: the detector's smallest prior is 10 px on its 320×240 view.
pub fn tiles(width: u32, height: u32, zoom: f32, overlap: f32) -> Vec<RectI> {
    let (w, h) = (width as f32, height as f32);
    let aspect = INPUT_W as f32 / INPUT_H as f32;
    let fit_w = w.min(h * aspect);
    let (tile_w, tile_h) = (fit_w / zoom.max(1.0), fit_w / aspect / zoom.max(1.0));
    // Tiles along one axis: as few as cover `len` with the overlap, evenly spaced, the last ending at `len`.
    let axis = |len: f32, side: f32| -> Vec<(i64, i64)> {
        let side = side.round().clamp(1.0, len.max(1.0));
        let stride = side * (1.0 - overlap.clamp(0.0, 0.9));
        let n = 1 + ((len - side) / stride).ceil().max(0.0) as usize;
        let step = if n > 1 {
            (len - side) / (n - 1) as f32
        } else {
            0.0
        };
        (0..n)
            .map(|i| ((i as f32 * step).round() as i64, side as i64))
            .collect()
    };
    let (xs, ys) = (axis(w, tile_w), axis(h, tile_h));
    ys.iter()
        .flat_map(|&(y, th)| xs.iter().map(move |&(x, tw)| RectI { x, y, w: tw, h: th }))
        .collect()
}

/// Turns the raw outputs (`scores` [1, N, 2] softmaxed, `boxes` [1, N, 4] normalised corners) into
/// detections in canvas pixels with score ≥ `min_score`, best first, at most `top_k`.
pub fn decode(
    scores: &[f32],
    boxes: &[f32],
    width: f32,
    height: f32,
    min_score: f32,
    top_k: usize,
) -> Vec<Detection> {
    let mut dets: Vec<Detection> = scores
        .chunks_exact(2)
        .zip(boxes.chunks_exact(4))
        .filter(|(s, _)| s[1] >= min_score)
        .map(|(s, b)| Detection {
            bbox: BoxF {
                x1: b[0] * width,
                y1: b[1] * height,
                x2: b[2] * width,
                y2: b[3] * height,
            },
            score: s[1],
        })
        .collect();
    sort_by_score(&mut dets);
    dets.truncate(top_k);
    dets
}

fn sort_by_score(dets: &mut [Detection]) {
    // Stable, so equal scores keep the detector's order and results are reproducible.
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
}

/// Standard greedy NMS: highest score first, drop every later box with IoU > `iou_threshold` against a
/// kept one. (The vendor's JS sorts by y2 and can keep a worse duplicate; models.md §3.4.)
pub fn nms(mut dets: Vec<Detection>, iou_threshold: f32) -> Vec<Detection> {
    sort_by_score(&mut dets);
    let mut kept: Vec<Detection> = Vec::with_capacity(dets.len().min(16));
    for d in dets {
        if kept.iter().all(|k| k.bbox.iou(&d.bbox) <= iou_threshold) {
            kept.push(d);
        }
    }
    kept
}

/// The square box later crops use: side = the box height, same centre, clipped to the canvas
/// (the vendor's `scaleResult`).
pub fn square_box(b: &BoxF, width: f32, height: f32) -> BoxF {
    let side = b.y2 - b.y1;
    let (cx, cy) = ((b.x1 + b.x2) / 2.0, (b.y1 + b.y2) / 2.0);
    BoxF {
        x1: (cx - side / 2.0).max(0.0),
        y1: (cy - side / 2.0).max(0.0),
        x2: (cx + side / 2.0).min(width - 1.0),
        y2: (cy + side / 2.0).min(height - 1.0),
    }
}

/// Index of the primary face: among faces with at least `min_area_ratio` of the largest face's area, the
/// most confident. Plain "largest face" picks sharp-edged background false positives (models.md §2.1.8);
/// on an ID document it still picks the main portrait over the small ghost image.
pub fn primary_face(dets: &[Detection], min_area_ratio: f32) -> Option<usize> {
    let largest = dets.iter().map(|d| d.bbox.area()).fold(0.0f32, f32::max);
    dets.iter()
        .enumerate()
        .filter(|(_, d)| d.bbox.area() >= min_area_ratio * largest)
        .max_by(|(_, a), (_, b)| a.score.total_cmp(&b.score))
        .map(|(i, _)| i)
}

/// Whether a box reaches the edge of the image (within a pixel): the face may be cut off, and a face that
/// fills the frame is better found again on a padded canvas.
pub fn touches_border(b: &BoxF, width: f32, height: f32) -> bool {
    b.x1 < 1.0 || b.y1 < 1.0 || b.x2 > width - 2.0 || b.y2 > height - 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x1: f32, y1: f32, x2: f32, y2: f32, score: f32) -> Detection {
        Detection {
            bbox: BoxF { x1, y1, x2, y2 },
            score,
        }
    }

    #[test]
    fn tiles_are_4_by_3_overlapping_and_cover_the_image() {
        let covered = |t: &[RectI], x: i64, y: i64| {
            t.iter()
                .any(|r| (r.x..r.x + r.w).contains(&x) && (r.y..r.y + r.h).contains(&y))
        };
        // A 4:3 photo at zoom 2: 2×2 tiles would not overlap, so 3×3 of half the photo's size.
        let t = tiles(4000, 3000, 2.0, 0.25);
        assert_eq!(t.len(), 9);
        assert_eq!((t[0].x, t[0].y, t[0].w, t[0].h), (0, 0, 2000, 1500));
        assert_eq!((t[1].x, t[3].y), (1000, 750));
        assert_eq!((t[8].x + t[8].w, t[8].y + t[8].h), (4000, 3000));
        // A long photo (a card's two sides side by side): 4:3 tiles, more of them along its length.
        let t = tiles(4000, 1200, 2.0, 0.25);
        assert!(t.iter().all(|r| (r.w, r.h) == (800, 600)));
        let across = t.iter().filter(|r| r.y == 0).count();
        assert_eq!((across, t.len() / across), (7, 3));
        for r in t.windows(2).filter(|p| p[0].y == p[1].y) {
            assert!(
                r[0].x + r[0].w - r[1].x >= 200,
                "overlap of at least a quarter"
            );
        }
        for (x, y) in [(0, 0), (3999, 1199), (2000, 600), (799, 599), (3999, 0)] {
            assert!(covered(&t, x, y), "({x}, {y}) covered");
        }
        // Zoom 1 on a 4:3 image is the whole image; tiny and empty images give one tile, no panic.
        assert_eq!(tiles(640, 480, 1.0, 0.25).len(), 1);
        let tiny = tiles(3, 2, 3.0, 0.25);
        assert!(tiny
            .iter()
            .all(|r| r.x + r.w <= 3 && r.y + r.h <= 2 && r.w > 0));
        assert!(!tiles(0, 0, 3.0, 0.25).is_empty());
    }

    #[test]
    fn tiles_are_searched_only_where_they_are_not_upsampled() {
        // A 4000×3000 photo: zooms 2 and 3 (tiles 2000 and 1333 wide) yes; a 600×400 scan: no zoom.
        assert!(tiles_downsample(4000, 3000, 3.0));
        assert!(!tiles_downsample(600, 400, 2.0));
        // A 984×608 card: zoom 2 (405 wide) yes, zoom 3 (270) no.
        assert!(tiles_downsample(984, 608, 2.0));
        assert!(!tiles_downsample(984, 608, 3.0));
        // 24 px of the 240-pixel view; a long photo is squeezed along its length, so a face must be
        // larger there to be seen.
        assert_eq!(missable_face_height(4000, 3000), 375.0);
        assert_eq!(missable_face_height(2400, 3200), 320.0);
        assert_eq!(missable_face_height(4000, 1200), 375.0);
    }

    #[test]
    fn decode_scales_to_pixels_and_filters_by_score() {
        let scores = [0.9, 0.1, 0.2, 0.8, 0.5, 0.5];
        let boxes = [0.0, 0.0, 0.1, 0.1, 0.25, 0.5, 0.75, 1.0, 0.0, 0.0, 1.0, 1.0];
        let dets = decode(&scores, &boxes, 200.0, 100.0, 0.5, 10);
        assert_eq!(dets.len(), 2);
        assert_eq!(dets[0], det(50.0, 50.0, 150.0, 100.0, 0.8));
        assert_eq!(dets[1].score, 0.5);
        assert_eq!(decode(&scores, &boxes, 200.0, 100.0, 0.5, 1).len(), 1);
    }

    #[test]
    fn nms_keeps_the_best_of_overlapping_boxes() {
        let dets = vec![
            det(0.0, 0.0, 10.0, 10.0, 0.7),
            det(1.0, 1.0, 11.0, 11.0, 0.9), // IoU with the first = 81/119 = 0.68
            det(20.0, 20.0, 30.0, 30.0, 0.8),
        ];
        let kept = nms(dets, 0.4);
        assert_eq!(
            kept.iter().map(|d| d.score).collect::<Vec<_>>(),
            vec![0.9, 0.8]
        );
    }

    #[test]
    fn nms_keeps_boxes_at_the_iou_threshold() {
        // Two 10×10 boxes overlapping by 5×10: IoU = 50/150 = 1/3.
        let dets = vec![
            det(0.0, 0.0, 10.0, 10.0, 0.9),
            det(5.0, 0.0, 15.0, 10.0, 0.8),
        ];
        assert_eq!(nms(dets.clone(), 0.4).len(), 2);
        assert_eq!(nms(dets, 0.3).len(), 1);
    }

    #[test]
    fn nms_picks_by_score_not_by_position() {
        // The JS sorted by y2 and would keep the lower box here.
        let dets = vec![
            det(0.0, 0.0, 10.0, 9.0, 0.6),
            det(0.0, 0.0, 10.0, 10.0, 0.95),
        ];
        let kept = nms(dets, 0.4);
        assert_eq!(kept, vec![det(0.0, 0.0, 10.0, 10.0, 0.95)]);
    }

    #[test]
    fn square_box_uses_the_height_and_clips() {
        let b = square_box(
            &BoxF {
                x1: 40.0,
                y1: 10.0,
                x2: 60.0,
                y2: 50.0,
            },
            100.0,
            100.0,
        );
        assert_eq!(
            b,
            BoxF {
                x1: 30.0,
                y1: 10.0,
                x2: 70.0,
                y2: 50.0
            }
        );
        let clipped = square_box(
            &BoxF {
                x1: 0.0,
                y1: 0.0,
                x2: 10.0,
                y2: 40.0,
            },
            30.0,
            30.0,
        );
        assert_eq!(
            clipped,
            BoxF {
                x1: 0.0,
                y1: 0.0,
                x2: 25.0,
                y2: 29.0
            }
        );
    }

    #[test]
    fn primary_face_prefers_confidence_among_large_faces() {
        let faces = [
            det(0.0, 0.0, 100.0, 100.0, 0.80),  // largest
            det(200.0, 0.0, 260.0, 60.0, 0.99), // 36 % of the largest: a candidate, most confident
            det(300.0, 0.0, 310.0, 10.0, 1.00), // 1 %: not a candidate
        ];
        assert_eq!(primary_face(&faces, 0.25), Some(1));
        assert_eq!(primary_face(&faces, 0.5), Some(0));
        assert_eq!(primary_face(&[], 0.25), None);
    }

    #[test]
    fn border_contact() {
        assert!(touches_border(
            &BoxF {
                x1: 0.5,
                y1: 10.0,
                x2: 50.0,
                y2: 50.0
            },
            100.0,
            100.0
        ));
        assert!(touches_border(
            &BoxF {
                x1: 10.0,
                y1: 10.0,
                x2: 98.5,
                y2: 50.0
            },
            100.0,
            100.0
        ));
        assert!(!touches_border(
            &BoxF {
                x1: 10.0,
                y1: 10.0,
                x2: 90.0,
                y2: 90.0
            },
            100.0,
            100.0
        ));
    }
}
