//! The real `cis-fn-person` binary under the Lambda Runtime API emulator, reading a DynamoDB
//! vault on moto (filled through the change pipeline), with the dev token issuer as Auth0.
//! Requests arrive as API Gateway REST (v1, named stage) and HTTP API (v2) proxy events. Skips,
//! saying so, without a moto endpoint (ci/test.sh starts one).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../change/tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use cis_core::{ChangeRequest, ChangeService, KeySource, UuidSalt};
use cis_crypto::PublisherKeys;
use cis_lambda_emulator::LambdaEmulator;
use cis_vault::ProfileStore;
use serde_json::{Value, json};
use support::*;

const BINARY: &str = env!("CARGO_BIN_EXE_cis-fn-person");
const AUDIENCE: &str = "api.test.sso.allizom.org";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn person_lambda_on_moto_v1_and_v2_events() {
    let Some(endpoint) = moto_endpoint("person_lambda_on_moto_v1_and_v2_events") else {
        return;
    };
    let environment = unique_environment("per");
    let vault = Arc::new(vault(&endpoint, &environment).await);

    // Two users written by the change pipeline itself (same item layout as production).
    let keys = PublisherKeys::from_well_known(&well_known_document()).unwrap();
    let cis_signer = cis_crypto::Signer::new()
        .with_key_text("cis", &cis_pem())
        .unwrap();
    let store: Arc<dyn ProfileStore> = vault.clone();
    let change = ChangeService::new(
        store,
        KeySource::fixed(keys),
        Arc::new(cis_signer),
        Some(UuidSalt::new(SALT)),
        cis_core::ChangeSettings::default(),
    )
    .unwrap();
    let profiles = [new_user(21), new_user(22)];
    for profile in &profiles {
        change
            .integrate(ChangeRequest::new(profile.clone()))
            .await
            .unwrap();
    }
    let user_id = user_id_of(&profiles[0]);
    let stored = vault
        .get_by_user_id(&user_id)
        .await
        .unwrap()
        .unwrap()
        .profile;

    let (issuer, issuer_base) = dev_issuer().await;
    let mut env = aws_env(&endpoint);
    for (k, v) in [
        ("CIS_ENVIRONMENT", environment.clone()),
        ("PERSON_API_AUTH0_DOMAIN", issuer_base.clone()),
        ("PERSON_API_API_IDENTIFIER", AUDIENCE.into()),
        ("PERSON_API_ADVANCED_SEARCH", "true".into()),
    ] {
        env.push((k.to_owned(), v));
    }
    let emulator = LambdaEmulator::start().await.unwrap();
    let _function = emulator
        .spawn_function(BINARY.as_ref(), "person", &as_pairs(&env))
        .unwrap();

    let hour = Duration::from_secs(3600);
    let full = issuer
        .mint(
            "dinopark",
            AUDIENCE,
            ["read:fullprofile", "display:all"],
            hour,
        )
        .unwrap();
    let public = issuer
        .mint("anyone", AUDIENCE, Vec::<&str>::new(), hour)
        .unwrap();

    // Version, unauthenticated, on both event versions.
    let reply = call(
        &emulator,
        HttpRequest::new("GET", "/v2/version").v1("production"),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(reply.body["message"].is_string());

    // One user by user_id: v1 carries the decoded path, v2 the raw percent-encoded one.
    let encoded = percent_encode(&user_id);
    for event in [
        HttpRequest::new("GET", &format!("/v2/user/user_id/{encoded}"))
            .bearer(&full)
            .v1("production"),
        HttpRequest::new("GET", &format!("/v2/user/user_id/{encoded}"))
            .bearer(&full)
            .v2(),
    ] {
        let reply = call(&emulator, event).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.body["user_id"]["value"], json!(user_id), "{reply:?}");
        assert_eq!(reply.body["primary_email"], stored["primary_email"]);
        assert_eq!(reply.body["uuid"]["value"], stored["uuid"]["value"]);
    }

    // By primary_email with a scope-less token: the profile, filtered to what is public.
    let email = stored["primary_email"]["value"].as_str().unwrap();
    let reply = call(
        &emulator,
        HttpRequest::new(
            "GET",
            &format!("/v2/user/primary_email/{}", percent_encode(email)),
        )
        .bearer(&public)
        .v2(),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_ne!(
        reply.body["primary_email"]["value"],
        json!(email),
        "an email (display null) is not public: {reply:?}"
    );

    // Nobody: 200 {} (A9).
    let reply = call(
        &emulator,
        HttpRequest::new("GET", "/v2/user/user_id/nobody%7Cnowhere")
            .bearer(&full)
            .v1("production"),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body, json!({}));

    // The id listing has both users.
    let reply = call(
        &emulator,
        HttpRequest::new("GET", "/v2/users/id/all")
            .query("connectionMethod", "ad")
            .bearer(&full)
            .v2(),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let listed: Vec<&str> = reply.body["users"]
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|u| u["user_id"].as_str())
        .collect();
    for profile in &profiles {
        assert!(listed.contains(&user_id_of(profile).as_str()), "{listed:?}");
    }
    assert_eq!(reply.body["nextPage"], Value::Null);

    // Paged full profiles.
    let reply = call(
        &emulator,
        HttpRequest::new("GET", "/v2/users")
            .bearer(&full)
            .v1("production"),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.body["Items"].as_array().map(Vec::len),
        Some(2),
        "{reply:?}"
    );

    // Advanced search without the search scope: 403 JSON.
    call(
        &emulator,
        HttpRequest::new("GET", "/v2/users/id/all/by_attribute_contains")
            .query("staff_information.staff", "True")
            .bearer(&full)
            .v2(),
    )
    .await
    .assert_error(403, "scope_missing");

    // Auth and routing errors are JSON (B1): no token, a broken token, 405, 404.
    call(&emulator, HttpRequest::new("GET", "/v2/users/id/all").v2())
        .await
        .assert_error(401, "authorization_header_missing");
    call(
        &emulator,
        HttpRequest::new("GET", &format!("/v2/user/user_id/{encoded}"))
            .bearer("a.b.c")
            .v1("production"),
    )
    .await
    .assert_error(401, "invalid_header");
    call(
        &emulator,
        HttpRequest::new("POST", "/v2/users/id/all")
            .bearer(&full)
            .v2(),
    )
    .await
    .assert_error(405, "method_not_allowed");
    call(
        &emulator,
        HttpRequest::new("GET", "/v2/nothing-here").v1("production"),
    )
    .await
    .assert_error(404, "not_found");

    let _ = vault
        .client()
        .delete_table()
        .table_name(vault.table_name())
        .send()
        .await;
}

/// Start-up fails fast, naming what is wrong (B11).
#[tokio::test]
async fn start_up_with_bad_config_fails_naming_the_variable() {
    let output = tokio::process::Command::new(BINARY)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .env("CIS_ENVIRONMENT", "testing")
        .env("PERSON_API_JWT_VALIDATION", "false")
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), output)
        .await
        .expect("exits promptly")
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("PERSON_API_JWT_VALIDATION"), "{stderr}");
}
