//! The queued write path (CIS_STREAM_BYPASS=false) end to end on moto, both Lambdas as real
//! binaries under the Runtime API emulator: the change function checks each profile and puts
//! it on `cis-input-<env>` (Kinesis, partition key = user_id) answering 202 with the Kinesis
//! sequence number; the test reads the shard as the event source mapping does and hands the
//! records, in the recorded Kinesis event shape, to the processor function; the processor
//! integrates them in order per user into the DynamoDB vault and records each outcome in
//! `<env>-cis-ingest-status`; `/v2/status` on the change function then answers integrated or
//! rejected (with the reason). Skips, saying so, without a moto endpoint (ci/test.sh starts one).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use aws_sdk_kinesis::types::{ShardIteratorType, StreamStatus};
use base64::Engine as _;
use cis_lambda_emulator::LambdaEmulator;
use cis_profile::{attribute, attribute_mut, null_profile};
use cis_vault::ProfileStore;
use cis_vault_dynamodb::ensure_ingest_status_table;
use serde_json::{Value, json};
use support::*;

const CHANGE: &str = env!("CARGO_BIN_EXE_cis-fn-change");
const AUDIENCE: &str = "api.test.sso.allizom.org";

/// The processor function's binary, built next to this package's by `cargo test --workspace`
/// (ci/test.sh also builds it explicitly).
fn processor_binary() -> PathBuf {
    let path = PathBuf::from(CHANGE).with_file_name("processor");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p cis-fn-processor` (or the whole workspace's tests)",
        path.display()
    );
    path
}

fn kinesis_client(endpoint: &str) -> aws_sdk_kinesis::Client {
    aws_sdk_kinesis::Client::from_conf(
        aws_sdk_kinesis::Config::builder()
            .behavior_version(aws_sdk_kinesis::config::BehaviorVersion::latest())
            .region(aws_sdk_kinesis::config::Region::new(REGION))
            .credentials_provider(aws_sdk_kinesis::config::Credentials::new(
                "testing", "testing", None, None, "moto",
            ))
            .endpoint_url(endpoint)
            .build(),
    )
}

async fn create_stream(kinesis: &aws_sdk_kinesis::Client, stream: &str) {
    kinesis
        .create_stream()
        .stream_name(stream)
        .shard_count(1)
        .send()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let summary = kinesis
            .describe_stream_summary()
            .stream_name(stream)
            .send()
            .await
            .unwrap();
        if summary
            .stream_description_summary()
            .is_some_and(|s| *s.stream_status() == StreamStatus::Active)
        {
            return;
        }
        assert!(Instant::now() < deadline, "stream {stream} never ACTIVE");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every record of the stream's only shard, oldest first, as the event source mapping reads it:
/// a Kinesis event in the shape of `reference/events/kinesis-event.json`.
async fn read_stream_as_event(kinesis: &aws_sdk_kinesis::Client, stream: &str) -> Value {
    let template: Value = serde_json::from_str(&reference("events/kinesis-event.json")).unwrap();
    let shape = template["Records"][0].clone();
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
            break;
        }
        for record in out.records() {
            let mut r = shape.clone();
            let k = &mut r["kinesis"];
            k["sequenceNumber"] = json!(record.sequence_number());
            k["partitionKey"] = json!(record.partition_key());
            k["data"] = json!(base64::engine::general_purpose::STANDARD.encode(record.data()));
            k["approximateArrivalTimestamp"] = json!(1_764_763_200.0);
            r["eventID"] = json!(format!("{shard}:{}", record.sequence_number()));
            records.push(r);
        }
        match out.next_shard_iterator {
            Some(next) => iterator = next,
            None => break,
        }
    }
    json!({ "Records": records })
}

/// A null profile carrying `user_id` and a signed `fun_title` claimed by mozilliansorg.
fn title_update(base: &Value, title: &str) -> Value {
    let mut attr = attribute(base, "fun_title").unwrap().clone();
    attr.insert("value".into(), json!(title));
    attr["signature"]["publisher"]["name"] = json!("mozilliansorg");
    publisher_signer()
        .sign_attribute(&mut attr, "mozilliansorg")
        .unwrap();
    let mut profile = null_profile();
    *attribute_mut(&mut profile, "fun_title").unwrap() = attr;
    profile["user_id"] = base["user_id"].clone();
    profile
}

async fn is_stored(vault: &cis_vault_dynamodb::DynamoVault, user_id: &str) -> bool {
    vault.get_by_user_id(user_id).await.unwrap().is_some()
}

async fn status(emulator: &LambdaEmulator, token: &str, sequence: &str) -> Value {
    let reply = call(
        emulator,
        HttpRequest::new("GET", "/v2/status")
            .query("sequenceNumber", sequence)
            .bearer(token)
            .v2(),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_changes_flow_through_kinesis_and_the_processor_binary() {
    let Some(endpoint) = moto_endpoint("queued_changes_flow_through_kinesis_and_the_processor")
    else {
        return;
    };
    let environment = unique_environment("ing");
    let vault = vault(&endpoint, &environment).await;
    let outcome_table = format!("{environment}-cis-ingest-status");
    ensure_ingest_status_table(&dynamodb_client(&endpoint), &outcome_table)
        .await
        .unwrap();
    let kinesis = kinesis_client(&endpoint);
    let stream = format!("cis-input-{environment}");
    create_stream(&kinesis, &stream).await;
    let ChangeDeployment { mut env, issuer } =
        change_deployment(&endpoint, &environment, AUDIENCE).await;
    for (k, v) in [
        (
            "CIS_KINESIS_ARN",
            format!("arn:aws:kinesis:us-west-2:123456789012:stream/{stream}"),
        ),
        ("CIS_INGEST_STATUS_TABLE", outcome_table.clone()),
        ("CIS_STREAM_BYPASS", "false".into()),
    ] {
        env.push((k.to_owned(), v));
    }
    let change = LambdaEmulator::start().await.unwrap();
    let _change_fn = change
        .spawn_function(CHANGE.as_ref(), "change", &as_pairs(&env))
        .unwrap();
    let processor = LambdaEmulator::start().await.unwrap();
    let _processor_fn = processor
        .spawn_function(&processor_binary(), "processor", &as_pairs(&env))
        .unwrap();
    let writer = issuer
        .mint(
            "publisher-client",
            AUDIENCE,
            ["write"],
            Duration::from_secs(3600),
        )
        .unwrap();

    // A batch of two new users and a tampered one, then two updates of the first user.
    let alice = new_user(41);
    let bob = new_user(42);
    let mut mallory = new_user(43);
    mallory["first_name"]["value"] = json!("Tampered");
    let batch = json!([alice, bob, mallory]);
    let reply = call(
        &change,
        HttpRequest::new("POST", "/v2/users")
            .bearer(&writer)
            .json(&batch)
            .v2(),
    )
    .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    let results = reply.body["results"].as_array().expect("results").clone();
    assert_eq!(results.len(), 3, "{reply:?}");
    let mut tickets: Vec<String> = results
        .iter()
        .map(|r| {
            assert_eq!(r["status_code"], json!(202), "{r}");
            r["sequence_number"].as_str().unwrap().to_owned()
        })
        .collect();
    for title in ["first", "second"] {
        let reply = call(
            &change,
            HttpRequest::new("POST", "/v2/user")
                .query("user_id", &user_id_of(&alice))
                .bearer(&writer)
                .json(&title_update(&alice, title))
                .v1("production"),
        )
        .await;
        assert_eq!(reply.status, 202, "{reply:?}");
        assert_eq!(reply.body["condition"], json!("queued"), "{reply:?}");
        tickets.push(reply.body["sequence_number"].as_str().unwrap().to_owned());
    }
    for ticket in &tickets {
        let answer = status(&change, &writer, ticket).await;
        assert_eq!(answer["status"], json!("pending"), "{ticket}: {answer}");
    }
    assert!(
        !is_stored(&vault, &user_id_of(&alice)).await,
        "nothing is written before the processor runs"
    );

    // The stream holds the five, keyed by user_id, in submission order.
    let event = read_stream_as_event(&kinesis, &stream).await;
    let records = event["Records"].as_array().unwrap();
    let keys: Vec<&str> = records
        .iter()
        .map(|r| r["kinesis"]["partitionKey"].as_str().unwrap())
        .collect();
    let alice_id = user_id_of(&alice);
    assert_eq!(
        keys,
        [
            alice_id.as_str(),
            &user_id_of(&bob),
            &user_id_of(&mallory),
            &alice_id,
            &alice_id
        ]
    );
    let sequence_numbers: Vec<&str> = records
        .iter()
        .map(|r| r["kinesis"]["sequenceNumber"].as_str().unwrap())
        .collect();
    assert_eq!(
        sequence_numbers, tickets,
        "the 202's ids are the Kinesis sequence numbers"
    );

    // The processor binary takes the batch: nothing to retry (the tampered profile is refused
    // for good, not a batch item failure).
    let response = processor
        .invoke(event.clone(), Duration::from_secs(120))
        .await
        .expect("the processor answers");
    assert_eq!(response, json!({ "batchItemFailures": [] }));

    // Integrated in order: alice's last update wins; bob stored; mallory refused with a reason.
    let stored = vault.get_by_user_id(&alice_id).await.unwrap().unwrap();
    assert_eq!(stored.profile["fun_title"]["value"], json!("second"));
    assert!(is_stored(&vault, &user_id_of(&bob)).await);
    assert!(!is_stored(&vault, &user_id_of(&mallory)).await);
    for (index, ticket) in tickets.iter().enumerate() {
        let answer = status(&change, &writer, ticket).await;
        if index == 2 {
            assert_eq!(answer["status"], json!("rejected"), "{answer}");
            let reason = answer["reason"].as_str().unwrap_or_default();
            assert!(reason.contains("first_name"), "{answer}");
            assert!(!reason.contains("Tampered"), "no profile values: {answer}");
        } else {
            assert_eq!(answer["status"], json!("integrated"), "{ticket}: {answer}");
            assert!(answer["sequence_number"].is_string(), "{answer}");
        }
    }
    let last = status(&change, &writer, &tickets[4]).await;
    assert_eq!(
        last["sequence_number"],
        json!(stored.sequence_number.to_string()),
        "the last update's outcome names the stored version"
    );

    // Lambda redelivers the same batch (e.g. after a timeout): the records are applied again in
    // the same order, so the profiles end as before (alice's earlier records are re-applied
    // before her last one again), the tampered one is refused again, and the first recorded
    // outcomes stay.
    let response = processor
        .invoke(event, Duration::from_secs(120))
        .await
        .expect("the processor answers");
    assert_eq!(response, json!({ "batchItemFailures": [] }));
    let again = vault.get_by_user_id(&alice_id).await.unwrap().unwrap();
    assert_eq!(again.profile["fun_title"]["value"], json!("second"));
    assert!(!is_stored(&vault, &user_id_of(&mallory)).await);
    assert_eq!(status(&change, &writer, &tickets[4]).await, last);
    assert_eq!(
        status(&change, &writer, &tickets[2]).await["status"],
        json!("rejected")
    );
}
