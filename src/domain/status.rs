//! The states and kinds of stored things, each the exact text of its database column (`status`,
//! `kind`, `class`), so code compares variants instead of string literals.

string_enum! {
    /// A consent's life (`consents.status`).
    ConsentStatus {
        /// Processing may rely on it.
        Active => "active",
        /// The subject withdrew it; nothing more is processed under it.
        Withdrawn => "withdrawn",
        /// The subject was erased; only the fact of the consent remains.
        Erased => "erased",
    }
}

string_enum! {
    /// Where a verification is (`verifications.status`).
    VerificationStatus {
        /// Accepted, waiting for its job.
        Pending => "pending",
        /// Decided: the record holds the decision.
        Decided => "decided",
        /// Could not be evaluated; `error_code` says why.
        Failed => "failed",
        /// Its subject was erased; the record is reduced.
        Erased => "erased",
    }
}

string_enum! {
    /// What a sealed item is (`media.kind`).
    MediaKind {
        Document => "document",
        Selfie => "selfie",
        Video => "video",
        DocumentEmbedding => "document_embedding",
        SelfieEmbedding => "selfie_embedding",
        /// A webcam frame kept as evidence of an invigilation anomaly.
        InvigilationFrame => "invigilation_frame",
        /// What the applicant declared (surname, given names, date of birth), as JSON.
        DeclaredIdentity => "declared_identity",
        /// What was read from the document's machine-readable zone (its lines and fields), as JSON.
        DocumentData => "document_data",
    }
}

string_enum! {
    /// Which retention period applies to a sealed item (`media.class`).
    MediaClass {
        /// Images and videos, and the identity data declared for or read from the document (kept with
        /// the document image it belongs to).
        Media => "media",
        /// Face embeddings.
        Embedding => "embedding",
    }
}

impl MediaKind {
    /// The retention class of an item of this kind: embeddings are kept for their own period.
    pub fn class(self) -> MediaClass {
        match self {
            MediaKind::DocumentEmbedding | MediaKind::SelfieEmbedding => MediaClass::Embedding,
            MediaKind::Document
            | MediaKind::Selfie
            | MediaKind::Video
            | MediaKind::InvigilationFrame
            | MediaKind::DeclaredIdentity
            | MediaKind::DocumentData => MediaClass::Media,
        }
    }

    /// Whether the item is JSON (identity data) rather than a file or an embedding.
    pub fn is_json(self) -> bool {
        matches!(self, MediaKind::DeclaredIdentity | MediaKind::DocumentData)
    }
}

string_enum! {
    /// A review case's state (`review_cases.status`).
    ReviewStatus {
        /// Waiting for a reviewer.
        Open => "open",
        /// A reviewer recorded an outcome.
        Resolved => "resolved",
    }
}

string_enum! {
    /// Why a review case exists (`review_cases.kind`).
    ReviewKind {
        /// The machine could not settle it.
        Referred => "referred",
        /// A verified decision drawn for quality control.
        Sample => "sample",
        /// A sustained anomaly in a remote-invigilation session.
        Invigilation => "invigilation",
    }
}

string_enum! {
    /// A remote-invigilation session's state (`invigilation_sessions.status`).
    SessionStatus {
        /// Frames are checked against its template.
        Open => "open",
        /// Ended: summary stored, template dropped.
        Closed => "closed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeddings_have_their_own_retention_class() {
        let embeddings: Vec<MediaKind> = MediaKind::ALL
            .iter()
            .copied()
            .filter(|k| k.class() == MediaClass::Embedding)
            .collect();
        assert_eq!(
            embeddings,
            [MediaKind::DocumentEmbedding, MediaKind::SelfieEmbedding]
        );
        // The rule the service applied before the kinds were types: the `_embedding` suffix.
        for k in MediaKind::ALL {
            assert_eq!(
                k.class() == MediaClass::Embedding,
                k.as_str().ends_with("_embedding")
            );
        }
    }

    #[test]
    fn states_keep_their_stored_text() {
        assert_eq!(VerificationStatus::Pending.as_str(), "pending");
        assert_eq!(
            ReviewStatus::parse("resolved"),
            Some(ReviewStatus::Resolved)
        );
        assert_eq!(SessionStatus::parse("paused"), None);
        assert_eq!(
            serde_json::to_string(&ConsentStatus::Withdrawn).unwrap(),
            "\"withdrawn\""
        );
    }
}
