//! The fake profile generator (profile-and-crypto §9, §12.1 test_fake_profile.py, in spirit).
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use cis_profile::{
    DisplayPolicy, FakeOptions, LoginMethod, PublisherRules, check_publishers, fake_batch,
    fake_profile, fake_update, flat_profile, null_profile, validate,
};
use serde_json::Value;

#[test]
fn every_seed_is_valid_and_allowed_against_the_null_profile() {
    let rules = PublisherRules::bundled();
    let null = null_profile();
    let mut methods = HashSet::new();
    for seed in 0..500 {
        let p = fake_profile(seed, &FakeOptions::default());
        if let Err(v) = validate(&p) {
            panic!("seed {seed}: {v:?}");
        }
        let violations = check_publishers(&p, &null, rules);
        assert!(violations.is_empty(), "seed {seed}: {violations:?}");
        assert_eq!(p["uuid"]["signature"]["publisher"]["name"], "cis");
        assert_eq!(
            p["primary_username"]["signature"]["publisher"]["name"],
            "cis"
        );
        methods.insert(p["login_method"]["value"].as_str().unwrap().to_string());
        for (path, attr) in cis_profile::attributes(&p) {
            assert_eq!(
                cis_profile::signature_value(attr),
                Some(""),
                "seed {seed} {path} unsigned"
            );
        }
    }
    assert_eq!(methods.len(), 5, "{methods:?}");
}

#[test]
fn other_option_sets_stay_valid_and_allowed() {
    let rules = PublisherRules::bundled();
    let null = null_profile();
    let option_sets = [
        FakeOptions::create(),
        FakeOptions::bare(),
        FakeOptions {
            minimal: true,
            ..FakeOptions::default()
        },
        FakeOptions {
            no_display: true,
            ..FakeOptions::default()
        },
        FakeOptions {
            display_policy: Some(DisplayPolicy::Max),
            ..FakeOptions::default()
        },
        FakeOptions {
            display_policy: Some(DisplayPolicy::Min),
            ..FakeOptions::default()
        },
        FakeOptions {
            uuid_salt: Some("salt".into()),
            active_percent: 50,
            ..FakeOptions::default()
        },
        FakeOptions {
            mozillians: false,
            ..FakeOptions::default()
        },
        FakeOptions {
            ldap: false,
            hris: true,
            ..FakeOptions::default()
        },
    ];
    for (i, opts) in option_sets.iter().enumerate() {
        for seed in 0..60 {
            let p = fake_profile(seed, opts);
            assert!(
                validate(&p).is_ok(),
                "options {i} seed {seed}: {:?}",
                validate(&p)
            );
            let v = check_publishers(&p, &null, rules);
            assert!(v.is_empty(), "options {i} seed {seed}: {v:?}");
        }
    }
}

#[test]
fn same_seed_same_profile() {
    // test_same_fake_user
    let a = fake_profile(1337, &FakeOptions::default());
    let b = fake_profile(1337, &FakeOptions::default());
    assert_eq!(a, b);
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
    let c = fake_profile(23, &FakeOptions::default());
    assert_ne!(a["uuid"]["value"], c["uuid"]["value"]);
    assert!(!a["user_id"]["value"].is_null());
}

#[test]
fn login_methods_have_their_user_id_formats() {
    for method in LoginMethod::ALL {
        for seed in 0..20 {
            let opts = FakeOptions {
                login_method: Some(method),
                ..FakeOptions::default()
            };
            let p = fake_profile(seed, &opts);
            let user_id = p["user_id"]["value"].as_str().unwrap();
            assert_eq!(p["login_method"]["value"], method.as_str());
            match method {
                LoginMethod::MozillaLdap => {
                    let user = user_id.strip_prefix("ad|Mozilla-LDAP|").unwrap();
                    assert!(!user.is_empty() && user.chars().all(|c| c.is_ascii_alphanumeric()));
                    assert_eq!(p["primary_email"]["value"], format!("{user}@mozilla.com"));
                    assert_eq!(p["identities"]["mozilla_posix_id"]["value"], user);
                    assert_eq!(p["staff_information"]["staff"]["value"], true);
                    assert!(p["staff_information"]["title"]["value"].is_string());
                    assert!(p["staff_information"]["cost_center"]["value"].is_string());
                    assert!(
                        !p["access_information"]["ldap"]["values"]
                            .as_object()
                            .unwrap()
                            .is_empty()
                    );
                    let hris = &p["access_information"]["hris"]["values"];
                    assert!(hris["employee_id"].is_u64());
                }
                LoginMethod::Github => {
                    let id = user_id.strip_prefix("github|").unwrap();
                    assert!(id.parse::<u64>().is_ok());
                    assert_eq!(p["identities"]["github_id_v3"]["value"], id);
                }
                LoginMethod::GoogleOauth2 => {
                    let id = user_id.strip_prefix("google-oauth2|").unwrap();
                    assert!(id.parse::<u128>().is_ok());
                }
                LoginMethod::FirefoxAccounts => {
                    let id = user_id.strip_prefix("oauth2|firefoxaccounts|").unwrap();
                    assert_eq!(id.len(), 20);
                    assert!(id.chars().all(|c| c.is_ascii_alphabetic()));
                }
                LoginMethod::Email => {
                    let id = user_id.strip_prefix("email|").unwrap();
                    assert_eq!(id.len(), 32);
                    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
                }
            }
            if method != LoginMethod::MozillaLdap {
                assert!(
                    p["staff_information"]["title"]["value"].is_null(),
                    "non-staff has no title"
                );
                assert_eq!(
                    p["access_information"]["hris"]["values"],
                    serde_json::json!({})
                );
            }
        }
    }
}

#[test]
fn batch_numbers_employees() {
    // test_batch_create
    let batch = fake_batch(1337, 3);
    assert_eq!(batch.len(), 3);
    for (i, p) in batch.iter().enumerate() {
        assert_eq!(
            p["access_information"]["hris"]["values"]["employee_id"],
            i as u64 + 1
        );
        let manager = p["access_information"]["hris"]["values"]["managers_employee_id"]
            .as_u64()
            .unwrap();
        assert!(manager <= i as u64);
        assert!(validate(p).is_ok());
    }
    assert_eq!(batch, fake_batch(1337, 3));
    let ids: HashSet<_> = batch
        .iter()
        .map(|p| p["user_id"]["value"].clone())
        .collect();
    assert_eq!(ids.len(), 3);
}

#[test]
fn with_and_without_uuid() {
    // test_with_and_without_uuid
    let p = fake_profile(1, &FakeOptions::default());
    assert!(p["uuid"]["value"].is_string());
    assert!(p["primary_username"]["value"].is_string());
    let p = fake_profile(1, &FakeOptions::bare());
    assert!(p["uuid"]["value"].is_null());
    assert!(p["primary_username"]["value"].is_null());
    // With a salt, uuid and primary_username are derived from the user_id (A7).
    let opts = FakeOptions {
        uuid_salt: Some("12345".into()),
        ..FakeOptions::default()
    };
    let p = fake_profile(7, &opts);
    let (uuid, username) =
        cis_profile::derive_uuid_and_username("12345", p["user_id"]["value"].as_str().unwrap());
    assert_eq!(p["uuid"]["value"], uuid);
    let staff = FakeOptions {
        login_method: Some(LoginMethod::MozillaLdap),
        ..opts
    };
    let p = fake_profile(7, &staff);
    let (_, username_staff) =
        cis_profile::derive_uuid_and_username("12345", p["user_id"]["value"].as_str().unwrap());
    assert_eq!(p["primary_username"]["value"], username_staff);
    assert!(username.starts_with("r--"));
}

#[test]
fn create_and_update_flavours() {
    // test_null_create_profile
    let rules = PublisherRules::bundled();
    let created = fake_profile(5, &FakeOptions::create());
    assert!(check_publishers(&created, &null_profile(), rules).is_empty());
    assert!(
        created["primary_username"]["value"]
            .as_str()
            .unwrap()
            .starts_with("r--")
    );
    assert!(created["fun_title"]["value"].is_null(), "minimal");
    assert_eq!(
        created["first_name"]["metadata"]["display"],
        null_profile()["first_name"]["metadata"]["display"]
    );

    let update = fake_update(&created, 6);
    let refused = check_publishers(&update, &null_profile(), rules);
    assert!(
        refused.iter().any(|v| v.path == "primary_username"),
        "{refused:?}"
    );
    let allowed = check_publishers(&update, &created, rules);
    assert!(allowed.is_empty(), "{allowed:?}");
    assert!(validate(&update).is_ok());
}

#[test]
fn display_policies() {
    // test_fake_display_max / _min / _nested
    let max = fake_profile(
        3,
        &FakeOptions {
            display_policy: Some(DisplayPolicy::Max),
            ..FakeOptions::default()
        },
    );
    assert_eq!(max["user_id"]["metadata"]["display"], "public");
    assert_eq!(
        max["staff_information"]["title"]["metadata"]["display"],
        "ndaed"
    );
    assert_eq!(
        max["access_information"]["ldap"]["metadata"]["display"],
        "vouched"
    );
    let min = fake_profile(
        3,
        &FakeOptions {
            display_policy: Some(DisplayPolicy::Min),
            ..FakeOptions::default()
        },
    );
    assert!(min["user_id"]["metadata"]["display"].is_null());
    assert_eq!(
        min["staff_information"]["title"]["metadata"]["display"],
        "staff"
    );
    assert_eq!(min["uuid"]["metadata"]["display"], "public");
}

#[test]
fn flat_profile_of_fakes() {
    // test_fake_dynamo_flat_dict_output
    let opts = FakeOptions {
        login_method: Some(LoginMethod::MozillaLdap),
        ..FakeOptions::default()
    };
    let p = fake_profile(44, &opts);
    let flat = flat_profile(&p).unwrap();
    assert!(
        !flat["access_information"]["M"]["ldap"]["M"]
            .as_object()
            .unwrap()
            .is_empty()
    );
    assert!(
        !flat["staff_information"]["M"]["office_location"]["S"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    for seed in 0..100 {
        assert!(flat_profile(&fake_profile(seed, &FakeOptions::default())).is_ok());
    }
}

#[test]
fn values_look_realistic() {
    let p: Value = fake_profile(
        11,
        &FakeOptions {
            login_method: Some(LoginMethod::MozillaLdap),
            ..FakeOptions::default()
        },
    );
    let created = p["created"]["value"].as_str().unwrap();
    assert_eq!(created.len(), 24);
    assert!(created.ends_with(".000Z"));
    assert!(p["last_modified"]["value"].as_str().unwrap() >= created);
    assert!(p["timezone"]["value"].as_str().unwrap().starts_with("UTC"));
    assert!(
        p["picture"]["value"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
    assert_eq!(
        p["staff_information"]["title"]["metadata"]["created"],
        p["created"]["value"]
    );
}

#[test]
fn attributes_are_claimed_by_the_publisher_that_filled_them() {
    let opts = FakeOptions {
        login_method: Some(LoginMethod::MozillaLdap),
        ..FakeOptions::default()
    };
    let p = fake_profile(2, &opts);
    let publisher = |path: &str| {
        cis_profile::publisher_name(cis_profile::attribute(&p, path).unwrap())
            .unwrap()
            .to_string()
    };
    assert_eq!(publisher("first_name"), "ldap");
    assert_eq!(publisher("identities.mozilla_posix_id"), "ldap");
    assert_eq!(publisher("staff_information.title"), "hris");
    assert_eq!(publisher("user_id"), "access_provider");
    assert_eq!(publisher("usernames"), "mozilliansorg");
    let opts = FakeOptions {
        login_method: Some(LoginMethod::Github),
        ..FakeOptions::default()
    };
    let p = fake_profile(2, &opts);
    assert_eq!(
        cis_profile::publisher_name(cis_profile::attribute(&p, "first_name").unwrap()),
        Some("mozilliansorg")
    );
}
