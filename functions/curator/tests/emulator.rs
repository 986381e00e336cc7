//! The real curator binary under the Lambda Runtime API emulator against moto: a recorded
//! scheduled event creates the vault and the dead-letter and ingest outcome tables, a second one
//! changes nothing, and the Lambda's answer is the JSON report. Skips, saying so, without an endpoint (ci/test.sh starts moto).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use cis_lambda_emulator::LambdaEmulator;
use serde_json::{Value, json};

const BINARY: &str = env!("CARGO_BIN_EXE_curator");

fn endpoint() -> Option<String> {
    let endpoint = std::env::var("CIS_TEST_DYNAMODB_ENDPOINT")
        .ok()
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
        .filter(|e| !e.trim().is_empty());
    if endpoint.is_none() {
        eprintln!(
            "SKIPPED curator emulator test: neither CIS_TEST_DYNAMODB_ENDPOINT nor \
             AWS_ENDPOINT_URL is set; run `eval \"$(ci/moto.sh start)\"` first (ci/test.sh does)"
        );
    }
    endpoint
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_curator_binary_ensures_the_vault_on_a_scheduled_event() {
    let Some(endpoint) = endpoint() else { return };
    let environment = format!("curemu{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let table = format!("{environment}-identity-vault");
    let dead_letters = format!("{environment}-cis-notifier-dead-letters");
    let ingest_status = format!("{environment}-cis-ingest-status");
    let event: Value = serde_json::from_str(include_str!("fixtures/scheduled-event.json")).unwrap();

    let emulator = LambdaEmulator::start().await.unwrap();
    let env = [
        ("CIS_ENVIRONMENT", environment.as_str()),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_SESSION_TOKEN", "testing"),
        ("AWS_REGION", "us-west-2"),
        ("AWS_DEFAULT_REGION", "us-west-2"),
    ];
    let _function = emulator
        .spawn_function(BINARY.as_ref(), "curator", &env)
        .unwrap();

    let first = emulator
        .invoke(event.clone(), Duration::from_secs(120))
        .await
        .unwrap();
    assert_eq!(first["vault"]["table_name"], json!(table), "{first}");
    assert_eq!(first["vault"]["created_table"], json!(true), "{first}");
    assert_eq!(
        first["vault"]["created_indexes"].as_array().map(Vec::len),
        Some(4),
        "{first}"
    );
    assert_eq!(
        first["dead_letters"],
        json!({"table_name": dead_letters, "created_table": true, "unchanged": false, "warnings": []})
    );
    assert_eq!(
        first["ingest_status"]["table_name"],
        json!(ingest_status),
        "{first}"
    );
    assert_eq!(
        first["ingest_status"]["created_table"],
        json!(true),
        "{first}"
    );
    assert_eq!(first["unchanged"], json!(false), "{first}");

    let second = emulator
        .invoke(event, Duration::from_secs(120))
        .await
        .unwrap();
    assert_eq!(second["unchanged"], json!(true), "{second}");
    assert_eq!(second["vault"]["created_table"], json!(false), "{second}");
    assert_eq!(second["vault"]["unchanged"], json!(true), "{second}");
    assert_eq!(second["dead_letters"]["unchanged"], json!(true), "{second}");
    assert_eq!(
        second["ingest_status"]["unchanged"],
        json!(true),
        "{second}"
    );

    let client = Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-west-2"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
            .endpoint_url(&endpoint)
            .build(),
    );
    let described = client
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    assert_eq!(described.table.unwrap().global_secondary_indexes().len(), 4);
    for name in [&table, &dead_letters, &ingest_status] {
        client.delete_table().table_name(name).send().await.unwrap();
    }
}
