//! The one error type of the crate. Each variant is one answer of the Change API: the HTTP layer
//! maps it 1:1 with [`ChangeError::status`], [`ChangeError::code`],
//! [`ChangeError::description`] and [`ChangeError::details`] (change-api-and-vault §3.7; the
//! codes of the Python CIS are kept where it had one).

use cis_crypto::CryptoError;
use cis_profile::{PublisherViolation, SchemaViolation};
use cis_vault::VaultError;
use serde::Serialize;
use serde_json::{Value, json};

/// One attribute whose publisher signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignatureFailure {
    /// `name` or `group.child`.
    pub path: String,
    /// The publisher the attribute claims, if it names one.
    pub publisher: Option<String>,
    /// Why (no attribute values, no key material).
    pub reason: String,
}

impl std::fmt::Display for SignatureFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.publisher {
            Some(p) => write!(
                f,
                "signature of attribute {} (publisher {p}) is not valid: {}",
                self.path, self.reason
            ),
            None => write!(
                f,
                "signature of attribute {} is not valid: {}",
                self.path, self.reason
            ),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// The request is unusable before any rule applies (not a JSON object, no user_id, a new
    /// profile without `active`, ...). The message names the field.
    #[error("{0}")]
    BadRequest(String),

    /// `?user_id=` differs from the profile's `user_id.value`.
    #[error("user_id query parameter does not match profile, that looks wrong")]
    UserIdMismatch,

    /// The incoming profile does not match the profile v2 schema (DECISIONS B4).
    #[error("the profile does not match the profile v2 schema ({} violation(s))", .0.len())]
    SchemaInvalid(Vec<SchemaViolation>),

    /// A new user's profile carries a uuid or primary_username (CIS derives them).
    #[error("The fields primary_username or uuid have been set in a new profile.")]
    UuidOrUsernameSet,

    /// The claimed publisher of some attribute may not make this change (publisher rules, B9).
    #[error("{}", join(.0))]
    InvalidPublisher(Vec<PublisherViolation>),

    /// Some attribute the change would store does not carry a valid signature of its publisher.
    #[error("{}", join(.0))]
    SignatureInvalid(Vec<SignatureFailure>),

    /// No uuid salt is configured: CIS refuses to create users rather than derive a predictable
    /// uuid (DECISIONS B10). Updates of existing users still work.
    #[error("no uuid salt is configured, so new users cannot be created")]
    NoUuidSalt,

    /// The publisher keys could not be loaded (well-known document unreachable, no cached copy).
    #[error("publisher keys unavailable: {0}")]
    KeysUnavailable(CryptoError),

    /// The stored profile kept changing under us: every conditional write lost (B5).
    #[error("the profile of `{user_id}` changed concurrently {attempts} times; retry later")]
    Conflict { user_id: String, attempts: u32 },

    /// Delete of a user that is not stored.
    #[error("no profile stored for `{user_id}`")]
    NotFound { user_id: String },

    /// DELETE while `CIS_ALLOW_DELETE` is off (DECISIONS B8).
    #[error("deleting profiles is disabled on this service")]
    DeleteDisabled,

    /// CIS could not sign its own attributes (the `cis` key is missing or unusable).
    #[error("signing CIS-owned attributes failed: {0}")]
    Signing(CryptoError),

    /// The service was built with unusable settings.
    #[error("misconfigured change service: {0}")]
    Misconfigured(String),

    /// The vault failed.
    #[error("storage error: {0}")]
    Storage(VaultError),
}

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl ChangeError {
    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) | Self::UserIdMismatch | Self::SchemaInvalid(_) => 400,
            Self::UuidOrUsernameSet
            | Self::InvalidPublisher(_)
            | Self::SignatureInvalid(_)
            | Self::DeleteDisabled => 403,
            Self::NotFound { .. } => 404,
            Self::Conflict { .. } => 409,
            Self::NoUuidSalt | Self::KeysUnavailable(_) => 503,
            Self::Storage(e) if e.is_retryable() => 503,
            Self::Signing(_) | Self::Misconfigured(_) | Self::Storage(_) => 500,
        }
    }

    /// The `code` of the JSON error body. The Python codes are kept (`integration_exception`,
    /// `uuid_or_primary_username_set`, `invalid_publisher`, `invalid_signature`); the others are
    /// answers the Python CIS never gave (it crashed with an HTML 500 instead).
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "invalid_request",
            Self::UserIdMismatch => "integration_exception",
            Self::SchemaInvalid(_) => "invalid_profile",
            Self::UuidOrUsernameSet => "uuid_or_primary_username_set",
            Self::InvalidPublisher(_) => "invalid_publisher",
            Self::SignatureInvalid(_) => "invalid_signature",
            Self::NoUuidSalt => "uuid_salt_unavailable",
            Self::KeysUnavailable(_) => "publisher_keys_unavailable",
            Self::Conflict { .. } => "conflict",
            Self::NotFound { .. } => "not_found",
            Self::DeleteDisabled => "delete_disabled",
            Self::Signing(_) | Self::Misconfigured(_) => "integration_exception",
            Self::Storage(e) if e.is_retryable() => "storage_unavailable",
            Self::Storage(_) => "integration_exception",
        }
    }

    /// The `description` of the JSON error body. 5xx descriptions carry no internals (the
    /// details go to the log, see [`ChangeError::log_detail`]).
    pub fn description(&self) -> String {
        match self {
            Self::SchemaInvalid(violations) => format!(
                "the profile does not match the profile v2 schema: {}",
                join(violations)
            ),
            Self::KeysUnavailable(_) => {
                "the publisher keys (well-known document) are unavailable; retry later".to_owned()
            }
            Self::Signing(_) | Self::Misconfigured(_) => {
                "internal error while integrating the profile".to_owned()
            }
            Self::Storage(e) if e.is_retryable() => {
                "the identity vault is unavailable; retry later".to_owned()
            }
            Self::Storage(_) => "the identity vault failed to store the profile".to_owned(),
            Self::NoUuidSalt => {
                "no uuid salt is configured, so this service cannot create new users \
                 (it never derives a predictable uuid); updates of existing users still work"
                    .to_owned()
            }
            other => other.to_string(),
        }
    }

    /// Structured details for the JSON error body (an optional `details` member): every schema
    /// violation, publisher violation or signature failure, so a publisher sees all of them at
    /// once.
    pub fn details(&self) -> Option<Value> {
        match self {
            Self::SchemaInvalid(v) => Some(json!({ "violations": v })),
            Self::InvalidPublisher(v) => Some(json!({ "violations": v })),
            Self::SignatureInvalid(v) => Some(json!({ "failures": v })),
            Self::Conflict { attempts, .. } => Some(json!({ "attempts": attempts })),
            _ => None,
        }
    }

    /// The JSON error body: `{"code", "description"}` plus `details` when there are any.
    pub fn body(&self) -> Value {
        let mut body = json!({ "code": self.code(), "description": self.description() });
        if let (Some(details), Some(map)) = (self.details(), body.as_object_mut()) {
            map.insert("details".into(), details);
        }
        body
    }

    /// The full error text for the server log (never profile values: the variants hold none).
    pub fn log_detail(&self) -> String {
        self.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_bodies_are_kept() {
        let e = ChangeError::UuidOrUsernameSet;
        assert_eq!(
            (e.status(), e.code()),
            (403, "uuid_or_primary_username_set")
        );
        assert_eq!(
            e.description(),
            "The fields primary_username or uuid have been set in a new profile."
        );
        let e = ChangeError::UserIdMismatch;
        assert_eq!((e.status(), e.code()), (400, "integration_exception"));
        assert_eq!(
            e.description(),
            "user_id query parameter does not match profile, that looks wrong"
        );
        let e = ChangeError::Storage(VaultError::unavailable(false, "disk on fire at /x"));
        assert_eq!(e.status(), 500);
        assert!(!e.description().contains("fire"));
        let e = ChangeError::Storage(VaultError::unavailable(true, "throttled"));
        assert_eq!(e.status(), 503);
    }
}
