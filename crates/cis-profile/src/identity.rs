//! uuid and primary_username derivation (DECISIONS A7, profile-and-crypto §7.4).

use base64::Engine;
use uuid::Uuid;

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

#[cfg(test)]
mod tests {
    use super::*;

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
