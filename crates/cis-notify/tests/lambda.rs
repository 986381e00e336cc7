//! The `webhook-notifier` Lambda handler fed with recorded DynamoDB stream events.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::dynamodb::Event;
use cis_notify::handle_stream_event;
use cis_vault::{DeadLetterFilter, DeadLetterStore, MemoryVault};
use common::*;
use serde_json::{Value, json};

fn reference_event() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/reference/events/dynamodb-stream-keys-only.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The reference record repeated for each (eventName, user, sequence number).
fn batch(records: &[(&str, &str, &str)]) -> Value {
    let template = reference_event()["Records"][0].clone();
    let records: Vec<Value> = records
        .iter()
        .enumerate()
        .map(|(n, (name, user, seq))| {
            let mut record = template.clone();
            record["eventID"] = json!(format!("event-{n}-{seq}"));
            record["eventName"] = json!(name);
            record["dynamodb"]["Keys"]["id"]["S"] = json!(user);
            record["dynamodb"]["SequenceNumber"] = json!(seq);
            record["dynamodb"]["ApproximateCreationDateTime"] = json!(1_700_000_000.0 + n as f64);
            record
        })
        .collect();
    json!({ "Records": records })
}

fn parse(event: Value) -> Event {
    serde_json::from_value(event).unwrap()
}

fn failures(response: &aws_lambda_events::streams::DynamoDbEventResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone().unwrap())
        .collect()
}

#[tokio::test]
async fn the_recorded_keys_only_event_notifies_every_rp() {
    let tokens = TokenServer::start(Duration::from_secs(3600)).await;
    let dinopark = Receiver::start(Behaviour::Healthy, &tokens).await;
    let discourse = Receiver::start(Behaviour::FailTimes(2), &tokens).await;
    let notifier = notifier(&tokens, &[&dinopark, &discourse], None);

    let response = handle_stream_event(&notifier, parse(reference_event())).await;

    assert!(failures(&response).is_empty());
    let expected = json!({"operation": "create", "id": "google-oauth2|2749", "time": 1551868482});
    assert_eq!(dinopark.calls().len(), 1);
    assert_eq!(dinopark.calls()[0].body, expected);
    assert!(dinopark.calls()[0].token_valid);
    assert_eq!(discourse.call_count(), 3);
    assert!(discourse.calls().iter().all(|c| c.body == expected));
    // The response is what Lambda reads for ReportBatchItemFailures.
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        json!({"batchItemFailures": []})
    );
}

#[tokio::test]
async fn only_the_failed_record_is_reported_and_its_retry_spares_rps_that_have_it() {
    let tokens = TokenServer::start(Duration::from_secs(3600)).await;
    let healthy = Receiver::start(Behaviour::Healthy, &tokens).await;
    let picky = Receiver::start(Behaviour::FailFor(vec!["user-b".into()]), &tokens).await;
    let notifier = notifier(&tokens, &[&healthy, &picky], None);
    let records = [
        ("INSERT", "user-a", "100000000000000000001"),
        ("MODIFY", "user-b", "100000000000000000002"),
        ("REMOVE", "user-c", "100000000000000000003"),
    ];

    let first = batch(&records);
    // Lambda's retry carries the very same records (same eventID) from the reported one on.
    let retry = json!({"Records": [first["Records"][1].clone(), first["Records"][2].clone()]});
    let response = handle_stream_event(&notifier, parse(first)).await;

    assert_eq!(failures(&response), ["100000000000000000002"]);
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        json!({"batchItemFailures": [{"itemIdentifier": "100000000000000000002"}]})
    );
    let mut ids = healthy.ids();
    ids.sort();
    assert_eq!(ids, ["user-a", "user-b", "user-c"]);
    assert_eq!(picky.calls_for("user-b"), 4, "retried up to max_attempts");
    let ops: Vec<_> = healthy
        .calls()
        .iter()
        .map(|c| {
            (
                c.body["id"].clone(),
                c.body["operation"].clone(),
                c.body["time"].clone(),
            )
        })
        .collect();
    for (id, op, time) in [
        ("user-a", "create", 1_700_000_000),
        ("user-b", "update", 1_700_000_001),
        ("user-c", "delete", 1_700_000_002),
    ] {
        assert!(ops.contains(&(json!(id), json!(op), json!(time))), "{id}");
    }

    // Lambda retries from the reported record: user-b and user-c come again. Only the RP that
    // failed user-b hears about it again; nobody hears about user-c twice.
    let response = handle_stream_event(&notifier, parse(retry)).await;
    assert_eq!(failures(&response), ["100000000000000000002"]);
    assert_eq!(healthy.call_count(), 3);
    assert_eq!(picky.calls_for("user-b"), 8);
    assert_eq!(picky.calls_for("user-c"), 1);
    assert_eq!(picky.calls_for("user-a"), 1);
}

#[tokio::test]
async fn a_retry_after_the_rp_recovered_settles_the_record() {
    let tokens = TokenServer::start(Duration::from_secs(3600)).await;
    let healthy = Receiver::start(Behaviour::Healthy, &tokens).await;
    let picky = Receiver::start(Behaviour::FailFor(vec!["user-b".into()]), &tokens).await;
    let notifier = notifier(&tokens, &[&healthy, &picky], None);
    let first = batch(&[
        ("INSERT", "user-a", "1"),
        ("MODIFY", "user-b", "2"),
        ("MODIFY", "user-c", "3"),
    ]);
    let retry = json!({"Records": [first["Records"][1].clone(), first["Records"][2].clone()]});
    let response = handle_stream_event(&notifier, parse(first)).await;
    assert_eq!(failures(&response), ["2"]);
    picky.recover();
    let response = handle_stream_event(&notifier, parse(retry)).await;
    assert!(failures(&response).is_empty());
    assert_eq!(healthy.call_count(), 3, "no duplicate to the healthy RP");
    assert_eq!(
        picky.calls_for("user-b"),
        5,
        "four failures, then the retry's success"
    );
    assert_eq!(picky.calls_for("user-c"), 1);
}

#[tokio::test]
async fn with_a_dead_letter_store_an_exhausted_rp_does_not_fail_the_batch() {
    let tokens = TokenServer::start(Duration::from_secs(3600)).await;
    let healthy = Receiver::start(Behaviour::Healthy, &tokens).await;
    let down = Receiver::start(Behaviour::Always(503), &tokens).await;
    let store = Arc::new(MemoryVault::new());
    let notifier = notifier(&tokens, &[&healthy, &down], Some(store.clone()));
    let response = handle_stream_event(
        &notifier,
        parse(batch(&[
            ("INSERT", "user-a", "1"),
            ("MODIFY", "user-a", "2"),
        ])),
    )
    .await;
    assert!(failures(&response).is_empty());
    // Records of one user are delivered in stream order.
    let ops: Vec<_> = healthy
        .calls()
        .iter()
        .map(|c| c.body["operation"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ops, ["create", "update"]);
    let letters = store
        .list_dead_letters(DeadLetterFilter {
            limit: 10,
            ..DeadLetterFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(letters.len(), 2);
    assert!(
        letters
            .iter()
            .all(|l| l.letter.rp_url == down.url && l.letter.last_status == Some(503))
    );
    assert_eq!(letters[0].letter.event_time_ms, 1_700_000_000_000);
}

#[tokio::test]
async fn an_undecodable_record_is_skipped_not_retried_forever() {
    let tokens = TokenServer::start(Duration::from_secs(3600)).await;
    let healthy = Receiver::start(Behaviour::Healthy, &tokens).await;
    let notifier = notifier(&tokens, &[&healthy], None);
    let mut event = batch(&[
        ("INSERT", "user-a", "1"),
        ("FOXY", "user-b", "2"),
        ("MODIFY", "user-c", "3"),
    ]);
    event["Records"][2]["dynamodb"]["Keys"] = json!({});
    let mut with_no_key = batch(&[("MODIFY", "user-d", "4")]);
    with_no_key["Records"][0]["dynamodb"]["Keys"] = json!({"id": {"N": "5"}});
    let response = handle_stream_event(&notifier, parse(event)).await;
    assert!(failures(&response).is_empty());
    let response = handle_stream_event(&notifier, parse(with_no_key)).await;
    assert!(failures(&response).is_empty());
    assert_eq!(
        healthy.ids(),
        ["user-a"],
        "no `foxy`, nothing without a user id"
    );
}

#[tokio::test]
async fn an_empty_batch_needs_no_token() {
    let tokens = TokenServer::start(Duration::from_secs(3600)).await;
    let healthy = Receiver::start(Behaviour::Healthy, &tokens).await;
    let notifier = notifier(&tokens, &[&healthy], None);
    let response = handle_stream_event(&notifier, parse(json!({"Records": []}))).await;
    assert!(failures(&response).is_empty());
    assert_eq!(tokens.requests(), 0);
}

#[tokio::test]
async fn near_the_invocation_deadline_a_hanging_rp_fails_the_record_without_a_dead_letter() {
    let tokens = TokenServer::start(Duration::from_secs(3600)).await;
    let healthy = Receiver::start(Behaviour::Healthy, &tokens).await;
    let hanging = Receiver::start(Behaviour::Hang(HANG), &tokens).await;
    let store = Arc::new(MemoryVault::new());
    let notifier = notifier(&tokens, &[&healthy, &hanging], Some(store.clone()));
    // Room for one 1 s attempt, not for a second: the RP keeps its remaining attempts for
    // Lambda's retry instead of being dead-lettered or timing out the invocation.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(1800);
    let response = cis_notify::handle_stream_event_until(
        &notifier,
        parse(batch(&[("MODIFY", "user-a", "7")])),
        Some(deadline),
    )
    .await;
    assert_eq!(failures(&response), ["7"]);
    assert_eq!(hanging.call_count(), 1);
    assert_eq!(healthy.call_count(), 1);
    let letters = store
        .list_dead_letters(DeadLetterFilter {
            include_replayed: true,
            limit: 10,
            ..DeadLetterFilter::default()
        })
        .await
        .unwrap();
    assert!(letters.is_empty());

    // A deadline already too close for any attempt sends nothing at all.
    let response = cis_notify::handle_stream_event_until(
        &notifier,
        parse(batch(&[("MODIFY", "user-b", "8")])),
        Some(tokio::time::Instant::now()),
    )
    .await;
    assert_eq!(failures(&response), ["8"]);
    assert_eq!(healthy.calls_for("user-b"), 0);
}
