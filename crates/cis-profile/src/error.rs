//! The one error type of the crate.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ProfileError {
    /// A JSON document (rules, schema, profile) could not be parsed.
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The publisher-rules document does not have the `create`/`update` shape.
    #[error("invalid publisher rules: {0}")]
    InvalidRules(String),
    /// The JSON schema could not be compiled.
    #[error("invalid JSON schema: {0}")]
    InvalidSchema(String),
    /// The profile is not a JSON object.
    #[error("a profile must be a JSON object")]
    NotAnObject,
    /// No attribute (object with `signature` and `metadata`) exists at this path.
    #[error("no attribute at `{0}`")]
    UnknownAttribute(String),
    /// uuid and primary_username are derived from `user_id.value`, which is null, empty or not a string.
    #[error("`user_id.value` must be a non-empty string to derive uuid and primary_username")]
    MissingUserId,
    /// DynamoDB wants decimals; the Python CIS fails on floats too, so the flat profile refuses them.
    #[error("`{path}` holds a floating-point number, which the flat profile cannot store")]
    FloatInFlatProfile { path: String },
}
