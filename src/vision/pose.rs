//! Head pose with fr_pose (HopeNet-lite, 66 bins of 3° per angle) (models.md §2.6).
//!
//! Sign conventions, measured in models.md: **yaw** is positive when the nose points to image-left (the
//! subject turns to their right in a non-mirrored picture); **pitch** positive is looking up (rough, biased
//! about −7°); **roll** positive is a clockwise tilt of the eye line on screen.

use serde::Serialize;

use super::canvas::{resize_region, Canvas, ChannelOrder};
use super::eye::softmax;
use super::geometry::RectI;

pub const INPUT_SIDE: usize = 224;
const BINS: usize = 66;
const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// Head angles in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HeadPose {
    pub yaw: f32,
    pub pitch: f32,
    pub roll: f32,
}

/// The pose crop: the integer face box grown by a quarter of its size on every side (1.5×), truncated as
/// the vendor does, then clipped to the image (the vendor's version runs past the edge and throws).
pub fn crop(face: RectI, width: i64, height: i64) -> Option<RectI> {
    let (bw, bh) = (face.w as f64, face.h as f64);
    let x1 = ((face.x as f64 - bw / 4.0) as i64).max(0);
    let y1 = ((face.y as f64 - bh / 4.0) as i64).max(0);
    let x2 = (((face.x + face.w) as f64 + bw / 4.0) as i64).min(width);
    let y2 = (((face.y + face.h) as f64 + bh / 4.0) as i64).min(height);
    (x2 > x1 && y2 > y1).then_some(RectI {
        x: x1,
        y: y1,
        w: x2 - x1,
        h: y2 - y1,
    })
}

/// 224×224 RGB planes with ImageNet normalisation. RGB, not the vendor's BGR: HopeNet was trained on RGB
/// and its roll and yaw agree better with geometry that way.
pub fn input_tensor(canvas: &Canvas, crop: RectI) -> Vec<f32> {
    let pixels = resize_region(canvas, crop, INPUT_SIDE, INPUT_SIDE);
    let mut planes = pixels.planes(ChannelOrder::Rgb, |v| v / 255.0);
    let n = INPUT_SIDE * INPUT_SIDE;
    for (c, plane) in planes.chunks_exact_mut(n).enumerate() {
        for v in plane {
            *v = (*v - MEAN[c]) / STD[c];
        }
    }
    planes
}

/// Expected angle of one head's 66 bin logits: Σ softmax(logits)ᵢ · 3i − 99 degrees.
pub fn angle(logits: &[f32]) -> f32 {
    let p = softmax(&logits[..BINS.min(logits.len())]);
    p.iter().enumerate().map(|(i, p)| p * i as f32).sum::<f32>() * 3.0 - 99.0
}

/// The three angles from the outputs in manifest order (`output` = yaw, `617` = pitch, `618` = roll).
pub fn decode(yaw: &[f32], pitch: &[f32], roll: &[f32]) -> HeadPose {
    HeadPose {
        yaw: angle(yaw),
        pitch: angle(pitch),
        roll: angle(roll),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    #[test]
    fn crop_grows_by_half_and_clips() {
        let inside = crop(
            RectI {
                x: 40,
                y: 40,
                w: 40,
                h: 40,
            },
            200,
            200,
        );
        assert_eq!(
            inside,
            Some(RectI {
                x: 30,
                y: 30,
                w: 60,
                h: 60
            })
        );
        // x − w/4 = −7.5 truncates to −7 (toward zero), then clips to 0; the right side clips to the width.
        let edge = crop(
            RectI {
                x: 3,
                y: 10,
                w: 42,
                h: 42,
            },
            50,
            100,
        );
        assert_eq!(
            edge,
            Some(RectI {
                x: 0,
                y: 0,
                w: 50,
                h: 62
            })
        );
        assert_eq!(
            crop(
                RectI {
                    x: 300,
                    y: 0,
                    w: 10,
                    h: 10
                },
                200,
                200
            ),
            None
        );
    }

    #[test]
    fn input_is_rgb_with_imagenet_normalisation() {
        let img = RgbImage::from_pixel(10, 10, Rgb([255, 0, 0]));
        let t = input_tensor(
            &Canvas::new(&img),
            RectI {
                x: 0,
                y: 0,
                w: 10,
                h: 10,
            },
        );
        let n = INPUT_SIDE * INPUT_SIDE;
        assert_eq!(t.len(), 3 * n);
        assert!((t[0] - (1.0 - 0.485) / 0.229).abs() < 1e-5); // red plane first
        assert!((t[n] - (0.0 - 0.456) / 0.224).abs() < 1e-5);
        assert!((t[2 * n] - (0.0 - 0.406) / 0.225).abs() < 1e-5);
    }

    #[test]
    fn bins_map_to_degrees() {
        // All mass on bin 33 → 0°; on bin 0 → −99°; uniform → the mean bin 32.5 → −1.5°.
        let mut one_hot = vec![-1e4f32; 66];
        one_hot[33] = 0.0;
        assert!(angle(&one_hot).abs() < 1e-3);
        one_hot[33] = -1e4;
        one_hot[0] = 0.0;
        assert!((angle(&one_hot) + 99.0).abs() < 1e-3);
        assert!((angle(&[0.0; 66]) + 1.5).abs() < 1e-3);
        let mut yaw = vec![-1e4f32; 66];
        yaw[40] = 0.0;
        let pose = decode(&yaw, &one_hot, &[0.0; 66]);
        assert!((pose.yaw - 21.0).abs() < 1e-3 && (pose.pitch + 99.0).abs() < 1e-3);
    }
}
