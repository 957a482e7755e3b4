//! `POST /v1/challenges`: a random schedule of liveness actions (each with the moment it is prompted),
//! stored server-side, usable once and only until it expires. The video verification that answers it names it by `challenge_id`.

use serde::Serialize;
use utoipa::ToSchema;

use super::caller::Caller;
use super::error::ApiError;
use super::state::AppState;
use crate::domain::clock::rfc3339;
use crate::domain::Role;
use crate::liveness::challenge::Challenge;
use crate::liveness::ScheduledAction;
use crate::store::ChallengeRow;

#[derive(Serialize, ToSchema)]
pub struct ChallengeView {
    pub challenge_id: String,
    /// Actions to perform in this order: `blink`, `turn_left`, `turn_right` (the person's own
    /// left/right), each with `at_s`, when to prompt it in seconds from the recording's first frame.
    /// An action counts when it begins within `window_s` after its prompt, and not before.
    pub actions: Vec<ScheduledAction>,
    /// Seconds after its prompt within which each action must begin.
    pub window_s: f64,
    /// How long to record: until the last window closes, and half a second more.
    pub recording_s: f64,
    /// Binds the recording to this challenge.
    pub nonce: String,
    pub expires_at: String,
}

/// A challenge for the next video capture sent through the API.
pub async fn create(state: &AppState, caller: &Caller) -> Result<ChallengeView, ApiError> {
    caller.require(&[Role::Submitter])?;
    issue(state, &caller.org, None).await
}

/// Issues and stores a challenge for `org`: the API's, or a capture page's (`capture_link`), which
/// only that link's submission may answer.
pub async fn issue(
    state: &AppState,
    org: &str,
    capture_link: Option<&str>,
) -> Result<ChallengeView, ApiError> {
    let now = state.clock.now_ms();
    let ttl = state.settings.service.challenge_ttl_secs;
    let challenge = Challenge::generate(
        &mut rand::rng(),
        (now / 1000) as u64,
        ttl,
        &state.settings.challenge,
    );
    let schedule = challenge.schedule;
    let row = ChallengeRow {
        id: format!("chl_{}", challenge.id),
        org: org.to_string(),
        nonce: challenge.nonce.clone(),
        actions: schedule.to_stored(),
        created_at: now,
        expires_at: now + ttl as i64 * 1000,
        capture_link_id: capture_link.map(str::to_string),
    };
    state.store.create_challenge(&row).await?;
    Ok(ChallengeView {
        challenge_id: row.id,
        recording_s: schedule.recording_s().expect("an issued schedule is timed"),
        window_s: schedule.window_s,
        actions: schedule.actions,
        nonce: row.nonce,
        expires_at: rfc3339(row.expires_at),
    })
}
