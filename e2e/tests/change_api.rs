#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The Change API over real HTTP against a `cis serve` process (change-api-and-vault §11.1,
//! §11.5; DECISIONS A8, B1–B8, C1, C3). Publishers sign with the data directory's keys, tokens
//! come from its dev issuer, reads go through the Person API.

use std::collections::BTreeSet;
use std::time::Duration;

use cis_e2e::*;
use serde_json::{Value, json};

#[tokio::test]
async fn create_update_by_each_publisher_and_noop() {
    let cis = CisServer::start(&[]);
    let signer = cis.signer();
    let writer = cis.writer();
    let profile = new_user(1, &signer);
    let user_id = user_id_of(&profile);

    let (status, body) = cis.post("/v2/user", Some(&writer), &profile).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["condition"], "create");
    assert_eq!(body["status_code"], 200);
    assert!(body["sequence_number"].as_str().is_some());
    let stored = cis.read_user(&user_id).await;
    assert_eq!(stored["user_id"]["value"], json!(user_id));
    assert!(
        stored["primary_username"]["value"]
            .as_str()
            .unwrap()
            .starts_with("r--")
    );
    assert_eq!(
        stored["first_name"]["value"],
        profile["first_name"]["value"]
    );

    // Each publisher updates what it owns, as the publishers do: ?user_id= and a partial body.
    let uri = format!("/v2/user?user_id={}", encode(&user_id));
    for (path, publisher) in [
        ("access_information.ldap", "ldap"),
        ("staff_information.title", "hris"),
        ("fun_title", "mozilliansorg"),
        ("access_information.access_provider", "access_provider"),
    ] {
        let value = new_value(&profile, path, &format!("e2e-{publisher}"));
        let body = change(&profile, path, value.clone(), publisher, &signer);
        let (status, answer) = cis.post(&uri, Some(&writer), &body).await;
        assert_eq!(status, 200, "{path} by {publisher}: {answer}");
        assert_eq!(answer["condition"], "update", "{path}");
        let stored = cis.read_user(&user_id).await;
        let attr = cis_profile::attribute(&stored, path).unwrap();
        let key = if attr.contains_key("values") {
            "values"
        } else {
            "value"
        };
        assert_eq!(attr[key], value, "{path}");
        assert_eq!(attr["signature"]["publisher"]["name"], publisher);
    }

    // Sending the last update again changes nothing: HTTP 200, status_code 202.
    let value = new_value(&profile, "fun_title", "e2e-mozilliansorg");
    let last = change(&profile, "fun_title", value, "mozilliansorg", &signer);
    let (status, again) = cis.post(&uri, Some(&writer), &last).await;
    assert_eq!(status, 200);
    assert_eq!(
        again,
        json!({"condition": "noop", "sequence_number": null, "status_code": 202})
    );
}

#[tokio::test]
async fn rejections_are_403_and_400_with_the_original_codes() {
    let cis = CisServer::start(&[]);
    let signer = cis.signer();
    let writer = cis.writer();
    let profile = new_user(2, &signer);
    let user_id = user_id_of(&profile);
    cis.post("/v2/user", Some(&writer), &profile).await;
    let before = cis.read_user(&user_id).await;
    let uri = format!("/v2/user?user_id={}", encode(&user_id));

    // Wrong publisher: ldap may not update first_name.
    let wrong = change(&profile, "first_name", json!("Mallory"), "ldap", &signer);
    let (status, body) = cis.post(&uri, Some(&writer), &wrong).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("invalid_publisher")),
        "{body}"
    );

    // Tampered value.
    let mut tampered = change(
        &profile,
        "first_name",
        json!("Signed"),
        "mozilliansorg",
        &signer,
    );
    tampered["first_name"]["value"] = json!("Tampered");
    let (status, body) = cis.post(&uri, Some(&writer), &tampered).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("invalid_signature")),
        "{body}"
    );

    // A key the well-known document does not list.
    let evil_pem = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/reference/keys/evil-signing-key.priv.pem"
    ))
    .unwrap();
    let evil = cis_crypto::Signer::new()
        .with_same_key(&cis_crypto::PUBLISHERS, &evil_pem)
        .unwrap();
    let forged = change(
        &profile,
        "first_name",
        json!("Evil"),
        "mozilliansorg",
        &evil,
    );
    let (status, body) = cis.post(&uri, Some(&writer), &forged).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("invalid_signature")),
        "{body}"
    );

    // A new user must not bring its own uuid.
    let mut preset = new_user(3, &signer);
    preset["uuid"]["value"] = json!("0f2c3fd4-0000-5000-8000-000000000000");
    signer.sign_path(&mut preset, "uuid", "cis").unwrap();
    let (status, body) = cis.post("/v2/user", Some(&writer), &preset).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("uuid_or_primary_username_set")),
        "{body}"
    );

    // Schema violations: 400 with every path.
    let mut invalid = new_user(4, &signer);
    invalid["active"]["value"] = json!("yes");
    invalid["last_name"]["metadata"]["display"] = json!("everyone");
    let (status, body) = cis.post("/v2/user", Some(&writer), &invalid).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_profile")),
        "{body}"
    );
    let paths: Vec<&str> = body["details"]["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["path"].as_str().unwrap())
        .collect();
    assert!(paths.iter().any(|p| p.contains("active")), "{paths:?}");
    assert!(paths.iter().any(|p| p.contains("last_name")), "{paths:?}");

    // Nothing changed, nothing was created.
    assert_eq!(cis.read_user(&user_id).await, before);
    for rejected in [&preset, &invalid] {
        assert_eq!(cis.read_user(&user_id_of(rejected)).await, json!({}));
    }
}

#[tokio::test]
async fn tokens_are_checked_with_json_answers() {
    let cis = CisServer::start(&[]);
    let profile = new_user(5, &cis.signer());
    let issuer = cis.issuer();
    let aud = cis.url("audience");
    let now = now();
    let expired = issuer
        .sign(
            &json!({"iss": issuer.issuer(), "sub": "x@clients", "aud": aud,
            "iat": now - 7200, "exp": now - 3600, "scope": "write"}),
        )
        .unwrap();
    let wrong_audience = issuer
        .mint(
            "x@clients",
            "https://hacks",
            ["write"],
            Duration::from_secs(600),
        )
        .unwrap();
    let other_issuer = cis_http::DevIssuer::generate(&cis.url("issuer_url")).unwrap();
    let foreign = other_issuer
        .mint("x@clients", &aud, ["write"], Duration::from_secs(600))
        .unwrap();
    let cases = [
        (None, 401, "authorization_header_missing"),
        (Some(format!("Bearer {expired}")), 401, "token_expired"),
        (
            Some(format!("Bearer {wrong_audience}")),
            401,
            "invalid_claims",
        ),
        (Some(format!("Bearer {foreign}")), 401, "invalid_header"),
        (
            Some(format!("Bearer {}", cis.token("read:fullprofile"))),
            403,
            "scope_missing",
        ),
    ];
    for (auth, want_status, want_code) in cases {
        let (status, body) = cis.post("/v2/user", auth.as_deref(), &profile).await;
        assert_eq!(status, want_status, "{want_code}: {body}");
        assert_eq!(body["code"], want_code, "{body}");
        assert!(body["description"].is_string());
    }
    assert_eq!(cis.read_user(&user_id_of(&profile)).await, json!({}));

    // The client-credentials grant, form and JSON bodies, as Auth0 accepts them.
    let clients: Value =
        serde_json::from_str(&std::fs::read_to_string(cis.data_dir.join("clients.json")).unwrap())
            .unwrap();
    let (id, secret) = (
        clients[0]["client_id"].as_str().unwrap(),
        clients[0]["client_secret"].as_str().unwrap(),
    );
    let token_url = cis.url("token_url");
    let form = cis
        .http
        .post(&token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
            ("audience", aud.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    let form: Value = form.json().await.unwrap();
    let json_grant: Value = cis
        .http
        .post(&token_url)
        .json(&json!({"grant_type": "client_credentials", "client_id": id,
            "client_secret": secret, "audience": aud, "scope": "write"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for grant in [form, json_grant] {
        let token = grant["access_token"].as_str().unwrap();
        let (status, body) = cis
            .post(
                "/v2/user?dryRun=true",
                Some(&format!("Bearer {token}")),
                &profile,
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
}

#[tokio::test]
async fn delete_is_403_unless_enabled() {
    let cis = CisServer::start(&[]);
    let writer = cis.writer();
    let profile = new_user(6, &cis.signer());
    let user_id = user_id_of(&profile);
    cis.post("/v2/user", Some(&writer), &profile).await;
    let url = cis.change(&format!("/v2/user?user_id={}", encode(&user_id)));
    let (status, body) = cis.call("DELETE", &url, Some(&writer)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("delete_disabled")),
        "{body}"
    );
    assert_eq!(
        cis.read_user(&user_id).await["user_id"]["value"],
        json!(user_id)
    );
    drop(cis);

    let cis = CisServer::start(&["--allow-delete"]);
    let writer = cis.writer();
    cis.post("/v2/user", Some(&writer), &profile).await;
    let url = cis.change(&format!("/v2/user?user_id={}", encode(&user_id)));
    let (status, body) = cis.call("DELETE", &url, Some(&writer)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["condition"], "delete");
    assert_eq!(cis.read_user(&user_id).await, json!({}));
    let (status, _) = cis.call("DELETE", &url, None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn batch_of_250_with_a_duplicate_and_status_of_each() {
    let cis = CisServer::start(&[]);
    let signer = cis.signer();
    let writer = cis.writer();
    let mut batch: Vec<Value> = (0..249).map(|i| new_user(1000 + i, &signer)).collect();
    let duplicate_id = user_id_of(&batch[10]);
    let mut duplicate = batch[10].clone();
    duplicate["first_name"]["value"] = json!("Duplicated");
    signer
        .sign_path(&mut duplicate, "first_name", "mozilliansorg")
        .unwrap();
    batch.push(duplicate);
    assert_eq!(batch.len(), 250);
    let distinct: BTreeSet<String> = batch.iter().map(user_id_of).collect();

    let (status, body) = cis.post("/v2/users", Some(&writer), &json!(batch)).await;
    assert_eq!(status, 200, "{body}");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 250);
    assert_eq!(body["failed"], 0, "{}", body["results"]);
    assert_eq!(
        body["creates"]["sequence_numbers"]
            .as_array()
            .unwrap()
            .len(),
        distinct.len()
    );
    assert_eq!(results[249]["condition"], "update");
    assert_eq!(results[249]["user_id"], json!(duplicate_id));
    let numbers: Vec<&str> = results
        .iter()
        .map(|r| r["sequence_number"].as_str().unwrap())
        .collect();
    assert_eq!(
        numbers.iter().collect::<BTreeSet<_>>().len(),
        250,
        "every write has its own sequence number"
    );
    assert_eq!(
        cis.read_user(&duplicate_id).await["first_name"]["value"],
        "Duplicated"
    );

    // Status: every sequence number is the current one of its user, except the duplicate's
    // first write, which the second replaced.
    for (i, sn) in numbers.iter().enumerate() {
        let (status, body) = cis
            .call(
                "GET",
                &cis.change(&format!("/v2/status?sequenceNumber={sn}")),
                None,
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(body["identity_vault"], json!(i != 10), "result {i}");
    }
}

#[tokio::test]
async fn twenty_concurrent_updates_of_one_user_all_land() {
    let cis = CisServer::start(&[]);
    let signer = cis.signer();
    let writer = cis.writer();
    let profile = new_user(7, &signer);
    let user_id = user_id_of(&profile);
    let (status, _) = cis.post("/v2/user", Some(&writer), &profile).await;
    assert_eq!(status, 200);
    let changes: [(&str, &str); 20] = [
        ("first_name", "mozilliansorg"),
        ("last_name", "mozilliansorg"),
        ("alternative_name", "mozilliansorg"),
        ("pronouns", "mozilliansorg"),
        ("fun_title", "mozilliansorg"),
        ("description", "mozilliansorg"),
        ("location", "mozilliansorg"),
        ("timezone", "mozilliansorg"),
        ("usernames", "mozilliansorg"),
        ("access_information.mozilliansorg", "mozilliansorg"),
        ("staff_information.title", "hris"),
        ("staff_information.team", "hris"),
        ("staff_information.cost_center", "hris"),
        ("staff_information.wpr_desk_number", "hris"),
        ("staff_information.office_location", "hris"),
        ("access_information.hris", "hris"),
        ("ssh_public_keys", "ldap"),
        ("pgp_public_keys", "ldap"),
        ("access_information.ldap", "ldap"),
        ("access_information.access_provider", "access_provider"),
    ];
    let uri = format!("/v2/user?user_id={}", encode(&user_id));
    let bodies: Vec<(String, Value, Value)> = changes
        .iter()
        .map(|(path, publisher)| {
            let value = new_value(&profile, path, &format!("c-{}", path.replace('.', "-")));
            let body = change(&profile, path, value.clone(), publisher, &signer);
            ((*path).to_owned(), value, body)
        })
        .collect();
    let answers = futures::future::join_all(
        bodies
            .iter()
            .map(|(_, _, body)| cis.post(&uri, Some(&writer), body)),
    )
    .await;
    for ((path, _, _), (status, body)) in bodies.iter().zip(&answers) {
        assert_eq!(*status, 200, "{path}: {body}");
        assert_eq!(body["condition"], "update", "{path}");
    }
    let stored = cis.read_user(&user_id).await;
    for (path, value, _) in &bodies {
        let attr = cis_profile::attribute(&stored, path).unwrap();
        let key = if attr.contains_key("values") {
            "values"
        } else {
            "value"
        };
        assert_eq!(&attr[key], value, "{path} was lost");
    }
}

#[tokio::test]
async fn dry_run_writes_nothing_and_get_is_405() {
    let cis = CisServer::start(&[]);
    let signer = cis.signer();
    let writer = cis.writer();
    let profile = new_user(8, &signer);
    let user_id = user_id_of(&profile);
    let (status, body) = cis
        .post("/v2/user?dryRun=true", Some(&writer), &profile)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["condition"], "create");
    assert_eq!(body["dry_run"], true);
    assert_eq!(cis.read_user(&user_id).await, json!({}));

    cis.post("/v2/user", Some(&writer), &profile).await;
    let before = cis.read_user(&user_id).await;
    let update = change(
        &profile,
        "fun_title",
        json!("Dry"),
        "mozilliansorg",
        &signer,
    );
    let uri = format!("/v2/user?user_id={}&dryRun=true", encode(&user_id));
    let (_, body) = cis.post(&uri, Some(&writer), &update).await;
    assert_eq!(body["condition"], "update");
    assert_eq!(body["changed"], json!(["fun_title"]));
    assert_eq!(cis.read_user(&user_id).await, before);

    for path in ["/v2/user", "/v2/users"] {
        let (status, body) = cis.call("GET", &cis.change(path), Some(&writer)).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (405, Some("method_not_allowed"))
        );
    }
    let (status, body) = cis.call("GET", &cis.change("/v2/version"), None).await;
    assert_eq!((status, body), (200, json!({"message": "0.0.1"})));
}

#[tokio::test]
async fn a_restart_keeps_users_keys_and_salt() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let cis = CisServer::start_in(&dir, &[]);
    let profile = new_user(9, &cis.signer());
    let user_id = user_id_of(&profile);
    cis.post("/v2/user", Some(&cis.writer()), &profile).await;
    let first = cis.read_user(&user_id).await;
    let salt = std::fs::read_to_string(dir.join("uuid_salt")).unwrap();
    drop(cis);

    let cis = CisServer::start_in(&dir, &[]);
    assert_eq!(
        std::fs::read_to_string(dir.join("uuid_salt")).unwrap(),
        salt
    );
    assert_eq!(cis.read_user(&user_id).await, first);
    // The well-known document publishes the data directory's publisher keys.
    let (status, doc) = cis.call("GET", &cis.url("well_known_url"), None).await;
    assert_eq!(status, 200);
    for publisher in cis_crypto::PUBLISHERS {
        assert!(
            doc["api"]["publishers_jwks"][publisher]["keys"][0]["n"].is_string(),
            "{publisher}"
        );
    }
    let keys = cis_crypto::PublisherKeys::from_well_known(&doc).unwrap();
    assert!(
        keys.verify_profile(&first).is_empty(),
        "stored profile verifies"
    );
}
