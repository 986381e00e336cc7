//! Attribute timestamps (profile-and-crypto §7.3): `YYYY-MM-DDTHH:MM:SS.000Z`, UTC, milliseconds
//! always `.000` like the Python CIS.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::attributes::{attribute_mut, attributes_mut};
use crate::error::ProfileError;

/// `2019-02-27T11:20:00.000Z`.
pub fn format_timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S.000Z").to_string()
}

/// The current time, formatted.
pub fn now_timestamp() -> String {
    format_timestamp(Utc::now())
}

/// Set `metadata.last_modified` of the attribute at `path` (`name` or `group.child`).
/// Does not re-sign: sign after updating timestamps.
pub fn update_timestamp(
    profile: &mut Value,
    path: &str,
    timestamp: &str,
) -> Result<(), ProfileError> {
    let metadata = attribute_mut(profile, path)
        .and_then(|attr| attr.get_mut("metadata"))
        .and_then(Value::as_object_mut)
        .ok_or_else(|| ProfileError::UnknownAttribute(path.to_string()))?;
    metadata.insert("last_modified".into(), Value::String(timestamp.to_string()));
    Ok(())
}

/// Set `metadata.created` and `metadata.last_modified` of every attribute, then the values of the
/// `created` and `last_modified` attributes, to `timestamp`. Does not re-sign.
pub fn initialize_timestamps(profile: &mut Value, timestamp: &str) {
    for (_, attr) in attributes_mut(profile) {
        if let Some(metadata) = attr.get_mut("metadata").and_then(Value::as_object_mut) {
            metadata.insert("created".into(), Value::String(timestamp.to_string()));
            metadata.insert("last_modified".into(), Value::String(timestamp.to_string()));
        }
    }
    for name in ["last_modified", "created"] {
        if let Some(attr) = attribute_mut(profile, name) {
            attr.insert("value".into(), Value::String(timestamp.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::null::null_profile;
    use chrono::TimeZone;

    #[test]
    fn formats_with_fixed_millis() {
        let at = Utc.with_ymd_and_hms(2019, 2, 27, 11, 20, 5).unwrap();
        assert_eq!(format_timestamp(at), "2019-02-27T11:20:05.000Z");
        assert_eq!(now_timestamp().len(), 24);
    }

    #[test]
    fn update_timestamp_changes_last_modified_only() {
        let mut p = null_profile();
        update_timestamp(
            &mut p,
            "staff_information.title",
            "2020-01-01T00:00:00.000Z",
        )
        .unwrap();
        let md = &p["staff_information"]["title"]["metadata"];
        assert_eq!(md["last_modified"], "2020-01-01T00:00:00.000Z");
        assert_eq!(md["created"], "1970-01-01T00:00:00Z");
        assert!(matches!(
            update_timestamp(&mut p, "staff_information", "x"),
            Err(ProfileError::UnknownAttribute(_))
        ));
    }

    #[test]
    fn initialize_sets_every_attribute_and_the_values() {
        let mut p = null_profile();
        let ts = "2021-05-05T05:05:05.000Z";
        initialize_timestamps(&mut p, ts);
        for (path, attr) in crate::attributes(&p) {
            assert_eq!(attr["metadata"]["created"], ts, "{path}");
            assert_eq!(attr["metadata"]["last_modified"], ts, "{path}");
        }
        assert_eq!(p["created"]["value"], ts);
        assert_eq!(p["last_modified"]["value"], ts);
        assert!(crate::validate(&p).is_ok());
    }
}
