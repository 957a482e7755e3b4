//! A card photographed from afar: its small grey portrait, a few percent of the photo's height, is
//! missed by the face detector's view of the whole photo in every orientation and found by the closer,
//! tiled search, as the holder (not the card's faint ghost image); its MRZ, too small for the text
//! detector's view of the whole photo, is read where the text is.

use idv::eval::specimen::mrz_lines;
use idv::eval::specimen::OCR_B_FONT;
use idv::eval::specimen::{photograph, portrait_crop, render, Shot, SpecimenHolder, SpecimenKind};
use idv::pipeline::document::{analyse_document, read_mrz, rotate, ROTATIONS};
use idv::pipeline::face::Faces;
use idv::pipeline::policy::MatchThresholds;
use idv::pipeline::FaceAnalyzer;
use time::macros::date;

use crate::support::{engine, engine_document, sample};

/// An identity card (front with a grey portrait and a ghost image, back with the MRZ) on a desk four
/// times its size, photographed 4:3 at 4000 px on the long side, turned `rotation` degrees; with the
/// holder's embedding.
fn card_from_afar(rotation: u16) -> (image::RgbImage, idv::vision::embed::Embedding) {
    let font_bytes = std::fs::read(OCR_B_FONT).expect("the OCR-B font (fonts-ocr-b: `make setup`)");
    let font = ab_glyph::FontRef::try_from_slice(&font_bytes).unwrap();
    let face_photo = image::open(sample("obama.jpg")).unwrap().to_rgb8();
    let analyzer = FaceAnalyzer::new(engine(), Default::default());
    let holder_face = analyzer.analyse(&face_photo, Faces::Primary).unwrap();
    let holder_face = holder_face.primary().unwrap();
    let portrait = portrait_crop(&face_photo, &holder_face.bbox);
    let card = render(
        SpecimenKind::IdCard,
        &SpecimenHolder::eriksson(date!(2031 - 01 - 31)),
        &portrait,
        &font,
    );
    (far_shot(&card, rotation), holder_face.embedding.clone())
}

fn far_shot(card: &image::RgbImage, rotation: u16) -> image::RgbImage {
    let shot = Shot {
        rotation,
        scene: 4.0,
        frame_aspect: Some(4.0 / 3.0),
        long_side: 4000,
        blur: 1.0,
        perspective: 0.03,
        jpeg_quality: 80,
        seed: 5,
    };
    image::load_from_memory(&photograph(card, &shot))
        .unwrap()
        .to_rgb8()
}

#[test]
fn a_small_grey_portrait_on_a_card_photographed_from_afar_is_found() {
    let analyzer = FaceAnalyzer::new(engine(), Default::default());
    for rotation in [0, 90] {
        let (photo, holder) = card_from_afar(rotation);
        // The whole-photo pass (what the search did before) finds nothing in any orientation.
        for degrees in ROTATIONS {
            let whole = analyzer
                .analyse(&rotate(&photo, degrees), Faces::Primary)
                .unwrap();
            assert!(
                whole.primary().is_none(),
                "turned {rotation}°: the whole-photo pass found a face at {degrees}°; make the card smaller"
            );
        }
        let (found, degrees) = analyse_document(&analyzer, &photo).unwrap();
        let face = found
            .primary()
            .unwrap_or_else(|| panic!("turned {rotation}°: the tiled search found no portrait"));
        assert_eq!(
            (degrees + rotation) % 360,
            0,
            "turned {rotation}°: upright after {degrees}°"
        );
        let similarity = face.embedding.cosine(&holder);
        assert!(
            similarity >= MatchThresholds::default().match_at,
            "turned {rotation}°: the face found is not the holder's (cosine {similarity:.3})"
        );
        // The portrait, not the ghost image (about half its height).
        assert!(
            face.height() > 60.0,
            "turned {rotation}°: a {:.0} px face is the ghost image",
            face.height()
        );
    }
}

#[test]
fn the_mrz_of_a_card_photographed_from_afar_is_read_exactly() {
    let (photo, _) = card_from_afar(270);
    let reading = read_mrz(engine_document(), &photo).unwrap();
    let read = reading.read.expect("an MRZ read on the card");
    let printed = mrz_lines(
        SpecimenKind::IdCard,
        &SpecimenHolder::eriksson(date!(2031 - 01 - 31)),
    );
    assert_eq!(read.lines, printed);
    assert!(read.valid);
    assert_eq!(reading.rotation_degrees, 90);
    // The zone's quad is in the photo's pixels, within the photo.
    let (w, h) = (photo.width() as f32, photo.height() as f32);
    for (x, y) in reading.quad.unwrap() {
        assert!((0.0..w).contains(&x) && (0.0..h).contains(&y));
    }
}

#[test]
fn a_card_without_a_portrait_photographed_from_afar_shows_no_face() {
    // The same card with a blank portrait box: the closer search must not take print, the desk's grain
    // or the blank box for a face.
    let font_bytes = std::fs::read(OCR_B_FONT).expect("the OCR-B font (fonts-ocr-b: `make setup`)");
    let font = ab_glyph::FontRef::try_from_slice(&font_bytes).unwrap();
    let blank = image::RgbImage::from_pixel(350, 450, image::Rgb([200, 200, 200]));
    let holder = SpecimenHolder::eriksson(date!(2031 - 01 - 31));
    let card = render(SpecimenKind::IdCard, &holder, &blank, &font);
    let analyzer = FaceAnalyzer::new(engine(), Default::default());
    let (found, _) = analyse_document(&analyzer, &far_shot(&card, 0)).unwrap();
    assert!(
        found.primary().is_none(),
        "a face was found on a card without one"
    );
}
