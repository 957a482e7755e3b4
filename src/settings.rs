//! One `Settings` value for everything tunable: built-in defaults < config file < environment < flags.
//! Environment and flags are read by clap (every flag has an `IDV_*` variable); the file by `load`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::liveness::LivenessConfig;
use crate::media::image::DecodeLimits;
use crate::media::video::VideoLimits;
use crate::pipeline::policy::MatchThresholds;
use crate::pipeline::verify::QualityConfig;
use crate::vision::detect::DetectorConfig;

/// Versioned with every decision so a score can be traced to the policy that judged it.
pub const POLICY_VERSION: &str = "2026-11-22.1";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub matching: MatchThresholds,
    pub quality: QualityConfig,
    pub detector: DetectorConfig,
    pub limits: DecodeLimits,
    pub video: VideoLimits,
    pub liveness: LivenessConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read the config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the config file {path} is not valid: {message}")]
    Invalid { path: String, message: String },
}

impl Settings {
    /// Defaults, overlaid with the TOML file when one is given. Unknown keys are refused, so a typo in a
    /// threshold's name cannot silently leave the default in force.
    pub fn load(path: Option<&Path>) -> Result<Settings, SettingsError> {
        let Some(path) = path else {
            return Ok(Settings::default());
        };
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
            path: shown.clone(),
            source,
        })?;
        let settings: Settings = toml::from_str(&text).map_err(|e| SettingsError::Invalid {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        settings
            .validate()
            .map_err(|message| SettingsError::Invalid {
                path: shown,
                message,
            })?;
        Ok(settings)
    }

    pub fn validate(&self) -> Result<(), String> {
        self.matching.validate()?;
        self.video.validate()?;
        self.liveness.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> std::path::PathBuf {
        let path =
            std::env::temp_dir().join(format!("idv-settings-{}-{name}.toml", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn file_overrides_defaults_section_by_key() {
        let path = write("ok", "[matching]\nmatch_at = 0.5\n");
        let s = Settings::load(Some(&path)).unwrap();
        assert_eq!(s.matching.match_at, 0.5);
        assert_eq!(
            s.matching.no_match_below,
            MatchThresholds::default().no_match_below
        );
        assert_eq!(s.detector, DetectorConfig::default());
    }

    #[test]
    fn the_configuration_documented_in_config_md_is_the_default() {
        let doc = include_str!("../docs/CONFIG.md");
        let block = doc
            .split("```toml\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("a toml block in docs/CONFIG.md");
        let documented: Settings = toml::from_str(block).unwrap();
        assert_eq!(documented, Settings::default());
    }

    #[test]
    fn unknown_keys_and_bad_thresholds_are_refused() {
        let typo = write("typo", "[matching]\nmatch_threshold = 0.5\n");
        assert!(Settings::load(Some(&typo))
            .unwrap_err()
            .to_string()
            .contains("match_threshold"));
        let inverted = write("inv", "[matching]\nmatch_at = 0.2\nno_match_below = 0.3\n");
        assert!(Settings::load(Some(&inverted)).is_err());
    }
}
