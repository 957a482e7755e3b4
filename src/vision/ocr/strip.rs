//! A text row's quad straightened into a strip (perspective warp, bilinear), and the strip as the
//! recogniser's input: height 48, width by the row's aspect.

use image::RgbImage;

use super::geometry::Quad;
use crate::vision::canvas::{resize_region, Canvas, ChannelOrder};
use crate::vision::geometry::RectI;

/// The recogniser's input height.
pub const HEIGHT: usize = 48;

/// A 3×3 projective map, row-major, with the last entry 1.
pub type Homography = [f64; 9];

/// The homography taking the rectangle (0,0)–(width,height) to the quad (corners in reading order):
/// (0,0) → tl, (width,0) → tr, (width,height) → br, (0,height) → bl. `None` when the quad is degenerate.
pub fn rect_to_quad(width: f64, height: f64, quad: &Quad) -> Option<Homography> {
    let from = [[0.0, 0.0], [width, 0.0], [width, height], [0.0, height]];
    // h0 u + h1 v + h2 − h6 u x − h7 v x = x, and likewise for y: eight equations, eight unknowns.
    let mut a = [[0.0f64; 9]; 8];
    for k in 0..4 {
        let [u, v] = from[k];
        let (x, y) = (quad[k][0] as f64, quad[k][1] as f64);
        a[2 * k] = [u, v, 1.0, 0.0, 0.0, 0.0, -u * x, -v * x, x];
        a[2 * k + 1] = [0.0, 0.0, 0.0, u, v, 1.0, -u * y, -v * y, y];
    }
    let h = solve8(a)?;
    Some([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], 1.0])
}

/// Gaussian elimination with partial pivoting on an augmented 8×9 system.
fn solve8(mut a: [[f64; 9]; 8]) -> Option<[f64; 8]> {
    for col in 0..8 {
        let pivot = (col..8).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        let pivot_row = a[col];
        for (row, r) in a.iter_mut().enumerate() {
            if row != col {
                let f = r[col] / pivot_row[col];
                if f != 0.0 {
                    for (v, p) in r.iter_mut().zip(pivot_row).skip(col) {
                        *v -= f * p;
                    }
                }
            }
        }
    }
    let mut x = [0.0; 8];
    for i in 0..8 {
        x[i] = a[i][8] / a[i][i];
        if !x[i].is_finite() {
            return None;
        }
    }
    Some(x)
}

/// The inverse map, scaled so its last entry is 1 (`None` when `h` is singular).
pub fn invert(h: &Homography) -> Option<Homography> {
    let [a, b, c, d, e, f, g, k, l] = *h;
    let adj = [
        e * l - f * k,
        c * k - b * l,
        b * f - c * e,
        f * g - d * l,
        a * l - c * g,
        c * d - a * f,
        d * k - e * g,
        b * g - a * k,
        a * e - b * d,
    ];
    let det = a * adj[0] + b * adj[3] + c * adj[6];
    if det.abs() < 1e-12 || adj[8].abs() < 1e-12 {
        return None;
    }
    Some(adj.map(|v| v / adj[8]))
}

/// Where `h` takes the point (u, v).
#[inline]
pub fn apply(h: &Homography, u: f64, v: f64) -> (f64, f64) {
    let w = h[6] * u + h[7] * v + h[8];
    (
        (h[0] * u + h[1] * v + h[2]) / w,
        (h[3] * u + h[4] * v + h[5]) / w,
    )
}

/// Bilinear sample at (x, y), the image's edge pixels repeated outside it.
#[inline]
pub fn sample(image: &RgbImage, x: f64, y: f64) -> [f32; 3] {
    let (iw, ih) = (image.width() as i64, image.height() as i64);
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = ((x - x0) as f32, (y - y0) as f32);
    let (x0, y0) = (x0 as i64, y0 as i64);
    let raw = image.as_raw();
    let px = |xi: i64, yi: i64| -> [f32; 3] {
        let (xi, yi) = (xi.clamp(0, iw - 1) as usize, yi.clamp(0, ih - 1) as usize);
        let i = (yi * iw as usize + xi) * 3;
        [raw[i] as f32, raw[i + 1] as f32, raw[i + 2] as f32]
    };
    let (p00, p10, p01, p11) = (
        px(x0, y0),
        px(x0 + 1, y0),
        px(x0, y0 + 1),
        px(x0 + 1, y0 + 1),
    );
    std::array::from_fn(|c| {
        let top = p00[c] + (p10[c] - p00[c]) * fx;
        let bottom = p01[c] + (p11[c] - p01[c]) * fx;
        top + (bottom - top) * fy
    })
}

/// The quad's size as a straight strip: the longer of its top and bottom edges by the longer of its
/// left and right edges, truncated to whole pixels.
pub fn strip_size(quad: &Quad) -> (usize, usize) {
    let d = |a: [f32; 2], b: [f32; 2]| (a[0] - b[0]).hypot(a[1] - b[1]);
    let w = d(quad[0], quad[1]).max(d(quad[3], quad[2]));
    let h = d(quad[0], quad[3]).max(d(quad[1], quad[2]));
    (w as usize, h as usize)
}

/// The quad warped to an `out_w`×`out_h` strip (bilinear, 8-bit): the rectangle (0,0)–([`strip_size`])
/// maps onto the quad, and each output pixel samples it at its centre (half-pixel convention, as a
/// crop followed by a resize would). `None` for a degenerate quad or an empty output.
pub fn warp_quad(image: &RgbImage, quad: &Quad, out_w: usize, out_h: usize) -> Option<RgbImage> {
    let (sw, sh) = strip_size(quad);
    if sw == 0 || sh == 0 || out_w == 0 || out_h == 0 || image.width() == 0 || image.height() == 0 {
        return None;
    }
    let h = rect_to_quad(sw as f64, sh as f64, quad)?;
    let (kx, ky) = (sw as f64 / out_w as f64, sh as f64 / out_h as f64);
    let mut data = Vec::with_capacity(out_w * out_h * 3);
    for j in 0..out_h {
        for i in 0..out_w {
            let (u, v) = ((i as f64 + 0.5) * kx - 0.5, (j as f64 + 0.5) * ky - 0.5);
            let (x, y) = apply(&h, u, v);
            data.extend(sample(image, x, y).map(|c| c.round().clamp(0.0, 255.0) as u8));
        }
    }
    RgbImage::from_raw(out_w as u32, out_h as u32, data)
}

/// The recogniser's input for a row, prepared as PaddleOCR prepares its training crops: the quad
/// straightened at its own size ([`strip_size`]), then resized (bilinear, OpenCV's arithmetic) to
/// height 48 and the width its aspect gives (at most `max_width`), as B, G, R planes scaled to
/// [-1, 1]. Returns the tensor's shape and data. (Sampling the 48-pixel strip straight from the photo
/// read a low-resolution specimen's name wrongly, where this two-step crop read it right.)
pub fn recogniser_input(
    image: &RgbImage,
    quad: &Quad,
    max_width: usize,
) -> Option<(Vec<usize>, Vec<f32>)> {
    let (sw, sh) = strip_size(quad);
    if sw == 0 || sh == 0 {
        return None;
    }
    let width =
        ((HEIGHT as f64 * sw as f64 / sh as f64).ceil() as usize).clamp(16, max_width.max(16));
    let strip = warp_quad(image, quad, sw, sh)?;
    let whole = RectI {
        x: 0,
        y: 0,
        w: sw as i64,
        h: sh as i64,
    };
    let resized = resize_region(&Canvas::new(&strip), whole, width, HEIGHT);
    let data = resized.planes(ChannelOrder::Bgr, |v| (v / 255.0 - 0.5) / 0.5);
    Some((vec![1, 3, HEIGHT, width], data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inverse_takes_the_quad_back_to_the_rectangle() {
        let quad: Quad = [[10.0, 20.0], [210.0, 5.0], [230.0, 120.0], [0.0, 100.0]];
        let h = rect_to_quad(100.0, 50.0, &quad).unwrap();
        let back = invert(&h).unwrap();
        for (k, [u, v]) in [[0.0, 0.0], [100.0, 0.0], [100.0, 50.0], [0.0, 50.0]]
            .into_iter()
            .enumerate()
        {
            let (x, y) = apply(&h, u, v);
            assert!((x - quad[k][0] as f64).abs() < 1e-6 && (y - quad[k][1] as f64).abs() < 1e-6);
            let (u2, v2) = apply(&back, x, y);
            assert!((u2 - u).abs() < 1e-6 && (v2 - v).abs() < 1e-6, "{u2} {v2}");
        }
        assert!(invert(&[0.0; 9]).is_none());
    }

    #[test]
    fn the_homography_maps_the_rectangle_onto_the_quad() {
        let q: Quad = [[10.0, 20.0], [110.0, 25.0], [105.0, 60.0], [12.0, 50.0]];
        let h = rect_to_quad(100.0, 30.0, &q).unwrap();
        for (k, (u, v)) in [(0.0, 0.0), (100.0, 0.0), (100.0, 30.0), (0.0, 30.0)]
            .into_iter()
            .enumerate()
        {
            let (x, y) = apply(&h, u, v);
            assert!((x - q[k][0] as f64).abs() < 1e-6 && (y - q[k][1] as f64).abs() < 1e-6);
        }
        let flat: Quad = [[0.0, 0.0], [10.0, 0.0], [20.0, 0.0], [30.0, 0.0]];
        assert!(rect_to_quad(10.0, 10.0, &flat).is_none());
    }

    /// A 400×300 image with a rotated 200×40 strip whose left half is dark and right half light, on grey.
    fn synthetic(angle: f64) -> (RgbImage, Quad) {
        let (cx, cy, hw, hh) = (200.0f64, 150.0f64, 100.0f64, 20.0f64);
        let (c, s) = (angle.cos(), angle.sin());
        let img = RgbImage::from_fn(400, 300, |x, y| {
            let (dx, dy) = (x as f64 + 0.5 - cx, y as f64 + 0.5 - cy);
            let (u, v) = (dx * c + dy * s, -dx * s + dy * c);
            if u.abs() < hw && v.abs() < hh {
                if u < 0.0 {
                    image::Rgb([20, 40, 60])
                } else {
                    image::Rgb([230, 220, 210])
                }
            } else {
                image::Rgb([128, 128, 128])
            }
        });
        let corner = |u: f64, v: f64| -> [f32; 2] {
            [(cx + u * c - v * s) as f32, (cy + u * s + v * c) as f32]
        };
        let quad = [
            corner(-hw, -hh),
            corner(hw, -hh),
            corner(hw, hh),
            corner(-hw, hh),
        ];
        (img, quad)
    }

    #[test]
    fn a_rotated_strip_comes_out_straight() {
        for degrees in [0.0f64, 12.0, -25.0] {
            let (img, quad) = synthetic(degrees.to_radians());
            let (w, h) = strip_size(&quad);
            assert!(
                (199..=200).contains(&w) && (39..=40).contains(&h),
                "{w}×{h}"
            );
            let strip = warp_quad(&img, &quad, 100, 20).unwrap();
            // Away from the edges, the left half is dark and the right half light.
            for y in 3..17 {
                for x in [5u32, 20, 45] {
                    assert_eq!(
                        strip.get_pixel(x, y).0,
                        [20, 40, 60],
                        "{degrees}° ({x},{y})"
                    );
                }
                for x in [55u32, 80, 95] {
                    assert_eq!(
                        strip.get_pixel(x, y).0,
                        [230, 220, 210],
                        "{degrees}° ({x},{y})"
                    );
                }
            }
        }
    }

    #[test]
    fn a_straight_crop_keeps_the_pixels() {
        let img = RgbImage::from_fn(30, 20, |x, y| image::Rgb([x as u8, y as u8, 7]));
        // Pixel centres at integer coordinates: the quad (5,4)–(15,9) at its own size is a plain crop.
        let quad: Quad = [[5.0, 4.0], [15.0, 4.0], [15.0, 9.0], [5.0, 9.0]];
        let strip = warp_quad(&img, &quad, 10, 5).unwrap();
        for y in 0..5u32 {
            for x in 0..10u32 {
                let p = strip.get_pixel(x, y).0;
                // Half-pixel centres: output pixel x samples x + 0.5 - 0.5 = x past the corner.
                assert_eq!(p, [(5 + x) as u8, (4 + y) as u8, 7], "({x},{y})");
            }
        }
    }

    #[test]
    fn the_recogniser_input_is_48_high_bgr_in_minus_one_to_one() {
        let (img, quad) = synthetic(0.0);
        let (shape, data) = recogniser_input(&img, &quad, 2000).unwrap();
        assert_eq!(shape, vec![1, 3, 48, 240]); // 200 × 40 → 240 × 48
        let n = 48 * 240;
        // A pixel of the light half: B = 210, G = 220, R = 230.
        let i = 24 * 240 + 200;
        assert!((data[i] - (210.0 / 255.0 - 0.5) / 0.5).abs() < 1e-3);
        assert!((data[n + i] - (220.0 / 255.0 - 0.5) / 0.5).abs() < 1e-3);
        assert!((data[2 * n + i] - (230.0 / 255.0 - 0.5) / 0.5).abs() < 1e-3);
        let (shape, _) = recogniser_input(&img, &quad, 100).unwrap();
        assert_eq!(shape[3], 100, "capped");
        let flat: Quad = [[0.0, 0.0], [10.0, 0.0], [10.0, 0.5], [0.0, 0.5]];
        assert!(recogniser_input(&img, &flat, 100).is_none());
    }
}
