//! The profile v2 core: model, schema, signing payload, publisher rules, filtering, merge, uuid,
//! flat profile, fake profiles. Pure: no I/O, no HTTP, no storage.
//!
//! A profile is a `serde_json::Value` (the workspace enables `preserve_order`, so document key
//! order survives parsing, which the signing payload depends on).

pub mod attributes;
pub mod equality;
pub mod error;
pub mod fake;
pub mod filter;
pub mod flat;
pub mod identity;
pub mod merge;
pub mod null;
pub mod payload;
pub mod rules;
pub mod schema;
pub mod timestamps;
mod words;

pub use attributes::{
    GROUPS, attribute, attribute_mut, attributes, attributes_mut, is_attribute, publisher_name,
    signature_value, value_is_set,
};
pub use equality::{python_eq, python_eq_map};
pub use error::ProfileError;
pub use fake::{
    DisplayPolicy, FakeOptions, LoginMethod, fake_batch, fake_batch_with, fake_profile, fake_update,
};
pub use filter::{
    FilteredProfile, PreparedProfile, ScopeGrant, filter_by_classification, filter_by_display,
    filter_display_levels, filter_profile,
};
pub use flat::{flat_profile, sanitized_profile};
pub use identity::{derive_uuid_and_username, initialize_uuid_and_username};
pub use merge::merge;
pub use null::{NULL_PROFILE_JSON, null_profile, null_profile_ref};
pub use payload::{attribute_payload, python_compact_json};
pub use rules::{
    PUBLISHER_RULES_JSON, PublisherOperation, PublisherRules, PublisherViolation, check_attribute,
    check_publishers,
};
pub use schema::{PROFILE_SCHEMA_JSON, SchemaValidator, SchemaViolation, validate};
pub use timestamps::{format_timestamp, initialize_timestamps, now_timestamp, update_timestamp};
