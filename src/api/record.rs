//! The decision record: everything needed to trace an automated decision to its consent, policy,
//! models and inputs. Stored as JSON with the verification; holds digests, never biometric data.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::Decision;
use crate::pipeline::policy::{service_decision, MatchThresholds, Outcome};
use crate::pipeline::verify::{QualityConfig, Verification};
use crate::settings::POLICY_VERSION;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ModelId {
    pub name: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Scores {
    /// Cosine similarity of the document and selfie faces (absent when a face is missing).
    pub similarity: Option<f32>,
    /// Passive liveness (video verifications only).
    pub liveness: Option<f32>,
    pub document_face_score: Option<f32>,
    pub selfie_face_score: Option<f32>,
    /// Embedding norms: a quality signal (low for blurred, partial or rotated faces).
    pub document_quality: Option<f32>,
    pub selfie_quality: Option<f32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InputDigests {
    pub document: String,
    pub selfie: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DecisionRecord {
    pub decision: Decision,
    /// The face comparison: `match`, `no_match` or `uncertain`.
    #[schema(value_type = String)]
    pub comparison: Outcome,
    pub reasons: Vec<String>,
    pub scores: Scores,
    pub policy_version: String,
    #[schema(value_type = Object)]
    pub thresholds: MatchThresholds,
    #[schema(value_type = Object)]
    pub quality_gates: QualityConfig,
    pub models: Vec<ModelId>,
    pub lawful_basis: String,
    pub input_digests: InputDigests,
    /// Clockwise degrees the document image was turned to make its portrait upright.
    pub document_rotation: Option<u16>,
    pub decided_at: String,
    pub retention_until: String,
    /// The review case opened when the decision is `referred`.
    pub review_case_id: Option<String>,
}

/// Builds the record of one evaluated verification (pure).
#[allow(clippy::too_many_arguments)]
pub fn build_record(
    v: &Verification,
    quality: &QualityConfig,
    models: &[(String, String)],
    lawful_basis: &str,
    digests: InputDigests,
    decided_at: String,
    retention_until: String,
    review_case_id: impl FnOnce(Decision) -> Option<String>,
) -> DecisionRecord {
    let decision = service_decision(v.outcome, &v.reasons);
    DecisionRecord {
        decision,
        comparison: v.outcome,
        reasons: v.reasons.clone(),
        scores: Scores {
            similarity: v.similarity,
            liveness: None,
            document_face_score: v.document.score,
            selfie_face_score: v.selfie.score,
            document_quality: v.document.norm,
            selfie_quality: v.selfie.norm,
        },
        policy_version: POLICY_VERSION.into(),
        thresholds: v.thresholds,
        quality_gates: *quality,
        models: models
            .iter()
            .map(|(name, sha256)| ModelId {
                name: name.clone(),
                sha256: sha256.clone(),
            })
            .collect(),
        lawful_basis: lawful_basis.into(),
        input_digests: digests,
        document_rotation: v.document.rotation,
        decided_at,
        retention_until,
        review_case_id: review_case_id(decision),
    }
}
