//! 68-point landmarks with fr_landmark and the 5 alignment points derived from them (models.md §2.2).

use super::canvas::{resize_region, Canvas};
use super::geometry::{BoxF, Point, RectI};

pub const INPUT_SIDE: usize = 64;

/// The integer box the vendor's crops start from: truncated corners, absolute width and height.
pub fn int_box(b: &BoxF) -> RectI {
    let (x1, y1) = (b.x1 as i64, b.y1 as i64);
    RectI {
        x: x1,
        y: y1,
        w: (b.x2 as i64 - x1).abs(),
        h: (b.y2 as i64 - y1).abs(),
    }
}

/// The box scaled by `scale` about its centre, the scale capped so the rectangle fits the image, then
/// shifted inside it (the vendor's `align*Image` crops; pose and liveness use other scales).
/// `None` when nothing of it is left inside the image.
pub fn scaled_rect(r: RectI, width: i64, height: i64, scale: f64) -> Option<RectI> {
    if r.w <= 0 || r.h <= 0 || width < 2 || height < 2 {
        return None;
    }
    let (x, y, bw, bh) = (r.x as f64, r.y as f64, r.w as f64, r.h as f64);
    let (wm1, hm1) = ((width - 1) as f64, (height - 1) as f64);
    let scale = (hm1 / bh).min(wm1 / bw).min(scale);
    let (nw, nh) = (bw * scale, bh * scale);
    let (cx, cy) = (x + bw / 2.0, y + bh / 2.0);
    let (mut l, mut t, mut rt, mut b) =
        (cx - nw / 2.0, cy - nh / 2.0, cx + nw / 2.0, cy + nh / 2.0);
    if l < 0.0 {
        rt -= l;
        l = 0.0;
    }
    if t < 0.0 {
        b -= t;
        t = 0.0;
    }
    if rt > wm1 {
        l -= rt - wm1;
        rt = wm1;
    }
    if b > hm1 {
        t -= b - hm1;
        b = hm1;
    }
    // Truncation toward zero, as the reference's int(); then keep the rectangle inside the image.
    let (rx, ry) = ((l as i64).max(0), (t as i64).max(0));
    let rw = ((rt - l) as i64).min(width - 1).min(width - rx);
    let rh = ((b - t) as i64).min(height - 1).min(height - ry);
    (rw > 0 && rh > 0).then_some(RectI {
        x: rx,
        y: ry,
        w: rw,
        h: rh,
    })
}

/// The landmark crop: 64×64 gray, divided by 256 (not 255: that is how the model was trained).
pub fn input_tensor(canvas: &Canvas, crop: RectI) -> Vec<f32> {
    resize_region(canvas, crop, INPUT_SIDE, INPUT_SIDE)
        .gray()
        .into_iter()
        .map(|g| g / 256.0)
        .collect()
}

/// Decodes the 136 outputs, (x, y) normalised to the integer face box, into canvas pixels.
/// Decoding is relative to the face box even when the crop was shifted at a border, as the model's
/// authors do; it only differs at image edges.
pub fn decode(output: &[f32], face: RectI) -> [Point; 68] {
    let mut pts = [[0.0f32; 2]; 68];
    for (k, p) in pts.iter_mut().enumerate() {
        p[0] = output[2 * k] * face.w as f32 + face.x as f32;
        p[1] = output[2 * k + 1] * face.h as f32 + face.y as f32;
    }
    pts
}

fn mean(points: &[Point]) -> Point {
    let n = points.len() as f32;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(sx, sy), p| (sx + p[0], sy + p[1]));
    [sx / n, sy / n]
}

/// The 5 alignment points from iBUG-68: eye centres from the eyelid points (not the corners), the nose
/// tip, and each mouth corner averaged over the outer and inner lip contour.
pub fn five_points(lm: &[Point; 68]) -> [Point; 5] {
    [
        mean(&[lm[37], lm[38], lm[40], lm[41]]),
        mean(&[lm[43], lm[44], lm[46], lm[47]]),
        lm[30],
        mean(&[lm[48], lm[60]]),
        mean(&[lm[54], lm[64]]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_box_truncates() {
        let r = int_box(&BoxF {
            x1: 10.9,
            y1: 5.2,
            x2: 50.7,
            y2: 45.99,
        });
        assert_eq!(
            r,
            RectI {
                x: 10,
                y: 5,
                w: 40,
                h: 40
            }
        );
    }

    #[test]
    fn scale_one_inside_the_image_is_the_box() {
        let r = RectI {
            x: 10,
            y: 20,
            w: 30,
            h: 30,
        };
        assert_eq!(scaled_rect(r, 100, 100, 1.0), Some(r));
    }

    #[test]
    fn scaled_rect_grows_about_the_centre_and_shifts_inside() {
        let r = RectI {
            x: 40,
            y: 40,
            w: 20,
            h: 20,
        };
        // ×2 about (50, 50) → 30..70.
        assert_eq!(
            scaled_rect(r, 200, 200, 2.0),
            Some(RectI {
                x: 30,
                y: 30,
                w: 40,
                h: 40
            })
        );
        // Near the left edge the rectangle is shifted right, keeping its size.
        let edge = RectI {
            x: 2,
            y: 40,
            w: 20,
            h: 20,
        };
        assert_eq!(
            scaled_rect(edge, 200, 200, 2.0),
            Some(RectI {
                x: 0,
                y: 30,
                w: 40,
                h: 40
            })
        );
    }

    #[test]
    fn scaled_rect_caps_the_scale_to_fit() {
        // 2.7× of a 40 px box in a 61 px image: capped to 60/40 = 1.5, so 60 px, the whole image.
        let r = RectI {
            x: 10,
            y: 10,
            w: 40,
            h: 40,
        };
        assert_eq!(
            scaled_rect(r, 61, 61, 2.7),
            Some(RectI {
                x: 0,
                y: 0,
                w: 60,
                h: 60
            })
        );
    }

    #[test]
    fn scaled_rect_of_an_empty_box_is_none() {
        assert_eq!(
            scaled_rect(
                RectI {
                    x: 0,
                    y: 0,
                    w: 0,
                    h: 5
                },
                10,
                10,
                1.0
            ),
            None
        );
    }

    #[test]
    fn decode_maps_into_the_box() {
        let mut out = vec![0.0f32; 136];
        out[60] = 0.5; // point 30, x
        out[61] = 0.25; // point 30, y
        let pts = decode(
            &out,
            RectI {
                x: 100,
                y: 50,
                w: 40,
                h: 80,
            },
        );
        assert_eq!(pts[30], [120.0, 70.0]);
        assert_eq!(pts[0], [100.0, 50.0]);
    }

    #[test]
    fn five_points_use_lids_nose_tip_and_mouth_means() {
        let mut lm = [[0.0f32; 2]; 68];
        for (k, p) in lm.iter_mut().enumerate() {
            *p = [k as f32, 2.0 * k as f32];
        }
        let five = five_points(&lm);
        assert_eq!(five[0], [39.0, 78.0]); // (37+38+40+41)/4
        assert_eq!(five[1], [45.0, 90.0]);
        assert_eq!(five[2], [30.0, 60.0]);
        assert_eq!(five[3], [54.0, 108.0]); // (48+60)/2
        assert_eq!(five[4], [59.0, 118.0]); // (54+64)/2
    }
}
