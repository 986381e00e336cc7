//! The curator handler on a recorded scheduled event against a moto server: the first run
//! creates the vault, the dead-letter table and the ingest outcome table, the second changes
//! nothing. Skips, saying so, without an endpoint.
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

    let first = handle(&client, &settings, scheduled_event()).await.unwrap();
    assert!(first.vault.created_table);
    assert_eq!(first.vault.created_indexes.len(), 4);
    assert!(first.vault.enabled_stream);
    assert!(!first.vault.unchanged);
    assert!(first.dead_letters.created_table, "{first:?}");
    assert_eq!(
        first.dead_letters.table_name,
        format!("{environment}-cis-notifier-dead-letters")
    );
    assert!(first.ingest_status.created_table, "{first:?}");
    assert!(first.ingest_status.enabled_ttl, "{first:?}");
    assert_eq!(
        first.ingest_status.table_name,
        format!("{environment}-cis-ingest-status")
    );
    assert!(!first.unchanged);
    // The report is what the Lambda returns.
    let json = serde_json::to_value(&first).unwrap();
    assert_eq!(json["vault"]["table_name"], table.as_str());
    assert_eq!(json["vault"]["created_table"], true);
    assert_eq!(json["dead_letters"]["created_table"], true);

    let second = handle(&client, &settings, scheduled_event()).await.unwrap();
    assert!(second.unchanged, "{second:?}");
    assert!(!second.vault.created_table && second.vault.created_indexes.is_empty());
    assert!(!second.vault.enabled_stream && second.vault.tags_set.is_empty());
    assert!(second.dead_letters.unchanged && !second.dead_letters.created_table);
    assert!(second.ingest_status.unchanged && !second.ingest_status.enabled_ttl);
    assert!(
        second.dead_letters.warnings.is_empty() && second.ingest_status.warnings.is_empty(),
        "{second:?}"
    );

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
    for name in [
        table.clone(),
        settings.dead_letter_table.clone(),
        settings.ingest_status_table.clone(),
    ] {
        client.delete_table().table_name(name).send().await.unwrap();
    }
}
