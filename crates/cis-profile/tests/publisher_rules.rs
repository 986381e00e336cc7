//! Every row of the publisher-rules decision table (profile-and-crypto §5.3) and the original
//! verify_can_publish / verify_all_publishers tests (§12.1).
#![allow(clippy::unwrap_used)]

use cis_profile::{
    PublisherOperation, PublisherRules, PublisherViolation, check_publishers, null_profile,
};
use serde_json::{Value, json};

fn rules() -> &'static PublisherRules {
    PublisherRules::bundled()
}

/// Set `path`'s value (or values) and claimed publisher.
fn publish(profile: &mut Value, path: &str, value: Value, publisher: &str) {
    let attr = cis_profile::attribute_mut(profile, path).unwrap();
    let key = if attr.contains_key("value") {
        "value"
    } else {
        "values"
    };
    attr.insert(key.into(), value);
    attr["signature"]["publisher"]["name"] = json!(publisher);
}

fn set_publisher(profile: &mut Value, path: &str, publisher: &str) {
    cis_profile::attribute_mut(profile, path).unwrap()["signature"]["publisher"]["name"] =
        json!(publisher);
}

fn set_metadata(profile: &mut Value, path: &str, field: &str, value: Value) {
    cis_profile::attribute_mut(profile, path).unwrap()["metadata"][field] = value;
}

fn check(new: &Value, old: &Value) -> Vec<PublisherViolation> {
    check_publishers(new, old, rules())
}

fn assert_allowed(new: &Value, old: &Value, why: &str) {
    let v = check(new, old);
    assert!(v.is_empty(), "{why}: {v:?}");
}

fn assert_refused(new: &Value, old: &Value, path: &str, op: PublisherOperation, why: &str) {
    let v = check(new, old);
    assert_eq!(v.len(), 1, "{why}: {v:?}");
    assert_eq!(v[0].path, path, "{why}");
    assert_eq!(v[0].operation, op, "{why}");
}

/// A stored profile with a value set at `path` by `publisher`.
fn stored_with(path: &str, value: Value, publisher: &str) -> Value {
    let mut p = null_profile();
    publish(&mut p, path, value, publisher);
    p
}

#[test]
fn identical_attribute_is_allowed() {
    let stored = stored_with("first_name", json!("Jane"), "wrong-but-unchanged");
    assert_allowed(&stored.clone(), &stored, "identical");
    assert_allowed(&null_profile(), &null_profile(), "null vs null");
}

#[test]
fn create_needs_a_publisher_from_the_create_list() {
    let old = null_profile();
    for (path, value, publisher) in [
        ("user_id", json!("ad|Mozilla-LDAP|jdoe"), "ldap"),
        ("uuid", json!("x"), "cis"),
        ("primary_username", json!("r--x"), "cis"),
        ("first_name", json!("Jane"), "mozilliansorg"),
        ("timezone", json!("UTC"), "hris"),
        ("identities.github_id_v3", json!("1"), "mozilliansorg"),
        ("access_information.ldap", json!({"g": null}), "ldap"),
        ("staff_information.title", json!("Engineer"), "ldap"),
        ("active", json!(true), "cis"),
    ] {
        let mut new = null_profile();
        publish(&mut new, path, value, publisher);
        assert_allowed(&new, &old, path);
    }
}

#[test]
fn create_never_falls_back_to_the_update_authority() {
    let old = null_profile();
    for (path, value, publisher) in [
        ("primary_username", json!("test"), "mozilliansorg"),
        ("identities.mozilla_ldap_id", json!("jdoe"), "mozilliansorg"),
        (
            "ssh_public_keys",
            json!({"k": "ssh-rsa AAA"}),
            "mozilliansorg",
        ),
        ("access_information.ldap", json!({"g": null}), "hris"),
        ("uuid", json!("x"), "ldap"),
    ] {
        let mut new = null_profile();
        publish(&mut new, path, value, publisher);
        let v = check(&new, &old);
        assert_eq!(v.len(), 1, "{path}: {v:?}");
        assert_eq!(v[0].operation, PublisherOperation::Create);
        assert_eq!(v[0].path, path);
        assert_eq!(v[0].publisher, publisher);
        assert_eq!(
            v[0].reason,
            format!("[create] {publisher} is NOT allowed to publish field {path}")
        );
    }
}

#[test]
fn update_by_the_update_authority_is_allowed() {
    for (path, old_value, new_value, publisher) in [
        ("first_name", json!("Jane"), json!("Janet"), "mozilliansorg"),
        ("staff_information.title", json!("A"), json!("B"), "hris"),
        (
            "identities.mozilla_ldap_id",
            json!("a"),
            json!("b"),
            "mozilliansorg",
        ),
        (
            "primary_username",
            json!("r--x"),
            json!("jane"),
            "mozilliansorg",
        ),
        ("active", json!(true), json!(false), "cis"),
        (
            "access_information.ldap",
            json!({"a": null}),
            json!({"b": null}),
            "ldap",
        ),
    ] {
        let old = stored_with(path, old_value, "whoever");
        let new = stored_with(path, new_value, publisher);
        assert_allowed(&new, &old, path);
    }
}

#[test]
fn update_by_anyone_else_is_refused() {
    for (path, publisher) in [
        ("identities.mozilla_ldap_id", "ldap"),
        ("staff_information.title", "ldap"),
        ("active", "hris"),
        ("active", "ldap"),
        ("uuid", "cis"),
        ("timezone", "hris"),
    ] {
        let old = stored_with(path, json!("a"), "cis");
        let new = stored_with(path, json!("b"), publisher);
        assert_refused(&new, &old, path, PublisherOperation::Update, path);
    }
}

#[test]
fn uuid_can_never_be_updated_even_by_an_empty_publisher_name() {
    let old = stored_with("uuid", json!("a"), "cis");
    let new = stored_with("uuid", json!("b"), "");
    assert_refused(&new, &old, "uuid", PublisherOperation::Update, "empty name");
}

#[test]
fn deletion_is_an_update() {
    let old = stored_with("first_name", json!("Jane"), "mozilliansorg");
    let new = stored_with("first_name", Value::Null, "mozilliansorg");
    assert_allowed(&new, &old, "update authority deletes");
    let new = stored_with("first_name", Value::Null, "ldap");
    assert_refused(
        &new,
        &old,
        "first_name",
        PublisherOperation::Update,
        "ldap deletes",
    );
}

#[test]
fn empty_string_and_empty_object_count_as_set() {
    // "" -> value by a creator that is not the updater: judged as an update.
    let old = stored_with("first_name", json!(""), "ldap");
    let new = stored_with("first_name", json!("Jane"), "ldap");
    assert_refused(
        &new,
        &old,
        "first_name",
        PublisherOperation::Update,
        "\"\" -> value",
    );
    let old = stored_with("access_information.hris", json!({}), "hris");
    let new = stored_with("access_information.hris", json!({"employee_id": 1}), "hris");
    assert_allowed(&new, &old, "{} -> value by the updater");
    let new = stored_with("access_information.hris", json!({"employee_id": 1}), "ldap");
    assert_refused(
        &new,
        &old,
        "access_information.hris",
        PublisherOperation::Update,
        "{} -> value by ldap",
    );
}

#[test]
fn null_to_null_with_display_changed() {
    let old = null_profile();
    let mut new = null_profile();
    set_metadata(
        &mut new,
        "identities.github_id_v3",
        "display",
        json!("public"),
    );
    set_publisher(&mut new, "identities.github_id_v3", "mozilliansorg");
    assert_allowed(&new, &old, "mozilliansorg");

    let mut new = null_profile();
    set_metadata(
        &mut new,
        "identities.github_id_v3",
        "display",
        json!("public"),
    );
    set_publisher(&mut new, "identities.github_id_v3", "access_provider");
    assert_refused(
        &new,
        &old,
        "identities.github_id_v3",
        PublisherOperation::Update,
        "access_provider",
    );

    // The update authority of user_id is access_provider.
    let mut new = null_profile();
    set_metadata(&mut new, "user_id", "display", json!("public"));
    assert_allowed(&new, &old, "update authority");
}

#[test]
fn same_value_metadata_only_changes() {
    let old = stored_with("staff_information.title", json!("Engineer"), "hris");
    // classification, timestamps and even the publisher name: accepted when display/verified stay.
    let mut new = old.clone();
    set_metadata(
        &mut new,
        "staff_information.title",
        "classification",
        json!("PUBLIC"),
    );
    set_metadata(
        &mut new,
        "staff_information.title",
        "last_modified",
        json!("2020-01-01T00:00:00.000Z"),
    );
    set_publisher(&mut new, "staff_information.title", "ldap");
    assert_allowed(&new, &old, "classification/timestamps/publisher");

    for (field, value) in [("display", json!("public")), ("verified", json!(false))] {
        let mut new = old.clone();
        set_metadata(&mut new, "staff_information.title", field, value.clone());
        set_publisher(&mut new, "staff_information.title", "mozilliansorg");
        assert_allowed(&new, &old, "mozilliansorg exception");
        set_publisher(&mut new, "staff_information.title", "hris");
        assert_allowed(&new, &old, "update authority");
        set_publisher(&mut new, "staff_information.title", "ldap");
        assert_refused(
            &new,
            &old,
            "staff_information.title",
            PublisherOperation::Update,
            field,
        );
    }
}

#[test]
fn identities_update_rule_applies_to_every_child() {
    let rules = rules();
    for child in null_profile()["identities"].as_object().unwrap().keys() {
        assert_eq!(
            rules.update_publisher(&format!("identities.{child}")),
            Some("mozilliansorg")
        );
    }
    assert_eq!(rules.update_publisher("uuid"), None);
    assert_eq!(
        rules.update_publisher("staff_information.title"),
        Some("hris")
    );
    assert_eq!(
        rules.create_publishers("identities.mozilla_ldap_id"),
        ["ldap", "hris", "access_provider"]
    );
    assert!(rules.create_publishers("nonexistent").is_empty());
}

#[test]
fn groups_equal_as_a_whole_pass_and_violations_are_all_reported() {
    let old = stored_with("staff_information.title", json!("A"), "hris");
    let mut new = old.clone();
    publish(&mut new, "staff_information.title", json!("B"), "ldap");
    publish(
        &mut new,
        "staff_information.team",
        json!("T"),
        "mozilliansorg",
    );
    publish(&mut new, "first_name", json!("X"), "cis");
    let v = check(&new, &old);
    let paths: Vec<&str> = v.iter().map(|v| v.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "first_name",
            "staff_information.title",
            "staff_information.team"
        ]
    );
    assert_eq!(v[1].operation, PublisherOperation::Update);
    assert_eq!(v[2].operation, PublisherOperation::Create);
}

#[test]
fn missing_stored_attribute_falls_back_to_the_null_default() {
    let mut old = null_profile();
    old["identities"]
        .as_object_mut()
        .unwrap()
        .shift_remove("custom_1_primary_email");
    assert_allowed(&null_profile(), &old, "null identity vs missing");
    let mut new = null_profile();
    publish(
        &mut new,
        "identities.custom_1_primary_email",
        json!("a@b.c"),
        "ldap",
    );
    assert_allowed(&new, &old, "create against missing");
}

// --- §12.1 test_profile.py ports -------------------------------------------------------------

#[test]
fn verify_can_publish() {
    let old = null_profile();
    let mut new = null_profile();
    publish(&mut new, "first_name", json!("Jane"), "failure");
    assert_refused(
        &new,
        &old,
        "first_name",
        PublisherOperation::Create,
        "failure publisher",
    );
    let stored = stored_with("user_id", json!("ad|Mozilla-LDAP|x"), "ldap");
    assert_allowed(&stored.clone(), &stored, "unchanged user_id");
}

#[test]
fn verify_all_publishers() {
    let new = null_profile();
    assert_allowed(&new, &new, "itself");
    // active deleted by a non-cis publisher.
    let old = stored_with("active", json!(true), "access_provider");
    let new = stored_with("active", Value::Null, "access_provider");
    assert_refused(
        &new,
        &old,
        "active",
        PublisherOperation::Update,
        "active deleted",
    );
    // first_name owned by mozilliansorg changed by access_provider.
    let old = stored_with("first_name", json!("A"), "mozilliansorg");
    let new = stored_with("first_name", json!("B"), "access_provider");
    assert_refused(
        &new,
        &old,
        "first_name",
        PublisherOperation::Update,
        "first_name",
    );
}

#[test]
fn verify_all_publishers_mozillians_exception_and_metadata() {
    let old = stored_with("first_name", json!("A"), "ldap");
    let mut new = old.clone();
    set_metadata(&mut new, "first_name", "display", json!("public"));
    set_publisher(&mut new, "first_name", "mozilliansorg");
    assert_allowed(&new, &old, "mozillians exception");

    let old = stored_with("user_id", json!("u"), "access_provider");
    let mut new = old.clone();
    set_metadata(&mut new, "user_id", "display", json!("public"));
    assert_allowed(&new, &old, "modify metadata by update authority");

    let old = stored_with("login_method", json!("github"), "access_provider");
    let new = stored_with("login_method", json!("google-oauth2"), "access_provider");
    assert_allowed(&new, &old, "login_method by access_provider");
}

#[test]
fn rules_from_json_rejects_bad_shapes() {
    assert!(PublisherRules::from_json("{}").is_err());
    assert!(PublisherRules::from_json(r#"{"create":{"a":"x"},"update":{}}"#).is_err());
    assert!(PublisherRules::from_json(r#"{"create":{},"update":{"a":[1]}}"#).is_err());
    let custom = PublisherRules::from_json(r#"{"create":{"a":["p"]},"update":{"a":"q"}}"#).unwrap();
    assert_eq!(custom.create_publishers("a"), ["p"]);
    assert_eq!(custom.update_publisher("a"), Some("q"));
    let reference = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/reference/schema/publisher-rules.bundled.json"
    ))
    .unwrap();
    let parsed: Value = serde_json::from_str(&reference).unwrap();
    let embedded: Value = serde_json::from_str(cis_profile::PUBLISHER_RULES_JSON).unwrap();
    assert_eq!(parsed, embedded);
}
