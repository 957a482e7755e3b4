//! Reviewer accounts: creation (what `idv reviewers create` runs), argon2id passwords and TOTP secrets;
//! and the console's sessions: sign-in (password and TOTP code, with the lock after repeated failures),
//! the session a cookie's token opens, sign-out.

use std::net::IpAddr;
use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::Rng;
use serde_json::json;

use super::auth_failures;
use super::error::ApiError;
use super::state::AppState;
use crate::domain::token::{new_id, random_token, token_hash};
use crate::domain::totp;
use crate::store::{
    now_ms, ConsoleSessionRow, NewAudit, ReviewerChange, ReviewerRow, Store, StoreError,
};
use crate::vault::Vault;

/// What an operator hands the new reviewer, once: never stored in clear.
pub struct Enrolment {
    pub reviewer_id: String,
    pub username: String,
    pub org: String,
    pub password: String,
    /// The TOTP secret, base32.
    pub totp_secret: String,
    /// `otpauth://totp/idv:USERNAME?secret=…&issuer=idv`.
    pub otpauth_uri: String,
}

impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Enrolment({} {}, <secrets redacted>)",
            self.reviewer_id, self.username
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("the username must be 1-64 characters: lower-case letters, digits, '.', '_' or '-'")]
    InvalidUsername,
    #[error("the organisation must be 1-128 characters")]
    InvalidOrg,
    #[error("a reviewer with this username already exists")]
    UsernameTaken,
    #[error("no reviewer has this username")]
    UnknownUsername,
    #[error(transparent)]
    Store(StoreError),
}

impl AccountError {
    /// A stable code for the CLI.
    pub fn code(&self) -> &'static str {
        match self {
            AccountError::InvalidUsername => "invalid_username",
            AccountError::InvalidOrg => "invalid_org",
            AccountError::UsernameTaken => "username_taken",
            AccountError::UnknownUsername => "unknown_reviewer",
            AccountError::Store(_) => "database_error",
        }
    }
}

/// Usernames are plain: they appear in the audit log (`reviewer:<username>`) and the enrolment URI.
pub fn valid_username(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

/// A random initial password: 20 characters from an alphabet without look-alikes (~114 bits).
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..20)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// argon2id with the crate's defaults (RFC 9106 second recommendation: 19 MiB, 2 passes), PHC form.
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    rand::rng().fill(&mut salt);
    let salt = SaltString::encode_b64(&salt).expect("16 bytes is a valid salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters")
        .to_string()
}

/// Whether `password` matches a stored PHC hash (false for a malformed hash).
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash no password is known for: checked against when the username is unknown, so a sign-in takes
/// as long whether or not the account exists.
pub fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash_password(&generate_password()))
}

/// Creates a reviewer of `org`: a random password (stored as argon2id) and a random 20-byte TOTP
/// secret (sealed under the keyring's reviewer key), with the audit entry `reviewer.created`.
pub async fn create_reviewer(
    store: &Store,
    vault: &Vault,
    org: &str,
    username: &str,
    actor: &str,
) -> Result<Enrolment, AccountError> {
    let org = org.trim();
    if org.is_empty() || org.len() > 128 {
        return Err(AccountError::InvalidOrg);
    }
    if !valid_username(username) {
        return Err(AccountError::InvalidUsername);
    }
    let password = generate_password();
    let mut secret = [0u8; 20];
    rand::rng().fill(&mut secret);
    let id = new_id("rvw");
    let row = ReviewerRow {
        id: id.clone(),
        org: org.into(),
        username: username.into(),
        password_hash: hash_password(&password),
        totp_sealed: vault.seal_reviewer_secret(&id, &secret),
        failed_signins: 0,
        locked_until: None,
        last_totp_step: None,
        created_at: now_ms(),
        disabled_at: None,
    };
    let audit = NewAudit {
        at: row.created_at,
        org: org.into(),
        actor: actor.into(),
        event: "reviewer.created",
        entity: id.clone(),
        subject_digest: None,
        details: json!({"username": username}),
    };
    store
        .create_reviewer(&row, &audit)
        .await
        .map_err(|e| match e {
            StoreError::UsernameTaken => AccountError::UsernameTaken,
            e => AccountError::Store(e),
        })?;
    Ok(Enrolment {
        reviewer_id: id,
        username: username.into(),
        org: org.into(),
        password,
        totp_secret: totp::base32_encode(&secret),
        otpauth_uri: totp::otpauth_uri("idv", username, &secret),
    })
}

/// What an operator does to an existing reviewer's account (`idv reviewers …`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountAction {
    Disable,
    Enable,
    ResetPassword,
    ResetTotp,
}

impl AccountAction {
    /// The audit event it writes.
    pub fn event(self) -> &'static str {
        match self {
            AccountAction::Disable => "reviewer.disabled",
            AccountAction::Enable => "reviewer.enabled",
            AccountAction::ResetPassword => "reviewer.password_reset",
            AccountAction::ResetTotp => "reviewer.totp_reset",
        }
    }
}

/// What a reset hands the operator to pass on privately: the new password, or the new TOTP secret and
/// its URI.
#[derive(Debug, Default)]
pub struct Reissued {
    pub password: Option<String>,
    pub totp_secret: Option<String>,
    pub otpauth_uri: Option<String>,
}

/// Every console reviewer, by organisation and username (no secret, no hash).
pub async fn list_reviewers(store: &Store) -> Result<Vec<ReviewerRow>, AccountError> {
    store.list_reviewers().await.map_err(AccountError::Store)
}

/// Disables, enables or resets a reviewer's account, with the audit entry `reviewer.<what>` naming
/// `actor`; every change ends the reviewer's sessions. A reset password also clears the account's lock.
pub async fn change_account(
    store: &Store,
    vault: &Vault,
    username: &str,
    action: AccountAction,
    actor: &str,
) -> Result<Reissued, AccountError> {
    let reviewer = store
        .reviewer_by_username(username)
        .await
        .map_err(AccountError::Store)?
        .ok_or(AccountError::UnknownUsername)?;
    let now = now_ms();
    let mut change = ReviewerChange::default();
    let mut reissued = Reissued::default();
    match action {
        AccountAction::Disable | AccountAction::Enable => {
            change.set_disabled = true;
            change.disabled_at = (action == AccountAction::Disable).then_some(now);
        }
        AccountAction::ResetPassword => {
            let password = generate_password();
            change.password_hash = Some(hash_password(&password));
            reissued.password = Some(password);
        }
        AccountAction::ResetTotp => {
            let mut secret = [0u8; 20];
            rand::rng().fill(&mut secret);
            change.totp_sealed = Some(vault.seal_reviewer_secret(&reviewer.id, &secret));
            reissued.totp_secret = Some(totp::base32_encode(&secret));
            reissued.otpauth_uri = Some(totp::otpauth_uri("idv", &reviewer.username, &secret));
        }
    }
    let audit = NewAudit {
        at: now,
        org: reviewer.org.clone(),
        actor: actor.into(),
        event: action.event(),
        entity: reviewer.id.clone(),
        subject_digest: None,
        details: json!({"username": reviewer.username}),
    };
    if !store
        .change_reviewer(&reviewer.id, &change, &audit)
        .await
        .map_err(AccountError::Store)?
    {
        return Err(AccountError::UnknownUsername);
    }
    Ok(reissued)
}

/// A reviewer signed in to the console, by the session their cookie's token opened.
pub struct SignedIn {
    pub reviewer: ReviewerRow,
    pub session: ConsoleSessionRow,
}

impl SignedIn {
    /// The reviewer as the use cases see them.
    pub fn caller(&self) -> super::caller::Caller {
        super::caller::Caller::reviewer(&self.reviewer.username, self.reviewer.org.clone())
    }
}

/// The live session a cookie's token opens, if any.
pub async fn session(state: &AppState, token: &str) -> Result<Option<SignedIn>, ApiError> {
    let found = state
        .store
        .console_session(&token_hash(token), state.clock.now_ms())
        .await?;
    Ok(found.map(|(session, reviewer)| SignedIn { reviewer, session }))
}

/// Why a sign-in failed: recorded in the audit entry `console.signin_failed`, never told the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigninFailure {
    UnknownUsername,
    AccountDisabled,
    AccountLocked,
    WrongPassword,
    WrongCode,
    /// A right code that was already used (each code signs in once).
    CodeReused,
}

impl SigninFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            SigninFailure::UnknownUsername => "unknown_username",
            SigninFailure::AccountDisabled => "account_disabled",
            SigninFailure::AccountLocked => "account_locked",
            SigninFailure::WrongPassword => "wrong_password",
            SigninFailure::WrongCode => "wrong_code",
            SigninFailure::CodeReused => "code_reused",
        }
    }
}

/// Checks username, password and code, and opens a session: its token (for the cookie), or `None`
/// for every failure alike. Every failure takes about as long (an unknown username is checked against
/// a decoy hash, and each failure writes one audit entry), is audited as `console.signin_failed` with
/// its reason, and counts against the client's address (`auth_failures`, shared with API-key guessing:
/// past its limit the address is refused with `auth_throttled` before anything is checked). Only a
/// wrong or reused code after the right password counts towards the account's lock, so someone who
/// knows no more than a reviewer's name cannot lock them out; guessing passwords is bounded per address.
pub async fn sign_in(
    state: &AppState,
    client: Option<IpAddr>,
    username: &str,
    password: &str,
    code: &str,
) -> Result<Option<String>, ApiError> {
    if let Some(client) = client {
        auth_failures::check(state, client).await?;
    }
    let settings = &state.settings.review;
    let now = state.clock.now_ms();
    let username = username.trim();
    let found = state.store.reviewer_by_username(username).await?;
    let enabled = found.as_ref().filter(|r| r.disabled_at.is_none());
    let hash = enabled
        .map(|r| r.password_hash.clone())
        .unwrap_or_else(|| decoy_hash().to_string());
    let password = password.to_string();
    let password_ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false);
    let failed = |reviewer: Option<&ReviewerRow>, reason: SigninFailure| NewAudit {
        at: now,
        org: reviewer.map(|r| r.org.clone()).unwrap_or_default(),
        actor: match reviewer {
            Some(r) => format!("reviewer:{}", r.username),
            None => "anonymous".into(),
        },
        event: "console.signin_failed",
        entity: reviewer.map(|r| r.id.clone()).unwrap_or_default(),
        subject_digest: None,
        // The name tried, when it could be a username (so nothing typed by mistake, like a password,
        // lands in the log unless it looks like a username).
        details: match reviewer {
            Some(_) => json!({"reason": reason.as_str()}),
            None => json!({"reason": reason.as_str(),
                           "username": valid_username(username).then_some(username)}),
        },
    };
    let Some(reviewer) = enabled else {
        let reason = match found {
            Some(_) => SigninFailure::AccountDisabled,
            None => SigninFailure::UnknownUsername,
        };
        state.store.audit(&failed(found.as_ref(), reason)).await?;
        count_against(state, client).await?;
        return Ok(None);
    };
    if let Some(until) = reviewer.locked_until.filter(|t| *t > now) {
        let mut audit = failed(Some(reviewer), SigninFailure::AccountLocked);
        audit.details["locked_until"] = json!(until);
        state.store.audit(&audit).await?;
        count_against(state, client).await?;
        return Ok(None);
    }
    let secret = state
        .vault
        .open_reviewer_secret(&reviewer.id, &reviewer.totp_sealed)?;
    let step = totp::verify(&secret, code, now / 1000);
    let token = random_token();
    let reason = match (password_ok, step) {
        (false, _) => SigninFailure::WrongPassword,
        (true, None) => SigninFailure::WrongCode,
        (true, Some(step)) => {
            let session = ConsoleSessionRow {
                token_hash: token_hash(&token),
                reviewer_id: reviewer.id.clone(),
                csrf_token: random_token(),
                created_at: now,
                expires_at: now + settings.console_session_minutes * 60_000,
            };
            let signed_in = NewAudit {
                at: now,
                org: reviewer.org.clone(),
                actor: format!("reviewer:{}", reviewer.username),
                event: "console.signed_in",
                entity: reviewer.id.clone(),
                subject_digest: None,
                details: json!({}),
            };
            // false: this code was already used.
            if state
                .store
                .reviewer_signed_in(&reviewer.id, step, &session, &signed_in)
                .await?
            {
                return Ok(Some(token));
            }
            SigninFailure::CodeReused
        }
    };
    count_against(state, client).await?;
    if reason == SigninFailure::WrongPassword {
        // Knowing the name is not enough to lock the account: the address is throttled instead.
        state.store.audit(&failed(Some(reviewer), reason)).await?;
        return Ok(None);
    }
    let lock_until = now + settings.console_lockout_minutes * 60_000;
    let locked = state
        .store
        .reviewer_signin_failed(
            &reviewer.id,
            settings.console_max_failed_signins,
            lock_until,
            &failed(Some(reviewer), reason),
        )
        .await?;
    if locked {
        tracing::warn!(reviewer = %reviewer.id, "console account locked after repeated failed sign-ins");
    }
    Ok(None)
}

/// Counts a failed sign-in against the client's address (nothing without one: a router called directly).
async fn count_against(state: &AppState, client: Option<IpAddr>) -> Result<(), ApiError> {
    match client {
        Some(client) => auth_failures::record_failure(state, client).await,
        None => Ok(()),
    }
}

/// Ends a console session, with the audit event `console.signed_out`.
pub async fn sign_out(state: &AppState, signed: &SignedIn) -> Result<(), ApiError> {
    let audit = NewAudit {
        at: state.clock.now_ms(),
        org: signed.reviewer.org.clone(),
        actor: signed.caller().actor(),
        event: "console.signed_out",
        entity: signed.reviewer.id.clone(),
        subject_digest: None,
        details: json!({}),
    };
    state
        .store
        .end_console_session(&signed.session.token_hash, &audit)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let p = generate_password();
        assert_eq!(p.len(), 20);
        let h = hash_password(&p);
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password(&p, &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password(&p, "not a hash"));
        assert_ne!(hash_password(&p), h, "salted");
    }

    #[test]
    fn usernames_are_plain() {
        assert!(valid_username("alice"));
        assert!(valid_username("a.b-c_1"));
        assert!(!valid_username(""));
        assert!(!valid_username("Alice"));
        assert!(!valid_username("a b"));
        assert!(!valid_username("<script>"));
        assert!(!valid_username(&"a".repeat(65)));
    }
}
