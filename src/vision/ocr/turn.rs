//! Right-angle turns of an image, as coordinates: a document photographed sideways is read in a turned
//! frame without materialising the turned photo (the detector's small input is turned instead, and
//! rows are cut from the original through their mapped corners).

use crate::vision::geometry::Point;

/// A clockwise turn by `degrees` (0, 90, 180 or 270) of a `width`×`height` image, for pixel
/// coordinates (pixel `i` at coordinate `i`, as `image::imageops::rotate90` moves pixels).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Turn {
    pub degrees: u16,
    pub width: u32,
    pub height: u32,
}

impl Turn {
    pub fn new(degrees: u16, width: u32, height: u32) -> Turn {
        Turn {
            degrees: degrees % 360,
            width,
            height,
        }
    }

    /// The turned image's width and height.
    pub fn turned_size(&self) -> (u32, u32) {
        match self.degrees {
            90 | 270 => (self.height, self.width),
            _ => (self.width, self.height),
        }
    }

    /// A point of the original image in the turned one.
    pub fn forward(&self, [x, y]: Point) -> Point {
        let (w, h) = (self.width as f32 - 1.0, self.height as f32 - 1.0);
        match self.degrees {
            90 => [h - y, x],
            180 => [w - x, h - y],
            270 => [y, w - x],
            _ => [x, y],
        }
    }

    /// A point of the turned image in the original one.
    pub fn back(&self, [a, b]: Point) -> Point {
        let (w, h) = (self.width as f32 - 1.0, self.height as f32 - 1.0);
        match self.degrees {
            90 => [b, h - a],
            180 => [w - a, h - b],
            270 => [w - b, a],
            _ => [a, b],
        }
    }
}

/// Turns `channels` planes of `width`×`height` values (NCHW, batch 1) clockwise by `degrees`; returns
/// the planes and their new width and height.
pub fn turn_planes(
    data: &[f32],
    channels: usize,
    width: usize,
    height: usize,
    degrees: u16,
) -> (Vec<f32>, usize, usize) {
    let turn = Turn::new(degrees, width as u32, height as u32);
    let (tw, th) = turn.turned_size();
    let (tw, th) = (tw as usize, th as usize);
    if turn.degrees == 0 {
        return (data.to_vec(), width, height);
    }
    let n = width * height;
    let mut out = vec![0.0f32; data.len()];
    for c in 0..channels {
        let (src, dst) = (&data[c * n..(c + 1) * n], &mut out[c * n..(c + 1) * n]);
        for y in 0..height {
            for x in 0..width {
                let (tx, ty) = match turn.degrees {
                    90 => (height - 1 - y, x),
                    180 => (width - 1 - x, height - 1 - y),
                    _ => (y, width - 1 - x), // 270
                };
                dst[ty * tw + tx] = src[y * width + x];
            }
        }
    }
    (out, tw, th)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::RgbImage;

    #[test]
    fn points_move_as_the_pixels_of_a_turned_image() {
        let img = RgbImage::from_fn(5, 3, |x, y| image::Rgb([x as u8, y as u8, 0]));
        for degrees in [0u16, 90, 180, 270] {
            let turned = match degrees {
                90 => image::imageops::rotate90(&img),
                180 => image::imageops::rotate180(&img),
                270 => image::imageops::rotate270(&img),
                _ => img.clone(),
            };
            let turn = Turn::new(degrees, 5, 3);
            assert_eq!(turn.turned_size(), turned.dimensions());
            for y in 0..3u32 {
                for x in 0..5u32 {
                    let [tx, ty] = turn.forward([x as f32, y as f32]);
                    assert_eq!(
                        turned.get_pixel(tx as u32, ty as u32).0,
                        [x as u8, y as u8, 0]
                    );
                    assert_eq!(turn.back([tx, ty]), [x as f32, y as f32]);
                }
            }
        }
    }

    #[test]
    fn planes_turn_like_the_image() {
        // Two planes of a 3×2 image; plane 1 is plane 0 plus 10.
        let data: Vec<f32> = (0..6).chain(10..16).map(|v| v as f32).collect();
        let (out, w, h) = turn_planes(&data, 2, 3, 2, 90);
        assert_eq!((w, h), (2, 3));
        // 0 1 2 / 3 4 5 turned clockwise is 3 0 / 4 1 / 5 2.
        assert_eq!(&out[..6], &[3.0, 0.0, 4.0, 1.0, 5.0, 2.0]);
        assert_eq!(&out[6..], &[13.0, 10.0, 14.0, 11.0, 15.0, 12.0]);
        let (out, w, h) = turn_planes(&data, 2, 3, 2, 180);
        assert_eq!(
            (w, h, &out[..6]),
            (3, 2, &[5.0, 4.0, 3.0, 2.0, 1.0, 0.0][..])
        );
        let (out, _, _) = turn_planes(&data, 2, 3, 2, 270);
        assert_eq!(&out[..6], &[2.0, 5.0, 1.0, 4.0, 0.0, 3.0]);
    }
}
