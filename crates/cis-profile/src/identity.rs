//! uuid and primary_username derivation (DECISIONS A7, profile-and-crypto §7.4).

use base64::Engine;
use serde_json::Value;
use uuid::Uuid;

use crate::attributes::attribute_mut;
use crate::error::ProfileError;

/// `uuid = UUIDv5(NAMESPACE_URL, "<salt>#<user_id>")` and
/// `primary_username = "r--" + base64url(uuid bytes)` with `=` padding.
pub fn derive_uuid_and_username(salt: &str, user_id: &str) -> (String, String) {
    let name = format!("{salt}#{user_id}");
    let id = Uuid::new_v5(&Uuid::NAMESPACE_URL, name.as_bytes());
    let username = format!(
        "r--{}",
        base64::engine::general_purpose::URL_SAFE.encode(id.as_bytes())
    );
    (id.hyphenated().to_string(), username)
}

/// Derive uuid and primary_username from the profile's `user_id` value and write both, with their
/// `metadata.created`/`last_modified` set to `timestamp` (the Python
/// `initialize_uuid_and_primary_username`). Does not sign: the caller signs both as `cis`.
/// Returns `(uuid, primary_username)`.
pub fn initialize_uuid_and_username(
    profile: &mut Value,
    salt: &str,
    timestamp: &str,
) -> Result<(String, String), ProfileError> {
    let user_id = profile
        .get("user_id")
        .and_then(|a| a.get("value"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or(ProfileError::MissingUserId)?
        .to_string();
    let (uuid, username) = derive_uuid_and_username(salt, &user_id);
    for (path, value) in [("uuid", &uuid), ("primary_username", &username)] {
        let attr = attribute_mut(profile, path)
            .ok_or_else(|| ProfileError::UnknownAttribute(path.to_string()))?;
        attr.insert("value".into(), Value::String(value.clone()));
        if let Some(metadata) = attr.get_mut("metadata").and_then(Value::as_object_mut) {
            metadata.insert("created".into(), Value::String(timestamp.to_string()));
            metadata.insert("last_modified".into(), Value::String(timestamp.to_string()));
        }
    }
    Ok((uuid, username))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initializes_the_profile_from_its_user_id() {
        // test_initialize_uuid_and_primary_username (salt "12345").
        let mut p = crate::null_profile();
        assert!(
            initialize_uuid_and_username(&mut p, "12345", "x").is_err(),
            "no user_id"
        );
        p["user_id"]["value"] = serde_json::json!("test");
        let ts = "2020-01-01T00:00:00.000Z";
        let (uuid, username) = initialize_uuid_and_username(&mut p, "12345", ts).unwrap();
        assert_eq!(p["uuid"]["value"], "d0224f82-9d7b-595c-ad37-f56feebd751a");
        assert_eq!(
            p["primary_username"]["value"],
            "r--0CJPgp17WVytN_Vv7r11Gg=="
        );
        assert_eq!(p["uuid"]["value"], uuid.as_str());
        assert_eq!(p["primary_username"]["value"], username.as_str());
        assert_eq!(p["uuid"]["metadata"]["created"], ts);
        assert_eq!(p["primary_username"]["metadata"]["last_modified"], ts);
        assert!(crate::validate(&p).is_ok());
    }

    #[test]
    fn vectors_from_the_python_cis() {
        for (salt, user_id, uuid, username) in [
            (
                "12345",
                "test",
                "d0224f82-9d7b-595c-ad37-f56feebd751a",
                "r--0CJPgp17WVytN_Vv7r11Gg==",
            ),
            (
                "",
                "ad|Mozilla-LDAP|jdoe",
                "f0a79bb8-7673-5602-ac3c-3cd08a0caf1f",
                "r--8KebuHZzVgKsPDzQigyvHw==",
            ),
            (
                "fanyrandomstring",
                "github|123",
                "fdd3d488-3fa2-5019-ac4f-5ef3408ee333",
                "r--_dPUiD-iUBmsT17zQI7jMw==",
            ),
            (
                "None",
                "email|c3cbf9f5830f1358e28d6b68a3e4bf15",
                "86199e77-b60b-5632-9878-5983b13935fa",
                "r--hhmed7YLVjKYeFmDsTk1-g==",
            ),
        ] {
            let (u, n) = derive_uuid_and_username(salt, user_id);
            assert_eq!(u, uuid, "{salt} {user_id}");
            assert_eq!(n, username, "{salt} {user_id}");
            assert_eq!(n.len(), 27);
        }
    }
}
