//! Active-liveness challenges: a random sequence of 2–3 actions the applicant performs in front of the
//! camera, in order. Generation is pure given a random source; storing a challenge, expiring it and using
//! it once are the service's job.

use std::str::FromStr;

use rand::seq::IndexedRandom;
use rand::{Rng, RngCore};
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

/// Parses `blink,turn_left` into actions; 1 to 3 actions.
pub fn parse_actions(text: &str) -> Result<Vec<Action>, String> {
    let actions = text
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(Action::from_str)
        .collect::<Result<Vec<_>, _>>()?;
    if actions.is_empty() || actions.len() > 3 {
        return Err(format!(
            "a challenge has 1 to 3 actions, got {}",
            actions.len()
        ));
    }
    Ok(actions)
}

/// A challenge as issued. Unix seconds, so it is plain data to store and compare.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    /// Identifies the challenge (128 random bits, hex).
    pub id: String,
    /// Bound into the capture so a recording made for one challenge cannot answer another (128 bits, hex).
    pub nonce: String,
    pub actions: Vec<Action>,
    pub issued_at: u64,
    pub expires_at: u64,
}

impl Challenge {
    /// A fresh challenge: 2 or 3 actions drawn at random, never the same action twice in a row (a
    /// "blink, blink" is hard to perform distinctly and to tell apart).
    pub fn generate(rng: &mut impl RngCore, now_unix: u64, valid_for_s: u64) -> Challenge {
        let count = rng.random_range(2..=3);
        let mut actions: Vec<Action> = Vec::with_capacity(count);
        while actions.len() < count {
            let next = *Action::ALL.choose(rng).expect("non-empty");
            if actions.last() != Some(&next) {
                actions.push(next);
            }
        }
        let mut token = || {
            let mut bytes = [0u8; 16];
            rng.fill_bytes(&mut bytes);
            hex::encode(bytes)
        };
        Challenge {
            id: token(),
            nonce: token(),
            actions,
            issued_at: now_unix,
            expires_at: now_unix.saturating_add(valid_for_s),
        }
    }

    pub fn is_expired(&self, now_unix: u64) -> bool {
        now_unix >= self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn generated_challenges_have_two_or_three_distinct_consecutive_actions() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut lengths = [0usize; 4];
        let (mut ids, mut sequences) = (
            std::collections::HashSet::new(),
            std::collections::HashSet::new(),
        );
        for _ in 0..500 {
            let c = Challenge::generate(&mut rng, 1_000, 120);
            lengths[c.actions.len()] += 1;
            assert!(
                c.actions.windows(2).all(|w| w[0] != w[1]),
                "{:?}",
                c.actions
            );
            assert_eq!((c.id.len(), c.nonce.len()), (32, 32));
            assert_ne!(c.id, c.nonce);
            assert!(ids.insert(c.id.clone()), "ids repeat");
            assert_eq!(c.expires_at, 1_120);
            sequences.insert(
                c.actions
                    .iter()
                    .map(|a| a.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            );
        }
        assert_eq!(lengths[0] + lengths[1], 0);
        assert!(lengths[2] > 100 && lengths[3] > 100, "{lengths:?}");
        // Every ordered pair of different actions shows up.
        for a in Action::ALL {
            for b in Action::ALL.into_iter().filter(|b| *b != a) {
                assert!(
                    sequences.contains(&format!("{a},{b}")),
                    "{a},{b} never issued"
                );
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_challenge_and_expiry_is_inclusive() {
        let a = Challenge::generate(&mut StdRng::seed_from_u64(1), 50, 10);
        let b = Challenge::generate(&mut StdRng::seed_from_u64(1), 50, 10);
        assert_eq!(a, b);
        assert!(!a.is_expired(59));
        assert!(a.is_expired(60));
    }

    #[test]
    fn actions_parse_from_the_command_line_form() {
        assert_eq!(
            parse_actions("blink, turn_left").unwrap(),
            vec![Action::Blink, Action::TurnLeft]
        );
        assert!(parse_actions("nod").unwrap_err().contains("nod"));
        assert!(parse_actions("").is_err());
        assert!(parse_actions("blink,turn_left,turn_right,blink").is_err());
    }
}
