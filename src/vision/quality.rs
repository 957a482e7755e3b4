//! Image quality of a face crop: sharpness (variance of the Laplacian) and exposure (mean luminance and
//! the share of clipped pixels). Pure; computed on a fixed-size gray crop so faces of any size compare.

use serde::Serialize;

use super::canvas::{resize_region, Canvas};
use super::geometry::RectI;

/// Side of the gray face crop the measures are taken on.
pub const CROP_SIDE: usize = 112;

/// Exposure of a crop, luminance on the 0..255 scale.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Exposure {
    pub mean_luma: f32,
    /// Share of pixels at or below 5 (crushed blacks).
    pub dark_share: f32,
    /// Share of pixels at or above 250 (blown highlights).
    pub bright_share: f32,
}

/// The face box as a 112×112 gray crop (BT.601 luma, 8-bit levels).
pub fn face_gray(canvas: &Canvas, face: RectI) -> Vec<f32> {
    resize_region(canvas, face, CROP_SIDE, CROP_SIDE).gray()
}

/// Variance of the 4-neighbour Laplacian over the interior of a `side`×`side` gray image (OpenCV
/// `Laplacian(ksize=1)`). Low for blurred or defocused faces.
pub fn sharpness(gray: &[f32], side: usize) -> f32 {
    if side < 3 || gray.len() < side * side {
        return 0.0;
    }
    let (mut sum, mut sum_sq, mut n) = (0.0f64, 0.0f64, 0.0f64);
    for y in 1..side - 1 {
        for x in 1..side - 1 {
            let i = y * side + x;
            let lap = (gray[i - 1] + gray[i + 1] + gray[i - side] + gray[i + side] - 4.0 * gray[i])
                as f64;
            sum += lap;
            sum_sq += lap * lap;
            n += 1.0;
        }
    }
    let mean = sum / n;
    (sum_sq / n - mean * mean) as f32
}

pub fn exposure(gray: &[f32]) -> Exposure {
    if gray.is_empty() {
        return Exposure {
            mean_luma: 0.0,
            dark_share: 1.0,
            bright_share: 0.0,
        };
    }
    let n = gray.len() as f32;
    Exposure {
        mean_luma: gray.iter().sum::<f32>() / n,
        dark_share: gray.iter().filter(|&&v| v <= 5.0).count() as f32 / n,
        bright_share: gray.iter().filter(|&&v| v >= 250.0).count() as f32 / n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_image_has_zero_sharpness_and_a_checkerboard_a_high_one() {
        assert_eq!(sharpness(&[128.0; 25], 5), 0.0);
        let board: Vec<f32> = (0..100)
            .map(|i| {
                if (i % 10 + i / 10) % 2 == 0 {
                    0.0
                } else {
                    100.0
                }
            })
            .collect();
        // Every interior Laplacian is ±400, alternating: variance 160000.
        assert!((sharpness(&board, 10) - 160_000.0).abs() < 1.0);
        assert_eq!(sharpness(&[1.0; 4], 2), 0.0);
    }

    #[test]
    fn exposure_measures_mean_and_clipping() {
        let e = exposure(&[0.0, 0.0, 255.0, 125.0]);
        assert_eq!(e.mean_luma, 95.0);
        assert_eq!(e.dark_share, 0.5);
        assert_eq!(e.bright_share, 0.25);
    }

    #[test]
    fn face_crop_is_gray_at_a_fixed_size() {
        let img = image::RgbImage::from_pixel(50, 40, image::Rgb([200, 200, 200]));
        let g = face_gray(
            &Canvas::new(&img),
            RectI {
                x: 5,
                y: 5,
                w: 30,
                h: 30,
            },
        );
        assert_eq!(g.len(), CROP_SIDE * CROP_SIDE);
        assert!(g.iter().all(|&v| v == 200.0));
    }
}
