//! Domain vocabulary parsed once at the boundary: roles, purposes, lawful bases, decisions, and (in
//! [`status`]) the states and kinds of what is stored; and the small pure pieces every layer above
//! uses: the clock, identifiers and tokens, TOTP codes, text encodings.

pub mod clock;
pub mod text;
pub mod token;
pub mod totp;
pub mod webhook;

/// The names of an enum's variants, from one list: `ALL` (in order), `as_str`, `parse` and `Display`.
/// For enums that keep their own derives (e.g. pure result types in `liveness` and `pipeline`).
macro_rules! enum_names {
    ($name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $name {
            pub const ALL: [$name; [$($text),+].len()] = [$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            pub fn parse(s: &str) -> Option<$name> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use enum_names;

/// A vocabulary enum: serde (snake_case) and OpenAPI derives, [`enum_names!`], and sqlx text encoding.
macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $variant),+ }

        enum_names!($name { $($variant => $text),+ });

        // Stored as the same text in SQLite and PostgreSQL (TEXT columns), through `str` on either
        // engine: the database holds exactly the strings above, and a value this enum does not know
        // is a decoding error rather than a silent default.
        impl<DB: sqlx::Database> sqlx::Type<DB> for $name
        where
            str: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <str as sqlx::Type<DB>>::type_info()
            }
            fn compatible(ty: &DB::TypeInfo) -> bool {
                <str as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $name
        where
            &'r str: sqlx::Decode<'r, DB>,
        {
            fn decode(
                value: <DB as sqlx::Database>::ValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <&'r str as sqlx::Decode<'r, DB>>::decode(value)?;
                $name::parse(text)
                    .ok_or_else(|| format!("unknown {} {text:?}", stringify!($name)).into())
            }
        }

        impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for $name
        where
            &'q str: sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as sqlx::Database>::ArgumentBuffer<'q>,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&'q str as sqlx::Encode<'q, DB>>::encode(self.as_str(), buf)
            }
        }
    };
}

mod status;
pub use status::*;

string_enum! {
    /// What an API key may do.
    Role {
        /// Posts consents, verifications and challenges (the application or invigilation system).
        Submitter => "submitter",
        /// Reads cases and resolves them.
        Reviewer => "reviewer",
        /// Reads records and audit trails; exercises data-subject rights.
        Auditor => "auditor",
        /// Runs the service: keys, reviewers, retention and configuration (the command line), and
        /// operational state. Separation of duties: no biometric or personal data, no decision.
        Admin => "admin",
    }
}

string_enum! {
    /// Why biometric data is processed; a consent covers exactly one purpose.
    Purpose {
        /// Identity check when applying for a competence card.
        EcsApplication => "ecs_application",
        /// Identity checks during a remotely invigilated assessment.
        RemoteInvigilation => "remote_invigilation",
    }
}

string_enum! {
    /// The UK GDPR Article 9 condition the processing of biometric data rests on.
    LawfulBasis {
        /// Art. 9(2)(a): the person's explicit consent.
        ExplicitConsent => "explicit_consent",
        /// Art. 9(2)(g) with DPA 2018 Sch. 1: substantial public interest (e.g. preventing fraud).
        SubstantialPublicInterest => "substantial_public_interest",
    }
}

string_enum! {
    /// The service's decision. It never rejects on its own: what it cannot verify goes to a person.
    Decision {
        Verified => "verified",
        /// Sent to a reviewer.
        Referred => "referred",
    }
}

string_enum! {
    /// A reviewer's resolution of a case.
    ReviewOutcome {
        /// The faces are the same person: the applicant is who they say.
        ConfirmedMatch => "confirmed_match",
        /// Not the same person.
        ConfirmedMismatch => "confirmed_mismatch",
        /// The evidence cannot settle it: ask for a new document photo, selfie or video.
        NewEvidenceNeeded => "new_evidence_needed",
    }
}

impl Role {
    /// Whether this role may perform an action that requires `needed`. No role stands in for another:
    /// an `admin` key is not a super-user (it could otherwise submit a verification and resolve its
    /// own review case).
    pub fn allows(self, needed: &[Role]) -> bool {
        needed.contains(&self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_unknown_values() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(
            Purpose::parse("ecs_application"),
            Some(Purpose::EcsApplication)
        );
        assert_eq!(Purpose::parse("marketing"), None);
        assert_eq!(
            serde_json::to_string(&LawfulBasis::ExplicitConsent).unwrap(),
            "\"explicit_consent\""
        );
    }

    #[test]
    fn each_role_does_only_its_part_admin_included() {
        assert!(Role::Submitter.allows(&[Role::Submitter]));
        assert!(!Role::Reviewer.allows(&[Role::Submitter]));
        for data_role in [Role::Submitter, Role::Reviewer, Role::Auditor] {
            assert!(!Role::Admin.allows(&[data_role]));
        }
    }
}
