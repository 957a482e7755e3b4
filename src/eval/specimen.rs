//! Specimen identity documents, for the demonstration and the tests: an ICAO 9303 style passport data
//! page (TD3) or identity card (TD1, front and back side by side) drawn with the OCR-B font, with a
//! portrait, the printed fields and a machine-readable zone whose check digits are computed, marked
//! SPECIMEN across the page. Then "photographed" as a phone would: a background, perspective, blur, a
//! right-angle rotation and JPEG. They are never real documents; their people are the sample faces.

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use image::{imageops, Rgb, RgbImage};
use time::Date;

use crate::document::identity::mrz_name_variants;
use crate::document::mrz::{check_digit, MrzFormat};
use crate::vision::ocr::strip::{apply, invert, rect_to_quad, sample};

/// Where Debian's `fonts-ocr-b` puts the font (`scripts/setup.sh` installs it).
pub const OCR_B_FONT: &str = "/usr/share/fonts/opentype/ocr-b/OCRB.otf";

/// Pixels per millimetre of a rendered document (ICAO sizes are in millimetres).
const PX_PER_MM: f32 = 10.0;
/// ICAO 9303 part 3: the MRZ is printed at 10 characters per 25.4 mm.
const MRZ_PITCH_MM: f32 = 2.54;

/// Who a specimen is issued to, as printed (names may carry diacritics: the MRZ transliterates them).
#[derive(Debug, Clone)]
pub struct SpecimenHolder {
    pub surname: String,
    pub given_names: String,
    pub date_of_birth: Date,
    /// `F`, `M` or `<`.
    pub sex: char,
    pub expiry_date: Date,
    pub document_number: String,
    /// ICAO three-letter code (`UTO` is ICAO's own fictional state).
    pub issuing_state: String,
    pub nationality: String,
}

impl SpecimenHolder {
    /// ICAO's own specimen holder, Anna Maria Eriksson of Utopia, with a given expiry.
    pub fn eriksson(expiry_date: Date) -> Self {
        SpecimenHolder {
            surname: "Eriksson".into(),
            given_names: "Anna Maria".into(),
            date_of_birth: Date::from_calendar_date(1974, time::Month::August, 12)
                .expect("a valid date"),
            sex: 'F',
            expiry_date,
            document_number: "L898902C3".into(),
            issuing_state: "UTO".into(),
            nationality: "UTO".into(),
        }
    }
}

/// The kinds of specimen drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecimenKind {
    /// A passport data page: portrait and a two-line MRZ on one page.
    Passport,
    /// An identity card: the portrait on the front, the three-line MRZ on the back, both in one image.
    IdCard,
}

impl SpecimenKind {
    pub fn format(self) -> MrzFormat {
        match self {
            SpecimenKind::Passport => MrzFormat::Td3,
            SpecimenKind::IdCard => MrzFormat::Td1,
        }
    }
}

/// `YYMMDD`.
fn yymmdd(d: Date) -> String {
    format!(
        "{:02}{:02}{:02}",
        d.year().rem_euclid(100),
        u8::from(d.month()),
        d.day()
    )
}

/// A field followed by its check digit.
fn checked(field: &str) -> String {
    format!("{field}{}", check_digit(field))
}

/// `field` padded with fillers (or cut) to `len`.
fn pad(field: &str, len: usize) -> String {
    let mut s: String = field.chars().take(len).collect();
    while s.chars().count() < len {
        s.push('<');
    }
    s
}

/// The MRZ name field: primary identifier, `<<`, secondary identifier, cut at `len`.
fn name_field(holder: &SpecimenHolder, len: usize) -> String {
    let first = |s: &str| mrz_name_variants(s).into_iter().next().unwrap_or_default();
    pad(
        &format!("{}<<{}", first(&holder.surname), first(&holder.given_names)),
        len,
    )
}

/// The MRZ lines of a specimen, check digits computed (ICAO 9303 parts 4 and 5).
pub fn mrz_lines(kind: SpecimenKind, h: &SpecimenHolder) -> Vec<String> {
    let number = pad(&h.document_number, 9);
    let (birth, expiry) = (
        checked(&yymmdd(h.date_of_birth)),
        checked(&yymmdd(h.expiry_date)),
    );
    match kind {
        SpecimenKind::Passport => {
            let personal = "<".repeat(14);
            let composite_of = format!("{}{birth}{expiry}{personal}<", checked(&number));
            let line2 = format!(
                "{}{}{birth}{}{expiry}{personal}<{}",
                checked(&number),
                pad(&h.nationality, 3),
                h.sex,
                check_digit(&composite_of)
            );
            vec![
                format!("P<{}{}", pad(&h.issuing_state, 3), name_field(h, 39)),
                line2,
            ]
        }
        SpecimenKind::IdCard => {
            let line1 = format!(
                "I<{}{}{}",
                pad(&h.issuing_state, 3),
                checked(&number),
                "<".repeat(15)
            );
            let line2_head = format!(
                "{birth}{}{expiry}{}{}",
                h.sex,
                pad(&h.nationality, 3),
                "<".repeat(11)
            );
            let composite_of = format!(
                "{}{}{}{}",
                &line1[5..30],
                &line2_head[0..7],
                &line2_head[8..15],
                &line2_head[18..29]
            );
            vec![
                line1,
                format!("{line2_head}{}", check_digit(&composite_of)),
                name_field(h, 30),
            ]
        }
    }
}

/// Draws `text` with its top-left corner at (x, y), `height` pixels tall, in `colour`.
fn draw_text(
    canvas: &mut RgbImage,
    font: &FontRef,
    text: &str,
    x: f32,
    y: f32,
    height: f32,
    colour: [u8; 3],
) {
    let scaled = font.as_scaled(PxScale::from(height));
    let mut pen = x;
    for c in text.chars() {
        let glyph = scaled.scaled_glyph(c);
        let advance = scaled.h_advance(glyph.id);
        draw_glyph(
            canvas,
            font,
            glyph.id,
            PxScale::from(height),
            pen,
            y + scaled.ascent(),
            colour,
        );
        pen += advance;
    }
}

/// Draws a monospaced line at a fixed pitch (`pitch` pixels per character), as an MRZ is printed.
#[allow(clippy::too_many_arguments)]
fn draw_pitched(
    canvas: &mut RgbImage,
    font: &FontRef,
    text: &str,
    x: f32,
    baseline: f32,
    pitch: f32,
    height: f32,
    colour: [u8; 3],
) {
    for (i, c) in text.chars().enumerate() {
        let id = font.glyph_id(c);
        draw_glyph(
            canvas,
            font,
            id,
            PxScale::from(height),
            x + i as f32 * pitch,
            baseline,
            colour,
        );
    }
}

fn draw_glyph(
    canvas: &mut RgbImage,
    font: &FontRef,
    id: ab_glyph::GlyphId,
    scale: PxScale,
    x: f32,
    baseline: f32,
    colour: [u8; 3],
) {
    let glyph = id.with_scale_and_position(scale, ab_glyph::point(x, baseline));
    let Some(outlined) = font.outline_glyph(glyph) else {
        return; // a space
    };
    let bounds = outlined.px_bounds();
    let (w, h) = (canvas.width() as i64, canvas.height() as i64);
    outlined.draw(|gx, gy, coverage| {
        let (px, py) = (
            bounds.min.x as i64 + gx as i64,
            bounds.min.y as i64 + gy as i64,
        );
        if px < 0 || py < 0 || px >= w || py >= h {
            return;
        }
        let p = canvas.get_pixel_mut(px as u32, py as u32);
        for k in 0..3 {
            let v = p[k] as f32 * (1.0 - coverage) + colour[k] as f32 * coverage;
            p[k] = v.round().clamp(0.0, 255.0) as u8;
        }
    });
}

/// A pale guilloche-like background, so the page is not a flat colour.
fn background(width: u32, height: u32, tint: [f32; 3]) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32 / 37.0, y as f32 / 23.0);
        let wave = ((fx + (fy * 0.7).sin() * 2.0).sin() * (fy + (fx * 0.5).cos()).cos()) * 9.0;
        Rgb(tint.map(|t| (t + wave).clamp(0.0, 255.0) as u8))
    })
}

fn mm(v: f32) -> f32 {
    v * PX_PER_MM
}

/// A passport-style portrait cut from a photo around its face (`face`, the detector's box): the face
/// takes about 60 % of the portrait's height, as ICAO's photo guidelines ask (70–80 % chin to crown).
pub fn portrait_crop(photo: &RgbImage, face: &crate::vision::BoxF) -> RgbImage {
    let (cx, cy) = ((face.x1 + face.x2) / 2.0, (face.y1 + face.y2) / 2.0);
    let h = (face.height() / 0.6).max(8.0);
    let w = h * 35.0 / 45.0;
    let x0 = (cx - w / 2.0).clamp(0.0, (photo.width() as f32 - 1.0).max(0.0));
    let y0 = (cy - h * 0.45).clamp(0.0, (photo.height() as f32 - 1.0).max(0.0));
    let w = w.min(photo.width() as f32 - x0).max(1.0);
    let h = h.min(photo.height() as f32 - y0).max(1.0);
    imageops::crop_imm(photo, x0 as u32, y0 as u32, w as u32, h as u32).to_image()
}

/// How a portrait is printed.
#[derive(Clone, Copy, PartialEq)]
enum Print {
    Colour,
    /// Grey, as cards often print it.
    Grey,
    /// A small, faint grey copy (the "ghost image" of many cards), `opacity` over the background.
    Ghost {
        opacity: f32,
    },
}

/// The portrait box: the face photo scaled to cover it, printed as `print` says.
fn place_portrait(
    canvas: &mut RgbImage,
    portrait: &RgbImage,
    x: f32,
    y: f32,
    w: f32,
    h: f32,
    print: Print,
) {
    let (bw, bh) = (w as u32, h as u32);
    let s = (w / portrait.width() as f32).max(h / portrait.height() as f32);
    let (sw, sh) = (
        (portrait.width() as f32 * s).ceil() as u32,
        (portrait.height() as f32 * s).ceil() as u32,
    );
    let scaled = imageops::resize(
        portrait,
        sw.max(bw),
        sh.max(bh),
        imageops::FilterType::Triangle,
    );
    let (ox, oy) = ((scaled.width() - bw) / 2, (scaled.height() - bh) / 4);
    let mut crop = imageops::crop_imm(&scaled, ox, oy, bw, bh).to_image();
    let opacity = match print {
        Print::Colour => return imageops::overlay(canvas, &crop, x as i64, y as i64),
        Print::Grey => 1.0,
        Print::Ghost { opacity } => opacity,
    };
    for (cx, cy, p) in crop.enumerate_pixels_mut() {
        let l = 0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32;
        let under = canvas
            .get_pixel_checked(x as u32 + cx, y as u32 + cy)
            .copied()
            .unwrap_or(*p);
        *p = Rgb(under
            .0
            .map(|b| (b as f32 * (1.0 - opacity) + l * opacity) as u8));
    }
    imageops::overlay(canvas, &crop, x as i64, y as i64);
}

/// The printed (visual inspection zone) fields, label above value.
fn printed_fields(
    canvas: &mut RgbImage,
    font: &FontRef,
    h: &SpecimenHolder,
    x: f32,
    y: f32,
    line: f32,
) {
    let date = |d: Date| format!("{:02}.{:02}.{}", d.day(), u8::from(d.month()), d.year());
    let rows = [
        ("Surname", h.surname.to_uppercase()),
        ("Given names", h.given_names.to_uppercase()),
        ("Nationality", h.nationality.clone()),
        ("Date of birth", date(h.date_of_birth)),
        ("Sex", h.sex.to_string()),
        ("Date of expiry", date(h.expiry_date)),
        ("Document no.", h.document_number.clone()),
    ];
    for (i, (label, value)) in rows.iter().enumerate() {
        let top = y + i as f32 * line;
        draw_text(canvas, font, label, x, top, line * 0.3, [90, 90, 110]);
        draw_text(
            canvas,
            font,
            value,
            x,
            top + line * 0.32,
            line * 0.45,
            [20, 20, 30],
        );
    }
}

/// Draws a specimen document (upright, flat, as scanned).
pub fn render(
    kind: SpecimenKind,
    holder: &SpecimenHolder,
    portrait: &RgbImage,
    font: &FontRef,
) -> RgbImage {
    let lines = mrz_lines(kind, holder);
    let pitch = mm(MRZ_PITCH_MM);
    // OCR-B's advance is 0.6 em... measured from the font: size the glyphs so one advance is the pitch.
    let advance = font
        .as_scaled(PxScale::from(100.0))
        .h_advance(font.glyph_id('M'))
        / 100.0;
    let mrz_height = pitch / advance.max(0.1);
    let ink = [25, 25, 35];
    match kind {
        SpecimenKind::Passport => {
            // TD3 data page: 125 x 88 mm; MRZ lines 6.35 mm above each other's baseline... ICAO 9303-4.
            let mut page = background(mm(125.0) as u32, mm(88.0) as u32, [236.0, 226.0, 214.0]);
            draw_text(
                &mut page,
                font,
                "UTOPIA  PASSPORT  SPECIMEN",
                mm(6.0),
                mm(3.0),
                mm(5.0),
                [120, 40, 40],
            );
            place_portrait(
                &mut page,
                portrait,
                mm(6.0),
                mm(12.0),
                mm(35.0),
                mm(45.0),
                Print::Colour,
            );
            printed_fields(&mut page, font, holder, mm(46.0), mm(12.0), mm(6.6));
            for (i, line) in lines.iter().enumerate() {
                let baseline = mm(88.0 - 13.0 + 5.5 * i as f32);
                draw_pitched(
                    &mut page,
                    font,
                    line,
                    mm(6.5),
                    baseline,
                    pitch,
                    mrz_height,
                    ink,
                );
            }
            page
        }
        SpecimenKind::IdCard => {
            // TD1: 85.6 x 54 mm each side; front (portrait, fields) left, back (MRZ) right.
            let (w, h) = (mm(85.6), mm(54.0));
            let gap = mm(10.0);
            let mut both =
                RgbImage::from_pixel((2.0 * w + gap) as u32, h as u32, Rgb([250, 250, 250]));
            let mut front = background(w as u32, h as u32, [214.0, 230.0, 238.0]);
            draw_text(
                &mut front,
                font,
                "UTOPIA IDENTITY CARD  SPECIMEN",
                mm(4.0),
                mm(2.5),
                mm(4.0),
                [40, 40, 120],
            );
            place_portrait(
                &mut front,
                portrait,
                mm(4.0),
                mm(9.0),
                mm(24.0),
                mm(32.0),
                Print::Grey,
            );
            printed_fields(&mut front, font, holder, mm(32.0), mm(9.0), mm(6.0));
            // The ghost image: a face the portrait search must not take for the portrait.
            place_portrait(
                &mut front,
                portrait,
                mm(70.0),
                mm(34.0),
                mm(11.0),
                mm(14.5),
                Print::Ghost { opacity: 0.45 },
            );
            let mut back = background(w as u32, h as u32, [220.0, 232.0, 236.0]);
            draw_text(
                &mut back,
                font,
                "SPECIMEN",
                mm(4.0),
                mm(4.0),
                mm(5.0),
                [40, 40, 120],
            );
            for (i, line) in lines.iter().enumerate() {
                let baseline = mm(54.0 - 17.0 + 5.5 * i as f32);
                draw_pitched(
                    &mut back,
                    font,
                    line,
                    mm(4.5),
                    baseline,
                    pitch,
                    mrz_height,
                    ink,
                );
            }
            imageops::overlay(&mut both, &front, 0, 0);
            imageops::overlay(&mut both, &back, (w + gap) as i64, 0);
            both
        }
    }
}

/// How a specimen is photographed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shot {
    /// Clockwise right-angle turn of the photo (0, 90, 180 or 270).
    pub rotation: u16,
    /// How far each corner of the document may move, as a share of its size (perspective; 0: flat).
    pub perspective: f32,
    /// Gaussian blur of the photo, sigma in pixels (0: sharp).
    pub blur: f32,
    pub jpeg_quality: u8,
    /// The photo's long side in pixels.
    pub long_side: u32,
    /// The scene photographed, as a multiple of the document's size: 1.35 fills most of the photo with
    /// the document; 4 makes it a small card on a large desk.
    pub scene: f32,
    /// The photo's width over its height, the desk extended to fit (`None`: the scene's own, the
    /// document's); a phone takes 4:3.
    pub frame_aspect: Option<f32>,
    /// Seeds the corners' movement and the background's grain.
    pub seed: u64,
}

impl Default for Shot {
    /// A phone photo of a page on a desk: slight perspective and blur, ordinary JPEG.
    fn default() -> Self {
        Shot {
            rotation: 0,
            perspective: 0.04,
            blur: 0.8,
            jpeg_quality: 80,
            long_side: 1600,
            scene: 1.35,
            frame_aspect: None,
            seed: 1,
        }
    }
}

/// The document as a phone would photograph it: on a desk, seen at a slight angle, a little blurred,
/// turned, as JPEG bytes.
pub fn photograph(document: &RgbImage, shot: &Shot) -> Vec<u8> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(shot.seed);
    let (dw, dh) = (document.width() as f32, document.height() as f32);
    let scene = shot.scene.max(1.0);
    let (mut sw, mut sh) = (dw * scene, dh * scene);
    match shot.frame_aspect {
        Some(a) if a > 0.0 && sw / sh < a => sw = sh * a,
        Some(a) if a > 0.0 => sh = sw / a,
        _ => {}
    }
    let (sw, sh) = (sw.round() as u32, sh.round() as u32);
    let (mx, my) = ((sw as f32 - dw) / 2.0, (sh as f32 - dh) / 2.0);
    let mut jitter =
        |v: f32, size: f32| v + rng.random_range(-1.0f32..=1.0) * shot.perspective * size;
    let quad: [[f32; 2]; 4] = [
        [jitter(mx, dw), jitter(my, dh)],
        [jitter(mx + dw, dw), jitter(my, dh)],
        [jitter(mx + dw, dw), jitter(my + dh, dh)],
        [jitter(mx, dw), jitter(my + dh, dh)],
    ];
    let to_document = rect_to_quad(dw as f64, dh as f64, &quad).and_then(|h| invert(&h));
    let grain = rng.random_range(0u32..1000);
    let mut scene = RgbImage::from_fn(sw, sh, |x, y| {
        // A brown desk with a little grain.
        let g = ((x.wrapping_mul(7919) ^ y.wrapping_mul(104_729) ^ grain) % 17) as f32;
        let wave = (y as f32 / 9.0 + (x as f32 / 53.0).sin() * 3.0).sin() * 6.0;
        Rgb([
            (120.0 + wave + g) as u8,
            (86.0 + wave + g) as u8,
            (60.0 + g) as u8,
        ])
    });
    if let Some(h) = to_document {
        for (x, y, p) in scene.enumerate_pixels_mut() {
            let (u, v) = apply(&h, x as f64 + 0.5, y as f64 + 0.5);
            if u >= 0.0 && v >= 0.0 && u < dw as f64 - 1.0 && v < dh as f64 - 1.0 {
                *p = Rgb(sample(document, u, v).map(|c| c.round().clamp(0.0, 255.0) as u8));
            }
        }
    }
    let scale = shot.long_side as f32 / sw.max(sh) as f32;
    let mut photo = imageops::resize(
        &scene,
        ((sw as f32 * scale).round() as u32).max(1),
        ((sh as f32 * scale).round() as u32).max(1),
        imageops::FilterType::Triangle,
    );
    if shot.blur > 0.0 {
        photo = imageops::blur(&photo, shot.blur);
    }
    let photo = crate::pipeline::document::rotate(&photo, shot.rotation);
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, shot.jpeg_quality)
        .encode_image(&photo)
        .expect("encoding to memory");
    jpeg
}
