#![allow(clippy::unwrap_used)]
//! The change pipeline end to end on the in-memory vault (change-api-and-vault §5, §11.1, §11.2,
//! §11.5 in spirit; DECISIONS B4–B10, C3).

mod common;

use std::sync::Arc;

use cis_core::{ChangeError, ChangeRequest, ChangeSettings, Condition, DeleteRequest};
use cis_profile::{
    attribute, attribute_mut, derive_uuid_and_username, null_profile, publisher_name,
};
use cis_vault::{ChangeFeed, ChangeOperation, ProfileStore};
use common::*;
use serde_json::json;

#[tokio::test]
async fn create_derives_uuid_and_signs_cis_attributes() {
    let env = env();
    let profile = new_user(1);
    let user_id = user_id_of(&profile);
    let outcome = env
        .service
        .integrate(ChangeRequest::new(profile.clone()))
        .await
        .unwrap();
    assert_eq!(outcome.condition, Condition::Create);
    assert_eq!(outcome.condition.status_code(), 200);
    assert!(outcome.sequence_number.is_some());
    assert!(outcome.changed.contains(&"first_name".to_owned()));
    assert!(!outcome.changed.contains(&"uuid".to_owned()));

    let stored = stored(&env, &user_id).await;
    let (uuid, username) = derive_uuid_and_username(SALT, &user_id);
    assert_eq!(stored["uuid"]["value"], json!(uuid));
    assert_eq!(stored["primary_username"]["value"], json!(username));
    for path in ["uuid", "primary_username", "last_modified"] {
        let attr = attribute(&stored, path).unwrap();
        assert_eq!(publisher_name(attr), Some("cis"), "{path}");
        env.keys.verify_attribute(attr).unwrap();
    }
    assert_eq!(stored["uuid"]["metadata"]["created"], NOW);
    assert_eq!(stored["last_modified"]["value"], NOW);
    assert_eq!(stored["last_modified"]["metadata"]["last_modified"], NOW);
    // The publisher's attributes are stored as sent.
    assert_eq!(stored["first_name"], profile["first_name"]);
    // Everything stored verifies and is schema-valid.
    assert!(env.keys.verify_profile(&stored).is_empty());
    cis_profile::validate(&stored).unwrap();
    // `active` came from access_provider: CIS re-signed it.
    assert_eq!(
        publisher_name(attribute(&stored, "active").unwrap()),
        Some("cis")
    );

    let record = env.vault.get_by_user_id(&user_id).await.unwrap().unwrap();
    assert_eq!(record.uuid, uuid);
    assert_eq!(
        &record.sequence_number,
        outcome.sequence_number.as_ref().unwrap()
    );
}

#[tokio::test]
async fn reposting_the_same_profile_is_a_noop() {
    let env = env();
    let profile = new_user(2);
    let user_id = user_id_of(&profile);
    let first = env
        .service
        .integrate(ChangeRequest::new(profile.clone()))
        .await
        .unwrap();
    let again = env
        .service
        .integrate(ChangeRequest::new(profile.clone()).with_user_id(&user_id))
        .await
        .unwrap();
    assert_eq!(again.condition, Condition::Noop, "{:?}", again.changed);
    assert_eq!(again.condition.status_code(), 202);
    assert_eq!(again.sequence_number, None);
    let record = env.vault.get_by_user_id(&user_id).await.unwrap().unwrap();
    assert_eq!(Some(record.sequence_number), first.sequence_number);
    // One create event, nothing for the no-op.
    assert_eq!(env.vault.read_changes(None, 10).await.unwrap().len(), 1);

    // Same values re-signed by another allowed publisher: still a no-op (only the signature
    // differs), like test_wrong_publisher's second step.
    let resigned = change(
        &stored(&env, &user_id).await,
        "first_name",
        profile["first_name"]["value"].clone(),
        "access_provider",
        &env.signer,
    );
    let outcome = env
        .service
        .integrate(ChangeRequest::new(resigned).with_user_id(&user_id))
        .await
        .unwrap();
    assert_eq!(outcome.condition, Condition::Noop);
}

#[tokio::test]
async fn each_publisher_updates_what_it_owns() {
    let env = env();
    let profile = new_user(3);
    let user_id = user_id_of(&profile);
    env.service
        .integrate(ChangeRequest::new(profile))
        .await
        .unwrap();

    let mut last_sequence = None;
    for (path, value, publisher) in [
        ("first_name", json!("Renamed"), "mozilliansorg"),
        (
            "identities.github_primary_email",
            json!("gh@example.net"),
            "mozilliansorg",
        ),
        ("staff_information.title", json!("Chief Tester"), "hris"),
        (
            "access_information.hris",
            json!({"employee_id": "7"}),
            "hris",
        ),
        ("ssh_public_keys", json!({"k": "ssh-ed25519 AAAA"}), "ldap"),
        ("access_information.ldap", json!({"team_x": null}), "ldap"),
        ("primary_email", json!("new@example.net"), "access_provider"),
        (
            "access_information.access_provider",
            json!({"g": null}),
            "access_provider",
        ),
    ] {
        let base = stored(&env, &user_id).await;
        let body = change(&base, path, value.clone(), publisher, &env.signer);
        let outcome = env
            .service
            .integrate(ChangeRequest::new(body).with_user_id(&user_id))
            .await
            .unwrap_or_else(|e| panic!("{path} by {publisher}: {e}"));
        assert_eq!(outcome.condition, Condition::Update, "{path}");
        assert_eq!(outcome.changed, [path]);
        assert_ne!(outcome.sequence_number, last_sequence);
        last_sequence = outcome.sequence_number;
        let after = stored(&env, &user_id).await;
        let attr = attribute(&after, path).unwrap();
        assert_eq!(
            attr.get("value").or(attr.get("values")).unwrap(),
            &value,
            "{path}"
        );
        assert!(env.keys.verify_profile(&after).is_empty(), "{path}");
    }
    let record = env.vault.get_by_user_id(&user_id).await.unwrap().unwrap();
    assert_eq!(record.primary_email, "new@example.net");
}

#[tokio::test]
async fn wrong_publisher_is_refused_naming_attribute_and_publisher() {
    let env = env();
    let profile = new_user(4);
    let user_id = user_id_of(&profile);
    env.service
        .integrate(ChangeRequest::new(profile))
        .await
        .unwrap();
    let base = stored(&env, &user_id).await;

    // ldap may create a title but only hris updates it.
    let body = change(
        &base,
        "staff_information.title",
        json!("Boss"),
        "ldap",
        &env.signer,
    );
    let error = env
        .service
        .integrate(ChangeRequest::new(body).with_user_id(&user_id))
        .await
        .unwrap_err();
    assert_eq!((error.status(), error.code()), (403, "invalid_publisher"));
    let ChangeError::InvalidPublisher(violations) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].path, "staff_information.title");
    assert_eq!(violations[0].publisher, "ldap");
    assert!(
        error
            .description()
            .contains("ldap is NOT allowed to publish field")
    );
    assert!(error.details().unwrap()["violations"][0]["path"] == "staff_information.title");
    // Nothing was written.
    assert_eq!(stored(&env, &user_id).await, base);
}

#[tokio::test]
async fn cis_may_not_create_first_name() {
    // test_profile.py::test_post_profiles_it_should_fail
    let env = env();
    let mut profile = new_user(5);
    let attr = attribute_mut(&mut profile, "first_name").unwrap();
    attr.insert("value".into(), json!("Something"));
    env.signer.sign_attribute(attr, "cis").unwrap();
    let error = env
        .service
        .integrate(ChangeRequest::new(profile))
        .await
        .unwrap_err();
    assert_eq!(error.status(), 403);
    assert_eq!(error.code(), "invalid_publisher");
    assert_eq!(
        error.description(),
        "[create] cis is NOT allowed to publish field first_name"
    );
}

#[tokio::test]
async fn tampered_value_is_refused() {
    let env = env();
    let profile = new_user(6);
    let user_id = user_id_of(&profile);
    env.service
        .integrate(ChangeRequest::new(profile))
        .await
        .unwrap();
    let base = stored(&env, &user_id).await;
    let mut body = change(
        &base,
        "first_name",
        json!("Honest"),
        "mozilliansorg",
        &env.signer,
    );
    body["first_name"]["value"] = json!("Tampered");
    let error = env
        .service
        .integrate(ChangeRequest::new(body).with_user_id(&user_id))
        .await
        .unwrap_err();
    assert_eq!((error.status(), error.code()), (403, "invalid_signature"));
    let ChangeError::SignatureInvalid(failures) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(failures[0].path, "first_name");
    assert_eq!(failures[0].publisher.as_deref(), Some("mozilliansorg"));
    assert!(error.description().contains("first_name"));
    assert_eq!(stored(&env, &user_id).await, base);
}

#[tokio::test]
async fn evil_key_is_refused_on_create_and_update() {
    let env = env();
    let mut profile = new_user(7);
    let user_id = user_id_of(&profile);
    let evil = evil_signer();
    evil.sign_path(&mut profile, "last_name", "mozilliansorg")
        .ok();
    let error = env
        .service
        .integrate(ChangeRequest::new(profile.clone()))
        .await
        .unwrap_err();
    let ChangeError::SignatureInvalid(failures) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].path, "last_name");
    assert!(env.vault.get_by_user_id(&user_id).await.unwrap().is_none());

    env.service
        .integrate(ChangeRequest::new(new_user(7)))
        .await
        .unwrap();
    let base = stored(&env, &user_id).await;
    let body = change(
        &base,
        "staff_information.team",
        json!("Evil"),
        "hris",
        &evil,
    );
    let error = env
        .service
        .integrate(ChangeRequest::new(body).with_user_id(&user_id))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid_signature");
}

#[tokio::test]
async fn preset_uuid_or_username_on_create_is_refused() {
    let env = env();
    for field in ["uuid", "primary_username"] {
        let mut profile = new_user(8);
        let attr = attribute_mut(&mut profile, field).unwrap();
        attr.insert("value".into(), json!("something"));
        env.signer.sign_attribute(attr, "cis").unwrap();
        let error = env
            .service
            .integrate(ChangeRequest::new(profile))
            .await
            .unwrap_err();
        assert_eq!(error.status(), 403, "{field}");
        assert_eq!(error.code(), "uuid_or_primary_username_set");
        assert_eq!(
            error.description(),
            "The fields primary_username or uuid have been set in a new profile."
        );
    }
}

#[tokio::test]
async fn schema_violations_are_all_listed() {
    let env = env();
    let mut profile = new_user(9);
    profile["first_name"]["value"] = json!(42);
    profile["pronouns"]["metadata"]["display"] = json!("everyone-ever");
    let error = env
        .service
        .integrate(ChangeRequest::new(profile))
        .await
        .unwrap_err();
    assert_eq!((error.status(), error.code()), (400, "invalid_profile"));
    let ChangeError::SchemaInvalid(violations) = &error else {
        panic!("{error:?}")
    };
    let paths: Vec<&str> = violations.iter().map(|v| v.path.as_str()).collect();
    assert!(
        paths.iter().any(|p| p.starts_with("/first_name")),
        "{paths:?}"
    );
    assert!(
        paths.iter().any(|p| p.starts_with("/pronouns")),
        "{paths:?}"
    );
    assert!(
        error.details().unwrap()["violations"]
            .as_array()
            .unwrap()
            .len()
            >= 2
    );
}

#[tokio::test]
async fn dry_run_checks_everything_and_writes_nothing() {
    let env = env();
    let profile = new_user(10);
    let user_id = user_id_of(&profile);
    let outcome = env
        .service
        .integrate(ChangeRequest::new(profile.clone()).with_dry_run(true))
        .await
        .unwrap();
    assert!(outcome.dry_run);
    assert_eq!(outcome.condition, Condition::Create);
    assert_eq!(outcome.sequence_number, None);
    assert!(outcome.changed.contains(&"user_id".to_owned()));
    assert!(env.vault.get_by_user_id(&user_id).await.unwrap().is_none());
    assert!(env.vault.read_changes(None, 10).await.unwrap().is_empty());

    env.service
        .integrate(ChangeRequest::new(profile))
        .await
        .unwrap();
    let base = stored(&env, &user_id).await;
    let good = change(
        &base,
        "fun_title",
        json!("Dry"),
        "mozilliansorg",
        &env.signer,
    );
    let outcome = env
        .service
        .integrate(
            ChangeRequest::new(good)
                .with_user_id(&user_id)
                .with_dry_run(true),
        )
        .await
        .unwrap();
    assert_eq!(
        (outcome.condition, outcome.changed.as_slice()),
        (Condition::Update, &["fun_title".to_owned()][..])
    );
    // The verdict of a dry run names the rule that would reject.
    let bad = change(&base, "fun_title", json!("Dry"), "hris", &env.signer);
    let error = env
        .service
        .integrate(
            ChangeRequest::new(bad)
                .with_user_id(&user_id)
                .with_dry_run(true),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid_publisher");
    assert_eq!(stored(&env, &user_id).await, base);
}

#[tokio::test]
async fn user_id_query_and_body_must_agree() {
    // test_api.py::test_partial_update_it_should_fail / _succeed
    let env = env();
    let profile = new_user(11);
    let user_id = user_id_of(&profile);
    env.service
        .integrate(ChangeRequest::new(profile.clone()))
        .await
        .unwrap();
    let error = env
        .service
        .integrate(ChangeRequest::new(profile).with_user_id("mismatching_user_id"))
        .await
        .unwrap_err();
    assert_eq!(
        (error.status(), error.code()),
        (400, "integration_exception")
    );
    assert_eq!(
        error.description(),
        "user_id query parameter does not match profile, that looks wrong"
    );

    // A partial profile (null user_id) is addressed by the query.
    let base = stored(&env, &user_id).await;
    let partial = change(
        &base,
        "last_name",
        json!("iamanewpreferredlastname"),
        "mozilliansorg",
        &env.signer,
    );
    assert!(partial["user_id"]["value"].is_null());
    let outcome = env
        .service
        .integrate(ChangeRequest::new(partial).with_user_id(&user_id))
        .await
        .unwrap();
    assert_eq!(outcome.condition, Condition::Update);

    // Neither: a clear 400.
    let error = env
        .service
        .integrate(ChangeRequest::new(null_profile()))
        .await
        .unwrap_err();
    assert_eq!((error.status(), error.code()), (400, "invalid_request"));
    // Not an object.
    let error = env
        .service
        .integrate(ChangeRequest::new(json!([1])))
        .await
        .unwrap_err();
    assert_eq!(error.status(), 400);
}

#[tokio::test]
async fn a_double_encoded_body_is_accepted() {
    let env = env();
    let profile = new_user(12);
    let text = serde_json::to_string(&profile).unwrap();
    let outcome = env
        .service
        .integrate(ChangeRequest::new(json!(text)))
        .await
        .unwrap();
    assert_eq!(outcome.condition, Condition::Create);
}

#[tokio::test]
async fn active_changes_only_by_b9_publishers_and_is_resigned_as_cis() {
    let env = env();
    let profile = new_user(13);
    let user_id = user_id_of(&profile);
    env.service
        .integrate(ChangeRequest::new(profile))
        .await
        .unwrap();
    let base = stored(&env, &user_id).await;
    let was = base["active"]["value"].as_bool().unwrap();

    // mozilliansorg may not toggle active (the Python active-only bypass is gone).
    let body = change(&base, "active", json!(!was), "mozilliansorg", &env.signer);
    let error = env
        .service
        .integrate(ChangeRequest::new(body).with_user_id(&user_id))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid_publisher");

    for (publisher, value) in [("ldap", !was), ("hris", was), ("access_provider", !was)] {
        let base = stored(&env, &user_id).await;
        let body = change(&base, "active", json!(value), publisher, &env.signer);
        let outcome = env
            .service
            .integrate(ChangeRequest::new(body).with_user_id(&user_id))
            .await
            .unwrap();
        assert_eq!(outcome.condition, Condition::Update, "{publisher}");
        let after = stored(&env, &user_id).await;
        assert_eq!(after["active"]["value"], json!(value));
        let active = attribute(&after, "active").unwrap();
        assert_eq!(publisher_name(active), Some("cis"), "{publisher}");
        env.keys.verify_attribute(active).unwrap();
        let record = env.vault.get_by_user_id(&user_id).await.unwrap().unwrap();
        assert_eq!(record.active, value);
    }

    // An active-only change with the same value is a no-op.
    let base = stored(&env, &user_id).await;
    let same = base["active"]["value"].clone();
    let body = change(&base, "active", same, "ldap", &env.signer);
    let mut body = body;
    body["active"]["metadata"]["verified"] = json!(
        !body["active"]["metadata"]["verified"]
            .as_bool()
            .unwrap_or(false)
    );
    env.signer.sign_path(&mut body, "active", "ldap").unwrap();
    let outcome = env
        .service
        .integrate(ChangeRequest::new(body).with_user_id(&user_id))
        .await
        .unwrap();
    assert_eq!(outcome.condition, Condition::Noop);

    // A forged ldap signature on active is still refused (B9: "signature verified").
    let body = change(
        &base,
        "active",
        json!(!base["active"]["value"].as_bool().unwrap()),
        "ldap",
        &evil_signer(),
    );
    let error = env
        .service
        .integrate(ChangeRequest::new(body).with_user_id(&user_id))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid_signature");
}

#[tokio::test]
async fn without_salt_new_users_are_refused_but_updates_work() {
    let vault = Arc::new(cis_vault::MemoryVault::new());
    let with_salt = env_on(
        vault.clone(),
        vault.clone(),
        ChangeSettings::default(),
        Some(SALT),
    );
    let no_salt = env_on(vault.clone(), vault, ChangeSettings::default(), None);
    let existing = new_user(14);
    let user_id = user_id_of(&existing);
    with_salt
        .service
        .integrate(ChangeRequest::new(existing))
        .await
        .unwrap();

    let error = no_salt
        .service
        .integrate(ChangeRequest::new(new_user(15)))
        .await
        .unwrap_err();
    assert_eq!(
        (error.status(), error.code()),
        (503, "uuid_salt_unavailable")
    );
    assert!(error.description().contains("salt"));

    let base = stored(&no_salt, &user_id).await;
    let body = change(
        &base,
        "fun_title",
        json!("Still works"),
        "mozilliansorg",
        &no_salt.signer,
    );
    let outcome = no_salt
        .service
        .integrate(ChangeRequest::new(body).with_user_id(&user_id))
        .await
        .unwrap();
    assert_eq!(outcome.condition, Condition::Update);
}

#[tokio::test]
async fn switches_turn_checks_off() {
    let settings = ChangeSettings {
        verify_signatures: false,
        verify_publishers: false,
        ..ChangeSettings::default()
    };
    let env = env_with(settings, Some(SALT));
    let profile = new_user(16);
    let user_id = user_id_of(&profile);
    env.service
        .integrate(ChangeRequest::new(profile))
        .await
        .unwrap();
    let base = stored(&env, &user_id).await;
    let mut body = change(
        &base,
        "staff_information.title",
        json!("x"),
        "ldap",
        &env.signer,
    );
    body["staff_information"]["title"]["value"] = json!("tampered by the wrong publisher");
    let outcome = env
        .service
        .integrate(ChangeRequest::new(body).with_user_id(&user_id))
        .await
        .unwrap();
    assert_eq!(outcome.condition, Condition::Update);
}

#[tokio::test]
async fn batch_gives_each_profile_its_own_result_in_order() {
    let env = env();
    let a = new_user(17);
    let b = new_user(18);
    let a_id = user_id_of(&a);
    // The second A change is built on what the first will store: same attributes plus a title.
    let mut a2 = a.clone();
    let attr = attribute_mut(&mut a2, "fun_title").unwrap();
    attr.insert("value".into(), json!("Second"));
    attr["signature"]["publisher"]["name"] = json!("mozilliansorg");
    env.signer.sign_attribute(attr, "mozilliansorg").unwrap();
    let mut bad = new_user(19);
    bad["first_name"]["value"] = json!("tampered");

    let results = env
        .service
        .integrate_batch(vec![
            ChangeRequest::new(a.clone()),
            ChangeRequest::new(b),
            ChangeRequest::new(a2.clone()),
            ChangeRequest::new(bad),
            ChangeRequest::new(a2),
        ])
        .await;
    assert_eq!(results.len(), 5);
    let conditions: Vec<_> = results
        .iter()
        .map(|r| r.as_ref().map(|o| o.condition).map_err(|e| e.code()))
        .collect();
    assert_eq!(
        conditions,
        [
            Ok(Condition::Create),
            Ok(Condition::Create),
            Ok(Condition::Update),
            Err("invalid_signature"),
            // The duplicate sees what the earlier element stored.
            Ok(Condition::Noop),
        ]
    );
    let sequence_numbers: Vec<_> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().and_then(|o| o.sequence_number.clone()))
        .collect();
    let mut unique = sequence_numbers.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 3);
    assert_eq!(stored(&env, &a_id).await["fun_title"]["value"], "Second");
}

#[tokio::test]
async fn delete_needs_the_switch_and_only_the_user_id() {
    let env = env();
    let profile = new_user(20);
    let user_id = user_id_of(&profile);
    env.service
        .integrate(ChangeRequest::new(profile))
        .await
        .unwrap();
    let error = env
        .service
        .delete(DeleteRequest {
            user_id_param: Some(user_id.clone()),
            profile: None,
        })
        .await
        .unwrap_err();
    assert_eq!((error.status(), error.code()), (403, "delete_disabled"));

    let settings = ChangeSettings {
        allow_delete: true,
        ..ChangeSettings::default()
    };
    let env = env_on(env.vault.clone(), env.vault.clone(), settings, Some(SALT));
    // The body alone is enough (a profile whose only set attribute is user_id).
    let mut body = null_profile();
    body["user_id"]["value"] = json!(user_id);
    let outcome = env
        .service
        .delete(DeleteRequest {
            user_id_param: None,
            profile: Some(body),
        })
        .await
        .unwrap();
    assert_eq!(outcome.user_id, user_id);
    assert!(env.vault.get_by_user_id(&user_id).await.unwrap().is_none());
    let events = env.vault.read_changes(None, 10).await.unwrap();
    assert_eq!(events.last().unwrap().operation, ChangeOperation::Delete);

    let error = env
        .service
        .delete(DeleteRequest {
            user_id_param: Some(user_id.clone()),
            profile: None,
        })
        .await
        .unwrap_err();
    assert_eq!((error.status(), error.code()), (404, "not_found"));
    let error = env
        .service
        .delete(DeleteRequest::default())
        .await
        .unwrap_err();
    assert_eq!(error.status(), 400);
}

#[tokio::test]
async fn a_large_batch_keeps_per_user_order_across_concurrent_users() {
    let env = env();
    let users: Vec<_> = (100..112).map(new_user).collect();
    let mut requests = Vec::new();
    // Round 0 creates every user; rounds 1..=3 set fun_title, interleaved across users.
    for round in 0..4 {
        for user in &users {
            let mut body = user.clone();
            if round > 0 {
                let attr = attribute_mut(&mut body, "fun_title").unwrap();
                attr.insert("value".into(), json!(format!("round {round}")));
                attr["signature"]["publisher"]["name"] = json!("mozilliansorg");
                env.signer.sign_attribute(attr, "mozilliansorg").unwrap();
            }
            requests.push(ChangeRequest::new(body));
        }
    }
    requests.push(ChangeRequest::new(json!("not json")));
    let results = env.service.integrate_batch(requests).await;
    assert_eq!(results.len(), 4 * users.len() + 1);
    for (i, result) in results.iter().enumerate().take(4 * users.len()) {
        let expected = if i < users.len() {
            Condition::Create
        } else {
            Condition::Update
        };
        assert_eq!(result.as_ref().unwrap().condition, expected, "#{i}");
        assert_eq!(
            result.as_ref().unwrap().user_id,
            user_id_of(&users[i % users.len()])
        );
    }
    assert_eq!(results.last().unwrap().as_ref().unwrap_err().status(), 400);
    for user in &users {
        let after = stored(&env, &user_id_of(user)).await;
        assert_eq!(after["fun_title"]["value"], "round 3");
    }
}

#[tokio::test]
async fn response_bodies_have_the_original_shape() {
    let env = env();
    let profile = new_user(21);
    let created = env
        .service
        .integrate(ChangeRequest::new(profile.clone()))
        .await
        .unwrap();
    let body = created.body();
    assert_eq!(body["condition"], "create");
    assert_eq!(body["status_code"], 200);
    assert!(body["sequence_number"].is_string());
    assert_eq!(body.as_object().unwrap().len(), 3);

    let noop = env
        .service
        .integrate(ChangeRequest::new(profile))
        .await
        .unwrap();
    assert_eq!(
        noop.body(),
        json!({"condition": "noop", "sequence_number": null, "status_code": 202})
    );

    let dry = env
        .service
        .integrate(ChangeRequest::new(new_user(22)).with_dry_run(true))
        .await
        .unwrap();
    assert_eq!(dry.body()["dry_run"], true);
    assert!(dry.body()["changed"].as_array().unwrap().len() > 3);

    let error = ChangeError::UuidOrUsernameSet;
    assert_eq!(
        error.body(),
        json!({"code": "uuid_or_primary_username_set",
               "description": "The fields primary_username or uuid have been set in a new profile."})
    );
}

#[tokio::test]
async fn a_dinopark_update_with_display_changes_is_accepted() {
    let env = env();
    let profile = new_user(23);
    let user_id = user_id_of(&profile);
    env.service
        .integrate(ChangeRequest::new(profile))
        .await
        .unwrap();
    let mut update = cis_profile::fake_update(&stored(&env, &user_id).await, 5);
    env.signer
        .sign_profile(&mut update, Some(&["mozilliansorg"]))
        .unwrap();
    let outcome = env
        .service
        .integrate(ChangeRequest::new(update.clone()))
        .await
        .unwrap();
    assert_eq!(outcome.condition, Condition::Update);
    for path in ["primary_username", "last_name", "location"] {
        assert!(
            outcome.changed.contains(&path.to_owned()),
            "{path}: {:?}",
            outcome.changed
        );
    }
    let after = stored(&env, &user_id).await;
    assert_eq!(after["last_name"]["metadata"]["display"], "vouched");
    let record = env.vault.get_by_user_id(&user_id).await.unwrap().unwrap();
    assert_eq!(
        json!(record.primary_username),
        update["primary_username"]["value"]
    );
}
