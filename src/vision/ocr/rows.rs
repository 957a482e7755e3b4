//! Text rows from the detector's boxes: boxes on one line merged into a row, the rows shaped like a
//! machine-readable zone's (long and thin), which row lies under which, and which way the text runs.

use super::geometry::{min_area_rect, order_quad, quad_points, quad_size, Quad, P64};

/// A row is MRZ-like when it is at least this many times as wide as it is high (an MRZ line of 30–44
/// characters is about 15–25 times).
pub const MRZ_ASPECT: f32 = 6.0;

/// The direction of a quad's top edge, in radians.
fn top_angle(q: &Quad) -> f32 {
    (q[1][1] - q[0][1]).atan2(q[1][0] - q[0][0])
}

/// Boxes on one line join a row only when the gap to the next is at most this many row heights (a few
/// characters: an MRZ line is printed without gaps).
pub const MAX_GAP: f32 = 2.5;

/// The members (index, span along the line) chained to `seed` with gaps of at most `max_gap` (pure).
fn chained(spans: &[(usize, (f32, f32))], seed: usize, max_gap: f32) -> Vec<usize> {
    let mut sorted = spans.to_vec();
    sorted.sort_by(|a, b| a.1 .0.total_cmp(&b.1 .0));
    let mut clusters: Vec<Vec<usize>> = Vec::new();
    let mut reach = f32::MIN;
    for (k, (lo, hi)) in sorted {
        match clusters.last_mut() {
            Some(c) if lo - reach <= max_gap => {
                c.push(k);
                reach = reach.max(hi);
            }
            _ => {
                clusters.push(vec![k]);
                reach = hi;
            }
        }
    }
    clusters
        .into_iter()
        .find(|c| c.contains(&seed))
        .unwrap_or_else(|| vec![seed])
}

/// Merges boxes that lie on one text line into one quad per line (the minimum-area rectangle round
/// their corners). Two boxes share a line when the second's centre is within 0.4 of the smaller height
/// of the first's baseline direction through its centre, their heights are within a ratio of 1.6 and
/// their angles within 0.15 rad, and no gap wider than [`MAX_GAP`] heights separates them along the line
/// (the front of a card photographed beside its back stays apart from the back's MRZ). Each line is
/// seeded by its topmost box; the result runs top to bottom.
pub fn merge_rows(boxes: &[Quad]) -> Vec<Quad> {
    struct Item {
        center: [f32; 2],
        height: f32,
        angle: f32,
        quad: Quad,
    }
    let mut items: Vec<Item> = boxes
        .iter()
        .map(|q| {
            let (_, h, c) = quad_size(q);
            Item {
                center: c,
                height: h.max(1e-3),
                angle: top_angle(q),
                quad: *q,
            }
        })
        .collect();
    items.sort_by(|a, b| a.center[1].total_cmp(&b.center[1]));
    let mut used = vec![false; items.len()];
    let mut rows = Vec::new();
    for i in 0..items.len() {
        if used[i] {
            continue;
        }
        used[i] = true;
        let a = &items[i];
        let mut members = vec![i];
        for (j, b) in items.iter().enumerate().skip(i + 1) {
            if used[j] {
                continue;
            }
            let on_line = a.center[1] + a.angle.tan() * (b.center[0] - a.center[0]);
            let dy = (b.center[1] - on_line).abs();
            let ratio = b.height / a.height;
            if dy < 0.4 * a.height.min(b.height)
                && (0.6..1.6).contains(&ratio)
                && (b.angle - a.angle).abs() < 0.15
            {
                members.push(j);
            }
        }
        // Only the boxes chained to the seed along the line with no wide gap: text beside it on the same
        // line (the front of a card photographed beside its back, a caption) is another row.
        let along = [a.angle.cos(), a.angle.sin()];
        let span = |q: &Quad| {
            q.iter()
                .map(|p| p[0] * along[0] + p[1] * along[1])
                .fold((f32::MAX, f32::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)))
        };
        let spans: Vec<(usize, (f32, f32))> =
            members.iter().map(|&k| (k, span(&items[k].quad))).collect();
        let members = chained(&spans, i, MAX_GAP * a.height);
        for &k in &members {
            used[k] = true;
        }
        if members.len() == 1 {
            rows.push(a.quad);
            continue;
        }
        let points: Vec<P64> = members
            .iter()
            .flat_map(|&k| quad_points(&items[k].quad))
            .collect();
        match min_area_rect(&points) {
            Some(r) => rows.push(order_quad(r.corners())),
            None => rows.push(a.quad),
        }
    }
    rows
}

/// Whether a row is shaped like an MRZ line.
pub fn mrz_like(q: &Quad) -> bool {
    let (w, h, _) = quad_size(q);
    w >= MRZ_ASPECT * h
}

/// The width-to-height ratio: about the number of characters a row holds, for ordering rows.
pub fn aspect(q: &Quad) -> f32 {
    let (w, h, _) = quad_size(q);
    w / h.max(1e-3)
}

/// Whether row `b` is the next text line under row `a`, as MRZ lines are stacked: its centre lies 0.8
/// to 3 line heights below `a`'s along `a`'s normal, the heights are within a factor of 2, and the two
/// overlap along `a`'s direction by more than half the narrower one.
pub fn is_below(a: &Quad, b: &Quad) -> bool {
    let (wa, ha, ca) = quad_size(a);
    let (wb, hb, cb) = quad_size(b);
    let (ux, uy) = (a[1][0] - a[0][0], a[1][1] - a[0][1]);
    let len = ux.hypot(uy).max(1e-3);
    let u = [ux / len, uy / len];
    let n = [-u[1], u[0]];
    let d = [cb[0] - ca[0], cb[1] - ca[1]];
    let across = d[0] * n[0] + d[1] * n[1];
    let along = d[0] * u[0] + d[1] * u[1];
    let hmax = ha.max(hb);
    if !(0.8 * hmax < across && across < 3.0 * hmax) {
        return false;
    }
    if !(0.5 < hb / ha.max(1e-3) && hb / ha.max(1e-3) < 2.0) {
        return false;
    }
    let overlap = (wa / 2.0).min(along + wb / 2.0) - (-wa / 2.0).max(along - wb / 2.0);
    overlap > 0.5 * wa.min(wb)
}

/// For each row, the rows directly under it: [`is_below`] it, with no other such row between them (a
/// row under the first and over the second).
pub fn rows_below(rows: &[Quad]) -> Vec<Vec<usize>> {
    (0..rows.len())
        .map(|i| {
            let under: Vec<usize> = (0..rows.len())
                .filter(|&j| j != i && is_below(&rows[i], &rows[j]))
                .collect();
            under
                .iter()
                .copied()
                .filter(|&j| {
                    !under
                        .iter()
                        .any(|&k| k != j && is_below(&rows[k], &rows[j]))
                })
                .collect()
        })
        .collect()
}

/// Which way the text runs: the number of boxes clearly taller than wide (text turned by a quarter)
/// less the number clearly wider than tall. Positive: try the quarter turns first.
pub fn vertical_vote(boxes: &[Quad]) -> i32 {
    boxes
        .iter()
        .map(|q| {
            let w = (q[1][0] - q[0][0]).hypot(q[1][1] - q[0][1]);
            let h = (q[3][0] - q[0][0]).hypot(q[3][1] - q[0][1]);
            if h > 2.5 * w {
                1
            } else if w > 2.5 * h {
                -1
            } else {
                0
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_boxes_chained_without_a_wide_gap_share_a_row() {
        // Three boxes close together, then one far to the right on the same line.
        let spans = [
            (0, (0.0, 10.0)),
            (1, (12.0, 30.0)),
            (2, (31.0, 40.0)),
            (3, (90.0, 120.0)),
        ];
        assert_eq!(chained(&spans, 1, 5.0), [0, 1, 2]);
        assert_eq!(chained(&spans, 3, 5.0), [3]);
        // Order of the input does not matter; a box inside another's span chains.
        let shuffled = [
            (3, (90.0, 120.0)),
            (2, (31.0, 40.0)),
            (0, (0.0, 45.0)),
            (1, (12.0, 30.0)),
        ];
        assert_eq!(chained(&shuffled, 2, 5.0), [0, 1, 2]);
    }

    #[test]
    fn text_beside_a_line_on_the_same_baseline_is_another_row() {
        let q = |x0: f32, x1: f32| -> Quad { [[x0, 100.0], [x1, 100.0], [x1, 120.0], [x0, 120.0]] };
        // A card's front field and the back's MRZ line, 200 px apart (10 heights): two rows.
        let rows = merge_rows(&[q(0.0, 150.0), q(350.0, 700.0)]);
        assert_eq!(rows.len(), 2);
        // Two pieces of one line 20 px apart (one height): one row.
        assert_eq!(merge_rows(&[q(0.0, 150.0), q(170.0, 500.0)]).len(), 1);
    }

    fn rect(x0: f32, y0: f32, x1: f32, y1: f32) -> Quad {
        [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
    }

    #[test]
    fn boxes_on_one_line_merge_and_lines_stay_apart() {
        let boxes = [
            rect(300.0, 102.0, 500.0, 122.0), // line 1, right part, slightly lower
            rect(10.0, 100.0, 290.0, 120.0),  // line 1, left part
            rect(10.0, 140.0, 500.0, 160.0),  // line 2
            rect(600.0, 100.0, 640.0, 160.0), // a tall box beside them: not on line 1
        ];
        let rows = merge_rows(&boxes);
        assert_eq!(rows.len(), 3, "{rows:?}");
        let (w, h, c) = quad_size(&rows[0]);
        assert!(
            (w - 490.0).abs() < 1.0 && (20.0..22.5).contains(&h),
            "{w} {h}"
        );
        assert!((c[1] - 111.0).abs() < 1.0);
        assert_eq!(rows[1], boxes[3]); // top to bottom by centre
        assert_eq!(rows[2], boxes[2]);
    }

    #[test]
    fn stacked_rows_are_found_below_each_other() {
        let top = rect(10.0, 100.0, 500.0, 120.0);
        let under = rect(12.0, 130.0, 505.0, 150.0);
        let far = rect(10.0, 200.0, 500.0, 220.0);
        let aside = rect(600.0, 130.0, 900.0, 150.0);
        let tiny = rect(10.0, 125.0, 500.0, 129.0);
        assert!(is_below(&top, &under));
        assert!(!is_below(&under, &top));
        assert!(!is_below(&top, &far)); // 5 line heights down
        assert!(!is_below(&top, &aside)); // no overlap
        assert!(!is_below(&top, &tiny)); // a fifth of the height
        assert_eq!(
            rows_below(&[top, under, far]),
            vec![vec![1], vec![], vec![]]
        );
        // A row 2.5 heights down is under the first, but not directly when a row lies between.
        let lower = rect(10.0, 150.0, 500.0, 170.0);
        assert!(is_below(&top, &lower) && is_below(&under, &lower));
        assert_eq!(
            rows_below(&[top, under, lower]),
            vec![vec![1], vec![2], vec![]]
        );
        assert_eq!(rows_below(&[top, lower]), vec![vec![1], vec![]]);
    }

    #[test]
    fn stacking_follows_a_tilted_row() {
        // Two rows tilted by 0.2 rad: the second is under the first along its normal.
        let (c, s) = (0.2f32.cos(), 0.2f32.sin());
        let make = |down: f32| -> Quad {
            let corners = [[0.0, 0.0], [400.0, 0.0], [400.0, 20.0], [0.0, 20.0]];
            corners.map(|[x, y]| {
                let y = y + down;
                [100.0 + x * c - y * s, 100.0 + x * s + y * c]
            })
        };
        assert!(is_below(&make(0.0), &make(30.0)));
        assert!(!is_below(&make(30.0), &make(0.0)));
    }

    #[test]
    fn mrz_shape_aspect_and_orientation_vote() {
        let line = rect(0.0, 0.0, 440.0, 20.0);
        let word = rect(0.0, 0.0, 40.0, 20.0);
        let turned = rect(0.0, 0.0, 20.0, 440.0);
        assert!(mrz_like(&line) && !mrz_like(&word) && !mrz_like(&turned));
        assert!((aspect(&line) - 22.0).abs() < 1e-4);
        assert_eq!(vertical_vote(&[line, word, turned, turned]), 1);
        assert_eq!(vertical_vote(&[line, rect(0.0, 0.0, 20.0, 20.0)]), -1);
    }
}
