//! Synthetic documents the tests make: specimen passports and identity cards drawn with the OCR-B font
//! (`idv::eval::specimen`) with sample faces as portraits, photographed with perspective, blur, each
//! right-angle rotation and JPEG, then read and examined: the MRZ exactly as printed, the fields, the
//! expiry and declared-identity checks giving the expected reasons.

use idv::document::checks::DocumentPolicy;
use idv::document::identity::DeclaredIdentity;
use idv::eval::specimen::{
    mrz_lines, photograph, portrait_crop, render, Shot, SpecimenHolder, SpecimenKind, OCR_B_FONT,
};
use idv::pipeline::document::read_mrz;
use idv::pipeline::document_check::examine;
use idv::pipeline::face::Faces;
use idv::pipeline::FaceAnalyzer;
use time::macros::date;
use time::Date;

use crate::support::{engine, engine_document, sample};

const TODAY: Date = date!(2026 - 12 - 01);

fn holder(surname: &str, given: &str, expiry: Date) -> SpecimenHolder {
    SpecimenHolder {
        surname: surname.into(),
        given_names: given.into(),
        date_of_birth: date!(1988 - 02 - 29),
        sex: 'F',
        expiry_date: expiry,
        document_number: "C01X00T47".into(),
        issuing_state: "D".into(),
        nationality: "D".into(),
    }
}

/// The specimen photographed as `shot`, decoded again from its JPEG.
fn photo(kind: SpecimenKind, h: &SpecimenHolder, shot: Shot) -> image::RgbImage {
    let font_bytes = std::fs::read(OCR_B_FONT).expect("the OCR-B font (fonts-ocr-b: `make setup`)");
    let font = ab_glyph::FontRef::try_from_slice(&font_bytes).unwrap();
    let face_photo = image::open(sample("obama.jpg")).unwrap().to_rgb8();
    let found = FaceAnalyzer::new(engine(), Default::default())
        .analyse(&face_photo, Faces::Primary)
        .unwrap();
    let portrait = portrait_crop(&face_photo, &found.primary().unwrap().bbox);
    let jpeg = photograph(&render(kind, h, &portrait, &font), &shot);
    image::load_from_memory(&jpeg).unwrap().to_rgb8()
}

#[test]
fn specimens_are_read_exactly_at_every_right_angle_with_perspective_and_blur() {
    let h = holder(
        "Müller-Lüdenscheidt",
        "Zoë Anne-Marie",
        date!(2031 - 05 - 31),
    );
    for (kind, format) in [
        (SpecimenKind::Passport, "TD3"),
        (SpecimenKind::IdCard, "TD1"),
    ] {
        let printed = mrz_lines(kind, &h);
        for (rotation, blur, perspective) in [
            (0, 0.6, 0.03),
            (90, 1.0, 0.05),
            (180, 0.8, 0.04),
            (270, 1.2, 0.06),
        ] {
            let shot = Shot {
                rotation,
                blur,
                perspective,
                jpeg_quality: 75,
                seed: rotation as u64 + 7,
                ..Shot::default()
            };
            let r = read_mrz(engine_document(), &photo(kind, &h, shot)).unwrap();
            let read = r
                .read
                .as_ref()
                .unwrap_or_else(|| panic!("{format} at {rotation}°: no MRZ read"));
            assert_eq!(read.lines, printed, "{format} at {rotation}°, blur {blur}");
            assert!(read.valid, "{format} at {rotation}°");
            assert_eq!(read.format.as_str(), format);
            // The photo was turned `rotation` clockwise; reading it turns it back.
            assert_eq!(
                (r.rotation_degrees + rotation) % 360,
                0,
                "{format} at {rotation}°"
            );
        }
    }
}

#[test]
fn the_checks_of_a_specimen_give_the_expected_reasons() {
    let policy = DocumentPolicy::default();
    let examine_photo = |h: &SpecimenHolder, declared: Option<&DeclaredIdentity>| {
        let r = read_mrz(
            engine_document(),
            &photo(SpecimenKind::Passport, h, Shot::default()),
        )
        .unwrap();
        examine(r, None, declared, TODAY, &policy)
    };
    let declared = |surname: &str, given: &str, born: Date| DeclaredIdentity {
        surname: surname.into(),
        given_names: given.into(),
        date_of_birth: born,
    };

    // Valid, in date, and the declared identity as the applicant typed it (accents, hyphens): no reason.
    let valid = holder("Müller-Lüdenscheidt", "Zoë", date!(2031 - 05 - 31));
    let exam = examine_photo(
        &valid,
        Some(&declared(
            "Müller-Lüdenscheidt",
            "Zoë",
            date!(1988 - 02 - 29),
        )),
    );
    assert!(exam.reasons.is_empty(), "{:?}", exam.reasons);
    let fields = exam.fields.as_ref().unwrap();
    assert_eq!(fields.surname, "MUELLER LUEDENSCHEIDT");
    assert_eq!(fields.expiry_date, Some(date!(2031 - 05 - 31)));
    assert_eq!(exam.expired, Some(false));

    // Expired yesterday, and someone else's name and birthday declared.
    let expired = holder("Müller-Lüdenscheidt", "Zoë", date!(2026 - 11 - 30));
    let exam = examine_photo(
        &expired,
        Some(&declared("Mueller", "Zoe", date!(1988 - 03 - 01))),
    );
    assert_eq!(
        exam.reasons,
        [
            "document_expired",
            "declared_name_mismatch",
            "declared_date_of_birth_mismatch"
        ]
    );
    assert_eq!(exam.expired, Some(true));
}
