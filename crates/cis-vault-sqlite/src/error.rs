use std::path::PathBuf;

use cis_vault::VaultError;
use rusqlite::ErrorCode;

/// Failures opening the vault file. Once open, every operation reports [`VaultError`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot open the SQLite vault at {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("the file system under {path} refused WAL mode (journal mode is {mode})")]
    NoWal { path: PathBuf, mode: String },
    #[error("cannot set up the SQLite vault schema: {0}")]
    Schema(#[source] rusqlite::Error),
    #[error("the vault file has schema version {found}; this build supports up to {supported}")]
    NewerSchema { found: i64, supported: i64 },
}

impl From<Error> for VaultError {
    fn from(error: Error) -> Self {
        VaultError::unavailable(false, error.to_string())
    }
}

/// SQLite errors carry no profile values (only SQL and constraint names), so their text is safe
/// to pass on. A busy or locked database is worth retrying; anything else is not.
pub(crate) fn storage(error: rusqlite::Error) -> VaultError {
    let retryable = matches!(
        error.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    );
    VaultError::unavailable(retryable, format!("sqlite: {error}"))
}
