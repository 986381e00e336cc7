//! JSON-schema validation against the profile v2 schema (DECISIONS A2, profile-and-crypto §2).
//!
//! Draft 4 as the schema declares; `format` is NOT checked (the Python CIS passes no format checker,
//! so `created: "not a date"` is valid). Every violation is reported, not only the first.

use std::sync::LazyLock;

use serde::Serialize;
use serde_json::Value;

use crate::error::ProfileError;

/// The profile v2 schema exactly as the Python CIS ships it.
pub const PROFILE_SCHEMA_JSON: &str = include_str!("../../../well-known/profile.schema.json");

/// One schema violation: where (JSON pointer into the profile, `""` for the root) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemaViolation {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for SchemaViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = if self.path.is_empty() {
            "/"
        } else {
            &self.path
        };
        write!(f, "{path}: {}", self.message)
    }
}

/// A compiled schema. Compiling is slow; build once and reuse ([`SchemaValidator::bundled`]).
pub struct SchemaValidator {
    validator: jsonschema::Validator,
}

static BUNDLED: LazyLock<SchemaValidator> = LazyLock::new(|| {
    let schema: Value = serde_json::from_str(PROFILE_SCHEMA_JSON)
        .expect("embedded profile.schema.json is valid JSON");
    // The embedded schema is part of the build and compiled by the tests.
    SchemaValidator::from_schema(&schema).expect("embedded profile.schema.json compiles")
});

impl SchemaValidator {
    /// The validator for the embedded profile schema, compiled on first use.
    pub fn bundled() -> &'static SchemaValidator {
        &BUNDLED
    }

    /// Compile another schema with the same options (Draft 4, no format checks, no remote refs).
    pub fn from_schema(schema: &Value) -> Result<Self, ProfileError> {
        let validator = jsonschema::draft4::options()
            .should_validate_formats(false)
            .build(schema)
            .map_err(|e| ProfileError::InvalidSchema(e.to_string()))?;
        Ok(Self { validator })
    }

    /// True when the profile is valid (fast path, no error collection).
    pub fn is_valid(&self, profile: &Value) -> bool {
        self.validator.is_valid(profile)
    }

    /// `Ok` or every violation with its path.
    pub fn validate(&self, profile: &Value) -> Result<(), Vec<SchemaViolation>> {
        if self.validator.is_valid(profile) {
            return Ok(());
        }
        let violations: Vec<SchemaViolation> = self
            .validator
            .iter_errors(profile)
            .map(|e| SchemaViolation {
                path: e.instance_path().to_string(),
                message: e.to_string(),
            })
            .collect();
        if violations.is_empty() {
            // is_valid and iter_errors disagreeing would be a validator bug; never report "valid" then.
            return Err(vec![SchemaViolation {
                path: String::new(),
                message: "profile does not match the schema".into(),
            }]);
        }
        Err(violations)
    }
}

/// Validate against the embedded profile schema.
pub fn validate(profile: &Value) -> Result<(), Vec<SchemaViolation>> {
    SchemaValidator::bundled().validate(profile)
}
