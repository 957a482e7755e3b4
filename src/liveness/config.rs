//! The liveness check's thresholds and per-frame work: `[liveness]` in the configuration file, and
//! recorded with every verdict.

use serde::{Deserialize, Serialize};

/// Thresholds of the verdict and the per-frame work; `[liveness]` in the configuration file.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LivenessConfig {
    /// P(closed) at or above which an eye counts as closed (fr_eye; both eyes must be).
    pub eye_closed_at: f32,
    /// Longest closed run that is a blink, in seconds. Looking down reads as "closed" for 1–1.5 s.
    pub blink_max_s: f64,
    /// The lowest eye aspect ratio in a blink must be at most this share of the open-eye median.
    pub blink_max_ear_ratio: f32,
    /// Yaw change (degrees) from a frontal frame that counts as a head turn.
    pub turn_min_deg: f32,
    /// Shift of the nose across the face (`signals::nose_offset`, inter-ocular distances) a turn needs too.
    pub turn_min_nose_shift: f32,
    /// |yaw| (degrees) up to which a frame counts as frontal: a turn starts from one and ends beyond it.
    pub frontal_max_deg: f32,
    /// Consecutive frames beyond the turn angle needed (one frame may be a pose glitch).
    pub turn_min_frames: usize,
    /// The capture is mirrored (a selfie preview recorded as shown): left and right swap.
    pub mirrored: bool,
    /// Frames with a face below which nothing can be judged (`face_not_found`).
    pub min_face_frames: usize,
    /// Share of analysed frames that must show exactly one face.
    pub min_single_face_share: f32,
    /// Cosine to the best frame below which a frame is a different person (`face_changed`).
    pub different_person_below: f32,
    /// Frames below `different_person_below` needed for `face_changed` (one may be a bad crop).
    pub different_person_frames: usize,
    /// Cosine to the best frame below which the identity is doubtful (`identity_uncertain`).
    pub same_person_min: f32,
    /// Frames turned further than this (|yaw|, degrees) are left out of the identity check: the
    /// embedding of a profile is not comparable with a frontal one.
    pub identity_max_yaw_deg: f32,
    /// Landmark shape change (RMS over inter-ocular distance, see `signals::shape_change`) that the
    /// most-changed tenth of frames must reach; a photo moved in front of the camera stays below.
    pub min_shape_change: f32,
    /// Median passive P(live) below which the video is referred (never failed on this alone).
    pub passive_min: f32,
    /// Embed every n-th sampled frame (1 = all).
    pub identity_every: usize,
    /// Run the passive model on every n-th sampled frame (1 = all).
    pub passive_every: usize,
}

impl Default for LivenessConfig {
    fn default() -> Self {
        LivenessConfig {
            eye_closed_at: 0.5,
            blink_max_s: 0.6,
            blink_max_ear_ratio: 0.9,
            turn_min_deg: 20.0,
            turn_min_nose_shift: 0.08,
            frontal_max_deg: 15.0,
            turn_min_frames: 2,
            mirrored: false,
            min_face_frames: 8,
            min_single_face_share: 0.9,
            different_person_below: 0.3,
            different_person_frames: 2,
            same_person_min: 0.5,
            identity_max_yaw_deg: 35.0,
            min_shape_change: 0.03,
            passive_min: 0.3,
            identity_every: 3,
            passive_every: 4,
        }
    }
}

impl LivenessConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.eye_closed_at) || !(0.0..=1.0).contains(&self.passive_min) {
            return Err("liveness probabilities must lie between 0 and 1".into());
        }
        if self.different_person_below > self.same_person_min {
            return Err(format!(
                "liveness.different_person_below ({}) must not exceed same_person_min ({})",
                self.different_person_below, self.same_person_min
            ));
        }
        if self.turn_min_deg <= 0.0 || self.blink_max_s <= 0.0 {
            return Err("liveness.turn_min_deg and blink_max_s must be positive".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_is_validated() {
        assert!(LivenessConfig::default().validate().is_ok());
        let inverted = LivenessConfig {
            different_person_below: 0.6,
            ..LivenessConfig::default()
        };
        assert!(inverted.validate().is_err());
    }
}
