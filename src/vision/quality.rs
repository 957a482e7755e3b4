//! Quality of a face: the measures of its crop (sharpness as the variance of the Laplacian, exposure as
//! mean luminance and the share of clipped pixels, on a fixed-size gray crop so faces of any size
//! compare), and the gates that turn a face's measures into reason codes. Pure.

use serde::{Deserialize, Serialize};

use super::canvas::{resize_region, Canvas};
use super::geometry::RectI;
use super::pose::HeadPose;

/// Side of the gray face crop the measures are taken on.
pub const CROP_SIDE: usize = 112;

/// Exposure of a crop, luminance on the 0..255 scale.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Exposure {
    pub mean_luma: f32,
    /// Share of pixels at or below 5 (crushed blacks).
    pub dark_share: f32,
    /// Share of pixels at or above 250 (blown highlights).
    pub bright_share: f32,
}

/// The face box as a 112×112 gray crop (BT.601 luma, 8-bit levels).
pub fn face_gray(canvas: &Canvas, face: RectI) -> Vec<f32> {
    resize_region(canvas, face, CROP_SIDE, CROP_SIDE).gray()
}

/// Variance of the 4-neighbour Laplacian over the interior of a `side`×`side` gray image (OpenCV
/// `Laplacian(ksize=1)`). Low for blurred or defocused faces.
pub fn sharpness(gray: &[f32], side: usize) -> f32 {
    if side < 3 || gray.len() < side * side {
        return 0.0;
    }
    let (mut sum, mut sum_sq, mut n) = (0.0f64, 0.0f64, 0.0f64);
    for y in 1..side - 1 {
        for x in 1..side - 1 {
            let i = y * side + x;
            let lap = (gray[i - 1] + gray[i + 1] + gray[i - side] + gray[i + side] - 4.0 * gray[i])
                as f64;
            sum += lap;
            sum_sq += lap * lap;
            n += 1.0;
        }
    }
    let mean = sum / n;
    (sum_sq / n - mean * mean) as f32
}

pub fn exposure(gray: &[f32]) -> Exposure {
    if gray.is_empty() {
        return Exposure {
            mean_luma: 0.0,
            dark_share: 1.0,
            bright_share: 0.0,
        };
    }
    let n = gray.len() as f32;
    Exposure {
        mean_luma: gray.iter().sum::<f32>() / n,
        dark_share: gray.iter().filter(|&&v| v <= 5.0).count() as f32 / n,
        bright_share: gray.iter().filter(|&&v| v >= 250.0).count() as f32 / n,
    }
}

/// Quality gates of a still face (a selfie, a video's best frame, a document portrait where they apply),
/// each a reason code when it trips.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QualityConfig {
    /// Faces shorter than this (pixels) are too small to compare reliably (`*_face_too_small`).
    pub min_face_px: f32,
    /// Raw embedding norm below which a face is blurred, partial or badly aligned (`*_low_quality`).
    pub min_norm: f32,
    /// Variance of the Laplacian of the 112×112 gray face crop below which it is blurred (`*_blurry`).
    pub min_sharpness: f32,
    /// Mean face luminance (0–255) below which it is too dark (`*_too_dark`).
    pub min_luma: f32,
    /// Mean face luminance above which it is too bright (`*_too_bright`).
    pub max_luma: f32,
    /// Share of blown-out (≥ 250) face pixels above which it is too bright (`*_too_bright`).
    pub max_bright_share: f32,
    /// |yaw| beyond which a face is not frontal (`*_not_frontal`), degrees.
    pub max_yaw_deg: f32,
    /// |pitch| beyond which a face is not frontal; generous because the pose model's pitch is rough.
    pub max_pitch_deg: f32,
    /// |roll| beyond which a face is not frontal, degrees.
    pub max_roll_deg: f32,
    /// P(closed) of either eye at or above which the eyes are closed (`*_eyes_closed`).
    pub max_eye_closed: f32,
}

impl Default for QualityConfig {
    fn default() -> Self {
        // 40 px: the smallest document portraits that still matched (48 px) keep a margin.
        // 2.3: below every upright face in the measurements (2.55), above most rotated ones.
        // The sharpness, light and pose gates sit well outside what the shared selfie clips show
        // (docs/LIVENESS.md), so they only trip on captures a person should look at.
        QualityConfig {
            min_face_px: 40.0,
            min_norm: 2.3,
            min_sharpness: 20.0,
            min_luma: 40.0,
            max_luma: 225.0,
            max_bright_share: 0.2,
            max_yaw_deg: 25.0,
            max_pitch_deg: 30.0,
            max_roll_deg: 20.0,
            max_eye_closed: 0.5,
        }
    }
}

/// Which picture a face comes from; its reason codes are prefixed with it (`selfie_blurry`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaceSource {
    /// The portrait on an identity document.
    Document,
    /// A still selfie, or the best frame of a liveness video.
    Selfie,
    /// A webcam frame during remote invigilation.
    Frame,
}

impl FaceSource {
    pub fn prefix(self) -> &'static str {
        match self {
            FaceSource::Document => "document",
            FaceSource::Selfie => "selfie",
            FaceSource::Frame => "frame",
        }
    }
}

/// What the quality gates look at in one face.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceQuality {
    /// Faces detected in the picture.
    pub faces: usize,
    pub height: f32,
    pub cut_off: bool,
    pub norm: Option<f32>,
    /// The capture measures; `None` when the eye and pose models did not run (an engine loaded for
    /// matching only), and then only the gates above apply.
    pub capture: Option<CaptureQuality>,
}

/// How well a face was captured: focus, light, head pose and eyes (needs the eye and pose models).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CaptureQuality {
    pub sharpness: f32,
    pub exposure: Exposure,
    pub pose: HeadPose,
    pub p_closed: [Option<f32>; 2],
}

/// Reason codes of the quality gates for one face, each gate once, in a fixed order (pure).
pub fn face_quality_reasons(
    source: FaceSource,
    q: &FaceQuality,
    config: &QualityConfig,
) -> Vec<String> {
    // The capture gates trip only on what was measured.
    let capture = q.capture.as_ref();
    let checks = [
        (q.cut_off, "face_cut_off"),
        (q.height < config.min_face_px, "face_too_small"),
        (q.norm.is_some_and(|n| n < config.min_norm), "low_quality"),
        // A document may carry a second, small "ghost" portrait; only a selfie with two people is a concern.
        (
            source == FaceSource::Selfie && q.faces > 1,
            "multiple_faces",
        ),
        (
            capture.is_some_and(|c| c.sharpness < config.min_sharpness),
            "blurry",
        ),
        (
            capture.is_some_and(|c| c.exposure.mean_luma < config.min_luma),
            "too_dark",
        ),
        (
            capture.is_some_and(|c| {
                c.exposure.mean_luma > config.max_luma
                    || c.exposure.bright_share > config.max_bright_share
            }),
            "too_bright",
        ),
        (
            capture.is_some_and(|c| {
                !(c.pose.yaw.abs() <= config.max_yaw_deg
                    && c.pose.pitch.abs() <= config.max_pitch_deg
                    && c.pose.roll.abs() <= config.max_roll_deg)
            }),
            "not_frontal",
        ),
        (
            capture.is_some_and(|c| {
                c.p_closed
                    .iter()
                    .any(|p| p.is_none_or(|p| p >= config.max_eye_closed))
            }),
            "eyes_closed",
        ),
    ];
    let prefix = source.prefix();
    checks
        .iter()
        .filter(|(tripped, _)| *tripped)
        .map(|(_, code)| format!("{prefix}_{code}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> FaceQuality {
        FaceQuality {
            faces: 1,
            height: 200.0,
            cut_off: false,
            norm: Some(3.8),
            capture: Some(CaptureQuality {
                sharpness: 300.0,
                exposure: Exposure {
                    mean_luma: 120.0,
                    dark_share: 0.0,
                    bright_share: 0.01,
                },
                pose: HeadPose {
                    yaw: 5.0,
                    pitch: -8.0,
                    roll: 2.0,
                },
                p_closed: [Some(0.01), Some(0.02)],
            }),
        }
    }

    fn capture(q: &mut FaceQuality) -> &mut CaptureQuality {
        q.capture.as_mut().unwrap()
    }

    #[test]
    fn each_quality_gate_has_its_reason_at_its_threshold() {
        let c = QualityConfig::default();
        assert!(face_quality_reasons(FaceSource::Selfie, &good(), &c).is_empty());
        type Spoil = fn(&mut FaceQuality);
        let cases: [(Spoil, &str); 9] = [
            (|q| q.height = 39.0, "selfie_face_too_small"),
            (|q| q.norm = Some(2.0), "selfie_low_quality"),
            (|q| q.faces = 2, "selfie_multiple_faces"),
            (|q| capture(q).sharpness = 19.0, "selfie_blurry"),
            (|q| capture(q).exposure.mean_luma = 30.0, "selfie_too_dark"),
            (
                |q| capture(q).exposure.bright_share = 0.3,
                "selfie_too_bright",
            ),
            (|q| capture(q).pose.yaw = -26.0, "selfie_not_frontal"),
            (|q| capture(q).p_closed[1] = Some(0.5), "selfie_eyes_closed"),
            (|q| q.cut_off = true, "selfie_face_cut_off"),
        ];
        for (spoil, reason) in cases {
            let mut q = good();
            spoil(&mut q);
            assert_eq!(
                face_quality_reasons(FaceSource::Selfie, &q, &c),
                vec![reason.to_string()]
            );
        }
        // A pose the model could not measure is not frontal; a missing eye crop is not an open eye.
        let mut q = good();
        capture(&mut q).pose.roll = f32::NAN;
        capture(&mut q).p_closed[0] = None;
        assert_eq!(
            face_quality_reasons(FaceSource::Selfie, &q, &c),
            vec!["selfie_not_frontal", "selfie_eyes_closed"]
        );
        // A second face on a document is its ghost portrait, not a second person.
        let mut q = good();
        q.faces = 2;
        assert!(face_quality_reasons(FaceSource::Document, &q, &c).is_empty());
    }

    #[test]
    fn without_the_capture_measures_only_the_located_face_gates_apply() {
        let c = QualityConfig::default();
        let mut q = good();
        q.capture = None;
        assert!(face_quality_reasons(FaceSource::Selfie, &q, &c).is_empty());
        q.cut_off = true;
        q.height = 30.0;
        q.norm = Some(1.0);
        q.faces = 3;
        assert_eq!(
            face_quality_reasons(FaceSource::Selfie, &q, &c),
            vec![
                "selfie_face_cut_off",
                "selfie_face_too_small",
                "selfie_low_quality",
                "selfie_multiple_faces"
            ]
        );
        assert_eq!(
            face_quality_reasons(FaceSource::Document, &q, &c),
            vec![
                "document_face_cut_off",
                "document_face_too_small",
                "document_low_quality"
            ]
        );
    }

    #[test]
    fn flat_image_has_zero_sharpness_and_a_checkerboard_a_high_one() {
        assert_eq!(sharpness(&[128.0; 25], 5), 0.0);
        let board: Vec<f32> = (0..100)
            .map(|i| {
                if (i % 10 + i / 10) % 2 == 0 {
                    0.0
                } else {
                    100.0
                }
            })
            .collect();
        // Every interior Laplacian is ±400, alternating: variance 160000.
        assert!((sharpness(&board, 10) - 160_000.0).abs() < 1.0);
        assert_eq!(sharpness(&[1.0; 4], 2), 0.0);
    }

    #[test]
    fn exposure_measures_mean_and_clipping() {
        let e = exposure(&[0.0, 0.0, 255.0, 125.0]);
        assert_eq!(e.mean_luma, 95.0);
        assert_eq!(e.dark_share, 0.5);
        assert_eq!(e.bright_share, 0.25);
    }

    #[test]
    fn face_crop_is_gray_at_a_fixed_size() {
        let img = image::RgbImage::from_pixel(50, 40, image::Rgb([200, 200, 200]));
        let g = face_gray(
            &Canvas::new(&img),
            RectI {
                x: 5,
                y: 5,
                w: 30,
                h: 30,
            },
        );
        assert_eq!(g.len(), CROP_SIDE * CROP_SIDE);
        assert!(g.iter().all(|&v| v == 200.0));
    }
}
