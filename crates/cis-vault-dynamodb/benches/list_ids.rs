//! Lists the ids of N users on a DynamoDB endpoint (moto in CI) with the parallel projected scan
//! behind `/v2/users/id/all`, and prints `vault_dynamodb/list_ids_<N> <seconds>`.
//!
//!   eval "$(ci/moto.sh start)"; cargo bench -p cis-vault-dynamodb --bench list_ids
//!
//! `CIS_BENCH_USERS` (default 100000), `CIS_BENCH_SEGMENTS` (default 8), `CIS_BENCH_ACTIVE=1`
//! adds the filtered listing (prefix `ad|`, active only). Loading uses
//! BatchWriteItem with items of the vault's shape and a 1 KB `profile` string (real profiles are
//! 5-20 KB, which the projected scan does not read but the server still walks).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use cis_vault::{ProfileStore, UserIdFilter};
use cis_vault_dynamodb::{DynamoVault, DynamoVaultConfig, VaultTableSpec, ensure_vault};

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn item(i: usize, filler: &str) -> HashMap<String, AttributeValue> {
    let s = |v: String| AttributeValue::S(v);
    HashMap::from([
        ("id".into(), s(format!("ad|Mozilla-LDAP|bench{i:07}"))),
        ("user_uuid".into(), s(format!("uuid-{i:07}"))),
        ("primary_email".into(), s(format!("bench{i}@example.com"))),
        ("primary_username".into(), s(format!("r--bench{i:07}"))),
        (
            "sequence_number".into(),
            s(format!("{}", 1_000_000_000 + i)),
        ),
        ("active".into(), AttributeValue::Bool(!i.is_multiple_of(10))),
        ("profile".into(), s(filler.to_owned())),
        (
            "flat_profile".into(),
            AttributeValue::M(HashMap::from([("first_name".into(), s(format!("B{i}")))])),
        ),
    ])
}

async fn load(client: &Client, table: &str, users: usize) {
    let filler = format!("{{\"pad\":\"{}\"}}", "x".repeat(1000));
    let batches: Vec<Vec<usize>> = (0..users)
        .collect::<Vec<_>>()
        .chunks(25)
        .map(<[usize]>::to_vec)
        .collect();
    let mut stream = futures::stream::iter(batches.into_iter().map(|batch| {
        let client = client.clone();
        let filler = filler.clone();
        let table = table.to_owned();
        async move {
            let mut requests: Vec<WriteRequest> = batch
                .iter()
                .map(|i| {
                    WriteRequest::builder()
                        .put_request(
                            PutRequest::builder()
                                .set_item(Some(item(*i, &filler)))
                                .build()
                                .unwrap(),
                        )
                        .build()
                })
                .collect();
            while !requests.is_empty() {
                let out = client
                    .batch_write_item()
                    .request_items(&table, requests)
                    .send()
                    .await
                    .expect("BatchWriteItem");
                requests = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&table))
                    .unwrap_or_default();
            }
        }
    }))
    .buffer_unordered(8);
    use futures::StreamExt;
    while stream.next().await.is_some() {}
}

#[tokio::main]
async fn main() {
    let Some(endpoint) = std::env::var("CIS_TEST_DYNAMODB_ENDPOINT")
        .ok()
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
    else {
        eprintln!(
            "SKIPPED vault_dynamodb/list_ids: set CIS_TEST_DYNAMODB_ENDPOINT (ci/moto.sh start)"
        );
        return;
    };
    let users = env_number("CIS_BENCH_USERS", 100_000);
    let segments = u32::try_from(env_number("CIS_BENCH_SEGMENTS", 8)).unwrap_or(8);
    let client = Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-west-2"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "bench"))
            .endpoint_url(&endpoint)
            .timeout_config(
                aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_secs(600))
                    .build(),
            )
            .build(),
    );
    let table = format!(
        "bench-{}-identity-vault",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let mut spec = VaultTableSpec::for_table(&table, "development");
    spec.poll_interval = Duration::from_millis(100);
    ensure_vault(&client, &spec).await.expect("ensure table");

    let started = Instant::now();
    load(&client, &table, users).await;
    println!(
        "vault_dynamodb/load_{users} {:.2}",
        started.elapsed().as_secs_f64()
    );

    let mut config = DynamoVaultConfig::new(&table);
    config.scan_segments = segments;
    let vault = DynamoVault::new(client.clone(), &config);
    let started = Instant::now();
    let ids = vault
        .list_user_ids(UserIdFilter::default())
        .await
        .expect("list ids");
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(ids.len(), users, "the listing must be complete");
    println!("vault_dynamodb/list_ids_{users} {elapsed:.2}");
    eprintln!("({segments} segments, endpoint {endpoint})");

    if std::env::var("CIS_BENCH_ACTIVE").as_deref() != Ok("1") {
        let _ = client.delete_table().table_name(&table).send().await;
        return;
    }
    let started = Instant::now();
    let active = vault
        .list_user_ids(UserIdFilter {
            user_id_prefix: Some("ad|".into()),
            active: Some(true),
        })
        .await
        .expect("list active ids");
    println!(
        "vault_dynamodb/list_ids_active_{users} {:.2}",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(active.len(), users - users.div_ceil(10));

    let _ = client.delete_table().table_name(&table).send().await;
}
