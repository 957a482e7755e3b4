//! The use cases, one module per aggregate, shared by every front end (the API, the reviewer console,
//! the capture page, the command line): each takes the application state and plain values, checks
//! what must be checked (consent, roles' organisations, states), runs the pipeline under admission,
//! and records decisions with their audit entries. Nothing here knows HTTP.

pub mod admission;
pub mod auth_failures;
pub mod caller;
pub mod capture_links;
pub mod challenges;
pub mod checkpoints;
pub mod consents;
pub mod declared;
pub mod delivery;
pub mod error;
pub mod invigilation;
pub mod jobs;
pub mod process;
pub mod rate_limit;
pub mod record;
pub mod retention;
pub mod review_queue;
pub mod review_views;
pub mod reviewers;
pub mod reviews;
pub mod state;
pub mod subjects;
pub mod verifications;
pub mod webhooks;

use self::error::{ApiError, ErrorCode};

/// A required text field: trimmed, non-empty, at most `max` characters, no control characters.
pub fn bounded_text(name: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(ApiError::detail(
            ErrorCode::InvalidField,
            format!("`{name}` is required"),
        ));
    }
    if v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(ApiError::detail(
            ErrorCode::InvalidField,
            format!("`{name}` must be at most {max} printable characters"),
        ));
    }
    Ok(v.to_string())
}
