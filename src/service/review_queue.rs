//! The reviewer's queue: the open cases of their organisation, oldest first, each with why it is there
//! (every reason, including the comparison's `no_match` or `uncertain`), its similarity, purpose and
//! external reference; filtered by purpose and by reason; and the next case to open after one is
//! resolved. Reads only the decision records, never an image: listing is not an audited view.

use super::caller::Caller;
use super::error::ApiError;
use super::record::DecisionRecord;
use super::state::AppState;
use crate::domain::{Purpose, ReviewStatus, Role};

/// At most this many open cases are listed (oldest first).
const QUEUE_LIMIT: i64 = 200;

/// One open case as the queue shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueItem {
    pub id: String,
    pub purpose: String,
    /// `referred`, `sample` or `invigilation`.
    pub kind: String,
    /// Why the case is here: its reason codes, never empty.
    pub reasons: Vec<String>,
    pub similarity: Option<f32>,
    pub external_ref: Option<String>,
    /// When the case was opened, in ms since the epoch.
    pub created_at_ms: i64,
}

/// What the queue is narrowed to.
#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    pub purpose: Option<Purpose>,
    /// Only cases with this reason code.
    pub reason: Option<String>,
}

/// Why a case is in the queue (pure): its reasons, with the comparison's outcome first when it is
/// `no_match` or `uncertain` and not already among them; `kind` when there is nothing else to say.
pub fn why(case_reasons: &[String], comparison: Option<&str>, kind: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(c) = comparison.filter(|c| ["no_match", "uncertain"].contains(c)) {
        if !case_reasons.iter().any(|r| r == c) {
            out.push(c.to_string());
        }
    }
    out.extend(case_reasons.iter().cloned());
    if out.is_empty() {
        out.push(kind.to_string());
    }
    out
}

/// The queue: its cases, and every reason among the open cases of the purpose (to filter by).
#[derive(Debug, Clone, Default)]
pub struct Queue {
    pub items: Vec<QueueItem>,
    /// Each reason code of the open cases (of the purpose filtered by), in order of first sight.
    pub reasons: Vec<String>,
}

/// The open cases of the caller's organisation, oldest first, narrowed by `filter`.
pub async fn queue(
    state: &AppState,
    caller: &Caller,
    filter: &QueueFilter,
) -> Result<Queue, ApiError> {
    caller.require(&[Role::Reviewer, Role::Auditor])?;
    let rows = state
        .store
        .list_reviews(
            &caller.org,
            ReviewStatus::Open,
            filter.purpose.map(|p| p.as_str()),
            QUEUE_LIMIT,
        )
        .await?;
    let mut queue = Queue::default();
    for case in rows {
        let verification = state
            .store
            .get_verification(&caller.org, &case.verification_id)
            .await?;
        let record: Option<DecisionRecord> = verification
            .as_ref()
            .and_then(|v| v.record.as_deref())
            .and_then(|r| serde_json::from_str(r).ok());
        let case_reasons: Vec<String> = serde_json::from_str(&case.reasons).unwrap_or_default();
        let kind = case.kind.to_string();
        let reasons = why(
            &case_reasons,
            record.as_ref().map(|r| r.comparison.as_str()),
            &kind,
        );
        for r in &reasons {
            if !queue.reasons.contains(r) {
                queue.reasons.push(r.clone());
            }
        }
        if filter.reason.as_ref().is_some_and(|w| !reasons.contains(w)) {
            continue;
        }
        queue.items.push(QueueItem {
            id: case.id,
            purpose: case.purpose,
            kind,
            reasons,
            similarity: record.as_ref().and_then(|r| r.scores.similarity),
            external_ref: verification.and_then(|v| v.external_ref),
            created_at_ms: case.created_at,
        });
    }
    Ok(queue)
}

/// The oldest open case other than `after`, for "resolve and open next".
pub async fn next_open(
    state: &AppState,
    caller: &Caller,
    after: &str,
) -> Result<Option<String>, ApiError> {
    caller.require(&[Role::Reviewer])?;
    let rows = state
        .store
        .list_reviews(&caller.org, ReviewStatus::Open, None, 2)
        .await?;
    Ok(rows.into_iter().map(|r| r.id).find(|id| id != after))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_case_always_says_why_it_is_here() {
        // A no_match whose case carries no reason of its own: the comparison says why.
        assert_eq!(why(&[], Some("no_match"), "referred"), v(&["no_match"]));
        assert_eq!(
            why(&v(&["selfie_blurry"]), Some("uncertain"), "referred"),
            v(&["uncertain", "selfie_blurry"])
        );
        assert_eq!(
            why(&v(&["uncertain"]), Some("uncertain"), "referred"),
            v(&["uncertain"])
        );
        // A match referred for liveness: its reasons only.
        assert_eq!(
            why(&v(&["challenge_not_performed"]), Some("match"), "referred"),
            v(&["challenge_not_performed"])
        );
        assert_eq!(
            why(&v(&["quality_control_sample"]), Some("match"), "sample"),
            v(&["quality_control_sample"])
        );
        assert_eq!(why(&[], None, "invigilation"), v(&["invigilation"]));
    }
}
