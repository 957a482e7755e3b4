//! One `Settings` value for everything tunable: built-in defaults < config file < environment < flags.
//! Environment and flags are read by clap (every flag has an `IDV_*` variable); the file by `load`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::document::checks::DocumentPolicy;
use crate::domain::Purpose;
use crate::liveness::{LivenessConfig, ScheduleConfig};
use crate::media::image::DecodeLimits;
use crate::media::video::VideoLimits;
use crate::pipeline::invigilation::InvigilationConfig;
use crate::pipeline::policy::MatchThresholds;
use crate::vision::detect::DetectorConfig;
use crate::vision::quality::QualityConfig;

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
    /// How liveness challenges are drawn: the actions and when each is prompted.
    pub challenge: ScheduleConfig,
    pub service: ServiceSettings,
    pub retention: RetentionSettings,
    pub privacy: PrivacySettings,
    pub audit: AuditSettings,
    pub review: ReviewSettings,
    pub invigilation: InvigilationConfig,
    pub capture: CaptureSettings,
    pub document: DocumentSettings,
    pub webhooks: WebhookSettings,
}

/// Reading the identity document (docs/DOCUMENTS.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DocumentSettings {
    /// Read the document's machine-readable zone and check it (validity, expiry, accepted types, the
    /// declared identity); a document without a readable zone is referred (`document_mrz_not_found`).
    /// Off: only the faces are compared, as before documents were read (needs no OCR models).
    pub read_mrz: bool,
    /// Which documents are accepted: document codes and issuing states.
    pub accept: DocumentPolicy,
}

impl Default for DocumentSettings {
    fn default() -> Self {
        DocumentSettings {
            read_mrz: true,
            accept: DocumentPolicy::default(),
        }
    }
}

/// The applicant capture page (`/capture/{token}`) and its one-time links.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CaptureSettings {
    /// The address applicants reach idv at, which capture links start with (e.g.
    /// `https://idv.example.org`). Unset: `http://` and the address `idv serve` listens on, which only
    /// suits a trial on one machine.
    pub public_url: Option<String>,
    /// How long a capture link stays usable unless its request asks for less.
    pub link_ttl_secs: u64,
    /// The longest a request may ask for.
    pub max_link_ttl_secs: u64,
    /// Who the privacy notice names as the controller of the data.
    pub controller: String,
    /// Where the notice tells people to write about their data and their rights.
    pub privacy_contact: String,
    /// Challenges one link may ask for (each recording attempt takes one); the page needs no key, so
    /// this bounds what a leaked link can make the service store.
    pub max_challenges_per_link: u32,
}

impl Default for CaptureSettings {
    fn default() -> Self {
        CaptureSettings {
            public_url: None,
            link_ttl_secs: 24 * 3600,
            max_link_ttl_secs: 7 * 24 * 3600,
            controller: "the certification scheme".into(),
            privacy_contact: "the address given in the email that sent you this link".into(),
            max_challenges_per_link: 10,
        }
    }
}

impl CaptureSettings {
    fn validate(&self) -> Result<(), String> {
        if self.link_ttl_secs == 0 || self.link_ttl_secs > self.max_link_ttl_secs {
            return Err(
                "capture.link_ttl_secs must be between 1 and capture.max_link_ttl_secs".into(),
            );
        }
        if let Some(url) = &self.public_url {
            if !(url.starts_with("https://") || url.starts_with("http://")) || url.ends_with('/') {
                return Err(
                    "capture.public_url must be an http(s) address without a trailing slash".into(),
                );
            }
        }
        Ok(())
    }
}

/// Human review of automated decisions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReviewSettings {
    /// Share of `verified` decisions also sent to review for quality control (0 to 1).
    pub sample_verified_share: f64,
    /// The reviewer console (`/review`): mark its session cookie `Secure` (sent over HTTPS only). Keep
    /// it on wherever the console is reached through TLS; turn it off only for plain-HTTP trials.
    pub console_secure_cookie: bool,
    /// How long a console sign-in lasts.
    pub console_session_minutes: i64,
    /// Consecutive failed sign-ins that lock a reviewer account, and for how long.
    pub console_max_failed_signins: i64,
    pub console_lockout_minutes: i64,
}

impl Default for ReviewSettings {
    fn default() -> Self {
        ReviewSettings {
            sample_verified_share: 0.02,
            console_secure_cookie: true,
            console_session_minutes: 480,
            console_max_failed_signins: 5,
            console_lockout_minutes: 15,
        }
    }
}

/// `idv serve`: where it listens, what it stores in, and how much it takes on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceSettings {
    pub listen: String,
    /// Prometheus `/metrics`, on its own port so it is not exposed with the API.
    pub metrics_listen: Option<String>,
    /// `sqlite://FILE` (created on first start) or `postgres://…`.
    pub database: String,
    /// Verifications processed at once; more wait (up to `max_queue`, each at most
    /// `admission_wait_secs`), then 429 `overloaded` with Retry-After.
    pub max_in_flight: usize,
    pub max_queue: usize,
    /// The longest a request waits in the admission queue for a free slot before 429 `overloaded`;
    /// also the longest an upload waits for room in `upload_buffer_mib`.
    pub admission_wait_secs: u64,
    /// Request bodies of the upload routes (verifications, invigilation frames, the capture page's
    /// submission) held in memory at once, in MiB: each upload reserves its declared length (or its
    /// route's limit when it declares none; at most this whole budget) before it is read, and waits
    /// for room, then 429 `overloaded`. Bounds the memory of concurrent large uploads.
    pub upload_buffer_mib: u64,
    pub request_timeout_secs: u64,
    /// The longest a client may take to send a request's head (line and headers), from its first byte;
    /// then the connection is closed. Bounds slow-header ("slowloris") clients.
    pub header_read_timeout_secs: u64,
    /// A connection with no request in progress (just opened, or kept alive after a response) that
    /// sends nothing for this long is closed.
    pub keep_alive_idle_secs: u64,
    /// Connections served at once by this process; more wait in the listen backlog, unaccepted, until
    /// one closes.
    pub max_connections: usize,
    /// Failed API-key authentications (missing, unknown or revoked key) allowed from one client address
    /// within `auth_failure_window_secs`; past that, every request from the address is answered 429
    /// `auth_throttled` with Retry-After until the window ends, even with a valid key. Counted in the
    /// database, so replicas on one PostgreSQL share the count.
    pub auth_failure_limit: i64,
    pub auth_failure_window_secs: u64,
    /// Behind a reverse proxy every connection comes from the proxy: name the header it appends the
    /// client's address to (e.g. `x-forwarded-for`) and failures are counted against the last address
    /// in it. Set it only when every connection comes through such a proxy (a client could otherwise
    /// write the header itself); unset, the connection's peer address counts.
    pub client_address_header: Option<String>,
    /// Background workers taking asynchronous verifications from the jobs table.
    pub job_workers: usize,
    /// How long a worker holds a job before another may take it over (its worker presumed dead).
    pub job_lease_secs: u64,
    /// A job that failed this many times is recorded as failed instead of retried.
    pub job_max_attempts: i64,
    /// Per API key: sustained requests per second and burst.
    pub rate_limit_per_sec: f64,
    pub rate_limit_burst: f64,
    /// How long an issued liveness challenge may be answered.
    pub challenge_ttl_secs: u64,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        ServiceSettings {
            listen: "127.0.0.1:8080".into(),
            metrics_listen: None,
            database: "sqlite://idv.db".into(),
            max_in_flight: cores,
            max_queue: 64,
            admission_wait_secs: 3,
            upload_buffer_mib: 64,
            request_timeout_secs: 30,
            header_read_timeout_secs: 10,
            keep_alive_idle_secs: 15,
            max_connections: 512,
            auth_failure_limit: 20,
            auth_failure_window_secs: 300,
            client_address_header: None,
            job_workers: cores.min(4),
            job_lease_secs: 60,
            job_max_attempts: 5,
            rate_limit_per_sec: 10.0,
            rate_limit_burst: 30.0,
            challenge_ttl_secs: 300,
        }
    }
}

impl ServiceSettings {
    fn validate(&self) -> Result<(), String> {
        if self.header_read_timeout_secs == 0 || self.keep_alive_idle_secs == 0 {
            return Err("service.header_read_timeout_secs and service.keep_alive_idle_secs must be at least 1".into());
        }
        if self.upload_buffer_mib == 0
            || self.max_connections == 0
            || self.auth_failure_limit < 1
            || self.auth_failure_window_secs == 0
        {
            return Err("service.upload_buffer_mib, service.max_connections, service.auth_failure_limit and service.auth_failure_window_secs must be at least 1".into());
        }
        Ok(())
    }
}

/// How long each kind of record is kept, per purpose, counted from the decision. A background sweep in
/// `idv serve` (and `idv retention run`) deletes what is due.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSettings {
    /// How often `idv serve` runs the sweep (0: never; run `idv retention run` from cron instead).
    pub sweep_interval_secs: u64,
    pub ecs_application: RetentionPolicy,
    pub remote_invigilation: RetentionPolicy,
}

/// What an erasure does with a subject's decision records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordsOnErasure {
    /// Keep that a decision was made, when, under which policy and consent (evidence for legal
    /// claims), with scores, input digests and references removed.
    Reduce,
    /// Delete the decision records, their review cases and consents.
    Delete,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionPolicy {
    /// Uploaded images and videos.
    pub media_days: i64,
    /// Face embeddings (the enrolled template invigilation compares webcam frames with).
    pub embedding_days: i64,
    /// Decision records, their review cases and audit-relevant fields.
    pub decision_record_days: i64,
    pub on_erasure: RecordsOnErasure,
}

impl RetentionSettings {
    pub fn policy(&self, purpose: Purpose) -> RetentionPolicy {
        match purpose {
            Purpose::EcsApplication => self.ecs_application,
            Purpose::RemoteInvigilation => self.remote_invigilation,
        }
    }

    /// Every purpose with its policy, for the sweep.
    pub fn policies(&self) -> Vec<(&'static str, RetentionPolicy)> {
        Purpose::ALL
            .iter()
            .map(|p| (p.as_str(), self.policy(*p)))
            .collect()
    }

    fn validate(&self) -> Result<(), String> {
        for (purpose, p) in self.policies() {
            if p.media_days < 0 || p.embedding_days < 0 || p.decision_record_days < 0 {
                return Err(format!("retention.{purpose}: periods must not be negative"));
            }
            if p.decision_record_days < p.media_days.max(p.embedding_days) {
                return Err(format!(
                    "retention.{purpose}: decision records must be kept at least as long as media and embeddings"
                ));
            }
        }
        Ok(())
    }
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            sweep_interval_secs: 3600,
            // The card application's evidence: media for the review window, the template for the
            // assessments that follow, the decision for six years (the limitation period for claims).
            ecs_application: RetentionPolicy {
                media_days: 30,
                embedding_days: 365,
                decision_record_days: 6 * 365,
                on_erasure: RecordsOnErasure::Reduce,
            },
            remote_invigilation: RetentionPolicy {
                media_days: 30,
                embedding_days: 30,
                decision_record_days: 2 * 365,
                on_erasure: RecordsOnErasure::Reduce,
            },
        }
    }
}

/// Keys for encryption at rest (see src/vault.rs). The master key itself is never in this file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrivacySettings {
    /// File holding the master key (64 hex digits or base64 of 32 bytes). `IDV_MASTER_KEY` (the key
    /// itself) takes precedence. Unset with SQLite: `idv-master.key` beside the database file, created
    /// on first start with a warning; unset with PostgreSQL: the server refuses to start.
    pub master_key_file: Option<String>,
}

/// Signed checkpoints of the audit chain (src/audit/checkpoint.rs, docs/PRIVACY.md): what makes a
/// rewrite of the chain by someone who can write the database, but holds no key outside it, detectable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// The log's name: the first line of every checkpoint and the signing key's name (no spaces, no '+').
    pub origin: String,
    /// File holding the Ed25519 signing key's 32-byte seed (64 hex digits or base64).
    /// `IDV_AUDIT_SIGNING_KEY` (the seed itself) takes precedence. Unset: `idv-audit-signing.key` beside
    /// a SQLite database (where its master key is by default), or with PostgreSQL beside the master key
    /// file; created on first start (mode 0600).
    pub signing_key_file: Option<String>,
    /// The append-only file checkpoints are written to (and `idv audit verify` reads). Unset: beside a
    /// SQLite database as `<database file>.checkpoints`; with PostgreSQL, `idv-audit-<database>.checkpoints`
    /// beside the master key file.
    pub checkpoint_file: Option<String>,
    /// How often `idv serve` writes a checkpoint when the chain has grown (one is also written at start
    /// and on shutdown; 0: only those).
    pub checkpoint_interval_secs: u64,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            origin: "idv/audit".into(),
            signing_key_file: None,
            checkpoint_file: None,
            checkpoint_interval_secs: 60,
        }
    }
}

/// Webhook deliveries (README, "Webhooks"; SECURITY.md for the address restrictions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookSettings {
    /// Delivery workers per server (0: this server delivers nothing; another must).
    pub workers: usize,
    /// Accept `http://` endpoint URLs (tests, a receiver on the same host). Off: https only.
    pub allow_http: bool,
    /// Deliver to loopback, private, link-local and other non-public addresses. Off: such an address,
    /// written in the URL or resolved from its host name, is refused.
    pub allow_private_addresses: bool,
    /// How long a receiver has to answer one attempt.
    pub timeout_secs: u64,
    /// The first retry's delay; each further retry doubles it (with jitter) up to `retry_max_interval_secs`.
    pub retry_initial_secs: u64,
    pub retry_max_interval_secs: u64,
    /// How long after the event (or a redelivery request) attempts go on before the delivery is
    /// dead-lettered.
    pub retry_for_secs: u64,
    /// A worker's lease on a delivery it is sending; a worker that dies loses it and another server
    /// sends the delivery again (receivers deduplicate by `webhook-id`). Longer than `timeout_secs`.
    pub lease_secs: u64,
    /// Endpoints per organisation.
    pub max_endpoints: usize,
    /// Delivered and dead-lettered deliveries are kept this long (for `GET …/deliveries` and
    /// redelivery), then deleted by the delivery workers; pending ones are kept until they end.
    pub history_days: u64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            workers: 1,
            allow_http: false,
            allow_private_addresses: false,
            timeout_secs: 10,
            retry_initial_secs: 5,
            retry_max_interval_secs: 3600,
            retry_for_secs: 86_400,
            lease_secs: 60,
            max_endpoints: 20,
            history_days: 30,
        }
    }
}

impl WebhookSettings {
    fn validate(&self) -> Result<(), String> {
        if self.timeout_secs == 0 || self.lease_secs <= self.timeout_secs {
            return Err(
                "webhooks.timeout_secs must be at least 1 and below webhooks.lease_secs".into(),
            );
        }
        if self.retry_initial_secs == 0 || self.retry_max_interval_secs < self.retry_initial_secs {
            return Err(
                "webhooks.retry_initial_secs must be at least 1 and at most retry_max_interval_secs".into(),
            );
        }
        if self.max_endpoints == 0 {
            return Err("webhooks.max_endpoints must be at least 1".into());
        }
        Ok(())
    }
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
        self.retention.validate()?;
        self.invigilation.validate()?;
        self.webhooks.validate()?;
        if !(0.0..=1.0).contains(&self.review.sample_verified_share) {
            return Err("review.sample_verified_share must be between 0 and 1".into());
        }
        let r = &self.review;
        if r.console_session_minutes < 1
            || r.console_max_failed_signins < 1
            || r.console_lockout_minutes < 0
        {
            return Err("review.console_*: session minutes and failed sign-ins must be at least 1, lockout minutes not negative".into());
        }
        self.service.validate()?;
        if !crate::audit::checkpoint::valid_name(&self.audit.origin) {
            return Err("audit.origin must be 1-256 characters without spaces or '+'".into());
        }
        self.capture.validate()?;
        self.challenge
            .validate(self.video.max_duration_s)
            .map_err(|m| format!("challenge: {m}"))?;
        self.document
            .accept
            .validate()
            .map_err(|m| format!("document.accept: {m}"))?;
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
