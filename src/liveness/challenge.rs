//! Active-liveness challenges: the actions the applicant performs in front of the camera and when each
//! is prompted (`schedule`). Generation is pure given a random source; storing a challenge, expiring it
//! and using it once are the service's job.

use rand::RngCore;
use serde::{Deserialize, Serialize};

pub use super::action::Action;
use super::schedule::{Schedule, ScheduleConfig};

/// A challenge as issued. Unix seconds, so it is plain data to store and compare.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Challenge {
    /// Identifies the challenge (128 random bits, hex).
    pub id: String,
    /// Bound into the capture so a recording made for one challenge cannot answer another (128 bits, hex).
    pub nonce: String,
    pub schedule: Schedule,
    pub issued_at: u64,
    pub expires_at: u64,
}

impl Challenge {
    /// A fresh challenge: a schedule drawn from `config`'s grid, and fresh id and nonce.
    pub fn generate(
        rng: &mut impl RngCore,
        now_unix: u64,
        valid_for_s: u64,
        config: &ScheduleConfig,
    ) -> Challenge {
        let schedule = config.generate(rng);
        let mut token = || {
            let mut bytes = [0u8; 16];
            rng.fill_bytes(&mut bytes);
            hex::encode(bytes)
        };
        Challenge {
            id: token(),
            nonce: token(),
            schedule,
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
    fn generated_challenges_have_fresh_tokens_and_a_schedule() {
        let mut rng = StdRng::seed_from_u64(7);
        let config = ScheduleConfig::default();
        let mut ids = std::collections::HashSet::new();
        for _ in 0..200 {
            let c = Challenge::generate(&mut rng, 1_000, 120, &config);
            assert_eq!((c.id.len(), c.nonce.len()), (32, 32));
            assert_ne!(c.id, c.nonce);
            assert!(ids.insert(c.id.clone()), "ids repeat");
            assert_eq!(c.expires_at, 1_120);
            assert_eq!(c.schedule.actions.len(), 3);
            assert!(c.schedule.actions.iter().all(|a| a.at_s.is_some()));
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_challenge_and_expiry_is_inclusive() {
        let config = ScheduleConfig::default();
        let a = Challenge::generate(&mut StdRng::seed_from_u64(1), 50, 10, &config);
        let b = Challenge::generate(&mut StdRng::seed_from_u64(1), 50, 10, &config);
        assert_eq!(a, b);
        assert!(!a.is_expired(59));
        assert!(a.is_expired(60));
    }
}
