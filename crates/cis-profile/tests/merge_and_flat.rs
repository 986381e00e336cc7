//! Merge (full changed paths) and the DynamoDB flat profile (profile-and-crypto §7.2, §7.5, §12.1).
#![allow(clippy::unwrap_used)]

use cis_profile::{ProfileError, flat_profile, merge, null_profile};
use serde_json::{Value, json};

#[test]
fn merge_replaces_changed_attributes_and_keeps_null_patch_values() {
    // test_merge_profiles
    let mut stored = null_profile();
    stored["uuid"]["value"] = json!("31337");
    stored["access_information"]["ldap"]["values"] = json!({"old_group": null});
    let mut patch = null_profile();
    patch["access_information"]["ldap"]["values"] = json!({"new_group": null, "other": null});
    patch["access_information"]["ldap"]["signature"]["publisher"]["value"] = json!("sig");
    let changed = merge(&mut stored, &patch);
    assert_eq!(changed, ["access_information.ldap"]);
    assert_eq!(stored["uuid"]["value"], "31337");
    assert_eq!(
        stored["access_information"]["ldap"],
        patch["access_information"]["ldap"]
    );
    assert!(stored["active"]["value"].is_null());
}

#[test]
fn merge_returns_full_paths_in_document_order() {
    // test_merge_return_value, with full paths.
    let mut stored = null_profile();
    stored["user_id"]["value"] = json!("usera");
    let mut patch = null_profile();
    patch["user_id"]["value"] = json!("userb");
    patch["first_name"]["value"] = json!("Jane");
    patch["identities"]["github_id_v3"]["value"] = json!("1");
    patch["staff_information"]["title"]["value"] = json!("Engineer");
    patch["active"]["value"] = json!(true);
    let changed = merge(&mut stored, &patch);
    assert_eq!(
        changed,
        [
            "user_id",
            "active",
            "first_name",
            "identities.github_id_v3",
            "staff_information.title"
        ]
    );
    assert_eq!(stored["user_id"]["value"], "userb");
}

#[test]
fn merge_compares_value_display_verified_only() {
    let mut stored = null_profile();
    stored["first_name"]["value"] = json!("Jane");
    let mut patch = stored.clone();
    patch["first_name"]["metadata"]["classification"] = json!("WORKGROUP CONFIDENTIAL");
    patch["first_name"]["metadata"]["last_modified"] = json!("2020-01-01T00:00:00.000Z");
    patch["first_name"]["signature"]["publisher"]["value"] = json!("other");
    assert!(merge(&mut stored, &patch).is_empty());
    assert_eq!(stored["first_name"]["metadata"]["classification"], "PUBLIC");

    patch["first_name"]["metadata"]["display"] = json!("public");
    assert_eq!(merge(&mut stored, &patch), ["first_name"]);
    assert_eq!(stored["first_name"], patch["first_name"]);

    patch["first_name"]["metadata"]["verified"] = json!(false);
    assert_eq!(merge(&mut stored, &patch), ["first_name"]);

    // Null never deletes, even with other metadata changes.
    let mut patch = null_profile();
    patch["first_name"]["metadata"]["display"] = json!("staff");
    assert!(merge(&mut stored, &patch).is_empty());
    assert_eq!(stored["first_name"]["value"], "Jane");
}

#[test]
fn merge_adds_attributes_the_stored_profile_lacks() {
    let mut stored = null_profile();
    stored["identities"]
        .as_object_mut()
        .unwrap()
        .shift_remove("custom_1_primary_email");
    let mut patch = null_profile();
    patch["identities"]["custom_1_primary_email"]["value"] = json!("a@b.c");
    patch["schema"] = json!("something else");
    assert_eq!(
        merge(&mut stored, &patch),
        ["identities.custom_1_primary_email"]
    );
    assert_eq!(
        stored["identities"]["custom_1_primary_email"]["value"],
        "a@b.c"
    );
    assert_eq!(
        stored["schema"],
        null_profile()["schema"],
        "schema is not merged"
    );
}

fn assert_no_empty_strings(v: &Value, path: &str) {
    match v {
        Value::String(s) => assert!(!s.is_empty(), "empty string at {path}"),
        Value::Array(items) => items.iter().for_each(|i| assert_no_empty_strings(i, path)),
        Value::Object(m) => {
            for (k, i) in m {
                assert!(!k.is_empty(), "empty key at {path}");
                assert_no_empty_strings(i, &format!("{path}.{k}"));
            }
        }
        _ => {}
    }
}

#[test]
fn flat_profile_of_the_null_profile() {
    // test_user_init / test_dynamo_flat_dict
    let mut p = null_profile();
    p["user_id"]["value"] = json!("ad|Mozilla-LDAP|jdoe");
    p["staff_information"]["staff"]["value"] = json!(true);
    p["access_information"]["hris"]["values"] =
        json!({"employee_id": 42, "worker_type": "Employee"});
    p["access_information"]["ldap"]["values"] = json!({"a": null, "b": ""});
    let flat = flat_profile(&p).unwrap();
    assert_eq!(flat.len(), 28);
    assert_eq!(flat["user_id"], json!({"S": "ad|Mozilla-LDAP|jdoe"}));
    assert_eq!(
        flat["schema"],
        json!({"S": "https://auth.mozilla.com/.well-known/profile.schema"})
    );
    assert_eq!(flat["first_name"], json!({"NULL": true}));
    assert_eq!(
        flat["staff_information"]["M"]["staff"],
        json!({"BOOL": true})
    );
    assert_eq!(
        flat["staff_information"]["M"]["title"],
        json!({"NULL": true})
    );
    assert_eq!(
        flat["access_information"]["M"]["hris"],
        json!({"M": {"employee_id": {"N": "42"}, "worker_type": {"S": "Employee"}}})
    );
    assert_eq!(
        flat["access_information"]["M"]["ldap"],
        json!({"M": {"a": {"NULL": true}}})
    );
    assert_no_empty_strings(&Value::Object(flat), "");
}

#[test]
fn flat_profile_quirks() {
    // test_dynamo_flat_dict_with_failing_phone
    let mut p = null_profile();
    p["phone_numbers"]["values"] = json!({"foo": ""});
    p["first_name"]["value"] = json!("");
    p["tags"]["values"] = json!(["", "a"]);
    let flat = flat_profile(&p).unwrap();
    assert_eq!(flat["phone_numbers"], json!({"M": {}}));
    assert_eq!(flat["tags"], json!({"L": [{"S": "a"}]}));
    // An empty-string attribute keeps {signature, metadata} instead of collapsing.
    let first = flat["first_name"]["M"].as_object().unwrap();
    assert_eq!(first.keys().collect::<Vec<_>>(), ["signature", "metadata"]);
    assert_eq!(
        first["metadata"]["M"]["classification"],
        json!({"S": "PUBLIC"})
    );
    assert_no_empty_strings(&Value::Object(flat), "");
}

#[test]
fn flat_profile_refuses_floats_and_non_objects() {
    let mut p = null_profile();
    p["access_information"]["hris"]["values"] = json!({"ratio": 0.5});
    match flat_profile(&p) {
        Err(ProfileError::FloatInFlatProfile { path }) => {
            assert_eq!(path, "access_information.hris.ratio")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        flat_profile(&json!([])),
        Err(ProfileError::NotAnObject)
    ));
}

#[test]
fn flat_profile_of_reference_profiles() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/reference/profiles"
    );
    for i in 0..10 {
        let text = std::fs::read_to_string(format!("{dir}/e2e-{i}.json")).unwrap();
        let p: Value = serde_json::from_str(&text).unwrap();
        let flat = flat_profile(&p).unwrap();
        assert_eq!(flat["user_id"]["S"], p["user_id"]["value"]);
        assert_no_empty_strings(&Value::Object(flat), "");
    }
}

#[test]
fn verify_can_publish_when_merging() {
    // test_verify_can_publish_when_merging: merge a patch with new LDAP groups into a full profile,
    // then judge the merged profile against the patch.
    use cis_profile::{FakeOptions, LoginMethod, PublisherRules, check_publishers, fake_profile};
    let opts = FakeOptions {
        login_method: Some(LoginMethod::MozillaLdap),
        ..FakeOptions::default()
    };
    let mut original = fake_profile(9, &opts);
    let mut patch = null_profile();
    patch["access_information"]["ldap"]["values"] = json!({"new_group": null});
    patch["access_information"]["ldap"]["signature"]["publisher"]["name"] = json!("ldap");
    let active_before = original["active"].clone();
    assert_eq!(merge(&mut original, &patch), ["access_information.ldap"]);
    assert_eq!(original["active"], active_before);
    let violations = check_publishers(&original, &patch, PublisherRules::bundled());
    assert!(violations.is_empty(), "{violations:?}");
}
