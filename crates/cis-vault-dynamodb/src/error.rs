use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use cis_vault::VaultError;

/// Errors of the DynamoDB backend outside the storage port (which speaks [`VaultError`]):
/// configuration, the curator and stream decoding.
#[derive(Debug, thiserror::Error)]
pub enum DynamoVaultError {
    #[error("invalid DynamoDB vault configuration: {0}")]
    Config(String),

    /// A DynamoDB call failed. `message` is the SDK's error context (codes and reasons, never
    /// item values).
    #[error("DynamoDB {operation} failed: {message}")]
    Aws {
        operation: &'static str,
        retryable: bool,
        message: String,
    },

    #[error("could not build the {operation} request: {message}")]
    Build {
        operation: &'static str,
        message: String,
    },

    #[error("table `{table}` did not become ACTIVE within {waited_secs} s")]
    NotActive { table: String, waited_secs: u64 },

    #[error("cannot decode DynamoDB stream record: {0}")]
    StreamRecord(String),
}

impl DynamoVaultError {
    pub(crate) fn aws<E, R>(operation: &'static str, err: &SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug,
    {
        Self::Aws {
            operation,
            retryable: is_retryable(err),
            message: DisplayErrorContext(err).to_string(),
        }
    }

    pub(crate) fn build(operation: &'static str, err: impl std::fmt::Display) -> Self {
        Self::Build {
            operation,
            message: err.to_string(),
        }
    }
}

impl From<DynamoVaultError> for VaultError {
    fn from(err: DynamoVaultError) -> Self {
        match err {
            DynamoVaultError::Aws {
                retryable, message, ..
            } => VaultError::unavailable(retryable, message),
            other => VaultError::unavailable(false, other.to_string()),
        }
    }
}

/// Error codes after which the same request may succeed later. The SDK's own retries (standard
/// mode, see [`crate::DynamoVaultConfig::max_attempts`]) have already been spent when we see them.
const RETRYABLE_CODES: &[&str] = &[
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "TransactionInProgressException",
    "LimitExceededException",
];

pub(crate) fn is_retryable<E, R>(err: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => true,
        SdkError::ResponseError(_) => true,
        SdkError::ServiceError(service) => service
            .err()
            .code()
            .is_some_and(|code| RETRYABLE_CODES.contains(&code)),
        _ => false,
    }
}

/// Maps a failed data-plane call to the port's error.
pub(crate) fn vault_error<E, R>(operation: &'static str, err: &SdkError<E, R>) -> VaultError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    DynamoVaultError::aws(operation, err).into()
}
