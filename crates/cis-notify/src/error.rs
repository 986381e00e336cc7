use cis_vault::VaultError;

/// Everything the notifier can report. Delivery failures to an RP are not errors: they are
/// outcomes in a [`crate::DeliveryReport`]. These are the failures around them.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// A setting the notifier cannot work with (an RP URL that does not parse, ...).
    #[error("invalid notifier configuration: {0}")]
    Config(String),

    /// The OAuth2 client-credentials exchange failed. Never carries the secret or a token.
    #[error("token endpoint: {0}")]
    Token(String),

    /// The change feed, checkpoint or dead-letter store failed.
    #[error(transparent)]
    Vault(#[from] VaultError),
}
