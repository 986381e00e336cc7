use crate::model::SequenceNumber;

/// Everything a storage backend can report, in domain words.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// No stored profile (or queue item, dead letter) under this key.
    #[error("nothing stored under `{key}`")]
    NotFound { key: String },

    /// A conditional write lost: the user already exists (create) or the stored sequence number
    /// is not the one the caller read (update/delete). `current` is what is stored now, when the
    /// backend can tell; the caller re-reads, re-merges and retries (DECISIONS B5).
    #[error("conflicting write for `{user_id}` (stored sequence number: {current:?})")]
    Conflict {
        user_id: String,
        current: Option<SequenceNumber>,
    },

    /// The store could not be reached or refused the request for a reason of its own
    /// (throttling, I/O error, lock timeout). `retryable` says whether the same call may succeed
    /// later. The message must not carry profile values.
    #[error("storage unavailable ({}): {message}", if *.retryable { "retryable" } else { "not retryable" })]
    Unavailable { retryable: bool, message: String },

    /// A stored record could not be decoded. `key` names it (a user_id, queue id, ...) so an
    /// operator can repair it; the rest of the store keeps working.
    #[error("stored record `{key}` is corrupt: {reason}")]
    Corrupt { key: String, reason: String },

    /// The caller passed something the store cannot accept (an empty index key, a page token
    /// it never issued, ...). Names the field.
    #[error("invalid {field}: {reason}")]
    InvalidInput { field: &'static str, reason: String },
}

impl VaultError {
    pub fn not_found(key: impl Into<String>) -> Self {
        Self::NotFound { key: key.into() }
    }

    pub fn unavailable(retryable: bool, message: impl Into<String>) -> Self {
        Self::Unavailable {
            retryable,
            message: message.into(),
        }
    }

    pub fn corrupt(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Corrupt {
            key: key.into(),
            reason: reason.into(),
        }
    }

    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            field,
            reason: reason.into(),
        }
    }

    /// True when retrying the same call later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Unavailable {
                retryable: true,
                ..
            }
        )
    }
}

pub type VaultResult<T> = Result<T, VaultError>;
