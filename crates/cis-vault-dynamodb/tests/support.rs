//! Shared helpers of the moto-backed tests (included with `mod support;`).
#![allow(clippy::unwrap_used, dead_code)]

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use cis_vault::ProfileRecord;
use cis_vault_dynamodb::{DynamoVault, DynamoVaultConfig, VaultTableSpec, ensure_vault};
use serde_json::{Value, json};

/// The moto endpoint, or `None` after saying loudly why the test is skipped.
pub fn endpoint(test: &str) -> Option<String> {
    let endpoint = std::env::var("CIS_TEST_DYNAMODB_ENDPOINT")
        .ok()
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
        .filter(|e| !e.trim().is_empty());
    if endpoint.is_none() {
        eprintln!(
            "SKIPPED {test}: neither CIS_TEST_DYNAMODB_ENDPOINT nor AWS_ENDPOINT_URL is set; \
             run `eval \"$(ci/moto.sh start)\"` first (ci/test.sh does)"
        );
    }
    endpoint
}

/// A client for the emulator with dummy credentials, whatever the environment holds.
pub fn client(endpoint: &str) -> Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .endpoint_url(endpoint)
        .build();
    Client::from_conf(config)
}

/// A table name no other test (or test run) uses.
pub fn unique_table(prefix: &str) -> String {
    format!(
        "{prefix}-{}-identity-vault",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

pub fn spec(table: &str) -> VaultTableSpec {
    let mut spec = VaultTableSpec::for_table(table, "purple");
    spec.poll_interval = Duration::from_millis(100);
    spec.max_wait = Duration::from_secs(60);
    spec
}

/// An ensured, empty vault table on moto.
pub async fn fresh_vault(endpoint: &str, prefix: &str, segments: u32) -> DynamoVault {
    let client = client(endpoint);
    let table = unique_table(prefix);
    ensure_vault(&client, &spec(&table)).await.unwrap();
    let mut config = DynamoVaultConfig::new(table);
    config.scan_segments = segments;
    DynamoVault::new(client, &config)
}

pub async fn drop_table(vault: &DynamoVault) {
    let _ = vault
        .client()
        .delete_table()
        .table_name(vault.table_name())
        .send()
        .await;
}

/// A minimal profile with its index keys and a flat profile carrying a few searchable values.
pub fn record(user_id: &str, email: &str, active: bool) -> ProfileRecord {
    let uuid = format!("uuid-{user_id}");
    let username = format!("r--{}", user_id.replace('|', "-"));
    let profile = json!({
        "user_id": {"value": user_id, "signature": {"publisher": {"name": "access_provider"}}},
        "uuid": {"value": uuid},
        "primary_email": {"value": email},
        "primary_username": {"value": username},
        "active": {"value": active},
        "first_name": {"value": format!("First {user_id}")},
        "staff_information": {"staff": {"value": active}},
        "access_information": {"ldap": {"values": {"team_moco": null}}}
    });
    let flat: Value = json!({
        "user_id": user_id,
        "uuid": uuid,
        "primary_email": email,
        "primary_username": username,
        "active": active,
        "first_name": format!("First {user_id}"),
        "staff_information": {"staff": active},
        "access_information": {"ldap": {"team_moco": null}}
    });
    ProfileRecord::from_profile(profile, flat.as_object().unwrap().clone()).unwrap()
}
