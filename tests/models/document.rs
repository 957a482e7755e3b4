//! Reading the machine-readable zone with the real OCR models: the ICAO specimens exactly, every
//! PassportEye specimen at the bar, turned photos, and a photo without an MRZ.

use idv::document::mrz::MrzFormat;
use idv::pipeline::document::{read_mrz, rotate, MrzReading};

use crate::support::{engine_document, load, passporteye, sample};

const TD3: [&str; 2] = [
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
    "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
];
const TD2: [&str; 2] = [
    "I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<",
    "D231458907UTO7408122F1204159<<<<<<<6",
];

fn read(image: &image::RgbImage) -> MrzReading {
    read_mrz(engine_document(), image).unwrap()
}

fn lines(r: &MrzReading) -> Vec<&str> {
    r.read
        .as_ref()
        .map(|m| m.lines.iter().map(String::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn the_icao_specimens_are_read_exactly() {
    let td3 = read(&load(&passporteye().join("tests/passport-td3.jpg")));
    assert_eq!(lines(&td3), TD3);
    let m = td3.read.as_ref().unwrap();
    assert_eq!(m.format, MrzFormat::Td3);
    assert!(m.valid && m.check_digits.values().all(|c| c.valid));
    assert_eq!(m.check_digits.len(), 5);
    assert_eq!(td3.rotation_degrees, 0);
    assert!(td3.timings.detect_ms > 0.0 && td3.timings.recognise_ms > 0.0);
    assert!(td3.timings.total_ms >= td3.timings.detect_ms + td3.timings.recognise_ms);

    let td2 = read(&load(&passporteye().join("tests/passport-td2.png")));
    assert_eq!(lines(&td2), TD2);
    assert_eq!(td2.read.as_ref().unwrap().format, MrzFormat::Td2);
    assert!(td2.valid());
}

#[test]
fn the_zone_is_located_on_the_page() {
    let image = load(&passporteye().join("tests/passport-td3.jpg"));
    let r = read(&image);
    let q = r.quad.expect("a quad");
    let (w, h) = (image.width() as f32, image.height() as f32);
    // The MRZ runs across the bottom of a passport's data page, left to right.
    assert!(q[0].0 < q[1].0 && q[3].0 < q[2].0, "{q:?}");
    assert!(q[0].1 < q[3].1 && q[1].1 < q[2].1, "{q:?}");
    assert!((q[1].0 - q[0].0) > 0.6 * w, "{q:?} in {w}×{h}");
    assert!(q[0].1 > 0.5 * h, "{q:?} in {w}×{h}");
}

#[test]
fn a_turned_photo_is_read_and_located_in_its_own_pixels() {
    let upright = load(&passporteye().join("tests/passport-td3.jpg"));
    let reference = read(&upright);
    let q0 = reference.quad.unwrap();
    let (w, h) = (upright.width() as f32, upright.height() as f32);
    for turned_by in [90u16, 180] {
        let r = read(&rotate(&upright, turned_by));
        assert_eq!(lines(&r), TD3, "turned by {turned_by}");
        assert_eq!(
            (turned_by + r.rotation_degrees) % 360,
            0,
            "turned by {turned_by}"
        );
        // The zone's top-left corner is where the upright one's went.
        let expect = match turned_by {
            90 => (h - 1.0 - q0[0].1, q0[0].0),
            _ => (w - 1.0 - q0[0].0, h - 1.0 - q0[0].1),
        };
        let got = r.quad.unwrap()[0];
        let tolerance = 0.03 * w.max(h);
        assert!(
            (got.0 - expect.0).abs() < tolerance && (got.1 - expect.1).abs() < tolerance,
            "turned by {turned_by}: {got:?} vs {expect:?}"
        );
    }
}

#[test]
fn a_photo_without_an_mrz_gives_no_read_and_no_error() {
    let face = read(&load(&sample("obama.jpg")));
    assert!(face.read.is_none(), "{:?}", face.read);
    assert!(face.quad.is_none());
    let blank = read(&image::RgbImage::from_pixel(
        800,
        600,
        image::Rgb([240, 240, 240]),
    ));
    assert!(blank.read.is_none());
    let tiny = read(&image::RgbImage::from_pixel(3, 2, image::Rgb([0, 0, 0])));
    assert!(tiny.read.is_none());
}

/// tests/data/passporteye-mrz.csv: file → expected lines.
fn expected_lines() -> std::collections::BTreeMap<String, Vec<String>> {
    let text =
        std::fs::read_to_string(crate::support::root().join("tests/data/passporteye-mrz.csv"))
            .unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("file,") && !l.is_empty())
        .map(|l| {
            let mut fields = l.split(',').map(str::to_string);
            (fields.next().unwrap(), fields.collect())
        })
        .collect()
}

#[test]
fn every_passporteye_specimen_that_can_be_read_is_read_exactly() {
    let root = passporteye();
    let expected = expected_lines();
    assert_eq!(expected.len(), 35);
    let mut files: Vec<String> = ["testdata", "tests"]
        .iter()
        .flat_map(|d| {
            std::fs::read_dir(root.join(d))
                .unwrap()
                .map(move |e| format!("{d}/{}", e.unwrap().file_name().to_string_lossy()))
        })
        .collect();
    files.sort();
    assert_eq!(files.len(), 38, "the PassportEye set has 38 images");
    let (mut valid, mut not_valid, mut not_exact) = (0, Vec::new(), Vec::new());
    for file in &files {
        let r = read(&load(&root.join(file)));
        if r.valid() {
            valid += 1;
        } else {
            not_valid.push(file.clone());
        }
        if let Some(want) = expected.get(file) {
            if lines(&r) != *want {
                not_exact.push(file.clone());
            }
        }
    }
    // The three whose printed check digits do not match their own data cannot be valid.
    assert!(valid >= 35, "fully valid {valid}/38; not: {not_valid:?}");
    // Names are not covered by check digits: at most one of the 35 may differ from the expected lines.
    assert!(not_exact.len() <= 1, "not read exactly: {not_exact:?}");
}
