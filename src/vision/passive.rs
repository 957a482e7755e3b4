//! Passive liveness with fr_liveness (MiniFASNet-SE, 128×128, 3 classes, p[0] = live) (models.md §2.4).
//! A weak signal: it misses masks and deepfakes and rejects some real people, so the verdict only ever
//! uses it together with the active checks.

use super::canvas::{resize_region, Canvas, ChannelOrder};
use super::eye::softmax;
use super::geometry::RectI;
use super::landmarks::scaled_rect;

pub const INPUT_SIDE: usize = 128;
/// The face box is grown 2.7× about its centre (capped to fit, then shifted inside the image).
pub const CROP_SCALE: f64 = 2.7;

/// The liveness crop of the integer face box. Run on the unpadded image: black padding inside the crop
/// reads as a spoof (p_live 0.002 → 0.95 once removed, models.md §2.1.9).
pub fn crop(face: RectI, width: i64, height: i64) -> Option<RectI> {
    scaled_rect(face, width, height, CROP_SCALE)
}

/// 128×128 BGR planes of raw 0..255 values: the model was trained on OpenCV BGR without normalisation
/// (RGB, as the vendor feeds it, rejects real selfies).
pub fn input_tensor(canvas: &Canvas, crop: RectI) -> Vec<f32> {
    resize_region(canvas, crop, INPUT_SIDE, INPUT_SIDE).planes(ChannelOrder::Bgr, |v| v)
}

/// P(live): softmax over the three logits, class 0.
pub fn p_live(logits: &[f32]) -> f32 {
    softmax(logits).first().copied().unwrap_or(f32::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    #[test]
    fn crop_is_the_box_grown_2_7_times() {
        // 20 px box centred at (100, 100) → 54 px.
        let r = crop(
            RectI {
                x: 90,
                y: 90,
                w: 20,
                h: 20,
            },
            300,
            300,
        )
        .unwrap();
        assert_eq!(
            r,
            RectI {
                x: 73,
                y: 73,
                w: 54,
                h: 54
            }
        );
        // A face filling a selfie: the crop is the whole image.
        let full = crop(
            RectI {
                x: 10,
                y: 10,
                w: 80,
                h: 80,
            },
            101,
            101,
        )
        .unwrap();
        assert_eq!(
            full,
            RectI {
                x: 0,
                y: 0,
                w: 100,
                h: 100
            }
        );
    }

    #[test]
    fn input_is_bgr_raw() {
        let img = RgbImage::from_pixel(8, 8, Rgb([10, 20, 30]));
        let t = input_tensor(
            &Canvas::new(&img),
            RectI {
                x: 0,
                y: 0,
                w: 8,
                h: 8,
            },
        );
        let n = INPUT_SIDE * INPUT_SIDE;
        assert_eq!((t[0], t[n], t[2 * n]), (30.0, 20.0, 10.0));
    }

    #[test]
    fn class_zero_is_live() {
        assert!(p_live(&[5.0, 0.0, 0.0]) > 0.98);
        assert!(p_live(&[0.0, 5.0, -2.0]) < 0.01);
    }
}
