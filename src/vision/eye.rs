//! Eye state with fr_eye (mini-Xception, 24×24 gray, class 0 = closed) and the eye aspect ratio from the
//! 68 landmarks (models.md §2.5).

use super::canvas::{resize_region, Canvas};
use super::geometry::{Point, RectI};

pub const INPUT_SIDE: usize = 24;

/// The eyelid points (iBUG 0-based) and the two corners of each eye, image-left eye first.
const EYES: [([usize; 4], usize, usize); 2] =
    [([37, 38, 40, 41], 36, 39), ([43, 44, 46, 47], 42, 45)];

/// The square crop of each eye (image-left first), with the vendor's `getEyeBBox` integer truncations:
/// centre = trunc(mean of the four lid points), side = trunc(1.6 × corner distance), corner clamped at 0,
/// side shrunk to fit. `None` for an eye whose crop is smaller than 2 px (the reference gives NaN there).
pub fn eye_boxes(lm: &[Point], width: i64, height: i64) -> [Option<RectI>; 2] {
    EYES.map(|(lids, c0, c1)| {
        let cx = (lids.iter().map(|&i| lm[i][0] as f64).sum::<f64>() / 4.0) as i64;
        let cy = (lids.iter().map(|&i| lm[i][1] as f64).sum::<f64>() / 4.0) as i64;
        let mut side = ((lm[c1][0] as f64 - lm[c0][0] as f64) * 1.6) as i64;
        let x = ((cx as f64 - side as f64 / 2.0) as i64).max(0);
        let y = ((cy as f64 - side as f64 / 2.0) as i64).max(0);
        if x + side >= width {
            side = width - x - 1;
        }
        if y + side >= height {
            side = height - y - 1;
        }
        (side >= 2).then_some(RectI {
            x,
            y,
            w: side,
            h: side,
        })
    })
}

/// One eye crop as the model takes it: 24×24 gray divided by 255 (the landmark model divides by 256; this
/// one was trained on /255).
pub fn input_tensor(canvas: &Canvas, eye: RectI) -> Vec<f32> {
    resize_region(canvas, eye, INPUT_SIDE, INPUT_SIDE)
        .gray()
        .into_iter()
        .map(|g| g / 255.0)
        .collect()
}

/// P(closed) from the two logits: softmax, class 0.
pub fn p_closed(logits: &[f32]) -> f32 {
    softmax(logits).first().copied().unwrap_or(f32::NAN)
}

/// Numerically stable softmax.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = logits.iter().map(|v| (v - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}

/// Eye aspect ratio (Soukupová and Čech) of each eye, image-left first: the mean of the two lid
/// distances over the corner distance. About 0.23–0.35 open, 0.13–0.15 in a blink on the shared videos.
pub fn eye_aspect_ratio(lm: &[Point]) -> [f32; 2] {
    let d = |a: Point, b: Point| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
    [36usize, 42].map(|s| {
        let p = &lm[s..s + 6];
        (d(p[1], p[5]) + d(p[2], p[4])) / (2.0 * d(p[0], p[3]) + 1e-9)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    /// 68 points with the eyes placed as given (corners and lids), the rest at the origin.
    fn landmarks(
        left: (f32, f32),
        right: (f32, f32),
        half_width: f32,
        half_open: f32,
    ) -> Vec<Point> {
        let mut lm = vec![[0.0f32; 2]; 68];
        for (start, (cx, cy)) in [(36usize, left), (42, right)] {
            lm[start] = [cx - half_width, cy];
            lm[start + 1] = [cx - half_width / 3.0, cy - half_open];
            lm[start + 2] = [cx + half_width / 3.0, cy - half_open];
            lm[start + 3] = [cx + half_width, cy];
            lm[start + 4] = [cx + half_width / 3.0, cy + half_open];
            lm[start + 5] = [cx - half_width / 3.0, cy + half_open];
        }
        lm
    }

    #[test]
    fn eye_boxes_follow_the_vendor_truncations() {
        // Left eye: lids mean (40.5, 30.0) → centre (40, 30); side trunc(2 × 10.5 × 1.6 = 33.6) = 33;
        // corner trunc(40 − 16.5 = 23.5) = 23, trunc(30 − 16.5 = 13.5) = 13.
        let lm = landmarks((40.5, 30.0), (80.0, 30.0), 10.5, 3.0);
        let [left, right] = eye_boxes(&lm, 200, 200);
        assert_eq!(
            left,
            Some(RectI {
                x: 23,
                y: 13,
                w: 33,
                h: 33
            })
        );
        assert_eq!(right.unwrap().x, 63); // centre 80, side 33: trunc(80 − 16.5)
    }

    #[test]
    fn eye_boxes_shrink_at_the_border_and_vanish_when_tiny() {
        let lm = landmarks((10.0, 10.0), (95.0, 10.0), 10.0, 3.0);
        let [left, right] = eye_boxes(&lm, 100, 100);
        // Left: side 32, corner clamped to (0, 0). Right: corner 79, 79 + 32 ≥ 100 → side 100 − 79 − 1.
        assert_eq!(
            left.unwrap(),
            RectI {
                x: 0,
                y: 0,
                w: 32,
                h: 32
            }
        );
        assert_eq!(right.unwrap().w, 20);
        // Corners in the wrong order give a negative side: no crop.
        let flipped = landmarks((40.0, 40.0), (80.0, 40.0), -5.0, 3.0);
        assert_eq!(eye_boxes(&flipped, 200, 200), [None, None]);
    }

    #[test]
    fn input_is_gray_over_255() {
        let img = RgbImage::from_pixel(30, 30, Rgb([255, 255, 255]));
        let t = input_tensor(
            &Canvas::new(&img),
            RectI {
                x: 2,
                y: 2,
                w: 10,
                h: 10,
            },
        );
        assert_eq!(t.len(), 24 * 24);
        assert!(t.iter().all(|&v| v == 1.0));
    }

    #[test]
    fn class_zero_is_closed() {
        assert!((p_closed(&[2.0, 0.0]) - 0.880_797).abs() < 1e-5);
        assert!(p_closed(&[-3.0, 3.0]) < 0.01);
        let p = softmax(&[1000.0, 999.0]);
        assert!((p[0] + p[1] - 1.0).abs() < 1e-6 && p[0] > p[1]);
    }

    #[test]
    fn aspect_ratio_of_open_and_closed_eyes() {
        let open = eye_aspect_ratio(&landmarks((40.0, 30.0), (80.0, 30.0), 10.0, 3.0));
        assert!((open[0] - 0.3).abs() < 1e-4 && (open[1] - 0.3).abs() < 1e-4); // 6 / 20
        let closed = eye_aspect_ratio(&landmarks((40.0, 30.0), (80.0, 30.0), 10.0, 0.5));
        assert!((closed[0] - 0.05).abs() < 1e-4);
    }
}
