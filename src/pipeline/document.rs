//! ID documents: find the upright orientation of a photo taken or scanned sideways (models.md §2.3.6).
//!
//! The detector finds faces at any right angle, and the landmark model draws an upright face on anything,
//! so neither can tell the orientation. The raw embedding norm can: an upright face gives ≈ 3.3–4.5, the
//! same face at 90/180/270° ≈ 1.5–2.7.

use image::RgbImage;

use super::face::{Analysis, FaceAnalyzer, Faces};
use crate::inference::InferenceError;

/// Clockwise rotations tried, in order: upright first, as most documents are.
pub const ROTATIONS: [u16; 4] = [0, 90, 180, 270];

/// A norm at which the first orientation tried is accepted without trying the others: above what any
/// rotated face reached in the measurements (2.7), below most upright ones.
pub const UPRIGHT_NORM: f32 = 3.0;

/// Among (rotation, primary-face norm) candidates, the index of the upright one: the largest norm.
pub fn pick_upright(candidates: &[(u16, Option<f32>)]) -> Option<usize> {
    candidates
        .iter()
        .enumerate()
        .filter_map(|(i, (_, norm))| norm.map(|n| (i, n)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| i)
}

pub fn rotate(image: &RgbImage, degrees: u16) -> RgbImage {
    match degrees {
        90 => image::imageops::rotate90(image),
        180 => image::imageops::rotate180(image),
        270 => image::imageops::rotate270(image),
        _ => image.clone(),
    }
}

/// The document's primary face in its upright orientation, with the clockwise rotation applied to the
/// image to get there. Coordinates in the analysis refer to the rotated image.
pub fn analyse_document(
    analyzer: &FaceAnalyzer,
    image: &RgbImage,
) -> Result<(Analysis, u16), InferenceError> {
    let first = analyzer.analyse(image, Faces::Primary)?;
    if first.primary().is_some_and(|f| f.norm >= UPRIGHT_NORM) {
        return Ok((first, 0));
    }
    let mut tried = vec![(0u16, first)];
    for degrees in &ROTATIONS[1..] {
        let analysis = analyzer.analyse(&rotate(image, *degrees), Faces::Primary)?;
        tried.push((*degrees, analysis));
    }
    let norms: Vec<(u16, Option<f32>)> = tried
        .iter()
        .map(|(d, a)| (*d, a.primary().map(|f| f.norm)))
        .collect();
    let best = pick_upright(&norms).unwrap_or(0);
    let mut timings = super::face::StageTimings::default();
    for (_, a) in &tried {
        timings.add(&a.timings);
    }
    let (degrees, mut analysis) = tried.swap_remove(best);
    analysis.timings = timings; // the search cost belongs to this document
    Ok((analysis, degrees))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_largest_norm_and_skips_missing_faces() {
        let c = [
            (0, Some(2.1)),
            (90, None),
            (180, Some(1.7)),
            (270, Some(3.9)),
        ];
        assert_eq!(pick_upright(&c), Some(3));
        assert_eq!(pick_upright(&[(0, None), (90, None)]), None);
        assert_eq!(pick_upright(&[(0, Some(2.0))]), Some(0));
    }

    #[test]
    fn rotations_turn_clockwise() {
        // A 2×1 image: red on the left, blue on the right.
        let mut img = RgbImage::new(2, 1);
        img.put_pixel(0, 0, image::Rgb([255, 0, 0]));
        img.put_pixel(1, 0, image::Rgb([0, 0, 255]));
        let r90 = rotate(&img, 90);
        assert_eq!(r90.dimensions(), (1, 2));
        assert_eq!(r90.get_pixel(0, 0).0, [255, 0, 0]); // left went to the top
        let r270 = rotate(&img, 270);
        assert_eq!(r270.get_pixel(0, 0).0, [0, 0, 255]);
        assert_eq!(rotate(&img, 180).get_pixel(0, 0).0, [0, 0, 255]);
    }
}
