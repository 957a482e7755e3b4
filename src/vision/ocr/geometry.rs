//! Plane geometry of text boxes: convex hull, minimum-area rotated rectangle (rotating calipers), the
//! detector's "unclip", and quadrilaterals with their corners in reading order.

use crate::vision::geometry::Point;

/// A point in f64, for the arithmetic; boxes are stored as f32 [`Point`]s.
pub type P64 = [f64; 2];

/// A quadrilateral's corners in reading order: top-left, top-right, bottom-right, bottom-left.
pub type Quad = [Point; 4];

#[inline]
fn cross(o: P64, a: P64, b: P64) -> f64 {
    (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
}

/// The convex hull (Andrew's monotone chain), counter-clockwise in a y-up frame (clockwise on screen),
/// without collinear points. Fewer than three distinct points give those points.
pub fn convex_hull(points: &[P64]) -> Vec<P64> {
    let mut pts: Vec<P64> = points.to_vec();
    pts.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    pts.dedup();
    if pts.len() < 3 {
        return pts;
    }
    let mut hull: Vec<P64> = Vec::with_capacity(pts.len() + 1);
    // The lower chain left to right, then the upper chain right to left.
    for pass in 0..2 {
        let start = hull.len();
        for k in 0..pts.len() {
            let p = if pass == 0 {
                pts[k]
            } else {
                pts[pts.len() - 1 - k]
            };
            while hull.len() >= start + 2
                && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0
            {
                hull.pop();
            }
            hull.push(p);
        }
        hull.pop(); // the last point of each chain starts the other
    }
    hull
}

/// A rotated rectangle: centre, the length of the side along `angle` (width), the other side (height),
/// and the direction of the width side in radians.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RotatedRect {
    pub center: P64,
    pub width: f64,
    pub height: f64,
    pub angle: f64,
}

impl RotatedRect {
    pub fn area(&self) -> f64 {
        self.width * self.height
    }

    pub fn min_side(&self) -> f64 {
        self.width.min(self.height)
    }

    /// The four corners, in no particular order (see [`order_quad`]).
    pub fn corners(&self) -> [P64; 4] {
        let (c, s) = (self.angle.cos(), self.angle.sin());
        let (hw, hh) = (self.width / 2.0, self.height / 2.0);
        let u = [c * hw, s * hw];
        let v = [-s * hh, c * hh];
        let [x, y] = self.center;
        [
            [x - u[0] - v[0], y - u[1] - v[1]],
            [x + u[0] - v[0], y + u[1] - v[1]],
            [x + u[0] + v[0], y + u[1] + v[1]],
            [x - u[0] + v[0], y - u[1] + v[1]],
        ]
    }

    /// The detector's "unclip": the rectangle grown by `area · ratio / perimeter` on every side. (DB
    /// offsets the box polygon with round joins by that distance; the minimum-area rectangle of that
    /// rounded shape is exactly the rectangle grown by the distance.)
    pub fn unclip(&self, ratio: f64) -> RotatedRect {
        let perimeter = 2.0 * (self.width + self.height);
        let d = if perimeter > 0.0 {
            self.area() * ratio / perimeter
        } else {
            0.0
        };
        RotatedRect {
            width: self.width + 2.0 * d,
            height: self.height + 2.0 * d,
            ..*self
        }
    }
}

/// The minimum-area rectangle enclosing the points, by rotating calipers over their convex hull: the
/// optimal rectangle has a side on a hull edge, and the extreme points for consecutive edges advance
/// monotonically round the hull, so every edge is tried in O(n) in all. `None` for no points.
pub fn min_area_rect(points: &[P64]) -> Option<RotatedRect> {
    let hull = convex_hull(points);
    match hull.len() {
        0 => return None,
        1 => {
            return Some(RotatedRect {
                center: hull[0],
                width: 0.0,
                height: 0.0,
                angle: 0.0,
            })
        }
        2 => {
            let (a, b) = (hull[0], hull[1]);
            return Some(RotatedRect {
                center: [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0],
                width: (b[0] - a[0]).hypot(b[1] - a[1]),
                height: 0.0,
                angle: (b[1] - a[1]).atan2(b[0] - a[0]),
            });
        }
        _ => {}
    }
    let n = hull.len();
    let at = |i: usize| hull[i % n];
    let dot = |p: P64, d: P64| p[0] * d[0] + p[1] * d[1];
    // Calipers: for edge i (direction u, normal v), the hull points farthest along +u, along v (the side
    // away from the edge) and along -u.
    let (mut right, mut far, mut left) = (1usize, 1usize, 0usize);
    let mut best: Option<(f64, RotatedRect)> = None;
    for i in 0..n {
        let (a, b) = (at(i), at(i + 1));
        let len = (b[0] - a[0]).hypot(b[1] - a[1]);
        if len == 0.0 {
            continue;
        }
        let u = [(b[0] - a[0]) / len, (b[1] - a[1]) / len];
        // The hull runs counter-clockwise in a y-up frame, so the interior is to the left of each edge.
        let v = [-u[1], u[0]];
        right = right.max(i + 1);
        while dot(at(right + 1), u) > dot(at(right), u) + 1e-12 {
            right += 1;
        }
        far = far.max(right);
        while dot(at(far + 1), v) > dot(at(far), v) + 1e-12 {
            far += 1;
        }
        if i == 0 {
            left = far;
        }
        left = left.max(far);
        while dot(at(left + 1), u) < dot(at(left), u) - 1e-12 {
            left += 1;
        }
        let (u_min, u_max) = (dot(at(left), u), dot(at(right), u));
        let (v_min, v_max) = (dot(a, v), dot(at(far), v));
        let (width, height) = (u_max - u_min, v_max - v_min);
        let area = width * height;
        if best.as_ref().is_none_or(|(ba, _)| area < *ba - 1e-9) {
            let (cu, cv) = ((u_min + u_max) / 2.0, (v_min + v_max) / 2.0);
            best = Some((
                area,
                RotatedRect {
                    center: [cu * u[0] + cv * v[0], cu * u[1] + cv * v[1]],
                    width,
                    height,
                    angle: u[1].atan2(u[0]),
                },
            ));
        }
    }
    best.map(|(_, r)| r)
}

/// Corners in reading order (top-left, top-right, bottom-right, bottom-left): clockwise on screen round
/// their centre, starting at the corner nearest the image's top-left (smallest x + y).
pub fn order_quad(corners: [P64; 4]) -> Quad {
    let cx = corners.iter().map(|p| p[0]).sum::<f64>() / 4.0;
    let cy = corners.iter().map(|p| p[1]).sum::<f64>() / 4.0;
    let mut sorted = corners;
    // y points down, so increasing atan2 goes clockwise on screen.
    sorted.sort_by(|a, b| {
        (a[1] - cy)
            .atan2(a[0] - cx)
            .total_cmp(&(b[1] - cy).atan2(b[0] - cx))
    });
    let start = (0..4)
        .min_by(|&i, &j| (sorted[i][0] + sorted[i][1]).total_cmp(&(sorted[j][0] + sorted[j][1])))
        .unwrap_or(0);
    std::array::from_fn(|k| {
        let p = sorted[(start + k) % 4];
        [p[0] as f32, p[1] as f32]
    })
}

fn dist(a: Point, b: Point) -> f32 {
    (a[0] - b[0]).hypot(a[1] - b[1])
}

/// A quad's width (the longer of its top and bottom edges), height (the longer of its left and right
/// edges) and centre.
pub fn quad_size(q: &Quad) -> (f32, f32, Point) {
    let w = dist(q[0], q[1]).max(dist(q[3], q[2]));
    let h = dist(q[0], q[3]).max(dist(q[1], q[2]));
    let c = [
        (q[0][0] + q[1][0] + q[2][0] + q[3][0]) / 4.0,
        (q[0][1] + q[1][1] + q[2][1] + q[3][1]) / 4.0,
    ];
    (w, h, c)
}

/// The part of a quad from its left edge to `fraction` of the way to its right edge (along its top and
/// bottom edges).
pub fn quad_prefix(q: &Quad, fraction: f32) -> Quad {
    let lerp = |a: Point, b: Point| {
        [
            a[0] + (b[0] - a[0]) * fraction,
            a[1] + (b[1] - a[1]) * fraction,
        ]
    };
    [q[0], lerp(q[0], q[1]), lerp(q[3], q[2]), q[3]]
}

/// The quad as f64 points.
pub fn quad_points(q: &Quad) -> [P64; 4] {
    q.map(|p| [p[0] as f64, p[1] as f64])
}

/// The part of a `width`×`height` image that holds every text box, widened by `margin` of its size on
/// each side and clipped, as (x, y, w, h), when reading it alone magnifies the text at least `min_zoom`
/// times (the detector's input has a fixed long side): a card photographed from afar, whose print is
/// too small in the view of the whole photo. `None` when there is no box or the text spans the photo.
pub fn text_region(
    quads: &[Quad],
    width: u32,
    height: u32,
    margin: f32,
    min_zoom: f32,
) -> Option<(u32, u32, u32, u32)> {
    let points = quads.iter().flatten();
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for p in points {
        x0 = x0.min(p[0]);
        y0 = y0.min(p[1]);
        x1 = x1.max(p[0]);
        y1 = y1.max(p[1]);
    }
    if quads.is_empty() || !(x1 > x0 && y1 > y0) {
        return None;
    }
    let (mx, my) = ((x1 - x0) * margin, (y1 - y0) * margin);
    let clip = |v: f32, max: u32| v.round().clamp(0.0, max as f32) as u32;
    let (left, top) = (clip(x0 - mx, width), clip(y0 - my, height));
    let (right, bottom) = (clip(x1 + mx, width), clip(y1 + my, height));
    let (w, h) = (right.saturating_sub(left), bottom.saturating_sub(top));
    let zoom = width.max(height) as f32 / w.max(h).max(1) as f32;
    (w > 0 && h > 0 && zoom >= min_zoom).then_some((left, top, w, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn hull_drops_interior_and_collinear_points() {
        let pts = [
            [0.0, 0.0],
            [2.0, 0.0],
            [4.0, 0.0],
            [4.0, 3.0],
            [0.0, 3.0],
            [1.0, 1.0],
            [2.0, 2.0],
            [4.0, 3.0],
        ];
        let hull = convex_hull(&pts);
        assert_eq!(hull.len(), 4, "{hull:?}");
        for corner in [[0.0, 0.0], [4.0, 0.0], [4.0, 3.0], [0.0, 3.0]] {
            assert!(hull.contains(&corner), "{hull:?}");
        }
        assert_eq!(convex_hull(&[[1.0, 1.0], [1.0, 1.0]]), vec![[1.0, 1.0]]);
        assert!(convex_hull(&[]).is_empty());
    }

    #[test]
    fn min_area_rect_of_an_axis_aligned_rectangle() {
        let mut pts = Vec::new();
        for x in 0..=20 {
            for y in 0..=4 {
                pts.push([x as f64 + 10.0, y as f64 + 5.0]);
            }
        }
        let r = min_area_rect(&pts).unwrap();
        let (w, h) = (r.width.max(r.height), r.width.min(r.height));
        assert!(close(w, 20.0, 1e-9) && close(h, 4.0, 1e-9), "{r:?}");
        assert!(close(r.center[0], 20.0, 1e-9) && close(r.center[1], 7.0, 1e-9));
        assert!(close(r.area(), 80.0, 1e-9));
    }

    #[test]
    fn min_area_rect_finds_a_rotated_rectangle() {
        for degrees in [0.0f64, 7.0, 30.0, 45.0, 60.0, 89.0, 123.0, 200.0, 330.0] {
            let truth = RotatedRect {
                center: [100.0, 60.0],
                width: 80.0,
                height: 12.0,
                angle: degrees.to_radians(),
            };
            // The corners plus points inside and on the edges.
            let c = truth.corners();
            let mut pts = c.to_vec();
            for t in [0.1, 0.5, 0.9] {
                for k in 0..4 {
                    let (a, b) = (c[k], c[(k + 1) % 4]);
                    pts.push([a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])]);
                }
                pts.push([
                    truth.center[0] + t * (c[0][0] - truth.center[0]),
                    truth.center[1] + t * (c[0][1] - truth.center[1]),
                ]);
            }
            let r = min_area_rect(&pts).unwrap();
            assert!(close(r.area(), truth.area(), 1e-6), "{degrees}: {r:?}");
            assert!(close(r.center[0], 100.0, 1e-6) && close(r.center[1], 60.0, 1e-6));
            let (w, h) = (r.width.max(r.height), r.width.min(r.height));
            assert!(
                close(w, 80.0, 1e-6) && close(h, 12.0, 1e-6),
                "{degrees}: {r:?}"
            );
            // The long side's direction, modulo a half turn.
            let long = if r.width >= r.height {
                r.angle
            } else {
                r.angle + std::f64::consts::FRAC_PI_2
            };
            let diff = (long - degrees.to_radians()).rem_euclid(std::f64::consts::PI);
            assert!(
                diff < 1e-6 || std::f64::consts::PI - diff < 1e-6,
                "{degrees}: {r:?}"
            );
        }
    }

    #[test]
    fn min_area_rect_of_a_blob_is_no_larger_than_any_rotation() {
        // A pseudo-random cloud: the calipers' answer is the minimum over a fine sweep of angles.
        let mut seed = 12345u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as f64) / (1u64 << 31) as f64
        };
        let pts: Vec<P64> = (0..60)
            .map(|_| [next() * 50.0, next() * 20.0 + next() * 10.0])
            .collect();
        let r = min_area_rect(&pts).unwrap();
        for step in 0..3600 {
            let a = (step as f64 / 10.0).to_radians();
            let (c, s) = (a.cos(), a.sin());
            let us: Vec<f64> = pts.iter().map(|p| p[0] * c + p[1] * s).collect();
            let vs: Vec<f64> = pts.iter().map(|p| -p[0] * s + p[1] * c).collect();
            let span = |v: &[f64]| {
                v.iter().cloned().fold(f64::MIN, f64::max)
                    - v.iter().cloned().fold(f64::MAX, f64::min)
            };
            assert!(r.area() <= span(&us) * span(&vs) + 1e-6);
        }
        // Every point is inside (or on) the rectangle.
        let (c, s) = (r.angle.cos(), r.angle.sin());
        for p in &pts {
            let (dx, dy) = (p[0] - r.center[0], p[1] - r.center[1]);
            assert!((dx * c + dy * s).abs() <= r.width / 2.0 + 1e-6);
            assert!((-dx * s + dy * c).abs() <= r.height / 2.0 + 1e-6);
        }
    }

    #[test]
    fn degenerate_point_sets() {
        assert!(min_area_rect(&[]).is_none());
        let one = min_area_rect(&[[3.0, 4.0]]).unwrap();
        assert_eq!((one.width, one.height), (0.0, 0.0));
        let line = min_area_rect(&[[0.0, 0.0], [5.0, 0.0], [10.0, 0.0]]).unwrap();
        assert!(close(line.width, 10.0, 1e-9) && line.height == 0.0);
    }

    #[test]
    fn unclip_grows_every_side_by_area_ratio_over_perimeter() {
        let r = RotatedRect {
            center: [0.0, 0.0],
            width: 100.0,
            height: 10.0,
            angle: 0.3,
        };
        // d = 1000 · 1.5 / 220
        let d = 1000.0 * 1.5 / 220.0;
        let u = r.unclip(1.5);
        assert!(close(u.width, 100.0 + 2.0 * d, 1e-9) && close(u.height, 10.0 + 2.0 * d, 1e-9));
        assert_eq!((u.center, u.angle), (r.center, r.angle));
    }

    #[test]
    fn quads_come_out_in_reading_order() {
        let q = order_quad([[10.0, 20.0], [0.0, 0.0], [10.0, 0.0], [0.0, 20.0]]);
        assert_eq!(q, [[0.0, 0.0], [10.0, 0.0], [10.0, 20.0], [0.0, 20.0]]);
        // A row tilted by 10°: top-left is still first, and the corners run clockwise.
        let r = RotatedRect {
            center: [50.0, 50.0],
            width: 80.0,
            height: 10.0,
            angle: 10f64.to_radians(),
        };
        let q = order_quad(r.corners());
        assert!(q[0][0] < q[1][0] && q[3][0] < q[2][0]);
        assert!(q[0][1] < q[3][1] && q[1][1] < q[2][1]);
        let (w, h, c) = quad_size(&q);
        assert!((w - 80.0).abs() < 1e-3 && (h - 10.0).abs() < 1e-3);
        assert!((c[0] - 50.0).abs() < 1e-3 && (c[1] - 50.0).abs() < 1e-3);
        let left = quad_prefix(&q, 0.25);
        let (w, h, _) = quad_size(&left);
        assert!((w - 20.0).abs() < 1e-3 && (h - 10.0).abs() < 1e-3);
        assert_eq!((left[0], left[3]), (q[0], q[3]));
    }

    #[test]
    fn text_region_frames_small_print_and_skips_text_across_the_photo() {
        let q = |x0: f32, y0: f32, x1: f32, y1: f32| [[x0, y0], [x1, y0], [x1, y1], [x0, y1]];
        // Two rows in the middle of a 4000×3000 photo: their region with a 20 % margin.
        let rows = [
            q(1500.0, 1400.0, 2500.0, 1450.0),
            q(1500.0, 1500.0, 2500.0, 1550.0),
        ];
        assert_eq!(
            text_region(&rows, 4000, 3000, 0.2, 1.5),
            Some((1300, 1370, 1400, 210))
        );
        // Clipped at the photo's edges.
        let corner = [q(-10.0, -10.0, 300.0, 40.0)];
        assert_eq!(text_region(&corner, 4000, 3000, 0.2, 1.5).unwrap().0, 0);
        // Text across the photo, no text, degenerate boxes: nothing to gain.
        let wide = [q(100.0, 100.0, 3900.0, 200.0)];
        assert_eq!(text_region(&wide, 4000, 3000, 0.2, 1.5), None);
        assert_eq!(text_region(&[], 4000, 3000, 0.2, 1.5), None);
        assert_eq!(
            text_region(&[q(5.0, 5.0, 5.0, 5.0)], 4000, 3000, 0.2, 1.5),
            None
        );
    }
}
