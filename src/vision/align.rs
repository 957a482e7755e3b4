//! Least-squares similarity alignment of the 5 face points to the ArcFace 112×112 template
//! (models.md §2.3). The vendor's 3-point exact affine adds shear and costs an order of magnitude in EER.

use super::canvas::{warp_affine, Affine, Canvas, RgbF32};
use super::geometry::Point;

pub const ALIGNED_SIDE: usize = 112;

/// Where the eyes, nose tip and mouth corners of an aligned face sit (insightface `arcface_dst`).
pub const ARCFACE_112: [Point; 5] = [
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
];

/// The rotation + uniform scale + translation mapping `src` onto `dst` with least squared error
/// (Umeyama 1991 restricted to 2-D, where it has this closed form; no reflection).
pub fn similarity_transform(src: &[Point], dst: &[Point]) -> Affine {
    let n = src.len() as f64;
    let centroid = |pts: &[Point]| {
        let (sx, sy) = pts.iter().fold((0.0, 0.0), |(sx, sy), p| {
            (sx + p[0] as f64, sy + p[1] as f64)
        });
        (sx / n, sy / n)
    };
    let (msx, msy) = centroid(src);
    let (mdx, mdy) = centroid(dst);
    let (mut dot, mut cross, mut var) = (0.0, 0.0, 0.0);
    for (s, d) in src.iter().zip(dst) {
        let (sx, sy) = (s[0] as f64 - msx, s[1] as f64 - msy);
        let (dx, dy) = (d[0] as f64 - mdx, d[1] as f64 - mdy);
        dot += sx * dx + sy * dy;
        cross += sx * dy - sy * dx;
        var += sx * sx + sy * sy;
    }
    // [a −b; b a] = scale·R
    let (a, b) = if var > 0.0 {
        (dot / var, cross / var)
    } else {
        (0.0, 0.0)
    };
    [
        [a, -b, mdx - (a * msx - b * msy)],
        [b, a, mdy - (b * msx + a * msy)],
    ]
}

/// The aligned 112×112 face crop, or `None` when the points are degenerate (all in one place).
pub fn align_face(canvas: &Canvas, five: &[Point; 5]) -> Option<RgbF32> {
    let m = similarity_transform(five, &ARCFACE_112);
    warp_affine(canvas, &m, ALIGNED_SIDE, ALIGNED_SIDE)
}

/// Where the template's eyes-to-mouth centre sits in a portrait crop, as shares of its side, and how
/// much of the side the template's face takes: a person's head with some margin, upright and level.
const PORTRAIT_CENTRE: [f32; 2] = [0.5, 0.56];
const PORTRAIT_SCALE: f32 = 0.78;

/// Where the five points land in a `side`×`side` portrait crop: the ArcFace template, scaled and
/// centred so the whole head shows (pure).
pub fn portrait_template(side: usize) -> [Point; 5] {
    let k = side as f32 / ALIGNED_SIDE as f32 * PORTRAIT_SCALE;
    let s = side as f32;
    ARCFACE_112.map(|p| {
        [
            (p[0] - 56.0) * k + PORTRAIT_CENTRE[0] * s,
            (p[1] - 72.0) * k + PORTRAIT_CENTRE[1] * s,
        ]
    })
}

/// A face for a person to look at: the `side`×`side` crop aligned like the model's input (eyes level,
/// at the same place and scale in every crop), with the whole head. `None` for degenerate points.
pub fn portrait_crop(canvas: &Canvas, five: &[Point; 5], side: usize) -> Option<RgbF32> {
    let m = similarity_transform(five, &portrait_template(side));
    warp_affine(canvas, &m, side, side)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portrait_crops_put_the_eyes_level_at_the_same_place_whatever_the_source() {
        let t = portrait_template(320);
        // Level eyes, inside the crop, with room for the head above them.
        assert!((t[0][1] - t[1][1]).abs() < 1.0);
        for p in t {
            assert!(
                p[0] > 60.0 && p[0] < 260.0 && p[1] > 100.0 && p[1] < 280.0,
                "{p:?}"
            );
        }
        // A face twice as large and turned 20°: its points land on the template all the same.
        let (s, th) = (2.0f64, 20f64.to_radians());
        let pose: Affine = [
            [s * th.cos(), -s * th.sin(), 40.0],
            [s * th.sin(), s * th.cos(), 10.0],
        ];
        let src: Vec<Point> = ARCFACE_112.iter().map(|&p| apply(&pose, p)).collect();
        let m = similarity_transform(&src, &t);
        for (p, want) in src.iter().zip(t) {
            let got = apply(&m, *p);
            assert!((got[0] - want[0]).abs() < 0.01 && (got[1] - want[1]).abs() < 0.01);
        }
    }

    fn apply(m: &Affine, p: Point) -> Point {
        let (x, y) = (p[0] as f64, p[1] as f64);
        [
            (m[0][0] * x + m[0][1] * y + m[0][2]) as f32,
            (m[1][0] * x + m[1][1] * y + m[1][2]) as f32,
        ]
    }

    #[test]
    fn recovers_a_known_similarity_exactly() {
        // dst = 2·R(30°)·src + (5, −3)
        let (s, th) = (2.0f64, 30f64.to_radians());
        let truth: Affine = [
            [s * th.cos(), -s * th.sin(), 5.0],
            [s * th.sin(), s * th.cos(), -3.0],
        ];
        let src: Vec<Point> = ARCFACE_112.to_vec();
        let dst: Vec<Point> = src.iter().map(|&p| apply(&truth, p)).collect();
        let m = similarity_transform(&src, &dst);
        for r in 0..2 {
            for c in 0..3 {
                assert!((m[r][c] - truth[r][c]).abs() < 1e-4, "{m:?} vs {truth:?}");
            }
        }
    }

    #[test]
    fn template_maps_to_itself() {
        let m = similarity_transform(&ARCFACE_112, &ARCFACE_112);
        assert!((m[0][0] - 1.0).abs() < 1e-9 && m[0][1].abs() < 1e-9 && m[0][2].abs() < 1e-6);
    }

    #[test]
    fn noisy_points_get_the_least_squares_fit_without_shear() {
        let mut src = ARCFACE_112;
        src[2][0] += 3.0; // a nose off to one side
        let m = similarity_transform(&src, &ARCFACE_112);
        // No shear: the linear part stays a scaled rotation.
        assert!((m[0][0] - m[1][1]).abs() < 1e-12 && (m[0][1] + m[1][0]).abs() < 1e-12);
        // The residual is spread over all points: the nose lands between its two positions.
        let nose = apply(&m, src[2]);
        assert!(nose[0] > ARCFACE_112[2][0] && nose[0] < ARCFACE_112[2][0] + 3.0);
    }

    #[test]
    fn mirrored_points_are_not_reflected() {
        // A mirror image cannot be fitted by a rotation; the fit must still be a proper similarity.
        let src: Vec<Point> = ARCFACE_112.iter().map(|p| [112.0 - p[0], p[1]]).collect();
        let m = similarity_transform(&src, &ARCFACE_112);
        let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
        assert!(det >= 0.0);
    }

    #[test]
    fn degenerate_points_do_not_align() {
        let img = image::RgbImage::new(10, 10);
        assert!(align_face(&Canvas::new(&img), &[[5.0, 5.0]; 5]).is_none());
    }
}
