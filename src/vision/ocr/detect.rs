//! The text detector (PP-OCRv6 tiny, DB): its input, and its probability map turned into text boxes.
//!
//! DB's map gives P(text) per pixel at the input's resolution. A box is a connected region of pixels
//! above [`DetectConfig::threshold`]: its minimum-area rotated rectangle, kept when the region's mean
//! probability reaches [`DetectConfig::box_score`], grown ("unclipped") by area · ratio / perimeter,
//! since DB is trained to mark a shrunken core of each text line.

use image::RgbImage;

use super::geometry::{min_area_rect, order_quad, Quad, P64};
use crate::vision::canvas::{resize_region, Canvas};
use crate::vision::geometry::RectI;

/// ImageNet mean and standard deviation, applied by PaddleOCR to the planes in its BGR order.
const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// How the map is read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectConfig {
    /// A pixel is text above this probability.
    pub threshold: f32,
    /// A region is kept when its mean probability reaches this.
    pub box_score: f32,
    /// Growth of each box: area · ratio / perimeter on every side.
    pub unclip_ratio: f64,
    /// Regions at most (the first found, in raster order): bounds the work on an adversarial image.
    pub max_boxes: usize,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            threshold: 0.3,
            box_score: 0.6,
            unclip_ratio: 1.5,
            max_boxes: 1000,
        }
    }
}

/// The detector's input tensor and how it maps back to the image.
#[derive(Debug, Clone)]
pub struct DetectorInput {
    /// [1, 3, height, width].
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
    /// Image pixels per map pixel, along x and y.
    pub scale: (f32, f32),
}

/// The input size for an image: the longer side scaled to `long_side`, each side rounded to a multiple
/// of 32 (at least 32). Returns (width, height).
pub fn input_size(width: u32, height: u32, long_side: u32) -> (usize, usize) {
    let s = long_side as f64 / width.max(height).max(1) as f64;
    let round32 = |v: u32| (((v as f64 * s / 32.0).round() as usize) * 32).max(32);
    (round32(width), round32(height))
}

/// The whole image resized (bilinear) to [`input_size`], as B, G, R planes with ImageNet normalisation.
pub fn input_tensor(image: &RgbImage, long_side: u32) -> DetectorInput {
    let (w, h) = input_size(image.width(), image.height(), long_side);
    let region = RectI {
        x: 0,
        y: 0,
        w: image.width().max(1) as i64,
        h: image.height().max(1) as i64,
    };
    let resized = resize_region(&Canvas::new(image), region, w, h);
    let n = w * h;
    let mut data = vec![0.0f32; 3 * n];
    // Plane 0 is blue, normalised with the first mean and deviation, as PaddleOCR does.
    for (plane, channel) in [2usize, 1, 0].into_iter().enumerate() {
        let (mean, std) = (MEAN[plane], STD[plane]);
        let dst = &mut data[plane * n..(plane + 1) * n];
        for (d, px) in dst.iter_mut().zip(resized.data.chunks_exact(3)) {
            *d = (px[channel] / 255.0 - mean) / std;
        }
    }
    DetectorInput {
        shape: vec![1, 3, h, w],
        data,
        scale: (
            image.width() as f32 / w as f32,
            image.height() as f32 / h as f32,
        ),
    }
}

/// One text box: its corners in reading order and the mean probability of its region.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextBox {
    pub quad: Quad,
    pub score: f32,
}

/// Text boxes from a `width`×`height` probability map, in map coordinates.
pub fn boxes(prob: &[f32], width: usize, height: usize, config: &DetectConfig) -> Vec<TextBox> {
    assert_eq!(prob.len(), width * height, "map size");
    let mut scratch = Scratch {
        seen: vec![false; prob.len()],
        stack: Vec::new(),
        extent: vec![(usize::MAX, 0); height],
    };
    let mut out = Vec::new();
    let mut regions = 0usize;
    for start in 0..prob.len() {
        if scratch.seen[start] || prob[start] <= config.threshold {
            continue;
        }
        if regions == config.max_boxes {
            break;
        }
        regions += 1;
        let region = flood(prob, width, height, config.threshold, start, &mut scratch);
        if let Some(b) = region_box(&region, config) {
            out.push(b);
        }
    }
    out
}

/// Buffers reused from one region to the next.
struct Scratch {
    seen: Vec<bool>,
    stack: Vec<usize>,
    /// Per map row, the region's leftmost and rightmost column so far.
    extent: Vec<(usize, usize)>,
}

/// A connected region (8-neighbours) of above-threshold pixels: per row its leftmost and rightmost
/// column (enough for the convex hull), its bounding box, and the sum of its probabilities.
struct Region {
    /// (row, min column, max column).
    rows: Vec<(usize, usize, usize)>,
    x0: usize,
    x1: usize,
    y0: usize,
    y1: usize,
    sum: f64,
    count: usize,
}

fn flood(
    prob: &[f32],
    width: usize,
    height: usize,
    threshold: f32,
    start: usize,
    scratch: &mut Scratch,
) -> Region {
    let Scratch {
        seen,
        stack,
        extent,
    } = scratch;
    let (mut sum, mut count) = (0.0f64, 0usize);
    let (mut y0, mut y1) = (start / width, start / width);
    seen[start] = true;
    stack.push(start);
    while let Some(i) = stack.pop() {
        let (x, y) = (i % width, i / width);
        sum += prob[i] as f64;
        count += 1;
        let e = &mut extent[y];
        e.0 = e.0.min(x);
        e.1 = e.1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
        for ny in y.saturating_sub(1)..=(y + 1).min(height - 1) {
            for nx in x.saturating_sub(1)..=(x + 1).min(width - 1) {
                let j = ny * width + nx;
                if !seen[j] && prob[j] > threshold {
                    seen[j] = true;
                    stack.push(j);
                }
            }
        }
    }
    // A region is connected, so every row between its top and bottom has pixels of it.
    let rows: Vec<(usize, usize, usize)> = (y0..=y1)
        .map(|y| {
            let (a, b) = std::mem::replace(&mut extent[y], (usize::MAX, 0));
            (y, a, b)
        })
        .collect();
    Region {
        x0: rows.iter().map(|r| r.1).min().unwrap_or(0),
        x1: rows.iter().map(|r| r.2).max().unwrap_or(0),
        y0,
        y1,
        rows,
        sum,
        count,
    }
}

/// The region's box, or `None` when it is too thin (under 3 map pixels before growing, 5 after) or too
/// unsure. Points are pixel coordinates, as OpenCV's contours give them.
fn region_box(region: &Region, config: &DetectConfig) -> Option<TextBox> {
    // The minimum-area rectangle is never thinner than the bounding box's short side allows.
    if region.x1 - region.x0 < 3 || region.y1 - region.y0 < 3 {
        return None;
    }
    let score = (region.sum / region.count.max(1) as f64) as f32;
    if score < config.box_score {
        return None;
    }
    let points: Vec<P64> = region
        .rows
        .iter()
        .flat_map(|&(y, a, b)| [[a as f64, y as f64], [b as f64, y as f64]])
        .collect();
    let rect = min_area_rect(&points)?;
    if rect.min_side() < 3.0 {
        return None;
    }
    let grown = rect.unclip(config.unclip_ratio);
    if grown.min_side() < 5.0 {
        return None;
    }
    Some(TextBox {
        quad: order_quad(grown.corners()),
        score,
    })
}

/// A box from map coordinates to image coordinates.
pub fn to_image(b: &TextBox, scale: (f32, f32)) -> TextBox {
    TextBox {
        quad: b.quad.map(|[x, y]| [x * scale.0, y * scale.1]),
        score: b.score,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::ocr::geometry::quad_size;

    #[test]
    fn input_sides_are_multiples_of_32_with_the_aspect_kept() {
        assert_eq!(input_size(1200, 800, 960), (960, 640));
        assert_eq!(input_size(800, 1200, 960), (640, 960));
        assert_eq!(input_size(3000, 2000, 640), (640, 416)); // 426.7 rounds to 13·32
        assert_eq!(input_size(100, 10, 960), (960, 96));
        assert_eq!(input_size(1000, 5, 960), (960, 32)); // never under 32
    }

    #[test]
    fn the_input_is_bgr_with_imagenet_normalisation() {
        let img = RgbImage::from_pixel(64, 32, image::Rgb([255, 0, 0])); // pure red
        let t = input_tensor(&img, 64);
        assert_eq!(t.shape, vec![1, 3, 32, 64]);
        let n = 64 * 32;
        let b = (0.0 - 0.485) / 0.229;
        let g = (0.0 - 0.456) / 0.224;
        let r = (1.0 - 0.406) / 0.225;
        assert!((t.data[0] - b).abs() < 1e-5);
        assert!((t.data[n] - g).abs() < 1e-5);
        assert!((t.data[2 * n] - r).abs() < 1e-5);
        assert_eq!(t.scale, (1.0, 1.0));
    }

    /// A map with the given rectangles (x0, y0, x1, y1 inclusive) at probability `p`.
    fn map(w: usize, h: usize, rects: &[(usize, usize, usize, usize, f32)]) -> Vec<f32> {
        let mut m = vec![0.0; w * h];
        for &(x0, y0, x1, y1, p) in rects {
            for y in y0..=y1 {
                for x in x0..=x1 {
                    m[y * w + x] = p;
                }
            }
        }
        m
    }

    #[test]
    fn each_region_becomes_one_grown_box() {
        let m = map(200, 100, &[(10, 10, 109, 19, 0.9), (20, 50, 80, 60, 0.8)]);
        let found = boxes(&m, 200, 100, &DetectConfig::default());
        assert_eq!(found.len(), 2);
        let (w, h, c) = quad_size(&found[0].quad);
        // 99 × 9 between pixel centres, grown by 891 · 1.5 / 216 on every side.
        let d = 99.0 * 9.0 * 1.5 / 216.0;
        assert!((w - (99.0 + 2.0 * d) as f32).abs() < 1e-3, "{w}");
        assert!((h - (9.0 + 2.0 * d) as f32).abs() < 1e-3, "{h}");
        assert!((c[0] - 59.5).abs() < 1e-3 && (c[1] - 14.5).abs() < 1e-3);
        assert!((found[0].score - 0.9).abs() < 1e-6);
        assert!((found[1].score - 0.8).abs() < 1e-6);
    }

    #[test]
    fn thin_unsure_and_faint_regions_are_dropped() {
        let m = map(
            200,
            100,
            &[
                (10, 10, 100, 11, 0.9),  // two rows high
                (10, 30, 100, 40, 0.5),  // mean under the box score
                (10, 60, 100, 70, 0.25), // under the pixel threshold
            ],
        );
        assert!(boxes(&m, 200, 100, &DetectConfig::default()).is_empty());
    }

    #[test]
    fn diagonal_neighbours_join_a_region_and_the_count_is_bounded() {
        let mut m = map(50, 50, &[(0, 0, 9, 9, 0.9), (10, 10, 19, 19, 0.9)]);
        assert_eq!(boxes(&m, 50, 50, &DetectConfig::default()).len(), 1);
        m = map(
            50,
            50,
            &[
                (0, 0, 9, 9, 0.9),
                (20, 20, 29, 29, 0.9),
                (40, 40, 49, 49, 0.9),
            ],
        );
        let config = DetectConfig {
            max_boxes: 2,
            ..DetectConfig::default()
        };
        assert_eq!(boxes(&m, 50, 50, &config).len(), 2);
    }

    #[test]
    fn a_tilted_region_gives_a_tilted_box() {
        // A 120 × 12 band tilted by about 8.5°.
        let (w, h) = (200, 100);
        let mut m = vec![0.0; w * h];
        let (c, s) = (0.15f64.cos(), 0.15f64.sin());
        for y in 0..h {
            for x in 0..w {
                let (dx, dy) = (x as f64 - 100.0, y as f64 - 50.0);
                let (u, v) = (dx * c + dy * s, -dx * s + dy * c);
                if u.abs() <= 60.0 && v.abs() <= 6.0 {
                    m[y * w + x] = 0.9;
                }
            }
        }
        let found = boxes(&m, w, h, &DetectConfig::default());
        assert_eq!(found.len(), 1);
        let q = found[0].quad;
        let angle = ((q[1][1] - q[0][1]) as f64).atan2((q[1][0] - q[0][0]) as f64);
        assert!((angle - 0.15).abs() < 0.03, "{angle}");
        let mapped = to_image(&found[0], (2.0, 3.0));
        assert_eq!(mapped.quad[2], [q[2][0] * 2.0, q[2][1] * 3.0]);
    }
}
