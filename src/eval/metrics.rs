//! Verification accuracy figures (ISO/IEC 19795-1 style) from comparison scores.
//!
//! Conventions shared by every function here:
//! - **Accept rule**: a pair is accepted (declared a match) when `score >= threshold`; so a pair whose score
//!   equals the threshold is accepted, whichever side it is on.
//! - **NaN scores are rejects**: a NaN (a pair where either image failed to enrol, or the embedder produced
//!   nothing usable) is never accepted at any threshold, but still counts in the denominators. It therefore
//!   raises FNMR when genuine and counts as a correct reject when impostor, as in the standard's generalised
//!   rates, so failures are never silently dropped from the figures. For AUC it ranks below every real score.
//! - **Empty inputs give NaN**: a rate whose denominator is zero (no genuine or no impostor scores) is NaN,
//!   never a panic; serde_json writes NaN as `null`.
//! - **Candidate thresholds** are the distinct non-NaN scores of both sets plus one just above the largest
//!   (`f32::next_up`, where nothing is accepted): between two adjacent scores the rates cannot change, so this
//!   covers every achievable (FMR, FNMR) pair. All sweeps sort once: O((n + m) log(n + m)), never O(n·m).

use std::cmp::Ordering;

use serde::Serialize;

/// One compared pair: indices into the list of images and the similarity (higher = more similar).
/// A pair where either image failed to enrol carries a NaN score, which every metric treats as a reject.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoredPair {
    pub a: usize,
    pub b: usize,
    pub genuine: bool,
    pub score: f32,
}

/// The threshold that meets a target false match rate, with the rates it actually achieves on the data.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct OperatingPoint {
    pub target_fmr: f64,
    pub threshold: f32,
    pub fmr: f64,
    pub fnmr: f64,
}

/// Summary figures for one evaluation run. Pair counts include NaN (failed) comparisons.
#[derive(Serialize, Clone, Debug)]
pub struct ErrorRates {
    pub eer: f64,
    pub eer_threshold: f32,
    pub genuine_pairs: usize,
    pub impostor_pairs: usize,
    pub at_fmr: Vec<OperatingPoint>,
    pub auc: f64,
}

/// Scores prepared once for every sweep: non-NaN values ascending, plus how many were NaN.
struct Sorted {
    values: Vec<f32>,
    nan: usize,
}

impl Sorted {
    fn new(scores: &[f32]) -> Self {
        let mut values: Vec<f32> = scores.iter().copied().filter(|s| !s.is_nan()).collect();
        values.sort_unstable_by(f32::total_cmp);
        let nan = scores.len() - values.len();
        Self { values, nan }
    }

    fn total(&self) -> usize {
        self.values.len() + self.nan
    }
}

/// Error counts at one candidate threshold; counts rather than rates so comparisons can be exact.
struct Cut {
    threshold: f32,
    /// Impostors accepted: score >= threshold.
    false_matches: usize,
    /// Genuine pairs rejected: score < threshold, or NaN.
    false_non_matches: usize,
}

/// Every candidate threshold in ascending order, by one merged walk over both sorted lists.
/// FMR never increases and FNMR never decreases along the result.
fn sweep(genuine: &Sorted, impostor: &Sorted) -> Vec<Cut> {
    let (g, i) = (&genuine.values, &impostor.values);
    let mut cuts = Vec::with_capacity(g.len() + i.len() + 1);
    // Number of genuine / impostor scores strictly below the current threshold.
    let (mut gi, mut ii) = (0, 0);
    loop {
        let threshold = match (g.get(gi), i.get(ii)) {
            (Some(&a), Some(&b)) => a.min(b),
            (Some(&a), None) => a,
            (None, Some(&b)) => b,
            (None, None) => break,
        };
        cuts.push(Cut {
            threshold,
            false_matches: i.len() - ii,
            false_non_matches: genuine.nan + gi,
        });
        // `==` rather than total order, so -0.0 and 0.0 form one threshold, as they do under `>=`.
        while g.get(gi).is_some_and(|&s| s == threshold) {
            gi += 1;
        }
        while i.get(ii).is_some_and(|&s| s == threshold) {
            ii += 1;
        }
    }
    // The reject-everything threshold. Without any real score, +inf serves; when the top score is +inf
    // nothing lies above it, so no threshold rejects everything and none is added.
    let above = cuts.last().map_or(f32::INFINITY, |c| c.threshold.next_up());
    if cuts.last().is_none_or(|c| above > c.threshold) {
        cuts.push(Cut {
            threshold: above,
            false_matches: 0,
            false_non_matches: genuine.total(),
        });
    }
    cuts
}

/// A count over a total as a rate; 0/0 is NaN by IEEE rules, which is the documented empty-input result.
fn rate(count: usize, total: usize) -> f64 {
    count as f64 / total as f64
}

/// FMR and FNMR at one threshold, under the accept rule `score >= threshold` (NaN scores are rejected;
/// a NaN threshold rejects everything). Either rate is NaN when its score list is empty.
pub fn fmr_fnmr_at(genuine: &[f32], impostor: &[f32], threshold: f32) -> (f64, f64) {
    let false_matches = impostor.iter().filter(|&&s| s >= threshold).count();
    // Everything not accepted, so NaN scores (for which `>=` is false) count as rejected.
    let false_non_matches = genuine.len() - genuine.iter().filter(|&&s| s >= threshold).count();
    (
        rate(false_matches, impostor.len()),
        rate(false_non_matches, genuine.len()),
    )
}

/// The lowest threshold whose FMR <= `target_fmr`, so FNMR is as low as possible while honouring the target.
///
/// The threshold is a candidate threshold (an observed score, or just above the largest score): any value
/// between it and the next lower score gives the same rates on this data. `fmr` and `fnmr` are the rates
/// actually achieved, so `fmr` may sit well below the target when scores are tied or sparse.
///
/// When `target_fmr < 1 / impostor_count` the data cannot measure such a rate: the point returned is the one
/// just above the highest impostor score (FMR 0), which only says no impostor here was accepted, not that the
/// target is met in deployment. Treat it as an optimistic bound.
///
/// With no impostor scores, or a target that no threshold can meet (negative or NaN), threshold and rates are
/// NaN. With no genuine scores the threshold and FMR are still found and FNMR is NaN.
pub fn operating_point(genuine: &[f32], impostor: &[f32], target_fmr: f64) -> OperatingPoint {
    let (genuine, impostor) = (Sorted::new(genuine), Sorted::new(impostor));
    operating_point_in(&sweep(&genuine, &impostor), &genuine, &impostor, target_fmr)
}

fn operating_point_in(
    cuts: &[Cut],
    genuine: &Sorted,
    impostor: &Sorted,
    target_fmr: f64,
) -> OperatingPoint {
    let fmr = |c: &Cut| rate(c.false_matches, impostor.total());
    // FMR never increases along the sweep, so the first cut meeting the target is the lowest threshold.
    // An incomparable (NaN) FMR or target never meets it.
    let first = cuts.partition_point(|c| {
        matches!(
            fmr(c).partial_cmp(&target_fmr),
            Some(Ordering::Greater) | None
        )
    });
    match cuts.get(first) {
        Some(c) => OperatingPoint {
            target_fmr,
            threshold: c.threshold,
            fmr: fmr(c),
            fnmr: rate(c.false_non_matches, genuine.total()),
        },
        None => OperatingPoint {
            target_fmr,
            threshold: f32::NAN,
            fmr: f64::NAN,
            fnmr: f64::NAN,
        },
    }
}

/// EER, operating points at each target FMR, and AUC.
///
/// EER convention: among the candidate thresholds, take the one where |FMR − FNMR| is smallest (compared
/// exactly, on integer counts; on a tie the lowest threshold wins) and report the mean of FMR and FNMR there,
/// with that threshold as `eer_threshold`. When the two curves cross between thresholds this is the midpoint of
/// the closest achievable pair, not an interpolation.
///
/// AUC is the probability that a random genuine score exceeds a random impostor score, ties counting half.
///
/// With either list empty, `eer`, `eer_threshold` and `auc` are NaN (see [`operating_point`] for `at_fmr`).
pub fn error_rates(genuine: &[f32], impostor: &[f32], target_fmrs: &[f64]) -> ErrorRates {
    let (g, i) = (Sorted::new(genuine), Sorted::new(impostor));
    let cuts = sweep(&g, &i);
    let (eer, eer_threshold) = equal_error(&cuts, &g, &i);
    ErrorRates {
        eer,
        eer_threshold,
        genuine_pairs: g.total(),
        impostor_pairs: i.total(),
        at_fmr: target_fmrs
            .iter()
            .map(|&t| operating_point_in(&cuts, &g, &i, t))
            .collect(),
        auc: auc(&g, &i),
    }
}

fn equal_error(cuts: &[Cut], genuine: &Sorted, impostor: &Sorted) -> (f64, f32) {
    let (n_g, n_i) = (genuine.total(), impostor.total());
    if n_g == 0 || n_i == 0 {
        return (f64::NAN, f32::NAN);
    }
    // |fm/n_i − fnm/n_g| scaled by n_i·n_g: exact, so ties are ties and the choice never depends on rounding.
    let gap = |c: &Cut| {
        (c.false_matches as i128 * n_g as i128 - c.false_non_matches as i128 * n_i as i128).abs()
    };
    // `min_by_key` returns the first minimum, i.e. the lowest threshold on a tie.
    match cuts.iter().min_by_key(|c| gap(c)) {
        Some(c) => (
            (rate(c.false_matches, n_i) + rate(c.false_non_matches, n_g)) / 2.0,
            c.threshold,
        ),
        None => (f64::NAN, f32::NAN),
    }
}

/// P(genuine > impostor) + ½·P(genuine = impostor) by a merged walk; NaN ranks below every real score.
fn auc(genuine: &Sorted, impostor: &Sorted) -> f64 {
    let (n_g, n_i) = (genuine.total(), impostor.total());
    if n_g == 0 || n_i == 0 {
        return f64::NAN;
    }
    let imp = &impostor.values;
    // Doubled to keep half-wins integral: 2·wins + ties.
    let mut doubled = genuine.nan as u128 * impostor.nan as u128; // NaN vs NaN: ties
    let (mut below, mut at_or_below) = (0usize, 0usize);
    for &g in &genuine.values {
        while below < imp.len() && imp[below] < g {
            below += 1;
        }
        at_or_below = at_or_below.max(below);
        while at_or_below < imp.len() && imp[at_or_below] <= g {
            at_or_below += 1;
        }
        let wins = below + impostor.nan;
        let ties = at_or_below - below;
        doubled += 2 * wins as u128 + ties as u128;
    }
    doubled as f64 / (2.0 * n_g as f64 * n_i as f64)
}

/// DET curve points (FMR, FNMR), one per candidate threshold in ascending threshold order (so FMR falls and
/// FNMR rises), ending with the reject-everything point (0, 1). Empty when either list is empty: there is no
/// curve to draw.
pub fn det_points(genuine: &[f32], impostor: &[f32]) -> Vec<(f64, f64)> {
    if genuine.is_empty() || impostor.is_empty() {
        return Vec::new();
    }
    let (g, i) = (Sorted::new(genuine), Sorted::new(impostor));
    sweep(&g, &i)
        .iter()
        .map(|c| {
            (
                rate(c.false_matches, i.total()),
                rate(c.false_non_matches, g.total()),
            )
        })
        .collect()
}

/// Identity-labelled list → every index pair (i, j) with i < j, in row-major order, flagged genuine when both
/// images share an identity.
pub fn all_pairs(identities: &[String]) -> Vec<(usize, usize, bool)> {
    let n = identities.len();
    let mut pairs = Vec::with_capacity(n * n.saturating_sub(1) / 2);
    for (i, a) in identities.iter().enumerate() {
        for (j, b) in identities.iter().enumerate().skip(i + 1) {
            pairs.push((i, j, a == b));
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    // Hand-worked example used by several tests:
    //   genuine  G = 0.3 0.6 0.7 0.8
    //   impostor I = 0.1 0.2 0.4 0.5
    // threshold  FMR (I >= t)  FNMR (G < t)
    //   0.1        4/4           0/4
    //   0.2        3/4           0/4
    //   0.3        2/4           0/4
    //   0.4        2/4           1/4
    //   0.5        1/4           1/4   <- |FMR−FNMR| = 0: EER 0.25 at 0.5
    //   0.6        0/4           1/4   <- lowest threshold with FMR 0
    //   0.7        0/4           2/4
    //   0.8        0/4           3/4
    //   >0.8       0/4           4/4
    const G: [f32; 4] = [0.3, 0.6, 0.7, 0.8];
    const I: [f32; 4] = [0.1, 0.2, 0.4, 0.5];

    #[test]
    fn hand_example_eer() {
        let r = error_rates(&G, &I, &[]);
        assert!(close(r.eer, 0.25), "{r:?}");
        assert_eq!(r.eer_threshold, 0.5);
        assert_eq!((r.genuine_pairs, r.impostor_pairs), (4, 4));
    }

    #[test]
    fn hand_example_rates_at_threshold() {
        // t = 0.45: accepted impostors {0.5} → 1/4; rejected genuine {0.3} → 1/4.
        assert_eq!(fmr_fnmr_at(&G, &I, 0.45), (0.25, 0.25));
        // t = 0.4 exactly: impostor 0.4 is accepted (>=) → 2/4; genuine {0.3} rejected → 1/4.
        assert_eq!(fmr_fnmr_at(&G, &I, 0.4), (0.5, 0.25));
        // Below everything: all impostors accepted, no genuine rejected.
        assert_eq!(fmr_fnmr_at(&G, &I, 0.0), (1.0, 0.0));
    }

    #[test]
    fn hand_example_operating_points() {
        // FMR <= 0.25: first reached at 0.5 (FMR 1/4), FNMR 1/4.
        let p = operating_point(&G, &I, 0.25);
        assert_eq!(
            p,
            OperatingPoint {
                target_fmr: 0.25,
                threshold: 0.5,
                fmr: 0.25,
                fnmr: 0.25
            }
        );
        // FMR <= 0.1 is below 1/4 (one impostor): needs FMR 0, first at genuine score 0.6, FNMR 1/4.
        let p = operating_point(&G, &I, 0.1);
        assert_eq!(
            p,
            OperatingPoint {
                target_fmr: 0.1,
                threshold: 0.6,
                fmr: 0.0,
                fnmr: 0.25
            }
        );
        // error_rates reports the same points in target order.
        let r = error_rates(&G, &I, &[0.25, 0.1]);
        assert_eq!(
            r.at_fmr,
            vec![operating_point(&G, &I, 0.25), operating_point(&G, &I, 0.1)]
        );
    }

    #[test]
    fn hand_example_auc() {
        // Genuine beats: 0.3 > {0.1, 0.2} = 2; 0.6, 0.7, 0.8 beat all 4 → 2 + 12 = 14 of 16 = 0.875.
        assert!(close(error_rates(&G, &I, &[]).auc, 0.875));
    }

    #[test]
    fn hand_example_det_points() {
        let expected = [
            (1.0, 0.0),
            (0.75, 0.0),
            (0.5, 0.0),
            (0.5, 0.25),
            (0.25, 0.25),
            (0.0, 0.25),
            (0.0, 0.5),
            (0.0, 0.75),
            (0.0, 1.0),
        ];
        assert_eq!(det_points(&G, &I), expected);
    }

    #[test]
    fn perfectly_separated_gives_zero_eer() {
        // t = 0.8: FMR 0/2 (impostors 0.1, 0.2 rejected), FNMR 0/2 → EER 0; every genuine beats every impostor.
        let r = error_rates(&[0.8, 0.9], &[0.1, 0.2], &[0.01]);
        assert_eq!(r.eer, 0.0);
        assert_eq!(r.eer_threshold, 0.8);
        assert_eq!(r.auc, 1.0);
        // Lowest threshold with FMR 0 is the lowest genuine score; nothing is lost there.
        assert_eq!(
            r.at_fmr[0],
            OperatingPoint {
                target_fmr: 0.01,
                threshold: 0.8,
                fmr: 0.0,
                fnmr: 0.0
            }
        );
    }

    #[test]
    fn fully_overlapping_gives_half_eer() {
        // Same four scores on both sides. t = 0.2: (1, 0); 0.4: (3/4, 1/4); 0.6: (1/2, 1/2) → EER 0.5.
        let s = [0.2, 0.4, 0.6, 0.8];
        let r = error_rates(&s, &s, &[]);
        assert_eq!(r.eer, 0.5);
        assert_eq!(r.eer_threshold, 0.6);
        // Genuine 0.2/0.4/0.6/0.8 beat 0/1/2/3 impostors and tie one each: (6 + 4·½) / 16 = 0.5.
        assert_eq!(r.auc, 0.5);

        // All scores identical: t = 0.5 gives (1, 0), above gives (0, 1); both |gap| = 1, both means 0.5.
        let r = error_rates(&[0.5; 3], &[0.5; 3], &[]);
        assert_eq!(r.eer, 0.5);
        assert_eq!(
            r.eer_threshold, 0.5,
            "tie on |FMR−FNMR| keeps the lowest threshold"
        );
        assert_eq!(r.auc, 0.5);
    }

    #[test]
    fn ties_at_threshold_are_accepted() {
        // G = 0.5 0.5 0.9, I = 0.1 0.5.
        let g = [0.5, 0.5, 0.9];
        let i = [0.1, 0.5];
        // t = 0.5: the tied impostor is accepted (1/2) and so are both tied genuine (0/3).
        assert_eq!(fmr_fnmr_at(&g, &i, 0.5), (0.5, 0.0));
        // Cuts: 0.1 (1, 0) gap 1; 0.5 (1/2, 0) gap 1/2; 0.9 (0, 2/3) gap 2/3; above (0, 1).
        // Smallest gap at 0.5 → EER (1/2 + 0)/2 = 0.25.
        let r = error_rates(&g, &i, &[0.25]);
        assert!(close(r.eer, 0.25));
        assert_eq!(r.eer_threshold, 0.5);
        // FMR <= 0.25 needs FMR 0: the tie forbids 0.5, so the next threshold 0.9 rejects both 0.5 genuine.
        assert_eq!(r.at_fmr[0].threshold, 0.9);
        assert_eq!(r.at_fmr[0].fmr, 0.0);
        assert!(close(r.at_fmr[0].fnmr, 2.0 / 3.0));
        // AUC: each 0.5 beats 0.1 and ties 0.5 → 1.5 each; 0.9 beats both → 2. (1.5 + 1.5 + 2) / 6 = 5/6.
        assert!(close(r.auc, 5.0 / 6.0));
    }

    #[test]
    fn negative_zero_and_zero_are_one_threshold() {
        // -0.0 >= 0.0 is true, so both scores flip together: three cuts, not four.
        assert_eq!(det_points(&[0.0], &[-0.0]), vec![(1.0, 0.0), (0.0, 1.0)]);
    }

    #[test]
    fn nan_scores_are_rejects_kept_in_denominators() {
        let g = [0.9, f32::NAN];
        let i = [0.1, f32::NAN];
        // t = 0.5: no impostor accepted (0/2); the NaN genuine is rejected (1/2).
        assert_eq!(fmr_fnmr_at(&g, &i, 0.5), (0.0, 0.5));
        // A NaN threshold accepts nothing.
        assert_eq!(fmr_fnmr_at(&g, &i, f32::NAN), (0.0, 1.0));
        let r = error_rates(&g, &i, &[0.0]);
        assert_eq!((r.genuine_pairs, r.impostor_pairs), (2, 2));
        // Cuts: 0.1 (1/2, 1/2) gap 0 → EER 0.5 at 0.1. FNMR can never drop below 1/2.
        assert_eq!(r.eer, 0.5);
        assert_eq!(r.eer_threshold, 0.1);
        // FMR 0 first at 0.9, where FNMR is the NaN's 1/2.
        assert_eq!(
            r.at_fmr[0],
            OperatingPoint {
                target_fmr: 0.0,
                threshold: 0.9,
                fmr: 0.0,
                fnmr: 0.5
            }
        );
        // AUC: 0.9 beats 0.1 and NaN → 2; NaN loses to 0.1, ties NaN → ½. 2.5 / 4 = 0.625.
        assert_eq!(r.auc, 0.625);
    }

    #[test]
    fn all_nan_scores_still_give_rates() {
        // Nothing can be accepted: FMR 0, FNMR 1 at the single (+inf) cut → EER 0.5; NaN vs NaN all tie.
        let r = error_rates(&[f32::NAN], &[f32::NAN, f32::NAN], &[0.1]);
        assert_eq!(r.eer, 0.5);
        assert_eq!(r.auc, 0.5);
        assert_eq!(r.at_fmr[0].fmr, 0.0);
        assert_eq!(r.at_fmr[0].fnmr, 1.0);
    }

    #[test]
    fn empty_inputs_give_nan_not_panic() {
        let r = error_rates(&[], &[0.1, 0.2], &[0.5]);
        assert!(r.eer.is_nan() && r.eer_threshold.is_nan() && r.auc.is_nan());
        assert_eq!((r.genuine_pairs, r.impostor_pairs), (0, 2));
        // The threshold is still defined by the impostors: FMR <= 0.5 first at 0.2 (1/2); FNMR has no data.
        assert_eq!(r.at_fmr[0].threshold, 0.2);
        assert_eq!(r.at_fmr[0].fmr, 0.5);
        assert!(r.at_fmr[0].fnmr.is_nan());

        let r = error_rates(&[0.9], &[], &[0.5]);
        assert!(r.eer.is_nan() && r.auc.is_nan());
        let p = &r.at_fmr[0];
        assert!(p.threshold.is_nan() && p.fmr.is_nan() && p.fnmr.is_nan());

        let r = error_rates(&[], &[], &[]);
        assert!(r.eer.is_nan() && r.auc.is_nan());
        assert!(det_points(&[], &[0.1]).is_empty());
        assert!(det_points(&[0.1], &[]).is_empty());
        let (fmr, fnmr) = fmr_fnmr_at(&[], &[], 0.5);
        assert!(fmr.is_nan() && fnmr.is_nan());
        // NaN rates serialise as null rather than failing.
        assert!(serde_json::to_string(&r).unwrap().contains("\"eer\":null"));
    }

    #[test]
    fn unreachable_targets_give_nan_point() {
        let p = operating_point(&G, &I, -0.1);
        assert!(p.threshold.is_nan() && p.fmr.is_nan());
        let p = operating_point(&G, &I, f64::NAN);
        assert!(p.threshold.is_nan() && p.fnmr.is_nan());
    }

    #[test]
    fn all_pairs_counts_genuine_and_impostor() {
        let ids: Vec<String> = ["a", "a", "b", "b", "b"].map(String::from).to_vec();
        let pairs = all_pairs(&ids);
        // C(5,2) = 10 pairs: genuine a: C(2,2) = 1, b: C(3,2) = 3 → 4; impostor 2·3 = 6.
        assert_eq!(pairs.len(), 10);
        let genuine: Vec<_> = pairs.iter().filter(|p| p.2).map(|p| (p.0, p.1)).collect();
        assert_eq!(genuine, vec![(0, 1), (2, 3), (2, 4), (3, 4)]);
        assert_eq!(pairs.iter().filter(|p| !p.2).count(), 6);
        assert!(pairs.iter().all(|&(i, j, _)| i < j));
        assert!(all_pairs(&[]).is_empty());
        assert!(all_pairs(&ids[..1]).is_empty());
    }

    /// Tiny deterministic generator so the property test needs no `rand`.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        /// A score on a coarse grid (so ties are common), occasionally NaN.
        fn score(&mut self, shift: f32) -> f32 {
            if self.next().is_multiple_of(23) {
                f32::NAN
            } else {
                (self.next() % 40) as f32 / 40.0 + shift
            }
        }
    }

    /// O(n·m) reference: every candidate threshold, rates counted directly.
    fn brute_cuts(g: &[f32], i: &[f32]) -> Vec<(f32, usize, usize)> {
        let mut ts: Vec<f32> = g.iter().chain(i).copied().filter(|s| !s.is_nan()).collect();
        ts.sort_by(f32::total_cmp);
        ts.dedup_by(|a, b| a == b);
        ts.push(ts.last().map_or(f32::INFINITY, |t| t.next_up()));
        ts.iter()
            .map(|&t| {
                let fm = i.iter().filter(|&&s| s >= t).count();
                let fnm = g.iter().filter(|&&s| s < t || s.is_nan()).count();
                (t, fm, fnm)
            })
            .collect()
    }

    #[test]
    fn sweep_matches_brute_force_on_random_data() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for case in 0..200 {
            let n_g = 1 + (rng.next() % 30) as usize;
            let n_i = 1 + (rng.next() % 60) as usize;
            let shift = (case % 5) as f32 * 0.1;
            let g: Vec<f32> = (0..n_g).map(|_| rng.score(shift)).collect();
            let i: Vec<f32> = (0..n_i).map(|_| rng.score(0.0)).collect();
            let cuts = brute_cuts(&g, &i);

            // EER: smallest exact |fm/n_i − fnm/n_g|, first on ties.
            let gap = |&(_, fm, fnm): &(f32, usize, usize)| {
                (fm as i128 * n_g as i128 - fnm as i128 * n_i as i128).abs()
            };
            let best = cuts.iter().min_by_key(|c| gap(c)).unwrap();
            let want_eer = (best.1 as f64 / n_i as f64 + best.2 as f64 / n_g as f64) / 2.0;
            let r = error_rates(&g, &i, &[0.0, 0.05, 0.3]);
            assert_eq!(r.eer, want_eer, "case {case}");
            assert_eq!(r.eer_threshold, best.0, "case {case}");

            // Operating points: lowest threshold with FMR <= target.
            for p in &r.at_fmr {
                let c = cuts
                    .iter()
                    .find(|c| c.1 as f64 / n_i as f64 <= p.target_fmr)
                    .unwrap();
                assert_eq!(p.threshold, c.0, "case {case} target {}", p.target_fmr);
                assert_eq!((p.fmr, p.fnmr), fmr_fnmr_at(&g, &i, c.0), "case {case}");
            }

            // DET points.
            let want: Vec<(f64, f64)> = cuts
                .iter()
                .map(|&(t, _, _)| fmr_fnmr_at(&g, &i, t))
                .collect();
            assert_eq!(det_points(&g, &i), want, "case {case}");

            // AUC over all n·m pairs, NaN below everything; doubled so ties stay integral.
            let doubled_win = |a: f32, b: f32| match (a.is_nan(), b.is_nan()) {
                (true, true) => 1,
                (true, false) => 0,
                (false, true) => 2,
                (false, false) => 2 * u64::from(a > b) + u64::from(a == b),
            };
            let doubled: u64 = g
                .iter()
                .flat_map(|&a| i.iter().map(move |&b| doubled_win(a, b)))
                .sum();
            assert!(
                close(r.auc, doubled as f64 / (2 * n_g * n_i) as f64),
                "case {case}"
            );
        }
    }
}
