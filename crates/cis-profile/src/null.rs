//! The null profile: the template every new user starts from (profile-and-crypto §1.5).

use std::sync::LazyLock;

use serde_json::Value;

/// The null profile document exactly as the Python CIS ships it.
pub const NULL_PROFILE_JSON: &str = include_str!("../../../well-known/user_profile_null.json");

static NULL_PROFILE: LazyLock<Value> = LazyLock::new(|| {
    // The embedded document is part of the build and checked by tests; it cannot fail at run time.
    serde_json::from_str(NULL_PROFILE_JSON).expect("embedded user_profile_null.json is valid JSON")
});

/// A fresh copy of the null profile, key order as in the file.
pub fn null_profile() -> Value {
    NULL_PROFILE.clone()
}

/// The shared, parsed null profile (no copy).
pub fn null_profile_ref() -> &'static Value {
    &NULL_PROFILE
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attributes::attributes;

    #[test]
    fn shape_matches_spec() {
        let p = null_profile();
        let root = p.as_object().unwrap();
        assert_eq!(root.len(), 28);
        assert_eq!(root.keys().next().unwrap(), "schema");
        assert_eq!(root.keys().next_back().unwrap(), "staff_information");
        assert_eq!(attributes(&p).len(), 53);
        assert_eq!(p["identities"].as_object().unwrap().len(), 16);
        assert_eq!(p["access_information"].as_object().unwrap().len(), 4);
        assert_eq!(p["staff_information"].as_object().unwrap().len(), 9);
        for (path, attr) in attributes(&p) {
            assert_eq!(crate::value_is_set(attr), Some(false), "{path}");
            assert_eq!(crate::signature_value(attr), Some(""), "{path}");
        }
    }

    #[test]
    fn matches_reference_copy() {
        let reference: Value = serde_json::from_str(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/reference/schema/user_profile_null.json"
            ))
            .unwrap(),
        )
        .unwrap();
        assert_eq!(null_profile(), reference);
    }
}
