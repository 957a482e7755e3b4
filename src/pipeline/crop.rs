//! The faces a reviewer compares: the document's portrait and the live face as aligned crops of one
//! size (eyes level, at the same place and scale), so a person compares like with like.

use image::RgbImage;

use super::document::{analyse_document, rotate};
use super::face::{FaceAnalyzer, Faces};
use crate::inference::InferenceError;
use crate::vision::align::portrait_crop;
use crate::vision::canvas::Canvas;

/// The side of a face crop, in pixels.
pub const CROP_SIDE: usize = 360;

/// The primary face of `image` as a `CROP_SIDE` square crop; `document` turns the image upright first
/// as verification does (any right angle). `None` when no face is found.
pub fn face_crop(
    analyzer: &FaceAnalyzer,
    image: &RgbImage,
    document: bool,
) -> Result<Option<RgbImage>, InferenceError> {
    let (analysis, upright) = if document {
        let (analysis, degrees) = analyse_document(analyzer, image)?;
        (analysis, (degrees != 0).then(|| rotate(image, degrees)))
    } else {
        (analyzer.analyse(image, Faces::Primary)?, None)
    };
    let Some(face) = analysis.primary() else {
        return Ok(None);
    };
    let source = upright.as_ref().unwrap_or(image);
    let crop = portrait_crop(&Canvas::new(source), &face.landmarks, CROP_SIDE);
    Ok(crop.and_then(|c| {
        let pixels = c.data.iter().map(|v| *v as u8).collect();
        RgbImage::from_raw(c.width as u32, c.height as u32, pixels)
    }))
}
