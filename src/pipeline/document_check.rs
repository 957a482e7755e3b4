//! Examining an identity document: its machine-readable zone read (`document.rs`), its fields parsed, where
//! its portrait is relative to the MRZ, and the checks of `crate::document::checks` (validity, expiry,
//! accepted types, the declared identity) as reason codes. Every finding refers the case to a person;
//! none rejects anyone.

use image::RgbImage;
use serde::{Deserialize, Serialize};
use time::Date;

use super::document::{read_mrz, MrzReading};
use super::verify::ImageReport;
use crate::document::checks::{document_reasons, DocumentFindings, DocumentPolicy};
use crate::document::identity::DeclaredIdentity;
use crate::document::mrz::{fields, MrzFields, MrzFormat, MrzRead};
use crate::inference::{Engine, InferenceError};
use crate::vision::{BoxF, Point};

/// What examining a document found. Holds personal data (the MRZ and its fields): never logged.
pub struct DocumentExamination {
    pub reading: MrzReading,
    pub fields: Option<MrzFields>,
    /// Whether the portrait is on the page that carries the MRZ (None: no portrait was found, or no MRZ
    /// to place it against).
    pub portrait_on_mrz_page: Option<bool>,
    /// Whether the document had expired on the day examined (None: no expiry date was read).
    pub expired: Option<bool>,
    /// Whether a declared identity was compared with the MRZ.
    pub declared_compared: bool,
    pub reasons: Vec<&'static str>,
}

/// What is kept, sealed, of a read document: the lines as read (after correction) and their fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DocumentData {
    pub mrz: MrzRead,
    pub fields: MrzFields,
}

impl DocumentExamination {
    /// The personal data to seal, when an MRZ was read.
    pub fn sealed_data(&self) -> Option<DocumentData> {
        Some(DocumentData {
            mrz: self.reading.read.clone()?,
            fields: self.fields.clone()?,
        })
    }
}

/// Reads and checks the document. `face` is the face pipeline's report of the same image (its box is
/// in the image turned by `face.rotation`); `today` is the record's date (UTC).
pub fn examine_document(
    engine: &Engine,
    image: &RgbImage,
    face: &ImageReport,
    declared: Option<&DeclaredIdentity>,
    today: Date,
    policy: &DocumentPolicy,
) -> Result<DocumentExamination, InferenceError> {
    let reading = read_mrz(engine, image)?;
    let portrait = face.bbox.map(|b| {
        unrotated_centre(
            &b,
            face.rotation.unwrap_or(0),
            image.width() as f32,
            image.height() as f32,
        )
    });
    Ok(examine(reading, portrait, declared, today, policy))
}

/// Checks a read document (pure): its fields, where the portrait (its centre in the unturned image)
/// is against the MRZ, and the reason codes.
pub fn examine(
    reading: MrzReading,
    portrait: Option<Point>,
    declared: Option<&DeclaredIdentity>,
    today: Date,
    policy: &DocumentPolicy,
) -> DocumentExamination {
    let fields = reading.read.as_ref().map(|r| fields(r, today));
    let portrait_on_mrz_page = match (&reading.read, reading.quad, portrait) {
        (_, _, None) => None,
        (Some(read), Some(quad), Some(centre)) => Some(on_mrz_page(read.format, &quad, centre)),
        // No MRZ to place it against: `document_mrz_not_found` says enough.
        (_, _, Some(_)) => None,
    };
    let findings = DocumentFindings {
        mrz: reading.read.as_ref(),
        fields: fields.as_ref(),
        portrait_on_mrz_page,
        declared,
    };
    let reasons = document_reasons(&findings, today, policy);
    DocumentExamination {
        expired: fields
            .as_ref()
            .and_then(|f| f.expiry_date)
            .map(|e| e < today),
        declared_compared: declared.is_some() && reading.read.is_some(),
        reading,
        fields,
        portrait_on_mrz_page,
        reasons,
    }
}

/// The centre of a box found in an image turned `degrees` clockwise, in the unturned image of size
/// `w` x `h` (pure).
pub fn unrotated_centre(b: &BoxF, degrees: u16, w: f32, h: f32) -> Point {
    let (x, y) = ((b.x1 + b.x2) / 2.0, (b.y1 + b.y2) / 2.0);
    match degrees {
        // Turning clockwise by 90 sends (x, y) to (h - y, x); undo it.
        90 => [y, h - x],
        180 => [w - x, h - y],
        270 => [w - y, x],
        _ => [x, y],
    }
}

/// Whether a portrait centred at `c` lies on the page that carries the MRZ whose outer quad (top-left,
/// top-right, bottom-right, bottom-left as read) is `quad` (pure). On a passport or visa page the
/// portrait is above the MRZ, within its width, and less than a page height above it (TD3: the zone is
/// ~112 mm wide, the page 88 mm tall, 65 mm of it above the zone; TD2 similar). A TD1 card carries its
/// MRZ on the back: a portrait in the same image means both sides were photographed, which is what
/// such a card needs.
pub fn on_mrz_page(format: MrzFormat, quad: &[(f32, f32); 4], c: Point) -> bool {
    if format == MrzFormat::Td1 {
        return true;
    }
    let [tl, tr, _br, bl] = *quad;
    let width = ((tr.0 - tl.0).powi(2) + (tr.1 - tl.1).powi(2)).sqrt();
    if width < 1.0 {
        return false;
    }
    let along = ((tr.0 - tl.0) / width, (tr.1 - tl.1) / width);
    // "Up" on the page: from the MRZ's bottom edge to its top edge.
    let up_len = ((tl.0 - bl.0).powi(2) + (tl.1 - bl.1).powi(2))
        .sqrt()
        .max(1e-3);
    let up = ((tl.0 - bl.0) / up_len, (tl.1 - bl.1) / up_len);
    let rel = (c[0] - tl.0, c[1] - tl.1);
    let a = (rel.0 * along.0 + rel.1 * along.1) / width;
    let b = (rel.0 * up.0 + rel.1 * up.1) / width;
    (-0.15..=1.15).contains(&a) && b > 0.0 && b <= 0.8
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An upright TD3 page scanned at 10 px/mm: MRZ from (6, 75) to (118, 86) mm.
    const PAGE_MRZ: [(f32, f32); 4] = [
        (60.0, 750.0),
        (1180.0, 750.0),
        (1180.0, 860.0),
        (60.0, 860.0),
    ];

    #[test]
    fn a_passport_portrait_above_its_mrz_is_on_the_page() {
        assert!(on_mrz_page(MrzFormat::Td3, &PAGE_MRZ, [235.0, 345.0]));
        // Below the zone, or a page height above it (the booklet's other page): not this page.
        assert!(!on_mrz_page(MrzFormat::Td3, &PAGE_MRZ, [235.0, 950.0]));
        assert!(!on_mrz_page(MrzFormat::Td3, &PAGE_MRZ, [235.0, -400.0]));
        // Beside the zone, off the page.
        assert!(!on_mrz_page(MrzFormat::Td3, &PAGE_MRZ, [1700.0, 345.0]));
        // A card's MRZ is on its back: any portrait in the image is the front.
        assert!(on_mrz_page(MrzFormat::Td1, &PAGE_MRZ, [5000.0, 5000.0]));
    }

    #[test]
    fn the_page_may_be_photographed_at_any_right_angle() {
        // The same page turned 90° clockwise in a 880 x 1250 image: x' = 880 - y, y' = x.
        let turn = |(x, y): (f32, f32)| (880.0 - y, x);
        let quad = PAGE_MRZ.map(turn);
        let (px, py) = turn((235.0, 345.0));
        assert!(on_mrz_page(MrzFormat::Td3, &quad, [px, py]));
        let (bx, by) = turn((235.0, 950.0));
        assert!(!on_mrz_page(MrzFormat::Td3, &quad, [bx, by]));
    }

    #[test]
    fn a_box_found_in_a_turned_image_is_placed_in_the_original() {
        // Original 200 x 100; a point at (150, 20) turned 90° clockwise lands at (100 - 20, 150).
        let b = |x: f32, y: f32| BoxF {
            x1: x - 1.0,
            y1: y - 1.0,
            x2: x + 1.0,
            y2: y + 1.0,
        };
        assert_eq!(
            unrotated_centre(&b(80.0, 150.0), 90, 200.0, 100.0),
            [150.0, 20.0]
        );
        assert_eq!(
            unrotated_centre(&b(50.0, 80.0), 180, 200.0, 100.0),
            [150.0, 20.0]
        );
        // 270° clockwise sends (x, y) to (y, w - x).
        assert_eq!(
            unrotated_centre(&b(20.0, 50.0), 270, 200.0, 100.0),
            [150.0, 20.0]
        );
        assert_eq!(
            unrotated_centre(&b(150.0, 20.0), 0, 200.0, 100.0),
            [150.0, 20.0]
        );
    }
}
