//! The curator handler on a recorded scheduled event against a moto server: the first run
//! creates the vault, the second changes nothing. Skips, saying so, without an endpoint.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use aws_lambda_events::cloudwatch_events::CloudWatchEvent;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::StreamViewType;
use cis_fn_curator::{CuratorSettings, handle};

fn endpoint() -> Option<String> {
    let endpoint = std::env::var("CIS_TEST_DYNAMODB_ENDPOINT")
        .ok()
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
        .filter(|e| !e.trim().is_empty());
    if endpoint.is_none() {
        eprintln!(
            "SKIPPED curator moto test: neither CIS_TEST_DYNAMODB_ENDPOINT nor AWS_ENDPOINT_URL \
             is set; run `eval \"$(ci/moto.sh start)\"` first (ci/test.sh does)"
        );
    }
    endpoint
}

fn scheduled_event() -> CloudWatchEvent {
    serde_json::from_str(include_str!("fixtures/scheduled-event.json")).unwrap()
}

#[tokio::test]
async fn scheduled_runs_create_the_vault_once() {
    let Some(endpoint) = endpoint() else { return };
    let client = Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-west-2"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
            .endpoint_url(&endpoint)
            .build(),
    );
    let environment = format!(
        "curator{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    );
    let env = environment.clone();
    let mut settings = CuratorSettings::from_lookup(move |key| match key {
        "CIS_ENVIRONMENT" => Some(env.clone()),
        _ => None,
    })
    .unwrap();
    settings.spec.poll_interval = Duration::from_millis(100);
    let table = format!("{environment}-identity-vault");
    assert_eq!(settings.spec.table_name, table);

    let first = handle(&client, &settings.spec, scheduled_event())
        .await
        .unwrap();
    assert!(first.created_table);
    assert_eq!(first.created_indexes.len(), 4);
    assert!(first.enabled_stream);
    assert!(!first.unchanged);
    // The report is what the Lambda returns.
    let json = serde_json::to_value(&first).unwrap();
    assert_eq!(json["table_name"], table.as_str());
    assert_eq!(json["created_table"], true);

    let second = handle(&client, &settings.spec, scheduled_event())
        .await
        .unwrap();
    assert!(second.unchanged, "{second:?}");
    assert!(!second.created_table && second.created_indexes.is_empty());
    assert!(!second.enabled_stream && second.tags_set.is_empty());

    let described = client
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let t = described.table.unwrap();
    assert_eq!(t.global_secondary_indexes().len(), 4);
    assert_eq!(
        t.stream_specification().and_then(|s| s.stream_view_type()),
        Some(&StreamViewType::KeysOnly)
    );
    let tags = client
        .list_tags_of_resource()
        .resource_arn(t.table_arn().unwrap())
        .send()
        .await
        .unwrap();
    assert!(
        tags.tags()
            .iter()
            .any(|t| t.key() == "cis_environment" && t.value() == environment)
    );
    client
        .delete_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
}
