//! The model manifest (`models/manifest.toml`, compiled into the binary) and the check that the weights
//! on disk are exactly the ones it lists.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The manifest as committed. Compiled in, so a file swapped next to the weights cannot vouch for them.
pub const MANIFEST_TOML: &str = include_str!("../models/manifest.toml");

/// The face models idv runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ModelKind {
    Detect,
    Landmark,
    Feature,
    Liveness,
    Eye,
    Pose,
}

impl ModelKind {
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

    /// The key of this model in the manifest.
    pub fn key(self) -> &'static str {
        match self {
            ModelKind::Detect => "detect",
            ModelKind::Landmark => "landmark",
            ModelKind::Feature => "feature",
            ModelKind::Liveness => "liveness",
            ModelKind::Eye => "eye",
            ModelKind::Pose => "pose",
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
    pub source: Source,
    pub models: BTreeMap<String, ModelSpec>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Source {
    pub package: String,
    pub registry: String,
    pub tarball_sha256: String,
    pub licence: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TensorSpec {
    pub name: String,
    pub shape: Vec<usize>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ModelSpec {
    pub file: String,
    pub path_in_package: String,
    pub sha256: String,
    pub architecture: String,
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
    pub colour: String,
    pub normalisation: String,
    pub notes: String,
    /// ONNX Runtime graph optimisers to leave out for this model (a measured slowdown).
    #[serde(default)]
    pub disable_optimizers: Vec<String>,
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
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ModelError::Missing { path })
            }
            Err(source) => return Err(ModelError::Unreadable { path, source }),
        };
        let actual = hex::encode(Sha256::digest(&bytes));
        if !actual.eq_ignore_ascii_case(&spec.sha256) {
            return Err(ModelError::Mismatch {
                path,
                expected: spec.sha256.clone(),
                actual,
            });
        }
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_manifest_lists_every_model_with_a_checksum() {
        let m = Manifest::builtin();
        for kind in ModelKind::ALL {
            let spec = m.spec(kind).unwrap();
            assert_eq!(spec.sha256.len(), 64, "{kind}");
            assert!(spec.file.ends_with(".onnx"));
            assert_eq!(spec.inputs.len(), 1);
            assert_eq!(spec.inputs[0].name, "input");
        }
        assert_eq!(m.spec(ModelKind::Pose).unwrap().outputs.len(), 3);
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
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
