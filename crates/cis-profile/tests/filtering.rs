//! Scope and display filtering as the Person API applies it (profile-and-crypto §6, person-api §4.4–4.5).
#![allow(clippy::unwrap_used)]

use cis_profile::{
    ScopeGrant, filter_by_classification, filter_by_display, filter_display_levels, filter_profile,
    null_profile,
};
use serde_json::{Value, json};

fn filtered(scopes: &str, filter_display: Option<&str>) -> Value {
    let mut p = null_profile();
    filter_profile(
        &mut p,
        &ScopeGrant::from_scope_claim(scopes),
        filter_display,
    );
    p
}

fn has(p: &Value, path: &str) -> bool {
    cis_profile::attribute(p, path).is_some()
}

#[test]
fn no_scopes_leaves_public_public_attributes_and_empty_groups() {
    let p = filtered("", None);
    let keys: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "schema",
            "uuid",
            "primary_username",
            "identities",
            "access_information",
            "staff_information"
        ]
    );
    for group in cis_profile::GROUPS {
        assert_eq!(p[group], json!({}), "{group}");
    }
    assert_eq!(p["schema"], null_profile()["schema"]);
}

#[test]
fn worked_examples_of_the_person_api() {
    let p = filtered("display:all", None);
    assert!(has(&p, "uuid") && has(&p, "user_id"));
    assert!(!has(&p, "access_information.access_provider"));
    assert!(!has(&p, "staff_information.cost_center"));

    let p = filtered("classification:workgroup:staff_only display:all", None);
    assert!(has(&p, "staff_information.cost_center"));
    assert!(!has(&p, "staff_information.title"));
    assert!(!has(&p, "access_information.access_provider"));

    let p = filtered(
        "classification:workgroup:staff_only classification:mozilla_confidential display:all",
        None,
    );
    assert!(has(&p, "staff_information.cost_center"));
    assert!(has(&p, "staff_information.title"));

    let p = filtered("read:fullprofile display:staff", None);
    assert!(has(&p, "staff_information.cost_center"));
    assert!(!has(&p, "access_information.access_provider"));

    let p = filtered("read:fullprofile display:public", None);
    assert!(!has(&p, "staff_information.cost_center"));
    assert!(!has(&p, "access_information.access_provider"));
}

#[test]
fn display_scopes_are_not_cumulative() {
    // title is ndaed, cost_center is staff.
    let p = filtered("read:fullprofile display:staff", None);
    assert!(!has(&p, "staff_information.title"));
    let p = filtered("read:fullprofile display:ndaed", None);
    assert!(has(&p, "staff_information.title"));
    assert!(!has(&p, "staff_information.cost_center"));
}

#[test]
fn classification_scopes_are_not_hierarchical() {
    let p = filtered("classification:mozilla_confidential display:all", None);
    assert!(has(&p, "staff_information.title"));
    assert!(!has(&p, "staff_information.cost_center"));
    assert!(!has(&p, "fun_title"), "workgroup confidential");
    let p = filtered("classification:workgroup display:all", None);
    assert!(has(&p, "fun_title"));
    assert!(
        !has(&p, "staff_information.cost_center"),
        "workgroup does not imply staff_only"
    );
}

#[test]
fn display_private_is_unmapped_and_display_none_grants_null() {
    let mut base = null_profile();
    base["first_name"]["metadata"]["display"] = json!("private");
    let mut p = base.clone();
    filter_profile(
        &mut p,
        &ScopeGrant::from_scope_claim("read:fullprofile display:private"),
        None,
    );
    assert!(!has(&p, "first_name"));
    let mut p = base.clone();
    filter_profile(
        &mut p,
        &ScopeGrant::from_scope_claim("read:fullprofile display:all"),
        None,
    );
    assert!(has(&p, "first_name"));

    let p = filtered("read:fullprofile display:none", None);
    assert!(has(&p, "user_id") && has(&p, "active") && has(&p, "uuid"));
    assert!(!has(&p, "staff_information.title"));
    let p = filtered("read:fullprofile", None);
    assert!(!has(&p, "user_id"), "null display needs display:none");
}

#[test]
fn filter_display_narrows_and_drops_null_display() {
    let p = filtered("read:fullprofile display:all", Some("private"));
    assert!(!has(&p, "user_id"), "null display removed by filterDisplay");
    assert!(!has(&p, "active"));
    assert!(has(&p, "uuid"));
    assert!(has(&p, "staff_information.title"));
    assert!(has(&p, "staff_information.cost_center"));

    let p = filtered("read:fullprofile display:all", Some("ndaed"));
    assert!(has(&p, "staff_information.title"));
    assert!(!has(&p, "staff_information.cost_center"));

    // It never widens: display:public + filterDisplay=staff still hides staff fields.
    let p = filtered("read:fullprofile display:public", Some("staff"));
    assert!(!has(&p, "staff_information.cost_center"));
    assert!(!has(&p, "staff_information.title"));

    // Unknown level -> public.
    let p = filtered("read:fullprofile display:all", Some("bogus"));
    assert!(has(&p, "uuid"));
    assert!(!has(&p, "staff_information.title"));
    assert_eq!(filter_display_levels("bogus"), ["public"]);
    assert_eq!(
        filter_display_levels("staff"),
        ["public", "authenticated", "vouched", "ndaed", "staff"]
    );
    assert_eq!(filter_display_levels("private").len(), 6);
}

#[test]
fn full_grant_without_filter_display_changes_nothing() {
    let p = filtered("read:fullprofile display:all", None);
    assert_eq!(p, null_profile());
    assert_eq!(
        ScopeGrant::from_scope_claim("read:fullprofile display:all"),
        ScopeGrant::full()
    );
}

#[test]
fn scope_grant_mapping() {
    let g = ScopeGrant::from_scopes(&[
        "classification:workgroup",
        "display:vouched",
        "display:none",
    ]);
    assert_eq!(
        g.classifications.unwrap(),
        [
            "WORKGROUP CONFIDENTIAL",
            "Mozilla Confidential - Specific Work Groups Only",
            "PUBLIC"
        ]
    );
    assert_eq!(g.displays.unwrap(), [Some("vouched"), None, Some("public")]);
    let g = ScopeGrant::from_scopes::<&str>(&[]);
    assert_eq!(g.classifications.unwrap(), ["PUBLIC"]);
    assert_eq!(g.displays.unwrap(), [Some("public")]);
}

#[test]
fn legacy_long_classification_labels_are_honoured() {
    let mut p = null_profile();
    p["first_name"]["metadata"]["classification"] =
        json!("Mozilla Confidential - Staff and NDA'd Mozillians Only");
    filter_profile(
        &mut p,
        &ScopeGrant::from_scope_claim("classification:mozilla_confidential display:all"),
        None,
    );
    assert!(has(&p, "first_name"));
}

#[test]
fn filter_scopes_of_the_original_tests() {
    // test_filter_scopes: user_id and staff title marked MOZILLA CONFIDENTIAL vanish under PUBLIC.
    let mut p = null_profile();
    p["user_id"]["metadata"]["classification"] = json!("MOZILLA CONFIDENTIAL");
    p["staff_information"]["title"]["metadata"]["classification"] = json!("MOZILLA CONFIDENTIAL");
    filter_by_classification(&mut p, &["PUBLIC"]);
    assert!(!has(&p, "user_id"));
    assert!(!has(&p, "staff_information.title"));
    assert!(has(&p, "uuid"));
    assert_eq!(p["staff_information"], json!({}));
    // test_graphql_query_filtered: public + null display hides staff title.
    let mut p = null_profile();
    filter_by_display(&mut p, &[Some("public"), None]);
    assert!(!has(&p, "staff_information.title"));
    assert!(has(&p, "user_id"));
}

#[test]
fn missing_metadata_field_is_denied_and_private_keys_kept() {
    let mut p = null_profile();
    p["first_name"]["metadata"]
        .as_object_mut()
        .unwrap()
        .shift_remove("display");
    p.as_object_mut()
        .unwrap()
        .insert("_internal".into(), json!({"x": 1}));
    filter_profile(
        &mut p,
        &ScopeGrant::from_scope_claim("read:fullprofile display:none"),
        None,
    );
    assert!(!has(&p, "first_name"));
    assert!(has(&p, "last_name"));
    assert_eq!(p["_internal"], json!({"x": 1}));
}

#[test]
fn reference_profiles_filter_consistently() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/reference/profiles"
    );
    let text = std::fs::read_to_string(format!("{dir}/e2e-0.json")).unwrap();
    let original: Value = serde_json::from_str(&text).unwrap();
    let mut p = original.clone();
    let grant = ScopeGrant::from_scope_claim(
        "classification:mozilla_confidential classification:workgroup display:staff display:ndaed display:vouched display:authenticated",
    );
    filter_profile(&mut p, &grant, None);
    let kept = cis_profile::attributes(&p);
    assert!(!kept.is_empty());
    for (path, attr) in &kept {
        let c = attr["metadata"]["classification"].as_str().unwrap();
        assert!(
            grant.classifications.as_ref().unwrap().contains(&c),
            "{path}"
        );
        let d = attr["metadata"]["display"].as_str();
        assert!(grant.displays.as_ref().unwrap().contains(&d), "{path}");
    }
    // Everything removed was really not allowed.
    let removed = cis_profile::attributes(&original).len() - kept.len();
    let expected_removed = cis_profile::attributes(&original)
        .iter()
        .filter(|(_, a)| {
            let c = a["metadata"]["classification"].as_str().unwrap();
            let d = a["metadata"]["display"].as_str();
            !grant.classifications.as_ref().unwrap().contains(&c)
                || !grant.displays.as_ref().unwrap().contains(&d)
        })
        .count();
    assert_eq!(removed, expected_removed);
}

#[test]
fn data_classification_of_the_null_profile() {
    // test_classification / test_data_classification
    let p = null_profile();
    assert_eq!(
        p["user_id"]["metadata"]["classification"],
        cis_profile::filter::classification::PUBLIC
    );
    assert_eq!(
        p["staff_information"]["worker_type"]["metadata"]["classification"],
        cis_profile::filter::classification::STAFF_ONLY
    );
}

#[test]
fn filtered_view_serializes_like_filter_profile() {
    use cis_profile::{FakeOptions, FilteredProfile, fake_profile};
    let grants = [
        "",
        "display:all",
        "read:fullprofile display:all",
        "classification:mozilla_confidential classification:workgroup display:staff display:ndaed display:vouched display:authenticated",
        "classification:workgroup:staff_only read:fullprofile display:none display:staff",
    ];
    for seed in 0..40 {
        let mut profile = fake_profile(seed, &FakeOptions::default());
        profile
            .as_object_mut()
            .unwrap()
            .insert("_internal".into(), json!({"metadata": 1}));
        for scopes in grants {
            let grant = ScopeGrant::from_scope_claim(scopes);
            for filter_display in [None, Some("vouched"), Some("private")] {
                let mut expected = profile.clone();
                filter_profile(&mut expected, &grant, filter_display);
                let bytes =
                    serde_json::to_vec(&FilteredProfile::new(&profile, &grant, filter_display))
                        .unwrap();
                assert_eq!(
                    bytes,
                    serde_json::to_vec(&expected).unwrap(),
                    "{seed} {scopes} {filter_display:?}"
                );
            }
        }
    }
}
