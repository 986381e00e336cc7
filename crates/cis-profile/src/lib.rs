//! The profile v2 core: model, schema, signing payload, publisher rules, filtering, merge, uuid,
//! flat profile, fake profiles. Pure: no I/O, no HTTP, no storage.

pub mod payload;

pub use payload::{attribute_payload, python_compact_json};
