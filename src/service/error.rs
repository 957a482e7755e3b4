//! One table of error codes: what every use case returns when a request cannot be evaluated, with the
//! HTTP status the front ends answer it with (`http::error` renders it as `application/problem+json`,
//! the console and capture page as pages). Outcomes ("no match", "referred") are not errors.

use ::http::StatusCode;

use crate::media::image::ImageError;
use crate::media::video::VideoError;

macro_rules! error_codes {
    ($($variant:ident => ($status:expr, $code:literal, $title:literal)),+ $(,)?) => {
        /// Every error the API can return. The `code` string is stable: clients may branch on it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode { $($variant),+ }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];
            pub fn status(self) -> StatusCode { match self { $(ErrorCode::$variant => $status),+ } }
            pub fn code(self) -> &'static str { match self { $(ErrorCode::$variant => $code),+ } }
            pub fn title(self) -> &'static str { match self { $(ErrorCode::$variant => $title),+ } }
        }
    };
}

error_codes! {
    Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated", "A valid API key is required (Authorization: Bearer KEY)"),
    Forbidden => (StatusCode::FORBIDDEN, "forbidden_role", "This API key's role may not do this"),
    NotFound => (StatusCode::NOT_FOUND, "not_found", "No such resource in your organisation"),
    MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "This resource does not take this method (see the Allow header)"),
    HeaderTooLarge => (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "header_too_large", "The request's headers are too large or too many"),
    RequestTimeout => (StatusCode::REQUEST_TIMEOUT, "request_timeout", "The request was not received and answered in time"),
    InvalidRequest => (StatusCode::BAD_REQUEST, "invalid_request", "The request is malformed"),
    InvalidField => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", "A field is missing or has an invalid value"),
    UnsupportedMediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "Wrong Content-Type for this endpoint"),
    MalformedMultipart => (StatusCode::BAD_REQUEST, "malformed_multipart", "The multipart body cannot be parsed"),
    MultipartDuplicatePart => (StatusCode::BAD_REQUEST, "multipart_duplicate_part", "A part was sent more than once"),
    PartTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "part_too_large", "A file part exceeds its size limit"),
    BodyTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", "The request body exceeds the size limit"),
    ConsentRequired => (StatusCode::UNPROCESSABLE_ENTITY, "consent_required", "A consent_ref is required before any biometric processing"),
    ConsentNotFound => (StatusCode::UNPROCESSABLE_ENTITY, "consent_not_found", "The consent_ref is unknown in your organisation"),
    ConsentWithdrawn => (StatusCode::UNPROCESSABLE_ENTITY, "consent_withdrawn", "The consent has been withdrawn"),
    ConsentPurposeMismatch => (StatusCode::UNPROCESSABLE_ENTITY, "consent_purpose_mismatch", "The consent was given for another purpose"),
    ConsentSubjectMismatch => (StatusCode::UNPROCESSABLE_ENTITY, "consent_subject_mismatch", "The consent belongs to another subject"),
    ConsentAlreadyWithdrawn => (StatusCode::CONFLICT, "consent_already_withdrawn", "The consent was already withdrawn"),
    ProcessingRestricted => (StatusCode::CONFLICT, "processing_restricted", "Processing of this subject's data is restricted; nothing was stored"),
    SubjectErased => (StatusCode::GONE, "subject_erased", "The subject's data was erased"),
    ReferenceNotVerified => (StatusCode::UNPROCESSABLE_ENTITY, "reference_not_verified", "The reference must be a verified decision (or a confirmed match) of this subject"),
    ReferenceExpired => (StatusCode::UNPROCESSABLE_ENTITY, "reference_expired", "The reference's face template is no longer held"),
    SessionClosed => (StatusCode::CONFLICT, "session_closed", "The invigilation session is closed"),
    SessionBusy => (StatusCode::CONFLICT, "session_busy", "Another frame of this session is being recorded; retry"),
    ReviewAlreadyResolved => (StatusCode::CONFLICT, "review_already_resolved", "This review case is already resolved"),
    OwnSubmission => (StatusCode::FORBIDDEN, "separation_of_duties", "Whoever submitted a verification may not resolve its case or confirm it as a reference"),
    RestrictionUnchanged => (StatusCode::CONFLICT, "restriction_unchanged", "The subject is already restricted (or already not restricted)"),
    IdempotencyKeyReused => (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused", "This Idempotency-Key was used for a different request"),
    IdempotencyConflict => (StatusCode::CONFLICT, "idempotency_conflict", "A request with this Idempotency-Key is being processed"),
    ImageEmpty => (StatusCode::UNPROCESSABLE_ENTITY, "image_empty", "An image is empty"),
    ImageTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "image_too_large", "An image exceeds the byte limit"),
    ImageTooManyPixels => (StatusCode::UNPROCESSABLE_ENTITY, "image_too_many_pixels", "An image has too many pixels"),
    ImageSideTooLong => (StatusCode::UNPROCESSABLE_ENTITY, "image_side_too_long", "An image side exceeds the limit"),
    ImageUnsupportedFormat => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "image_unsupported_format", "Images must be JPEG, PNG or WebP"),
    ImageUnsupportedEncoding => (StatusCode::UNPROCESSABLE_ENTITY, "image_unsupported_encoding", "The image uses an unsupported encoding"),
    ImageDecodeLimitExceeded => (StatusCode::UNPROCESSABLE_ENTITY, "image_decode_limit_exceeded", "The image needs too much memory to decode"),
    ImageCorrupt => (StatusCode::UNPROCESSABLE_ENTITY, "image_corrupt", "An image is truncated or damaged"),
    VideoEmpty => (StatusCode::UNPROCESSABLE_ENTITY, "video_empty", "The video is empty"),
    VideoTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "video_too_large", "The video exceeds the byte limit"),
    VideoTooLong => (StatusCode::UNPROCESSABLE_ENTITY, "video_too_long", "The video exceeds the duration limit"),
    VideoResolutionTooHigh => (StatusCode::UNPROCESSABLE_ENTITY, "video_resolution_too_high", "The video's picture exceeds the size limit"),
    VideoUnsupported => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "video_unsupported", "Videos must be MP4 (H.264) or WebM (VP8, VP9)"),
    VideoCorrupt => (StatusCode::UNPROCESSABLE_ENTITY, "video_corrupt", "The video is truncated or damaged"),
    VideoDecodeTimeout => (StatusCode::UNPROCESSABLE_ENTITY, "video_decode_timeout", "The video took too long to decode"),
    ChallengeRequired => (StatusCode::UNPROCESSABLE_ENTITY, "challenge_required", "A video verification must answer a challenge: send the challenge_id from POST /v1/challenges"),
    ChallengeInvalid => (StatusCode::UNPROCESSABLE_ENTITY, "challenge_invalid", "The challenge is unknown, already used or expired; request a new one"),
    CaptureLinkNotFound => (StatusCode::NOT_FOUND, "capture_link_not_found", "This capture link does not exist"),
    CaptureLinkExpired => (StatusCode::GONE, "capture_link_expired", "This capture link has expired"),
    CaptureAttemptsExceeded => (StatusCode::TOO_MANY_REQUESTS, "capture_attempts_exceeded", "This link has been used for too many recording attempts; ask for a new link"),
    NoticeChanged => (StatusCode::CONFLICT, "notice_changed", "The privacy notice changed since the page was loaded; reload it"),
    CaptureLinkUsed => (StatusCode::GONE, "capture_link_used", "This capture link has already been used"),
    WebhookUrlRefused => (StatusCode::UNPROCESSABLE_ENTITY, "webhook_url_refused", "The webhook URL is not allowed: https only, to a public address (SECURITY.md)"),
    WebhookLimitReached => (StatusCode::CONFLICT, "webhook_limit_reached", "Your organisation has as many webhook endpoints as allowed; remove one first"),
    RateLimited => (StatusCode::TOO_MANY_REQUESTS, "rate_limited", "Too many requests for this API key"),
    AuthThrottled => (StatusCode::TOO_MANY_REQUESTS, "auth_throttled", "Too many failed authentications from this address; retry after the Retry-After delay"),
    Overloaded => (StatusCode::TOO_MANY_REQUESTS, "overloaded", "The service is at capacity; retry later"),
    Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", "The service is not ready"),
    Timeout => (StatusCode::SERVICE_UNAVAILABLE, "timeout", "The request took too long; retry later"),
    Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error"),
}

impl ErrorCode {
    /// The code of an error answered by a layer that only gave a status (the router's 405, a body
    /// limit's 413, a time limit's 408, a rejection of axum's): the closest code with that status.
    pub fn for_status(status: StatusCode) -> ErrorCode {
        match status {
            StatusCode::UNAUTHORIZED => ErrorCode::Unauthenticated,
            StatusCode::FORBIDDEN => ErrorCode::Forbidden,
            StatusCode::NOT_FOUND => ErrorCode::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
            StatusCode::REQUEST_TIMEOUT => ErrorCode::RequestTimeout,
            StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::BodyTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
            StatusCode::UNPROCESSABLE_ENTITY => ErrorCode::InvalidField,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => ErrorCode::HeaderTooLarge,
            StatusCode::TOO_MANY_REQUESTS => ErrorCode::Overloaded,
            StatusCode::SERVICE_UNAVAILABLE => ErrorCode::Unavailable,
            s if s.is_server_error() => ErrorCode::Internal,
            _ => ErrorCode::InvalidRequest,
        }
    }
}

/// An error response. `detail` must never contain biometric data or a subject reference.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub detail: Option<String>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode) -> Self {
        ApiError {
            code,
            detail: None,
            retry_after: None,
        }
    }
    pub fn detail(code: ErrorCode, detail: impl Into<String>) -> Self {
        ApiError {
            code,
            detail: Some(detail.into()),
            retry_after: None,
        }
    }
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
    /// A failure of ours: logged with its cause, answered without it.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        ApiError::new(ErrorCode::Internal)
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::internal(e)
    }
}

impl From<crate::vault::VaultError> for ApiError {
    fn from(e: crate::vault::VaultError) -> Self {
        ApiError::internal(e)
    }
}

impl From<VideoError> for ApiError {
    fn from(e: VideoError) -> Self {
        let code = match e {
            VideoError::Empty => ErrorCode::VideoEmpty,
            VideoError::TooLarge { .. } => ErrorCode::VideoTooLarge,
            VideoError::TooLong { .. } => ErrorCode::VideoTooLong,
            VideoError::ResolutionTooHigh { .. } => ErrorCode::VideoResolutionTooHigh,
            VideoError::Unsupported(_) => ErrorCode::VideoUnsupported,
            VideoError::Corrupt(_) => ErrorCode::VideoCorrupt,
            VideoError::Timeout(_) => ErrorCode::VideoDecodeTimeout,
        };
        ApiError::detail(code, e.to_string())
    }
}

impl From<ImageError> for ApiError {
    fn from(e: ImageError) -> Self {
        let code = match e {
            ImageError::Empty => ErrorCode::ImageEmpty,
            ImageError::TooLarge { .. } => ErrorCode::ImageTooLarge,
            ImageError::UnsupportedFormat { .. } => ErrorCode::ImageUnsupportedFormat,
            ImageError::TooManyPixels { .. } => ErrorCode::ImageTooManyPixels,
            ImageError::SideTooLong { .. } => ErrorCode::ImageSideTooLong,
            ImageError::UnsupportedEncoding { .. } => ErrorCode::ImageUnsupportedEncoding,
            ImageError::DecodeLimitExceeded { .. } => ErrorCode::ImageDecodeLimitExceeded,
            ImageError::Corrupt { .. } => ErrorCode::ImageCorrupt,
        };
        ApiError::detail(code, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_image_codes_match_the_decoder() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.code()), "duplicate {}", c.code());
            assert!(c
                .code()
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch == '_'));
        }
        let e = ImageError::Empty;
        assert_eq!(ApiError::from(e).code.code(), "image_empty");
    }

    #[test]
    fn a_bare_status_maps_to_a_code_of_that_status() {
        // The statuses that axum, tower-http and our own layers answer without a code.
        for status in [
            400, 401, 403, 404, 405, 408, 413, 415, 422, 429, 431, 500, 503,
        ] {
            let status = StatusCode::from_u16(status).unwrap();
            assert_eq!(ErrorCode::for_status(status).status(), status);
        }
        assert_eq!(
            ErrorCode::for_status(StatusCode::METHOD_NOT_ALLOWED).code(),
            "method_not_allowed"
        );
        assert_eq!(
            ErrorCode::for_status(StatusCode::IM_A_TEAPOT),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            ErrorCode::for_status(StatusCode::BAD_GATEWAY),
            ErrorCode::Internal
        );
    }

    #[test]
    fn every_video_error_has_its_own_code_in_the_table() {
        use VideoError as V;
        let errors = [
            V::Empty,
            V::TooLarge { bytes: 2, limit: 1 },
            V::TooLong {
                seconds: 20.0,
                limit: 15.0,
            },
            V::ResolutionTooHigh {
                width: 4000,
                height: 3000,
                long: 1920,
                short: 1080,
            },
            V::Unsupported("an AVI file".into()),
            V::Corrupt("no frames".into()),
            V::Timeout(30.0),
        ];
        for e in errors {
            let code = e.code();
            assert_eq!(ApiError::from(e).code.code(), code);
        }
    }
}
