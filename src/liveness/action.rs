//! The actions a liveness challenge may ask for.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One thing the applicant is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Close both eyes briefly.
    Blink,
    /// Turn the head to the applicant's own left.
    TurnLeft,
    /// Turn the head to the applicant's own right.
    TurnRight,
}

crate::domain::enum_names!(Action {
    Blink => "blink",
    TurnLeft => "turn_left",
    TurnRight => "turn_right",
});

impl FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::parse(s.trim()).ok_or_else(|| {
            format!(
                "unknown action `{}` (expected blink, turn_left or turn_right)",
                s.trim()
            )
        })
    }
}
