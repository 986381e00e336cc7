//! The real `cis-fn-change` binary under the Lambda Runtime API emulator, on moto (DynamoDB +
//! SSM), with the publisher keys from a served well-known document and the dev token issuer as
//! Auth0. Requests arrive as API Gateway REST (v1, named stage) and HTTP API (v2) proxy events.
//! Skips, saying so, without a moto endpoint (ci/test.sh starts one).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use cis_crypto::{VerifyingKey, public_jwk_from_pem};
use cis_lambda_emulator::LambdaEmulator;
use cis_profile::{attribute, derive_uuid_and_username, publisher_name};
use cis_vault::ProfileStore;
use serde_json::json;
use support::*;

const BINARY: &str = env!("CARGO_BIN_EXE_cis-fn-change");
const AUDIENCE: &str = "api.test.sso.allizom.org";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_lambda_on_moto_v1_and_v2_events() {
    let Some(endpoint) = moto_endpoint("change_lambda_on_moto_v1_and_v2_events") else {
        return;
    };
    let environment = unique_environment("chg");
    let vault = vault(&endpoint, &environment).await;
    let ChangeDeployment { mut env, issuer } =
        change_deployment(&endpoint, &environment, AUDIENCE).await;
    for (k, v) in [
        ("CIS_ALLOW_DELETE", "true"),
        ("CIS_STREAM_BYPASS", "true"),
        ("CIS_DYNAMODB_TRANSACTIONS", "true"),
    ] {
        env.push((k.to_owned(), v.to_owned()));
    }

    let emulator = LambdaEmulator::start().await.unwrap();
    let _function = emulator
        .spawn_function(BINARY.as_ref(), "change", &as_pairs(&env))
        .unwrap();

    let hour = Duration::from_secs(3600);
    let writer = issuer
        .mint("publisher-client", AUDIENCE, ["write"], hour)
        .unwrap();
    let reader = issuer
        .mint("reader-client", AUDIENCE, ["read"], hour)
        .unwrap();

    // Unauthenticated routes, on both event versions.
    let reply = call(
        &emulator,
        HttpRequest::new("GET", "/v2/version").v1("production"),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(reply.body["message"].is_string(), "{reply:?}");
    let reply = call(&emulator, HttpRequest::new("GET", "/v2/version").v2()).await;
    assert_eq!(reply.status, 200, "{reply:?}");

    // Create, through a REST API stage (the stage must not reach the router).
    let profile = new_user(11);
    let user_id = user_id_of(&profile);
    let create = HttpRequest::new("POST", "/v2/user")
        .bearer(&writer)
        .json(&profile);
    let reply = call(&emulator, create.v1("production")).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["condition"], json!("create"), "{reply:?}");
    assert_eq!(reply.body["status_code"], json!(200), "{reply:?}");
    let sequence = reply.body["sequence_number"].as_str().unwrap().to_owned();
    assert!(sequence.chars().all(|c| c.is_ascii_digit()), "{sequence}");

    // Stored in the DynamoDB table; uuid derived with the salt read from SSM; CIS attributes
    // signed with the key read from SSM (verified with its public half).
    let record = vault
        .get_by_user_id(&user_id)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(record.sequence_number.to_string(), sequence);
    let (uuid, username) = derive_uuid_and_username(SALT, &user_id);
    assert_eq!(record.uuid, uuid);
    assert_eq!(record.profile["primary_username"]["value"], json!(username));
    let cis_public =
        VerifyingKey::from_jwk(&public_jwk_from_pem(&cis_pem(), "cis").unwrap()).unwrap();
    let mut cis_keys = cis_crypto::PublisherKeys::new();
    cis_keys.insert("cis", cis_public);
    for path in ["uuid", "primary_username", "last_modified"] {
        let attr = attribute(&record.profile, path).unwrap();
        assert_eq!(publisher_name(attr), Some("cis"), "{path}");
        cis_keys.verify_attribute(attr).unwrap();
    }

    // The same profile again, as an HTTP API event with ?user_id=: a no-op.
    let again = HttpRequest::new("POST", "/v2/user")
        .query("user_id", &user_id)
        .bearer(&writer)
        .json(&profile);
    let reply = call(&emulator, again.v2()).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["condition"], json!("noop"), "{reply:?}");
    assert_eq!(reply.body["status_code"], json!(202), "{reply:?}");
    assert_eq!(reply.body["sequence_number"], json!(null), "{reply:?}");

    // No token: 401 JSON; a token without `write`: 403 JSON. Nothing written.
    let anonymous = HttpRequest::new("POST", "/v2/user").json(&profile);
    call(&emulator, anonymous.v2())
        .await
        .assert_error(401, "authorization_header_missing");
    call(
        &emulator,
        anonymous.clone().bearer("not.a.jwt").v1("production"),
    )
    .await
    .assert_error(401, "invalid_header");
    let reply = call(
        &emulator,
        HttpRequest::new("POST", "/v2/user")
            .bearer(&reader)
            .json(&profile)
            .v1("production"),
    )
    .await;
    assert_eq!(reply.status, 403, "{reply:?}");

    // A publisher updating a field it does not own: 403 invalid_publisher.
    let stored = vault
        .get_by_user_id(&user_id)
        .await
        .unwrap()
        .unwrap()
        .profile;
    let mut first_name = attribute(&stored, "first_name").unwrap().clone();
    first_name.insert("value".into(), json!("Mallory"));
    first_name["signature"]["publisher"]["name"] = json!("access_provider");
    publisher_signer()
        .sign_attribute(&mut first_name, "access_provider")
        .unwrap();
    let mut change = cis_profile::null_profile();
    change["first_name"] = serde_json::Value::Object(first_name);
    let reply = call(
        &emulator,
        HttpRequest::new("POST", "/v2/user")
            .query("user_id", &user_id)
            .bearer(&writer)
            .json(&change)
            .v2(),
    )
    .await;
    reply.assert_error(403, "invalid_publisher");
    let after = vault.get_by_user_id(&user_id).await.unwrap().unwrap();
    assert_eq!(
        after.sequence_number.to_string(),
        sequence,
        "nothing written"
    );

    // Batch of two new users through /v2/users (v1): one result per profile.
    let batch = json!([new_user(12), new_user(13)]);
    let reply = call(
        &emulator,
        HttpRequest::new("POST", "/v2/users")
            .bearer(&writer)
            .json(&batch)
            .v1("production"),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    for seed in [12, 13] {
        let id = user_id_of(&new_user(seed));
        assert!(vault.get_by_user_id(&id).await.unwrap().is_some(), "{id}");
    }

    // JSON 405 (GET never writes, B7) and 404.
    call(
        &emulator,
        HttpRequest::new("GET", "/v2/user").bearer(&writer).v2(),
    )
    .await
    .assert_error(405, "method_not_allowed");
    call(
        &emulator,
        HttpRequest::new("GET", "/v2/nothing-here").v1("production"),
    )
    .await
    .assert_error(404, "not_found");

    // Delete (enabled here) by user_id only; then the user is gone.
    let reply = call(
        &emulator,
        HttpRequest::new("DELETE", "/v2/user")
            .query("user_id", &user_id)
            .bearer(&writer)
            .v2(),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(vault.get_by_user_id(&user_id).await.unwrap().is_none());

    let _ = vault
        .client()
        .delete_table()
        .table_name(vault.table_name())
        .send()
        .await;
}

/// Start-up fails fast, naming what is wrong (B11): no environment at all.
#[tokio::test]
async fn start_up_without_environment_fails_naming_the_variable() {
    let output = tokio::process::Command::new(BINARY)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), output)
        .await
        .expect("exits promptly")
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("CIS_ENVIRONMENT"), "{stderr}");
}

/// Start-up fails fast when the CIS signing key is not in SSM, naming the parameter.
#[tokio::test]
async fn start_up_without_the_cis_key_in_ssm_fails_naming_the_parameter() {
    let Some(endpoint) = moto_endpoint("start_up_without_the_cis_key_in_ssm_fails") else {
        return;
    };
    let environment = unique_environment("nokey");
    let key_path = format!("/iam/cis/{environment}/keys");
    let mut command = tokio::process::Command::new(BINARY);
    command
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .env("CIS_ENVIRONMENT", &environment)
        .env("CIS_SECRET_MANAGER", "aws-ssm")
        .env("CIS_SECRET_MANAGER_SSM_PATH", &key_path)
        .env("CIS_UUID_SALT", SALT);
    for (k, v) in aws_env(&endpoint) {
        command.env(k, v);
    }
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("exits promptly")
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("{key_path}/cis")), "{stderr}");
    assert!(stderr.contains("not found"), "{stderr}");
}
