//! Face embeddings with fr_feature (MobileFaceNet, 512-d) and their comparison (models.md §2.3).

use serde::Serialize;

use super::canvas::{ChannelOrder, RgbF32};

pub const DIM: usize = 512;

/// The aligned 112×112 crop as BGR planes, (v − 127) / 128. BGR measured better than the vendor's RGB.
pub fn input_tensor(aligned: &RgbF32) -> Vec<f32> {
    aligned.planes(ChannelOrder::Bgr, |v| (v - 127.0) / 128.0)
}

/// A unit-length face embedding. Biometric data: it never prints.
#[derive(Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Embedding(Vec<f32>);

impl std::fmt::Debug for Embedding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Embedding(<{} floats redacted>)", self.0.len())
    }
}

impl Embedding {
    /// L2-normalises the model output; also returns the raw norm, a quality signal (an upright, sharp
    /// face gives ≈ 3.3–4.5, a rotated or poor crop ≈ 1.5–2.7). `None` for a zero or non-finite output.
    pub fn from_raw(raw: &[f32]) -> Option<(Embedding, f32)> {
        let norm = raw.iter().map(|v| v * v).sum::<f32>().sqrt();
        if !norm.is_finite() || norm <= f32::EPSILON {
            return None;
        }
        Some((Embedding(raw.iter().map(|v| v / norm).collect()), norm))
    }

    pub fn as_slice(&self) -> &[f32] {
        &self.0
    }

    /// Little-endian f32s, for sealing at rest.
    pub fn to_le_bytes(&self) -> Vec<u8> {
        self.0.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    /// The inverse of `to_le_bytes`; `None` when the length is not a whole number of floats.
    pub fn from_le_bytes(bytes: &[u8]) -> Option<Embedding> {
        (bytes.len().is_multiple_of(4) && !bytes.is_empty()).then(|| {
            Embedding(
                bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            )
        })
    }

    /// Cosine similarity; both are unit length, so the dot product.
    pub fn cosine(&self, other: &Embedding) -> f32 {
        cosine(&self.0, &other.0)
    }
}

/// Cosine similarity of two vectors of any length (0 when either is zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut dot, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        dot += (*x as f64) * (*y as f64);
        na += (*x as f64) * (*x as f64);
        nb += (*y as f64) * (*y as f64);
    }
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    (dot / (na.sqrt() * nb.sqrt())) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_and_bad_lengths_are_refused() {
        let (e, _) = Embedding::from_raw(&[1.0, -2.0, 0.5]).unwrap();
        assert_eq!(Embedding::from_le_bytes(&e.to_le_bytes()), Some(e));
        assert_eq!(Embedding::from_le_bytes(&[0, 0, 0]), None);
        assert_eq!(Embedding::from_le_bytes(&[]), None);
    }

    #[test]
    fn cosine_of_known_vectors() {
        assert!((cosine(&[1.0, 0.0], &[0.0, 1.0])).abs() < 1e-7);
        assert!((cosine(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]) - 1.0).abs() < 1e-6);
        assert!((cosine(&[1.0, 0.0], &[-1.0, 0.0]) + 1.0).abs() < 1e-7);
        assert!((cosine(&[1.0, 1.0], &[1.0, 0.0]) - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
    }

    #[test]
    fn from_raw_normalises_and_keeps_the_norm() {
        let (e, norm) = Embedding::from_raw(&[3.0, 4.0]).unwrap();
        assert_eq!(norm, 5.0);
        assert_eq!(e.as_slice(), &[0.6, 0.8]);
        assert!((e.cosine(&e) - 1.0).abs() < 1e-6);
        assert!(Embedding::from_raw(&[0.0, 0.0]).is_none());
        assert!(Embedding::from_raw(&[f32::NAN, 1.0]).is_none());
    }

    #[test]
    fn debug_does_not_print_the_vector() {
        let (e, _) = Embedding::from_raw(&[0.123456, 0.5]).unwrap();
        let shown = format!("{e:?}");
        assert!(!shown.contains("0.12") && shown.contains("redacted"));
    }

    #[test]
    fn input_is_bgr_and_centred() {
        let px = RgbF32 {
            width: 1,
            height: 1,
            data: vec![255.0, 127.0, 0.0],
        };
        let t = input_tensor(&px);
        assert_eq!(t, vec![-127.0 / 128.0, 0.0, 1.0]);
    }
}
