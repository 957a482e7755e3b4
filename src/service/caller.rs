//! Who is asking: an API key, or a reviewer signed in to the console. Each front end authenticates its
//! own kind; the use cases see only this.

use super::error::{ApiError, ErrorCode};
use crate::domain::Role;
use crate::store::NewAudit;

#[derive(Debug, Clone)]
pub struct Caller {
    pub org: String,
    pub role: Role,
    /// As the audit log names them: `key:<id>` or `reviewer:<username>`.
    actor: String,
}

impl Caller {
    pub fn api_key(key_id: &str, org: String, role: Role) -> Self {
        Caller {
            org,
            role,
            actor: format!("key:{key_id}"),
        }
    }

    pub fn reviewer(username: &str, org: String) -> Self {
        Caller {
            org,
            role: Role::Reviewer,
            actor: format!("reviewer:{username}"),
        }
    }

    /// The operator at the command line, acting as an organisation's admin (`idv webhooks …`).
    pub fn operator(org: String) -> Self {
        Caller {
            org,
            role: Role::Admin,
            actor: "cli".into(),
        }
    }

    /// The actor recorded in the audit log.
    pub fn actor(&self) -> String {
        self.actor.clone()
    }

    /// An audit entry of this caller's: about `entity`, with no subject and no details until the
    /// caller adds them (`NewAudit { details, ..caller.audit(at, event, entity) }`).
    pub fn audit(&self, at: i64, event: &'static str, entity: impl Into<String>) -> NewAudit {
        NewAudit {
            at,
            org: self.org.clone(),
            actor: self.actor(),
            event,
            entity: entity.into(),
            subject_digest: None,
            details: serde_json::json!({}),
        }
    }

    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if self.role.allows(roles) {
            Ok(())
        } else {
            let allowed: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            Err(ApiError::detail(
                ErrorCode::Forbidden,
                format!(
                    "this key's role is {}; this needs {}",
                    self.role,
                    allowed.join(" or ")
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_name_the_key_or_the_reviewer_and_roles_are_checked() {
        let key = Caller::api_key("k1", "org".into(), Role::Submitter);
        assert_eq!(key.actor(), "key:k1");
        assert!(key.require(&[Role::Submitter]).is_ok());
        let refused = key.require(&[Role::Reviewer, Role::Auditor]).unwrap_err();
        assert_eq!(refused.code, ErrorCode::Forbidden);
        let reviewer = Caller::reviewer("ann", "org".into());
        assert_eq!(reviewer.actor(), "reviewer:ann");
        assert!(reviewer.require(&[Role::Reviewer]).is_ok());
    }
}
