//! The applicant's declared identity (what they typed into the card application): checked when it
//! arrives, sealed under the subject's data key on a capture link, opened again for the verification
//! and the subject's export. Personal data: never logged.

use super::error::{ApiError, ErrorCode};
use crate::document::identity::DeclaredIdentity;
use crate::store::CaptureLinkRow;
use crate::vault::SubjectKey;

/// What a link's sealed declared identity is bound to: its own link.
fn declared_context(link_id: &str) -> String {
    format!("capture_link.declared\n{link_id}")
}

/// A link's declared identity, sealed under its subject's key for the link's row.
pub fn seal_declared_on_link(subject: &SubjectKey, link_id: &str, d: &DeclaredIdentity) -> Vec<u8> {
    let json = serde_json::to_vec(d).expect("serialisable");
    subject.seal(&declared_context(link_id), &json)
}

/// A declared identity as the API received it, checked (pure).
pub fn checked_declared(
    declared: Option<DeclaredIdentity>,
) -> Result<Option<DeclaredIdentity>, ApiError> {
    if let Some(d) = &declared {
        d.validate()
            .map_err(|m| ApiError::detail(ErrorCode::InvalidField, format!("declared: {m}")))?;
    }
    Ok(declared)
}

/// The identity declared with a link, opened with its subject's key (None when the link has none).
pub fn declared_of_link(
    link: &CaptureLinkRow,
    subject: &SubjectKey,
) -> Result<Option<DeclaredIdentity>, ApiError> {
    let Some(sealed) = &link.declared_sealed else {
        return Ok(None);
    };
    if link.declared_key_id.as_deref() != Some(subject.key_id.as_str()) {
        return Ok(None); // sealed under an erased key: unreadable by design
    }
    let plain = subject.open(&declared_context(&link.id), sealed)?;
    serde_json::from_slice(&plain)
        .map(Some)
        .map_err(ApiError::internal)
}
