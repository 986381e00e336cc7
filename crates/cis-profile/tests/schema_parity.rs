//! The port accepts and rejects exactly what the reference schema does (DECISIONS A2): every row of
//! the mutation table in profile-and-crypto §2, the reference profiles, and every-violation reporting.
#![allow(clippy::unwrap_used)]

use cis_profile::{SchemaValidator, null_profile, validate};
use serde_json::{Value, json};

fn set(profile: &mut Value, pointer: &str, value: Value) {
    *profile.pointer_mut(pointer).unwrap() = value;
}

fn remove(profile: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    profile
        .pointer_mut(parent)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .shift_remove(key)
        .unwrap();
}

fn insert(profile: &mut Value, parent: &str, key: &str, value: Value) {
    profile
        .pointer_mut(parent)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .insert(key.into(), value);
}

#[test]
fn mutation_table_of_the_reference_schema() {
    type Mutation = Box<dyn Fn(&mut Value)>;
    let null_attr = || null_profile()["first_name"].clone();
    let rows: Vec<(&str, Mutation, bool)> = vec![
        ("none", Box::new(|_| {}), true),
        (
            "title display public",
            Box::new(|p| {
                set(
                    p,
                    "/staff_information/title/metadata/display",
                    json!("public"),
                )
            }),
            true,
        ),
        (
            "title classification PUBLIC",
            Box::new(|p| {
                set(
                    p,
                    "/staff_information/title/metadata/classification",
                    json!("PUBLIC"),
                )
            }),
            true,
        ),
        (
            "cost_center display ndaed",
            Box::new(|p| {
                set(
                    p,
                    "/staff_information/cost_center/metadata/display",
                    json!("ndaed"),
                )
            }),
            false,
        ),
        (
            "github_id_v3 display public",
            Box::new(|p| {
                set(
                    p,
                    "/identities/github_id_v3/metadata/display",
                    json!("public"),
                )
            }),
            true,
        ),
        (
            "github_id_v3 classification PUBLIC",
            Box::new(|p| {
                set(
                    p,
                    "/identities/github_id_v3/metadata/classification",
                    json!("PUBLIC"),
                )
            }),
            true,
        ),
        (
            "mozilla_ldap_id display public",
            Box::new(|p| {
                set(
                    p,
                    "/identities/mozilla_ldap_id/metadata/display",
                    json!("public"),
                )
            }),
            false,
        ),
        (
            "remove github_id_v3",
            Box::new(|p| remove(p, "/identities/github_id_v3")),
            true,
        ),
        (
            "add identities.foo",
            Box::new(move |p| insert(p, "/identities", "foo", null_attr())),
            false,
        ),
        (
            "created not a date",
            Box::new(|p| set(p, "/uuid/metadata/created", json!("not a date"))),
            true,
        ),
        (
            "add top-level key",
            Box::new(|p| insert(p, "", "foo", json!("bar"))),
            false,
        ),
        ("remove schema", Box::new(|p| remove(p, "/schema")), false),
        ("schema 1", Box::new(|p| set(p, "/schema", json!(1))), false),
        (
            "hris display public",
            Box::new(|p| {
                set(
                    p,
                    "/access_information/hris/metadata/display",
                    json!("public"),
                )
            }),
            false,
        ),
        (
            "ldap display public",
            Box::new(|p| {
                set(
                    p,
                    "/access_information/ldap/metadata/display",
                    json!("public"),
                )
            }),
            false,
        ),
        (
            "active display public",
            Box::new(|p| set(p, "/active/metadata/display", json!("public"))),
            false,
        ),
        (
            "uuid display null",
            Box::new(|p| set(p, "/uuid/metadata/display", Value::Null)),
            false,
        ),
        (
            "usernames values [1,2]",
            Box::new(|p| set(p, "/usernames/values", json!([1, 2]))),
            true,
        ),
        (
            "ldap values [1,2]",
            Box::new(|p| set(p, "/access_information/ldap/values", json!([1, 2]))),
            false,
        ),
        (
            "user_id value 5",
            Box::new(|p| set(p, "/user_id/value", json!(5))),
            false,
        ),
        (
            "manager value \"true\"",
            Box::new(|p| set(p, "/staff_information/manager/value", json!("true"))),
            false,
        ),
        (
            "publisher name wrong",
            Box::new(|p| set(p, "/user_id/signature/publisher/name", json!("wrong"))),
            false,
        ),
        (
            "publisher typ JWT",
            Box::new(|p| set(p, "/user_id/signature/publisher/typ", json!("JWT"))),
            false,
        ),
        (
            "missing additional",
            Box::new(|p| remove(p, "/user_id/signature/additional")),
            false,
        ),
        (
            "additional []",
            Box::new(|p| set(p, "/user_id/signature/additional", json!([]))),
            true,
        ),
        (
            "metadata extra key",
            Box::new(|p| insert(p, "/user_id/metadata", "publisher_authority", json!("ldap"))),
            false,
        ),
        (
            "both value and values",
            Box::new(|p| insert(p, "/user_id", "values", Value::Null)),
            false,
        ),
        (
            "values-type with value",
            Box::new(|p| {
                remove(p, "/usernames/values");
                insert(p, "/usernames", "value", Value::Null);
            }),
            false,
        ),
        (
            "classification long label",
            Box::new(|p| {
                set(
                    p,
                    "/user_id/metadata/classification",
                    json!("Mozilla Confidential - Staff and NDA'd Mozillians Only"),
                )
            }),
            false,
        ),
        (
            "classification UNKNOWN",
            Box::new(|p| set(p, "/user_id/metadata/classification", json!("UNKNOWN"))),
            false,
        ),
        (
            "display bogus",
            Box::new(|p| set(p, "/user_id/metadata/display", json!("bogus"))),
            false,
        ),
        (
            "verified null",
            Box::new(|p| set(p, "/user_id/metadata/verified", Value::Null)),
            false,
        ),
        // Further checks of the same rules.
        (
            "user_id value {invalid} (test_profile_validation)",
            Box::new(|p| set(p, "/user_id/value", json!({"invalid": "test"}))),
            false,
        ),
        (
            "additional name null ok, any string ok",
            Box::new(|p| set(p, "/user_id/signature/additional/0/name", json!("someone"))),
            true,
        ),
        (
            "access_provider display public",
            Box::new(|p| {
                set(
                    p,
                    "/access_information/access_provider/metadata/display",
                    json!("public"),
                )
            }),
            false,
        ),
        (
            "ldap display staff",
            Box::new(|p| {
                set(
                    p,
                    "/access_information/ldap/metadata/display",
                    json!("staff"),
                )
            }),
            true,
        ),
        (
            "worker_type classification MOZILLA CONFIDENTIAL",
            Box::new(|p| {
                set(
                    p,
                    "/staff_information/worker_type/metadata/classification",
                    json!("MOZILLA CONFIDENTIAL"),
                )
            }),
            false,
        ),
        (
            "remove staff_information.title",
            Box::new(|p| remove(p, "/staff_information/title")),
            false,
        ),
        (
            "active value true",
            Box::new(|p| set(p, "/active/value", json!(true))),
            true,
        ),
        (
            "user_id empty string",
            Box::new(|p| set(p, "/user_id/value", json!(""))),
            true,
        ),
    ];
    let validator = SchemaValidator::bundled();
    for (name, mutate, expected) in rows {
        let mut profile = null_profile();
        mutate(&mut profile);
        let result = validator.validate(&profile);
        assert_eq!(result.is_ok(), expected, "{name}: {result:?}");
        assert_eq!(validator.is_valid(&profile), expected, "{name} (is_valid)");
        if let Err(violations) = result {
            assert!(!violations.is_empty());
        }
    }
}

#[test]
fn null_profile_and_reference_profiles_validate() {
    assert_eq!(validate(&null_profile()), Ok(()));
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/reference/profiles"
    );
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let profile: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let result = validate(&profile);
        if name.starts_with("e2e-") {
            assert_eq!(result, Ok(()), "{name}");
        } else {
            // The person-API fixture uses the old schema (metadata without display, publisher_authority).
            assert!(result.is_err(), "{name} should not validate");
        }
        checked += 1;
    }
    assert_eq!(checked, 12);
}

#[test]
fn reports_every_violation_with_its_path() {
    let mut profile = null_profile();
    set(
        &mut profile,
        "/staff_information/cost_center/metadata/display",
        json!("ndaed"),
    );
    set(&mut profile, "/user_id/value", json!(5));
    set(&mut profile, "/active/metadata/verified", Value::Null);
    insert(
        &mut profile,
        "/identities",
        "foo",
        null_profile()["first_name"].clone(),
    );
    let violations = validate(&profile).unwrap_err();
    let paths: Vec<&str> = violations.iter().map(|v| v.path.as_str()).collect();
    for expected in [
        "/staff_information/cost_center/metadata/display",
        "/user_id/value",
        "/active/metadata/verified",
    ] {
        assert!(
            paths.contains(&expected),
            "{expected} missing from {paths:?}"
        );
    }
    // The additional property is reported on its parent, naming the key.
    assert!(
        violations
            .iter()
            .any(|v| v.path == "/identities" && v.message.contains("foo")),
        "{violations:?}"
    );
    let cost_center = violations
        .iter()
        .find(|v| v.path == "/staff_information/cost_center/metadata/display")
        .unwrap();
    assert!(
        cost_center.message.contains("staff"),
        "{}",
        cost_center.message
    );
}
