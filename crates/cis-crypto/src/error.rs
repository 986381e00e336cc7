//! The one error type of the crate. Each way a signature can be wrong has its own variant so that
//! callers (the change API, the CLI) can report precisely what failed without parsing messages.

use std::path::PathBuf;

/// Everything that can go wrong while loading keys, signing or verifying.
///
/// Messages never contain attribute values, key material or whole tokens.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// No key is known for the publisher named in `signature.publisher.name` (verification) or
    /// requested for signing.
    #[error("no key known for publisher `{0}`")]
    UnknownPublisher(String),

    /// The compact JWS could not be split or decoded, or its header is not an RS256 header.
    #[error("malformed JWS: {0}")]
    MalformedJws(String),

    /// The JWS is well formed but none of the publisher's keys verifies its signature: signed by
    /// another key, or its signature bytes were altered.
    #[error(
        "signature of publisher `{publisher}` not verified by any of its {keys_tried} trusted key(s)"
    )]
    SignatureInvalid {
        publisher: String,
        keys_tried: usize,
    },

    /// The signature is genuine but covers different data than the attribute carries: the value
    /// or metadata was changed after signing, or the signature was copied from another attribute.
    #[error("signed data does not match the attribute data")]
    PayloadMismatch,

    /// Null attributes are never signed nor verified (the Python CIS refuses both).
    #[error("attribute value is null: null attributes are neither signed nor verified")]
    NullValue,

    /// The attribute has a value but `signature.publisher.value` is empty or absent.
    #[error("attribute has a value but no publisher signature")]
    MissingSignature,

    /// The attribute does not name a publisher in `signature.publisher.name`.
    #[error("attribute does not name its publisher (signature.publisher.name)")]
    MissingPublisherName,

    /// The attribute names a different publisher than the one the caller requires.
    #[error("attribute is published by `{claimed}`, expected `{expected}`")]
    PublisherMismatch { expected: String, claimed: String },

    /// The object is not an attribute (`signature` missing or not an object, no `value`/`values`).
    #[error("not a profile attribute: {0}")]
    NotAnAttribute(String),

    /// A key could not be parsed (PEM, DER, JWK).
    #[error("invalid key ({source_name}): {reason}")]
    KeyParse { source_name: String, reason: String },

    /// The signing primitive failed (should not happen with a valid key).
    #[error("RSA signing failed")]
    SigningFailed,

    /// A key file or well-known file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A key could not be read from the secret store (SSM).
    #[error("cannot read secret {name}: {reason}")]
    SecretFetch { name: String, reason: String },

    /// The well-known document could not be fetched (network, timeout, HTTP status).
    #[error("cannot fetch the well-known document from {url}: {reason}")]
    WellKnownFetch { url: String, reason: String },

    /// The well-known document (or JWKS) is not what we expect.
    #[error("invalid well-known document or JWKS: {0}")]
    WellKnownInvalid(String),
}

impl CryptoError {
    pub(crate) fn key_parse(source_name: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::KeyParse {
            source_name: source_name.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
