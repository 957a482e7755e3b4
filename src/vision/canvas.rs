//! Pixel sampling: bilinear resize of a region and affine warps, over an image with optional virtual
//! black padding.
//!
//! Face-filling photos are re-detected on a copy padded with black (models.md §2.1.9). Materialising that
//! copy would cost 2.25× the image in memory; a [`Canvas`] reads the padding as zeros instead.

use image::RgbImage;

use super::geometry::RectI;

/// An RGB image seen through a frame of `pad` black pixels on every side.
#[derive(Clone, Copy)]
pub struct Canvas<'a> {
    image: &'a RgbImage,
    pad: u32,
}

impl<'a> Canvas<'a> {
    pub fn new(image: &'a RgbImage) -> Self {
        Canvas { image, pad: 0 }
    }
    pub fn padded(image: &'a RgbImage, pad: u32) -> Self {
        Canvas { image, pad }
    }
    pub fn image(&self) -> &'a RgbImage {
        self.image
    }
    pub fn pad(&self) -> u32 {
        self.pad
    }
    pub fn width(&self) -> u32 {
        self.image.width() + 2 * self.pad
    }
    pub fn height(&self) -> u32 {
        self.image.height() + 2 * self.pad
    }

    /// The pixel at canvas coordinates, black outside the image.
    #[inline]
    fn get(&self, x: i64, y: i64) -> [i32; 3] {
        let (ix, iy) = (x - self.pad as i64, y - self.pad as i64);
        if ix < 0 || iy < 0 || ix >= self.image.width() as i64 || iy >= self.image.height() as i64 {
            return [0; 3];
        }
        let p = self.image.get_pixel(ix as u32, iy as u32).0;
        [p[0] as i32, p[1] as i32, p[2] as i32]
    }

    #[inline]
    fn get_f32(&self, x: i64, y: i64) -> [f32; 3] {
        self.get(x, y).map(|v| v as f32)
    }
}

/// Interleaved RGB pixels as f32 in 0..=255, the output of every sampler.
#[derive(Clone, PartialEq)]
pub struct RgbF32 {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

// Pixel buffers are biometric data: never print them.
impl std::fmt::Debug for RgbF32 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RgbF32({}x{}, <pixels redacted>)",
            self.width, self.height
        )
    }
}

impl RgbF32 {
    #[inline]
    pub fn pixel(&self, x: usize, y: usize) -> [f32; 3] {
        let i = (y * self.width + x) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    /// NCHW planes (batch 1) in the given channel order, each value mapped by `norm`.
    pub fn planes(&self, order: ChannelOrder, norm: impl Fn(f32) -> f32) -> Vec<f32> {
        let n = self.width * self.height;
        let mut out = vec![0.0; 3 * n];
        let channels = match order {
            ChannelOrder::Rgb => [0, 1, 2],
            ChannelOrder::Bgr => [2, 1, 0],
        };
        for (plane, &c) in channels.iter().enumerate() {
            let dst = &mut out[plane * n..(plane + 1) * n];
            for (d, px) in dst.iter_mut().zip(self.data.chunks_exact(3)) {
                *d = norm(px[c]);
            }
        }
        out
    }

    /// Gray as 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601), rounded to 8 bits exactly as OpenCV's
    /// BGR2GRAY does it (14-bit fixed point).
    pub fn gray(&self) -> Vec<f32> {
        self.data
            .chunks_exact(3)
            .map(|p| {
                let (r, g, b) = (p[0] as i32, p[1] as i32, p[2] as i32);
                ((r * 4899 + g * 9617 + b * 1868 + (1 << 13)) >> 14) as f32
            })
            .collect()
    }
}

/// Which colour goes into the first plane of a model input. Each model has its own (models.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelOrder {
    Rgb,
    Bgr,
}

/// Rounds a sample to the nearest 8-bit level. The reference pipeline (and the models' training code)
/// keeps every intermediate image in 8 bits; rounding here keeps our crops within noise of theirs.
#[inline]
fn to_u8_level(v: f32) -> f32 {
    v.round().clamp(0.0, 255.0)
}

/// One output coordinate of a resize: two source neighbours and their 11-bit fixed-point weights.
struct Tap {
    i0: i64,
    i1: i64,
    w0: i32,
    w1: i32,
}

/// The taps of OpenCV's `INTER_LINEAR` for 8-bit images: half-pixel centres, clamped at the region's
/// edges, no antialiasing, weights rounded to 1/2048. Doing the same arithmetic makes our crops
/// bit-identical to OpenCV's, and the landmark model is sensitive enough to a pixel for that to matter.
fn linear_taps(out_len: usize, src_len: i64) -> Vec<Tap> {
    let scale = src_len as f64 / out_len as f64;
    (0..out_len)
        .map(|d| {
            let s = ((d as f64 + 0.5) * scale - 0.5) as f32;
            let mut i0 = s.floor() as i64;
            let mut frac = s - i0 as f32;
            if i0 < 0 {
                i0 = 0;
                frac = 0.0;
            }
            if i0 >= src_len - 1 {
                i0 = src_len - 1;
                frac = 0.0;
            }
            Tap {
                i0,
                i1: (i0 + 1).min(src_len - 1),
                w0: ((1.0 - frac) * 2048.0).round_ties_even() as i32,
                w1: (frac * 2048.0).round_ties_even() as i32,
            }
        })
        .collect()
}

/// Resizes the `region` of the canvas to `out_w`×`out_h` (bilinear, OpenCV `resize` semantics, so the
/// region behaves like a cropped image: its border pixels are repeated, not mixed with outside pixels).
/// The output holds 8-bit levels, as OpenCV's would.
///
/// The region must be non-empty; it may extend into the padding.
pub fn resize_region(canvas: &Canvas, region: RectI, out_w: usize, out_h: usize) -> RgbF32 {
    assert!(
        region.w > 0 && region.h > 0 && out_w > 0 && out_h > 0,
        "empty resize"
    );
    let (image, pad) = (canvas.image, canvas.pad as i64);
    let (iw, ih) = (image.width() as i64, image.height() as i64);
    let raw: &[u8] = image.as_raw();
    // Each tap's source column as a byte offset into a row, and each source row as a slice; `None` is
    // the black padding. Computed once per column and row rather than once per pixel (this resize runs
    // on every model input of every video frame).
    let column = |x: i64| {
        let ix = x - pad;
        (0..iw).contains(&ix).then(|| ix as usize * 3)
    };
    let row = |y: i64| {
        let iy = y - pad;
        (0..ih)
            .contains(&iy)
            .then(|| &raw[iy as usize * iw as usize * 3..(iy as usize + 1) * iw as usize * 3])
    };
    let xs: Vec<(Option<usize>, Option<usize>, i32, i32)> = linear_taps(out_w, region.w)
        .into_iter()
        .map(|t| (column(region.x + t.i0), column(region.x + t.i1), t.w0, t.w1))
        .collect();
    let pixel = |row: Option<&[u8]>, col: Option<usize>| -> [i32; 3] {
        match (row, col) {
            (Some(r), Some(c)) => [r[c] as i32, r[c + 1] as i32, r[c + 2] as i32],
            _ => [0; 3],
        }
    };
    let mut data = Vec::with_capacity(out_w * out_h * 3);
    for ty in linear_taps(out_h, region.h) {
        let (ra, rb) = (row(region.y + ty.i0), row(region.y + ty.i1));
        for &(ca, cb, w0, w1) in &xs {
            let (p00, p01, p10, p11) = (pixel(ra, ca), pixel(ra, cb), pixel(rb, ca), pixel(rb, cb));
            for c in 0..3 {
                // Horizontal then vertical pass, with OpenCV's rounding (its SIMD path, the one x86 runs).
                let top = p00[c] * w0 + p01[c] * w1;
                let bottom = p10[c] * w0 + p11[c] * w1;
                let v = (((ty.w0 * (top >> 4)) >> 16) + ((ty.w1 * (bottom >> 4)) >> 16) + 2) >> 2;
                data.push(v as f32);
            }
        }
    }
    RgbF32 {
        width: out_w,
        height: out_h,
        data,
    }
}

/// A 2×3 affine matrix mapping source (x, y) to destination (u, v): `[[a, b, tx], [c, d, ty]]`.
pub type Affine = [[f64; 3]; 2];

/// Inverse of an affine map, or `None` when it is singular.
pub fn invert_affine(m: &Affine) -> Option<Affine> {
    let [[a, b, tx], [c, d, ty]] = *m;
    let det = a * d - b * c;
    if det.abs() < 1e-12 || !det.is_finite() {
        return None;
    }
    let (ia, ib, ic, id) = (d / det, -b / det, -c / det, a / det);
    Some([
        [ia, ib, -(ia * tx + ib * ty)],
        [ic, id, -(ic * tx + id * ty)],
    ])
}

/// Warps the canvas by `src_to_dst` into an `out_w`×`out_h` image (bilinear, black outside the canvas,
/// as OpenCV `warpAffine` with `BORDER_CONSTANT` 0). Returns `None` for a singular transform.
pub fn warp_affine(
    canvas: &Canvas,
    src_to_dst: &Affine,
    out_w: usize,
    out_h: usize,
) -> Option<RgbF32> {
    let inv = invert_affine(src_to_dst)?;
    let mut data = Vec::with_capacity(out_w * out_h * 3);
    for v in 0..out_h {
        for u in 0..out_w {
            let (uf, vf) = (u as f64, v as f64);
            let sx = inv[0][0] * uf + inv[0][1] * vf + inv[0][2];
            let sy = inv[1][0] * uf + inv[1][1] * vf + inv[1][2];
            let (x0, y0) = (sx.floor(), sy.floor());
            let (fx, fy) = ((sx - x0) as f32, (sy - y0) as f32);
            let (x0, y0) = (x0 as i64, y0 as i64);
            let p00 = canvas.get_f32(x0, y0);
            let p01 = canvas.get_f32(x0 + 1, y0);
            let p10 = canvas.get_f32(x0, y0 + 1);
            let p11 = canvas.get_f32(x0 + 1, y0 + 1);
            for c in 0..3 {
                let top = p00[c] + (p01[c] - p00[c]) * fx;
                let bottom = p10[c] + (p11[c] - p10[c]) * fx;
                data.push(to_u8_level(top + (bottom - top) * fy));
            }
        }
    }
    Some(RgbF32 {
        width: out_w,
        height: out_h,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    fn gradient(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| Rgb([(x * 10) as u8, (y * 10) as u8, 7]))
    }

    #[test]
    fn identity_resize_returns_the_pixels() {
        let img = gradient(6, 4);
        let out = resize_region(
            &Canvas::new(&img),
            RectI {
                x: 0,
                y: 0,
                w: 6,
                h: 4,
            },
            6,
            4,
        );
        assert_eq!(out.pixel(3, 2), [30.0, 20.0, 7.0]);
        assert_eq!(out.pixel(5, 3), [50.0, 30.0, 7.0]);
    }

    #[test]
    fn halving_averages_pixel_pairs_like_opencv() {
        // OpenCV maps destination x=0 of a 2× downscale to source 0.5: the mean of pixels 0 and 1.
        let img = gradient(4, 2);
        let out = resize_region(
            &Canvas::new(&img),
            RectI {
                x: 0,
                y: 0,
                w: 4,
                h: 2,
            },
            2,
            1,
        );
        assert_eq!(out.pixel(0, 0), [5.0, 5.0, 7.0]);
        assert_eq!(out.pixel(1, 0), [25.0, 5.0, 7.0]);
    }

    #[test]
    fn upscaling_clamps_at_the_region_edge() {
        let img = gradient(4, 4);
        // Region x 1..3: its border column (x=2) repeats instead of reading x=3.
        let out = resize_region(
            &Canvas::new(&img),
            RectI {
                x: 1,
                y: 1,
                w: 2,
                h: 2,
            },
            8,
            8,
        );
        assert_eq!(out.pixel(7, 7), [20.0, 20.0, 7.0]);
        assert_eq!(out.pixel(0, 0), [10.0, 10.0, 7.0]);
    }

    /// The per-pixel form `resize_region` had before its taps were resolved once per row and column.
    fn resize_reference(canvas: &Canvas, region: RectI, out_w: usize, out_h: usize) -> RgbF32 {
        let xs = linear_taps(out_w, region.w);
        let ys = linear_taps(out_h, region.h);
        let mut data = Vec::new();
        for ty in &ys {
            let (ya, yb) = (region.y + ty.i0, region.y + ty.i1);
            for tx in &xs {
                let (xa, xb) = (region.x + tx.i0, region.x + tx.i1);
                let (p00, p01, p10, p11) = (
                    canvas.get(xa, ya),
                    canvas.get(xb, ya),
                    canvas.get(xa, yb),
                    canvas.get(xb, yb),
                );
                for c in 0..3 {
                    let top = p00[c] * tx.w0 + p01[c] * tx.w1;
                    let bottom = p10[c] * tx.w0 + p11[c] * tx.w1;
                    let v =
                        (((ty.w0 * (top >> 4)) >> 16) + ((ty.w1 * (bottom >> 4)) >> 16) + 2) >> 2;
                    data.push(v as f32);
                }
            }
        }
        RgbF32 {
            width: out_w,
            height: out_h,
            data,
        }
    }

    #[test]
    fn resize_matches_the_per_pixel_form_inside_across_and_outside_the_image() {
        let img = RgbImage::from_fn(37, 23, |x, y| {
            Rgb([(x * 7 + y) as u8, (y * 11) as u8, (x * y % 251) as u8])
        });
        for pad in [0, 9] {
            let canvas = Canvas::padded(&img, pad);
            let regions = [
                (0, 0, 37, 23),
                (3, 2, 10, 17),
                (-5, -4, 30, 12),
                (20, 10, 40, 30),
                (-20, -20, 8, 8),
                (30, 1, 1, 1),
            ];
            for (x, y, w, h) in regions {
                let region = RectI { x, y, w, h };
                for (ow, oh) in [(1, 1), (5, 7), (24, 24), (64, 48)] {
                    assert_eq!(
                        resize_region(&canvas, region, ow, oh),
                        resize_reference(&canvas, region, ow, oh),
                        "pad {pad}, region {region:?}, {ow}x{oh}"
                    );
                }
            }
        }
    }

    #[test]
    fn padding_reads_as_black() {
        let img = RgbImage::from_pixel(2, 2, Rgb([200, 100, 50]));
        let canvas = Canvas::padded(&img, 2);
        assert_eq!((canvas.width(), canvas.height()), (6, 6));
        let out = resize_region(
            &canvas,
            RectI {
                x: 0,
                y: 0,
                w: 6,
                h: 6,
            },
            6,
            6,
        );
        assert_eq!(out.pixel(0, 0), [0.0; 3]);
        assert_eq!(out.pixel(2, 3), [200.0, 100.0, 50.0]);
    }

    #[test]
    fn warp_by_a_translation_shifts_pixels_and_fills_black() {
        let img = gradient(5, 5);
        let shift: Affine = [[1.0, 0.0, -1.0], [0.0, 1.0, -2.0]]; // source (x, y) lands on (x-1, y-2)
        let out = warp_affine(&Canvas::new(&img), &shift, 5, 5).unwrap();
        assert_eq!(out.pixel(0, 0), [10.0, 20.0, 7.0]);
        assert_eq!(out.pixel(4, 4), [0.0; 3]); // source (5, 6) is outside
    }

    #[test]
    fn affine_inverse_round_trips_and_rejects_singular() {
        let m: Affine = [[0.8, -0.6, 3.0], [0.6, 0.8, -2.0]];
        let inv = invert_affine(&m).unwrap();
        let (x, y) = (7.0, -4.0);
        let (u, v) = (
            m[0][0] * x + m[0][1] * y + m[0][2],
            m[1][0] * x + m[1][1] * y + m[1][2],
        );
        let back = (
            inv[0][0] * u + inv[0][1] * v + inv[0][2],
            inv[1][0] * u + inv[1][1] * v + inv[1][2],
        );
        assert!((back.0 - x).abs() < 1e-9 && (back.1 - y).abs() < 1e-9);
        assert!(invert_affine(&[[1.0, 2.0, 0.0], [2.0, 4.0, 0.0]]).is_none());
    }

    #[test]
    fn planes_follow_the_channel_order() {
        let px = RgbF32 {
            width: 2,
            height: 1,
            data: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        };
        assert_eq!(
            px.planes(ChannelOrder::Rgb, |v| v),
            vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
        );
        assert_eq!(
            px.planes(ChannelOrder::Bgr, |v| v * 10.0),
            vec![30.0, 60.0, 20.0, 50.0, 10.0, 40.0]
        );
    }

    #[test]
    fn gray_uses_bt601_weights() {
        let px = RgbF32 {
            width: 1,
            height: 1,
            data: vec![100.0, 200.0, 50.0],
        };
        assert_eq!(px.gray()[0], 153.0); // 29.9 + 117.4 + 5.7 = 153.0
    }
}
