//! Multipart bodies of verifications (the API's and the capture page's): read part by part, each part
//! within its limit while it streams in.

use axum::extract::multipart::MultipartError;
use axum::extract::Multipart;
use axum::http::StatusCode;
use bytes::BytesMut;
use sha2::{Digest, Sha256};

use crate::service::error::{ApiError, ErrorCode};
use crate::service::verifications::{Submission, Upload};
use crate::settings::Settings;

/// Text fields are short; anything longer is not a reference.
const MAX_FIELD_BYTES: usize = 1024;

/// Reads the multipart body part by part, enforcing each part's limit while it streams in.
pub async fn read_submission(
    multipart: &mut Multipart,
    settings: &Settings,
) -> Result<Submission, ApiError> {
    let max_file = settings.limits.max_bytes as usize;
    let max_video = settings.video.max_bytes as usize;
    let mut sub = Submission::default();
    // A part sent twice would make "which one was checked" ambiguous (a document checked, another one
    // stored): refused before its body is read.
    let mut seen: Vec<String> = Vec::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(multipart_error(e)),
        };
        let name = field.name().unwrap_or_default().to_string();
        if seen.contains(&name) {
            return Err(ApiError::detail(
                ErrorCode::MultipartDuplicatePart,
                format!("part `{name}` was sent more than once"),
            ));
        }
        seen.push(name.clone());
        let limit = match name.as_str() {
            "document" | "selfie" => max_file,
            "video" => max_video,
            _ => MAX_FIELD_BYTES,
        };
        let mut field = field;
        let mut buf = BytesMut::new();
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => {
                    if buf.len() + chunk.len() > limit {
                        return Err(ApiError::detail(
                            ErrorCode::PartTooLarge,
                            format!("part `{name}` exceeds its limit of {limit} bytes"),
                        ));
                    }
                    buf.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(multipart_error(e)),
            }
        }
        let bytes = buf.freeze();
        let text = || {
            String::from_utf8(bytes.to_vec()).map_err(|_| {
                ApiError::detail(
                    ErrorCode::InvalidField,
                    format!("`{name}` must be UTF-8 text"),
                )
            })
        };
        let upload = || Upload {
            sha256: hex::encode(Sha256::digest(&bytes)),
            bytes: bytes.clone(),
        };
        match name.as_str() {
            "subject_ref" => sub.subject_ref = Some(text()?),
            "consent_ref" => sub.consent_ref = Some(text()?),
            "purpose" => sub.purpose = Some(text()?),
            "external_ref" => sub.external_ref = Some(text()?),
            "challenge_id" => sub.challenge_id = Some(text()?),
            "declared" => {
                sub.declared = Some(serde_json::from_slice(&bytes).map_err(|e| {
                    ApiError::detail(
                        ErrorCode::InvalidField,
                        format!(
                            "`declared` must be JSON {{\"surname\", \"given_names\", \"date_of_birth\": \"YYYY-MM-DD\"}}: {}",
                            json_error_kind(&e)
                        ),
                    )
                })?)
            }
            "document" => sub.document = Some(upload()),
            "selfie" => sub.selfie = Some(upload()),
            "video" => sub.video = Some(upload()),
            other => {
                return Err(ApiError::detail(
                    ErrorCode::InvalidField,
                    format!("unknown part `{other}`"),
                ));
            }
        }
    }
    Ok(sub)
}

/// Where a JSON part went wrong, without echoing its content (it is personal data).
fn json_error_kind(e: &serde_json::Error) -> String {
    match e.classify() {
        serde_json::error::Category::Data => {
            format!("a field is missing or wrong (column {})", e.column())
        }
        _ => format!("not valid JSON (column {})", e.column()),
    }
}

fn multipart_error(e: MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(ErrorCode::BodyTooLarge)
    } else {
        ApiError::detail(ErrorCode::MalformedMultipart, e.body_text())
    }
}
