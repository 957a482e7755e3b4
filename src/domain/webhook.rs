//! Webhooks, the pure parts: the events an organisation can subscribe to, which audit entry announces
//! which event and with what data (ids, statuses, outcomes and reason codes only: never images,
//! embeddings, subject references or free text), the message body, and the Standard Webhooks signature
//! (<https://www.standardwebhooks.com/>: `v1,` + base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`, keyed
//! with the bytes of the `whsec_` secret).

use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::enum_names;

/// The events a webhook endpoint can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebhookEvent {
    VerificationDecided,
    VerificationFailed,
    ReviewResolved,
    CaptureLinkSubmitted,
    ConsentWithdrawn,
    SubjectErased,
    InvigilationFlagged,
}

enum_names!(WebhookEvent {
    VerificationDecided => "verification.decided",
    VerificationFailed => "verification.failed",
    ReviewResolved => "review.resolved",
    CaptureLinkSubmitted => "capture_link.submitted",
    ConsentWithdrawn => "consent.withdrawn",
    SubjectErased => "subject.erased",
    InvigilationFlagged => "invigilation.flagged",
});

/// The prefix of a signing secret, as Standard Webhooks writes it.
pub const SECRET_PREFIX: &str = "whsec_";

/// Copies the named fields of `details` that are present (and not null) into `out`.
fn pick(out: &mut Map<String, Value>, details: &Value, fields: &[&str]) {
    for f in fields {
        if let Some(v) = details.get(*f).filter(|v| !v.is_null()) {
            out.insert((*f).to_string(), v.clone());
        }
    }
}

/// The event an audit entry announces, with its data; `None` for entries that announce nothing.
/// Built from a list of fields per event, so nothing the audit entry holds besides them (the subject
/// digest, free-text reasons, input digests, scores) can reach a receiver.
pub fn announced(
    audit_event: &str,
    entity: &str,
    details: &Value,
) -> Option<(WebhookEvent, Value)> {
    let mut data = Map::new();
    let event = match audit_event {
        "verification.decided" => {
            data.insert("verification_id".into(), json!(entity));
            data.insert("status".into(), json!("decided"));
            pick(
                &mut data,
                details,
                &[
                    "decision",
                    "comparison",
                    "reasons",
                    "review_case_id",
                    "consent_ref",
                    "policy_version",
                ],
            );
            if let Some(verdict) = details
                .pointer("/liveness/verdict")
                .filter(|v| !v.is_null())
            {
                data.insert("liveness_verdict".into(), verdict.clone());
            }
            WebhookEvent::VerificationDecided
        }
        "verification.failed" => {
            data.insert("verification_id".into(), json!(entity));
            data.insert("status".into(), json!("failed"));
            if let Some(code) = details.get("code") {
                data.insert("error_code".into(), code.clone());
            }
            WebhookEvent::VerificationFailed
        }
        // A submission through a capture link is announced when it is accepted (sync or async).
        "verification.requested" => {
            let link = details.get("capture_link").filter(|v| v.is_string())?;
            data.insert("capture_link_id".into(), link.clone());
            data.insert("verification_id".into(), json!(entity));
            pick(&mut data, details, &["mode", "capture"]);
            WebhookEvent::CaptureLinkSubmitted
        }
        "review.resolved" => {
            data.insert("review_case_id".into(), json!(entity));
            pick(
                &mut data,
                details,
                &["outcome", "verification_id", "kind", "automated_decision"],
            );
            WebhookEvent::ReviewResolved
        }
        "consent.withdrawn" => {
            data.insert("consent_ref".into(), json!(entity));
            data.insert("status".into(), json!("withdrawn"));
            pick(&mut data, details, &["purpose"]);
            let purged = details
                .get("purged")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            data.insert("purged".into(), json!(purged));
            WebhookEvent::ConsentWithdrawn
        }
        "subject.erased" => {
            pick(&mut data, details, &["erasure_id"]);
            WebhookEvent::SubjectErased
        }
        "invigilation.flagged" => {
            data.insert("session_id".into(), json!(entity));
            pick(&mut data, details, &["anomaly", "review_case_id"]);
            WebhookEvent::InvigilationFlagged
        }
        _ => return None,
    };
    Some((event, Value::Object(data)))
}

/// The body sent for an event: `{"type", "timestamp", "data"}`, as Standard Webhooks suggests.
pub fn body(event: WebhookEvent, at_rfc3339: &str, data: &Value) -> String {
    json!({"type": event.as_str(), "timestamp": at_rfc3339, "data": data}).to_string()
}

/// A new signing secret: `whsec_` and the base64 of 32 random bytes.
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!(
        "{SECRET_PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// The key bytes of a `whsec_` secret; `None` when it is not one.
pub fn secret_key(secret: &str) -> Option<Vec<u8>> {
    let b64 = secret.strip_prefix(SECRET_PREFIX)?;
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

/// The `webhook-signature` header value for message `id` sent at `timestamp` (Unix seconds).
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let tag = ring::hmac::sign(&key, format!("{id}.{timestamp}.{body}").as_bytes());
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_standard_webhooks_example() {
        // The example in the Standard Webhooks specification (and its reference libraries' tests).
        let key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_are_whsec_and_32_random_bytes() {
        let a = new_secret();
        assert!(a.starts_with("whsec_"));
        assert_eq!(secret_key(&a).unwrap().len(), 32);
        assert_ne!(a, new_secret());
        assert!(secret_key("nope").is_none());
        assert!(secret_key("whsec_!!!").is_none());
    }

    #[test]
    fn every_event_name_parses_back() {
        for e in WebhookEvent::ALL {
            assert_eq!(WebhookEvent::parse(e.as_str()), Some(e));
        }
        assert_eq!(WebhookEvent::parse("verification.requested"), None);
    }

    #[test]
    fn a_decision_announces_ids_outcomes_and_reasons_but_no_scores_or_subject() {
        let details = json!({
            "decision": "referred", "comparison": "match", "reasons": ["liveness_failed"],
            "similarity": 0.71, "policy_version": "p1", "consent_ref": "cns_1",
            "review_case_id": "rev_1", "liveness": {"verdict": "fail", "challenge_id": "chl_1"},
        });
        let (event, data) = announced("verification.decided", "ver_1", &details).unwrap();
        assert_eq!(event, WebhookEvent::VerificationDecided);
        assert_eq!(
            data,
            json!({"verification_id": "ver_1", "status": "decided", "decision": "referred",
                   "comparison": "match", "reasons": ["liveness_failed"], "review_case_id": "rev_1",
                   "consent_ref": "cns_1", "policy_version": "p1", "liveness_verdict": "fail"})
        );
    }

    #[test]
    fn free_text_and_digests_never_reach_the_data() {
        let (_, erased) = announced(
            "subject.erased",
            "subjectdigest",
            &json!({"erasure_id": "era_1", "reason": "Ms Smith asked by phone"}),
        )
        .unwrap();
        assert_eq!(erased, json!({"erasure_id": "era_1"}));
        let (_, withdrawn) = announced(
            "consent.withdrawn",
            "cns_1",
            &json!({"purpose": "ecs_application", "reason": "free text", "purged": false,
                    "retained_under": [{"consent_ref": "cns_2"}]}),
        )
        .unwrap();
        assert_eq!(
            withdrawn,
            json!({"consent_ref": "cns_1", "status": "withdrawn", "purpose": "ecs_application", "purged": false})
        );
        let requested = json!({"capture_link": null, "input_digests": {"document": "ab"}});
        assert!(announced("verification.requested", "ver_1", &requested).is_none());
        let (event, via_link) = announced(
            "verification.requested",
            "ver_1",
            &json!({"capture_link": "cl_1", "mode": "async", "input_digests": {"document": "ab"}}),
        )
        .unwrap();
        assert_eq!(event, WebhookEvent::CaptureLinkSubmitted);
        assert_eq!(
            via_link,
            json!({"capture_link_id": "cl_1", "verification_id": "ver_1", "mode": "async"})
        );
        assert!(announced("review.media_viewed", "rev_1", &json!({})).is_none());
    }

    #[test]
    fn the_body_names_the_type_and_time() {
        let b: Value = serde_json::from_str(&body(
            WebhookEvent::ReviewResolved,
            "2026-12-01T21:00:00Z",
            &json!({"review_case_id": "rev_1"}),
        ))
        .unwrap();
        assert_eq!(b["type"], "review.resolved");
        assert_eq!(b["timestamp"], "2026-12-01T21:00:00Z");
        assert_eq!(b["data"]["review_case_id"], "rev_1");
    }
}
