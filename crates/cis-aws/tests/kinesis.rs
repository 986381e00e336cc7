//! The Kinesis change queue against moto (a stream and an outcome table per test) and, for
//! throttling, against a local HTTP server answering as Kinesis does. The moto cases skip,
//! saying so, without an endpoint (ci/test.sh starts one).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_kinesis::config::{Credentials, SharedCredentialsProvider};
use aws_sdk_kinesis::types::ShardIteratorType;
use axum::http::{HeaderMap, StatusCode};
use cis_aws::kinesis::{KinesisChangeQueue, KinesisRetry, kinesis_client, record_data};
use cis_config::{ChangeSettings, Source};
use cis_vault::{ChangeQueue, IngestId, IngestOutcome, IngestStatus, SequenceNumber, VaultError};
use cis_vault_dynamodb::{IngestStatusTable, ensure_ingest_status_table};
use serde_json::{Value, json};

fn moto_endpoint(test: &str) -> Option<String> {
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

async fn shared_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "moto",
        )))
        .load()
        .await
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// A one-shard stream (ACTIVE) and an outcome table, both fresh.
async fn fresh_queue(endpoint: &str, prefix: &str) -> KinesisChangeQueue {
    let shared = shared_config(endpoint).await;
    let kinesis = kinesis_client(&shared, KinesisRetry::default());
    let stream = unique(&format!("cis-input-{prefix}"));
    kinesis
        .create_stream()
        .stream_name(&stream)
        .shard_count(1)
        .send()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let summary = kinesis
            .describe_stream_summary()
            .stream_name(&stream)
            .send()
            .await
            .unwrap();
        let status = summary
            .stream_description_summary()
            .map(|s| s.stream_status().as_str().to_owned());
        if status.as_deref() == Some("ACTIVE") {
            break;
        }
        assert!(Instant::now() < deadline, "stream {stream} never ACTIVE");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let dynamodb = aws_sdk_dynamodb::Client::new(&shared);
    let table = unique(prefix) + "-cis-ingest-status";
    ensure_ingest_status_table(&dynamodb, &table).await.unwrap();
    KinesisChangeQueue::new(kinesis, stream, IngestStatusTable::new(dynamodb, table))
}

/// Every record of the stream's only shard, as (partition key, data, sequence number).
async fn stream_records(endpoint: &str, stream: &str) -> Vec<(String, Value, String)> {
    let kinesis = kinesis_client(&shared_config(endpoint).await, KinesisRetry::default());
    let shards = kinesis
        .list_shards()
        .stream_name(stream)
        .send()
        .await
        .unwrap();
    let shard = shards.shards()[0].shard_id().to_owned();
    let mut iterator = kinesis
        .get_shard_iterator()
        .stream_name(stream)
        .shard_id(&shard)
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap()
        .shard_iterator
        .unwrap();
    let mut records = Vec::new();
    loop {
        let out = kinesis
            .get_records()
            .shard_iterator(&iterator)
            .send()
            .await
            .unwrap();
        if out.records().is_empty() {
            return records;
        }
        for record in out.records() {
            records.push((
                record.partition_key().unwrap_or_default().to_owned(),
                serde_json::from_slice(record.data().as_ref()).unwrap(),
                record.sequence_number().to_owned(),
            ));
        }
        match out.next_shard_iterator {
            Some(next) => iterator = next,
            None => return records,
        }
    }
}

#[tokio::test]
async fn submit_puts_the_record_keyed_by_user_and_status_follows_the_outcome_table() {
    let Some(endpoint) = moto_endpoint("submit_puts_the_record_keyed_by_user") else {
        return;
    };
    let queue = fresh_queue(&endpoint, "sub").await;
    queue.check().await.unwrap();

    let alice = "ad|Mozilla-LDAP|alice";
    let bob = "github|4711";
    let first = json!({"user_id": {"value": alice}, "fun_title": {"value": "one"}});
    let second = json!({"fun_title": {"value": "two"}});
    let third = json!({"user_id": {"value": bob}});
    let a1 = queue.submit(alice, first.clone()).await.unwrap();
    let a2 = queue.submit(alice, second.clone()).await.unwrap();
    let b1 = queue.submit(bob, third.clone()).await.unwrap();

    let records = stream_records(&endpoint, queue.stream_name()).await;
    let expected = [
        (alice, &first, &a1),
        (alice, &second, &a2),
        (bob, &third, &b1),
    ];
    assert_eq!(records.len(), expected.len(), "{records:?}");
    for ((key, data, sequence), (user_id, profile, id)) in records.iter().zip(expected) {
        assert_eq!(key, user_id);
        assert_eq!(sequence, id.as_str());
        // The form integrate_record_data reads, user_id included (here it came with no
        // user_id in the profile, as with `?user_id=`).
        assert_eq!(data, &json!({"profile": profile, "user_id": user_id}));
        assert_eq!(
            serde_json::to_vec(data).unwrap(),
            record_data(user_id, (*profile).clone()).unwrap()
        );
    }

    // Nothing recorded yet: pending; then whatever the processor recorded.
    for id in [&a1, &a2, &b1] {
        assert_eq!(
            queue.submission_status(id).await.unwrap(),
            IngestStatus::Pending
        );
    }
    let outcomes = queue.outcomes();
    outcomes
        .record_outcome(
            a1.as_str(),
            Some(alice),
            &IngestOutcome::Integrated {
                sequence_number: Some(SequenceNumber::new("42")),
            },
        )
        .await
        .unwrap();
    outcomes
        .record_outcome(
            b1.as_str(),
            Some(bob),
            &IngestOutcome::Rejected {
                reason: "invalid_signature: user_id".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        queue.submission_status(&a1).await.unwrap(),
        IngestStatus::Integrated {
            sequence_number: Some(SequenceNumber::new("42"))
        }
    );
    assert_eq!(
        queue.submission_status(&b1).await.unwrap(),
        IngestStatus::Rejected {
            reason: "invalid_signature: user_id".into()
        }
    );
    assert_eq!(
        queue.submission_status(&a2).await.unwrap(),
        IngestStatus::Pending
    );
    // An unknown number reads as pending (Kinesis cannot tell); a value that is no Kinesis
    // sequence number is NotFound, so the Change API looks in the vault instead.
    assert_eq!(
        queue
            .submission_status(&IngestId::new("12345678901234567890"))
            .await
            .unwrap(),
        IngestStatus::Pending
    );
    assert!(matches!(
        queue
            .submission_status(&IngestId::new("not-a-number"))
            .await,
        Err(VaultError::NotFound { .. })
    ));
}

#[tokio::test]
async fn bad_records_and_a_missing_stream_are_clear_errors() {
    let Some(endpoint) = moto_endpoint("bad_records_and_a_missing_stream_are_clear_errors") else {
        return;
    };
    let queue = fresh_queue(&endpoint, "bad").await;

    let long_id = "x".repeat(257);
    let error = queue.submit(&long_id, json!({})).await.unwrap_err();
    assert!(
        matches!(&error, VaultError::InvalidInput { field: "user_id", reason } if reason.contains("256")),
        "{error}"
    );
    let huge = json!({"fun_title": {"value": "x".repeat(1024 * 1024)}});
    let error = queue.submit("ad|a", huge).await.unwrap_err();
    assert!(
        matches!(&error, VaultError::InvalidInput { field: "profile", reason } if reason.contains("Kinesis record")),
        "{error}"
    );
    assert!(
        stream_records(&endpoint, queue.stream_name())
            .await
            .is_empty()
    );

    let missing = KinesisChangeQueue::new(
        kinesis_client(&shared_config(&endpoint).await, KinesisRetry::default()),
        unique("cis-input-missing"),
        queue.outcomes().clone(),
    );
    let error = missing.submit("ad|a", json!({})).await.unwrap_err();
    assert!(!error.is_retryable(), "{error}");
    assert!(
        error.to_string().contains(missing.stream_name()),
        "names the stream: {error}"
    );
    let error = missing.check().await.unwrap_err().to_string();
    assert!(error.contains(missing.stream_name()), "{error}");
}

#[tokio::test]
async fn stream_mode_start_up_names_the_missing_stream() {
    let Some(_endpoint) = moto_endpoint("stream_mode_start_up_names_the_missing_stream") else {
        return;
    };
    let environment = unique("nostream");
    let settings = ChangeSettings::from_source(&Source::from_map([
        ("CIS_ENVIRONMENT".to_owned(), environment.clone()),
        ("CIS_STREAM_BYPASS".to_owned(), "false".to_owned()),
    ]))
    .unwrap();
    let error = cis_aws::build_change_router(&settings)
        .await
        .expect_err("refused")
        .to_string();
    assert!(
        error.contains(&format!("cis-input-{environment}")),
        "{error}"
    );
    assert!(error.contains("CIS_STREAM_BYPASS=false"), "{error}");
}

/// A local stand-in for Kinesis PutRecord (JSON 1.1 protocol) that answers
/// `ProvisionedThroughputExceededException` to the first `throttled` requests.
async fn throttling_kinesis(throttled: usize) -> (String, Arc<AtomicUsize>) {
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    let router = axum::Router::new().route(
        "/",
        axum::routing::post(move |headers: HeaderMap| {
            let counter = counter.clone();
            async move {
                let target = headers
                    .get("x-amz-target")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                assert_eq!(target, "Kinesis_20131202.PutRecord");
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let json = [("content-type", "application/x-amz-json-1.1")];
                if n < throttled {
                    (
                        StatusCode::BAD_REQUEST,
                        json,
                        json!({
                            "__type": "ProvisionedThroughputExceededException",
                            "message": "Rate exceeded for shard shardId-000000000000"
                        })
                        .to_string(),
                    )
                } else {
                    (
                        StatusCode::OK,
                        json,
                        json!({
                            "ShardId": "shardId-000000000000",
                            "SequenceNumber": "49545115243490985018280067714973144582180062593244200961"
                        })
                        .to_string(),
                    )
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (format!("http://{addr}"), requests)
}

#[tokio::test]
async fn throttled_puts_are_retried_with_backoff_then_reported_as_retryable() {
    // The outcome table is never touched here; its client points nowhere.
    let outcomes = IngestStatusTable::new(
        aws_sdk_dynamodb::Client::new(&shared_config("http://127.0.0.1:9").await),
        "unused",
    );
    let retry = KinesisRetry {
        max_attempts: 4,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
    };

    // Throttled twice, then accepted: one submit, three requests.
    let (endpoint, requests) = throttling_kinesis(2).await;
    let queue = KinesisChangeQueue::new(
        kinesis_client(&shared_config(&endpoint).await, retry),
        "cis-input-throttled",
        outcomes.clone(),
    );
    let id = queue.submit("ad|a", json!({})).await.unwrap();
    assert_eq!(
        id.as_str(),
        "49545115243490985018280067714973144582180062593244200961"
    );
    assert_eq!(requests.load(Ordering::SeqCst), 3);

    // Throttled for good: every attempt is spent, then a retryable error naming the stream.
    let (endpoint, requests) = throttling_kinesis(usize::MAX).await;
    let queue = KinesisChangeQueue::new(
        kinesis_client(&shared_config(&endpoint).await, retry),
        "cis-input-throttled",
        outcomes,
    );
    let error = queue.submit("ad|a", json!({})).await.unwrap_err();
    assert!(error.is_retryable(), "{error}");
    let text = error.to_string();
    assert!(
        text.contains("cis-input-throttled") && text.contains("ProvisionedThroughputExceeded"),
        "{text}"
    );
    assert_eq!(requests.load(Ordering::SeqCst), 4);
}
