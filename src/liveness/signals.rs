//! What is measured on each sampled video frame, and the pure measures derived from landmarks.

use serde::Serialize;

use crate::vision::align::similarity_transform;
use crate::vision::embed::Embedding;
use crate::vision::pose::HeadPose;
use crate::vision::quality::{CaptureQuality, Exposure, FaceQuality};
use crate::vision::{BoxF, Point};

/// The primary face of one frame.
#[derive(Clone, Serialize)]
pub struct FaceSignals {
    #[serde(rename = "box")]
    pub bbox: BoxF,
    /// Detector P(face).
    pub score: f32,
    /// The face reaches the edge of the picture.
    pub cut_off: bool,
    #[serde(skip)]
    pub landmarks68: Vec<Point>,
    /// P(closed) of the image-left and image-right eye (fr_eye); `None` when the eye crop is empty.
    pub p_closed: [Option<f32>; 2],
    /// Eye aspect ratio of each eye, from the 68 landmarks.
    pub ear: [f32; 2],
    /// The nose's position across the face (`nose_offset`), a geometric yaw.
    pub nose_offset: f32,
    pub pose: HeadPose,
    /// Passive P(live) (fr_liveness), on the frames where it runs.
    pub p_live: Option<f32>,
    /// Variance of the Laplacian of the 112×112 gray face crop.
    pub sharpness: f32,
    pub exposure: Exposure,
    /// On the frames where the identity is checked: the embedding and its raw norm.
    #[serde(skip)]
    pub embedding: Option<Embedding>,
    pub norm: Option<f32>,
}

// Landmarks and embeddings are biometric: Debug shows the scalar signals only.
impl std::fmt::Debug for FaceSignals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceSignals")
            .field("bbox", &self.bbox)
            .field("p_closed", &self.p_closed)
            .field("ear", &self.ear)
            .field("pose", &self.pose)
            .field("p_live", &self.p_live)
            .field("sharpness", &self.sharpness)
            .field("norm", &self.norm)
            .finish_non_exhaustive()
    }
}

impl FaceSignals {
    /// Both eyes at or above `closed_at`.
    pub fn both_closed(&self, closed_at: f32) -> bool {
        self.p_closed
            .iter()
            .all(|p| p.is_some_and(|p| p >= closed_at))
    }
    /// Both eyes below `closed_at`.
    pub fn both_open(&self, closed_at: f32) -> bool {
        self.p_closed
            .iter()
            .all(|p| p.is_some_and(|p| p < closed_at))
    }
    pub fn mean_ear(&self) -> f32 {
        (self.ear[0] + self.ear[1]) / 2.0
    }

    /// What the quality gates look at, for a frame with `faces` faces.
    pub fn quality(&self, faces: usize) -> FaceQuality {
        FaceQuality {
            faces,
            height: self.bbox.height(),
            cut_off: self.cut_off,
            norm: self.norm,
            capture: Some(CaptureQuality {
                sharpness: self.sharpness,
                exposure: self.exposure,
                pose: self.pose,
                p_closed: self.p_closed,
            }),
        }
    }
}

/// One sampled frame.
#[derive(Debug, Clone, Serialize)]
pub struct FrameSignals {
    /// Position among the sampled frames.
    pub index: usize,
    pub time_s: f64,
    /// Faces the detector found.
    pub faces: usize,
    /// The primary face, when one was found and located.
    pub face: Option<FaceSignals>,
}

impl FrameSignals {
    /// The face, when it is the only one in the frame.
    pub fn single_face(&self) -> Option<&FaceSignals> {
        self.face.as_ref().filter(|_| self.faces == 1)
    }
}

/// Where the nose tip sits between the outer eye corners, along the eye line, in inter-ocular distances:
/// 0 facing the camera, negative when the nose points to image-left (yaw positive), positive to
/// image-right. A geometric check of a head turn: a photo turned or moved in the picture plane can fool
/// the pose model, but it does not move the nose across the face.
pub fn nose_offset(lm: &[Point]) -> f32 {
    if lm.len() < 46 {
        return 0.0;
    }
    let (l, r, nose) = (lm[36], lm[45], lm[30]);
    let (ex, ey) = (r[0] - l[0], r[1] - l[1]);
    let iod_sq = ex * ex + ey * ey;
    if iod_sq < 1.0 {
        return 0.0;
    }
    let (mx, my) = ((l[0] + r[0]) / 2.0, (l[1] + r[1]) / 2.0);
    ((nose[0] - mx) * ex + (nose[1] - my) * ey) / iod_sq
}

/// How much two sets of 68 landmarks differ once position, size and in-plane rotation are taken out:
/// the RMS residual of the least-squares similarity fit, over the inter-ocular distance. A photo moved,
/// zoomed or turned in front of the camera (or a still image made into a video) stays near the landmark
/// model's noise; blinking, speaking and turning the head change the face's shape.
pub fn shape_change(a: &[Point], b: &[Point]) -> f32 {
    if a.len() != b.len() || a.len() < 46 {
        return 0.0;
    }
    let m = similarity_transform(a, b);
    let sum_sq: f64 = a
        .iter()
        .zip(b)
        .map(|(p, q)| {
            let (x, y) = (p[0] as f64, p[1] as f64);
            let u = m[0][0] * x + m[0][1] * y + m[0][2];
            let v = m[1][0] * x + m[1][1] * y + m[1][2];
            (u - q[0] as f64).powi(2) + (v - q[1] as f64).powi(2)
        })
        .sum();
    let rms = (sum_sq / a.len() as f64).sqrt();
    // Outer eye corners (36, 45) of the target shape.
    let iod = ((b[36][0] - b[45][0]).powi(2) + (b[36][1] - b[45][1]).powi(2)).sqrt() as f64;
    if iod < 1.0 {
        return 0.0;
    }
    (rms / iod) as f32
}

/// The value at quantile `q` (nearest rank) of `values`; 0 when empty.
pub fn percentile(values: &mut [f32], q: f32) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f32::total_cmp);
    let rank = ((values.len() - 1) as f32 * q).round() as usize;
    values[rank.min(values.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> Vec<Point> {
        (0..68)
            .map(|k| {
                let t = k as f32 * 0.37;
                [
                    50.0 + 30.0 * t.cos() + k as f32 * 0.1,
                    60.0 + 40.0 * t.sin(),
                ]
            })
            .collect()
    }

    #[test]
    fn a_moved_zoomed_rotated_copy_has_no_shape_change() {
        let a = shape();
        let (c, s) = (0.3f32.cos() * 1.7, 0.3f32.sin() * 1.7);
        let b: Vec<Point> = a
            .iter()
            .map(|p| [c * p[0] - s * p[1] + 12.0, s * p[0] + c * p[1] - 5.0])
            .collect();
        assert!(shape_change(&a, &b) < 1e-5);
        assert_eq!(shape_change(&a, &a), 0.0);
    }

    #[test]
    fn closing_the_eyes_is_a_shape_change() {
        let a = shape();
        let mut b = a.clone();
        for p in &mut b[36..48] {
            p[1] += 6.0;
        }
        assert!(shape_change(&a, &b) > 0.02);
        assert_eq!(shape_change(&a, &a[..40]), 0.0);
    }

    #[test]
    fn nose_offset_follows_the_nose_along_the_eye_line() {
        let mut lm = vec![[0.0f32; 2]; 68];
        lm[36] = [100.0, 100.0];
        lm[45] = [200.0, 100.0];
        lm[30] = [150.0, 160.0];
        assert_eq!(nose_offset(&lm), 0.0);
        lm[30] = [130.0, 160.0];
        assert!((nose_offset(&lm) + 0.2).abs() < 1e-6);
        // Rotating the whole face in the picture plane changes nothing.
        let turn = |p: Point| [p[1], -p[0]];
        let rotated: Vec<Point> = lm.iter().map(|&p| turn(p)).collect();
        assert!((nose_offset(&rotated) + 0.2).abs() < 1e-6);
        assert_eq!(nose_offset(&lm[..10]), 0.0);
    }

    #[test]
    fn eye_states_need_both_eyes() {
        let mut f = FaceSignals {
            bbox: BoxF {
                x1: 0.0,
                y1: 0.0,
                x2: 10.0,
                y2: 10.0,
            },
            score: 1.0,
            cut_off: false,
            landmarks68: vec![],
            p_closed: [Some(0.9), Some(0.2)],
            ear: [0.2, 0.3],
            nose_offset: 0.0,
            pose: HeadPose {
                yaw: 0.0,
                pitch: 0.0,
                roll: 0.0,
            },
            p_live: None,
            sharpness: 0.0,
            exposure: Exposure {
                mean_luma: 0.0,
                dark_share: 0.0,
                bright_share: 0.0,
            },
            embedding: None,
            norm: None,
        };
        assert!(!f.both_closed(0.5) && !f.both_open(0.5));
        f.p_closed = [Some(0.9), Some(0.6)];
        assert!(f.both_closed(0.5));
        f.p_closed = [Some(0.1), None];
        assert!(!f.both_open(0.5));
        assert!((f.mean_ear() - 0.25).abs() < 1e-6);
        assert!(!format!("{f:?}").contains("landmarks68"));
    }
}
