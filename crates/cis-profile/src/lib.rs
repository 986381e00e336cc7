//! The profile v2 core: model, schema, signing payload, publisher rules, filtering, merge, uuid,
//! flat profile, fake profiles. Pure: no I/O, no HTTP, no storage.

pub mod attributes;
pub mod payload;

pub use attributes::{
    GROUPS, attribute, attribute_mut, attributes, attributes_mut, is_attribute, publisher_name,
    signature_value, value_is_set,
};
pub use payload::{attribute_payload, python_compact_json};
