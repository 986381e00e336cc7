//! The real `webhook-notifier` binary under the Lambda Runtime API emulator, fed KEYS_ONLY
//! DynamoDB stream events shaped like the recorded one, against moto (DynamoDB dead letters,
//! SSM client credentials), a local OAuth2 client-credentials issuer and local relying parties
//! that verify its tokens: one healthy, one failing twice per user then succeeding, one hanging
//! past the timeout, one always failing. Skips, saying so, without a moto endpoint (ci/test.sh
//! starts moto).
#![allow(clippy::unwrap_used, clippy::expect_used)]

// The receivers and the token issuer of cis-notify's own tests.
#[path = "../../../crates/cis-notify/tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use cis_lambda_emulator::{FunctionProcess, LambdaEmulator};
use cis_vault::{ChangeOperation, DeadLetter, DeadLetterFilter, DeadLetterStore};
use cis_vault_dynamodb::{DynamoDeadLetterStore, dead_letter_table_name, ensure_dead_letter_table};
use common::{AUDIENCE, Behaviour, CLIENT_ID, CLIENT_SECRET, HANG, Receiver, TokenServer};
use serde_json::{Value, json};

const BINARY: &str = env!("CARGO_BIN_EXE_webhook-notifier");
/// Long enough for every retry on a loaded machine; the binary stops 2 s before it.
const GENEROUS: Duration = Duration::from_secs(120);

fn endpoint(test: &str) -> Option<String> {
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

fn dynamodb(endpoint: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-west-2"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
            .endpoint_url(endpoint)
            .build(),
    )
}

fn ssm(endpoint: &str) -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::from_conf(
        aws_sdk_ssm::Config::builder()
            .behavior_version(aws_sdk_ssm::config::BehaviorVersion::latest())
            .region(aws_sdk_ssm::config::Region::new("us-west-2"))
            .credentials_provider(aws_sdk_ssm::config::Credentials::new(
                "testing", "testing", None, None, "moto",
            ))
            .endpoint_url(endpoint)
            .build(),
    )
}

/// An environment name no other test run uses (it names the tables and SSM path).
fn unique_environment() -> String {
    format!("wh{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

/// The recorded KEYS_ONLY record repeated for each (eventName, user, sequence number), one
/// second apart from 1,700,000,000.
fn batch(records: &[(&str, &str, &str)]) -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/reference/events/dynamodb-stream-keys-only.json"
    ))
    .expect("the recorded DynamoDB stream event in /work/shared/reference/events");
    let reference: Value = serde_json::from_str(&text).unwrap();
    let template = reference["Records"][0].clone();
    let records: Vec<Value> = records
        .iter()
        .enumerate()
        .map(|(n, (name, user, seq))| {
            let mut record = template.clone();
            record["eventID"] = json!(format!("event-{seq}"));
            record["eventName"] = json!(name);
            record["dynamodb"]["Keys"]["id"]["S"] = json!(user);
            record["dynamodb"]["SequenceNumber"] = json!(seq);
            record["dynamodb"]["ApproximateCreationDateTime"] = json!(1_700_000_000.0 + n as f64);
            record
        })
        .collect();
    json!({ "Records": records })
}

fn failures(response: &Value) -> Vec<String> {
    response["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("not a stream response: {response}"))
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
        .collect()
}

/// (user id, operation) → number of POSTs the receiver got; every token must have verified.
fn calls(receiver: &Receiver) -> BTreeMap<(String, String), usize> {
    let mut counts = BTreeMap::new();
    for call in receiver.calls() {
        assert!(
            call.token_valid,
            "{} got a token it could not verify",
            receiver.url
        );
        let key = (
            call.body["id"].as_str().unwrap().to_owned(),
            call.body["operation"].as_str().unwrap().to_owned(),
        );
        *counts.entry(key).or_default() += 1;
    }
    counts
}

fn expect(entries: &[(&str, &str, usize)]) -> BTreeMap<(String, String), usize> {
    entries
        .iter()
        .map(|(user, op, n)| (((*user).to_owned(), (*op).to_owned()), *n))
        .collect()
}

async fn letters(store: &DynamoDeadLetterStore) -> Vec<DeadLetter> {
    store
        .list_dead_letters(DeadLetterFilter {
            include_replayed: true,
            limit: 1000,
            ..DeadLetterFilter::default()
        })
        .await
        .unwrap()
}

/// (RP, user, operation, last status, attempts, event time) of a dead letter.
type LetterSummary<'a> = (String, String, &'a str, Option<u16>, u32, i64);

struct Deployment {
    emulator: LambdaEmulator,
    _function: FunctionProcess,
}

/// Starts the binary with the AWS-side environment plus `extra`.
async fn deploy(endpoint: &str, environment: &str, extra: &[(&str, &str)]) -> Deployment {
    let emulator = LambdaEmulator::start().await.unwrap();
    let mut env = vec![
        ("CIS_ENVIRONMENT", environment),
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_SESSION_TOKEN", "testing"),
        ("AWS_REGION", "us-west-2"),
        ("AWS_DEFAULT_REGION", "us-west-2"),
        ("CIS_API_IDENTIFIER", AUDIENCE),
        ("CIS_NOTIFIER_TIMEOUT_SECONDS", "1"),
        ("CIS_NOTIFIER_MAX_ATTEMPTS", "3"),
        ("RUST_LOG", "info"),
    ];
    env.extend_from_slice(extra);
    let function = emulator
        .spawn_function(BINARY.as_ref(), "webhook-notifier", &env)
        .unwrap();
    // An empty batch: start-up (SSM, clients) is done before the timed invocations.
    let warm = emulator
        .invoke(json!({"Records": []}), GENEROUS)
        .await
        .unwrap();
    assert_eq!(warm, json!({"batchItemFailures": []}));
    Deployment {
        emulator,
        _function: function,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_rp_is_notified_once_and_exhausted_rps_become_durable_dead_letters() {
    let Some(endpoint) = endpoint("webhook-notifier delivery and dead letters") else {
        return;
    };
    let environment = unique_environment();
    let table = dead_letter_table_name(&environment);
    let store = DynamoDeadLetterStore::new(dynamodb(&endpoint), &table);
    ensure_dead_letter_table(store.client(), &table)
        .await
        .unwrap();
    // The client credentials live in SSM, where the original kept them (A12).
    let ssm_path = format!("/iam/cis/{environment}/webhook_notifier");
    let ssm = ssm(&endpoint);
    for (name, value) in [("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)] {
        ssm.put_parameter()
            .name(format!("{ssm_path}/{name}"))
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .send()
            .await
            .unwrap();
    }

    let tokens = TokenServer::start(Duration::from_secs(3600)).await;
    let healthy = Receiver::start(Behaviour::Healthy, &tokens).await;
    let flaky = Receiver::start(Behaviour::FailTimes(2), &tokens).await;
    let hanging = Receiver::start(Behaviour::Hang(HANG), &tokens).await;
    let down = Receiver::start(Behaviour::Always(503), &tokens).await;
    let rp_urls = [&healthy, &flaky, &hanging, &down]
        .map(|r| r.url.clone())
        .join(",");
    let deployment = deploy(
        &endpoint,
        &environment,
        &[
            ("CIS_RP_URLS", rp_urls.as_str()),
            ("CIS_AUTHZERO_TENANT", tokens.base.as_str()),
            ("CIS_SECRET_MANAGER_SSM_PATH", ssm_path.as_str()),
        ],
    )
    .await;

    let event = batch(&[
        ("INSERT", "ad|Mozilla-LDAP|jdoe", "111"),
        ("MODIFY", "google-oauth2|2749", "222"),
        ("REMOVE", "ad|Mozilla-LDAP|jdoe", "333"),
    ]);
    let response = deployment
        .emulator
        .invoke(event.clone(), GENEROUS)
        .await
        .unwrap();
    assert_eq!(
        response,
        json!({"batchItemFailures": []}),
        "dead-lettered RPs settle their records"
    );

    let jdoe = "ad|Mozilla-LDAP|jdoe";
    let g = "google-oauth2|2749";
    assert_eq!(
        calls(&healthy),
        expect(&[(jdoe, "create", 1), (jdoe, "delete", 1), (g, "update", 1)])
    );
    // Records of one user arrive in stream order; bodies are exactly the original's (A11).
    let jdoe_bodies: Vec<Value> = healthy
        .calls()
        .into_iter()
        .map(|c| c.body)
        .filter(|b| b["id"] == jdoe)
        .collect();
    assert_eq!(
        jdoe_bodies,
        [
            json!({"operation": "create", "id": jdoe, "time": 1_700_000_000}),
            json!({"operation": "delete", "id": jdoe, "time": 1_700_000_002}),
        ]
    );
    // Two 500s then a 200 for each user's first record; the next record goes through at once.
    assert_eq!(
        calls(&flaky),
        expect(&[(jdoe, "create", 3), (jdoe, "delete", 1), (g, "update", 3)])
    );
    // Three attempts (CIS_NOTIFIER_MAX_ATTEMPTS) per record, then a dead letter.
    let three_each = expect(&[(jdoe, "create", 3), (jdoe, "delete", 3), (g, "update", 3)]);
    assert_eq!(calls(&hanging), three_each);
    assert_eq!(calls(&down), three_each);
    assert_eq!(
        tokens.requests(),
        1,
        "one token for the whole batch, cached in memory (B17)"
    );

    let kept = letters(&store).await;
    let mut summary: Vec<LetterSummary> = kept
        .iter()
        .map(|l| {
            (
                l.letter.rp_url.clone(),
                l.letter.user_id.clone(),
                l.letter.operation.as_str(),
                l.letter.last_status,
                l.letter.attempts,
                l.letter.event_time_ms,
            )
        })
        .collect();
    summary.sort();
    let mut expected = Vec::new();
    for (rp, status) in [(&hanging.url, None), (&down.url, Some(503))] {
        for (user, op, time) in [
            (jdoe, ChangeOperation::Create, 1_700_000_000_000),
            (jdoe, ChangeOperation::Delete, 1_700_000_002_000),
            (g, ChangeOperation::Update, 1_700_000_001_000),
        ] {
            expected.push((rp.clone(), user.to_owned(), op.as_str(), status, 3, time));
        }
    }
    expected.sort();
    assert_eq!(summary, expected);
    assert!(kept.iter().all(|l| l.replayed_at_ms.is_none()));
    let timed_out = kept
        .iter()
        .find(|l| l.letter.rp_url == hanging.url)
        .unwrap();
    assert!(
        timed_out.letter.error == "timed out",
        "the hanging RP's letter says it timed out: {}",
        timed_out.letter.error
    );

    // Lambda redelivers the whole batch (say the response was lost): nobody hears anything
    // again and no second letter is written.
    let response = deployment.emulator.invoke(event, GENEROUS).await.unwrap();
    assert_eq!(failures(&response), Vec::<String>::new());
    assert_eq!(healthy.call_count(), 3);
    assert_eq!(flaky.call_count(), 7);
    assert_eq!(hanging.call_count(), 9);
    assert_eq!(down.call_count(), 9);
    assert_eq!(letters(&store).await.len(), 6);
    let _ = store
        .client()
        .delete_table()
        .table_name(&table)
        .send()
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn while_dead_letters_cannot_be_stored_only_the_failed_record_is_retried() {
    let Some(endpoint) = endpoint("webhook-notifier without a dead-letter table") else {
        return;
    };
    let environment = unique_environment();
    // Named explicitly, and not created yet: the store is down.
    let table = format!("{environment}-custom-dead-letters");
    let tokens = TokenServer::start(Duration::from_secs(3600)).await;
    let healthy = Receiver::start(Behaviour::Healthy, &tokens).await;
    let picky = Receiver::start(Behaviour::FailFor(vec!["user-b".into()]), &tokens).await;
    let rp_urls = format!("{},{}", healthy.url, picky.url);
    let deployment = deploy(
        &endpoint,
        &environment,
        &[
            ("CIS_RP_URLS", rp_urls.as_str()),
            ("CIS_AUTHZERO_TENANT", tokens.base.as_str()),
            ("CIS_NOTIFIER_CLIENT_ID", CLIENT_ID),
            ("CIS_NOTIFIER_CLIENT_SECRET", CLIENT_SECRET),
            ("CIS_DEAD_LETTER_TABLE", table.as_str()),
        ],
    )
    .await;

    let event = batch(&[
        ("INSERT", "user-a", "1001"),
        ("MODIFY", "user-b", "1002"),
        ("MODIFY", "user-c", "1003"),
    ]);
    let response = deployment
        .emulator
        .invoke(event.clone(), GENEROUS)
        .await
        .unwrap();
    assert_eq!(
        response,
        json!({"batchItemFailures": [{"itemIdentifier": "1002"}]})
    );
    assert_eq!(
        calls(&healthy),
        expect(&[
            ("user-a", "create", 1),
            ("user-b", "update", 1),
            ("user-c", "update", 1)
        ])
    );
    assert_eq!(
        calls(&picky),
        expect(&[
            ("user-a", "create", 1),
            ("user-b", "update", 3),
            ("user-c", "update", 1)
        ])
    );

    // The curator creates the table; Lambda retries from the reported record on.
    let store = DynamoDeadLetterStore::new(dynamodb(&endpoint), &table);
    ensure_dead_letter_table(store.client(), &table)
        .await
        .unwrap();
    let retry = json!({"Records": [event["Records"][1].clone(), event["Records"][2].clone()]});
    let response = deployment.emulator.invoke(retry, GENEROUS).await.unwrap();
    assert_eq!(failures(&response), Vec::<String>::new());
    assert_eq!(healthy.call_count(), 3, "no RP hears a record twice");
    assert_eq!(
        calls(&picky),
        expect(&[
            ("user-a", "create", 1),
            ("user-b", "update", 6),
            ("user-c", "update", 1)
        ])
    );
    let kept = letters(&store).await;
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0].letter.user_id, "user-b");
    assert_eq!(kept[0].letter.rp_url, picky.url);
    assert_eq!(kept[0].letter.last_status, Some(500));
    assert_eq!(kept[0].letter.attempts, 3);
    let _ = store
        .client()
        .delete_table()
        .table_name(&table)
        .send()
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hanging_rp_near_the_deadline_fails_the_record_instead_of_the_invocation() {
    let Some(endpoint) = endpoint("webhook-notifier near its deadline") else {
        return;
    };
    let environment = unique_environment();
    let table = dead_letter_table_name(&environment);
    let store = DynamoDeadLetterStore::new(dynamodb(&endpoint), &table);
    ensure_dead_letter_table(store.client(), &table)
        .await
        .unwrap();
    let tokens = TokenServer::start(Duration::from_secs(3600)).await;
    let healthy = Receiver::start(Behaviour::Healthy, &tokens).await;
    let hanging = Receiver::start(Behaviour::Hang(HANG), &tokens).await;
    let rp_urls = format!("{},{}", healthy.url, hanging.url);
    let deployment = deploy(
        &endpoint,
        &environment,
        &[
            ("CIS_RP_URLS", rp_urls.as_str()),
            ("CIS_AUTHZERO_TENANT", tokens.base.as_str()),
            ("CIS_NOTIFIER_CLIENT_ID", CLIENT_ID),
            ("CIS_NOTIFIER_CLIENT_SECRET", CLIENT_SECRET),
        ],
    )
    .await;

    // A 5 s invocation leaves the binary 3 s: room for two 1 s attempts with their backoff,
    // never for the third, so the RP is out of time, not out of attempts.
    let event = batch(&[("MODIFY", "user-a", "2001")]);
    let response = deployment
        .emulator
        .invoke(event.clone(), Duration::from_secs(5))
        .await
        .expect("the binary answers before its deadline instead of timing out");
    assert_eq!(failures(&response), ["2001"]);
    assert_eq!(calls(&healthy), expect(&[("user-a", "update", 1)]));
    let tried = hanging.call_count();
    assert!((1..=2).contains(&tried), "{tried} attempts");
    assert!(letters(&store).await.is_empty(), "not a dead letter yet");

    // Lambda's retry with the usual time: the RP uses all its attempts, then it is a letter.
    let response = deployment.emulator.invoke(event, GENEROUS).await.unwrap();
    assert_eq!(failures(&response), Vec::<String>::new());
    assert_eq!(healthy.call_count(), 1, "not re-notified");
    assert_eq!(hanging.call_count(), tried + 3);
    let kept = letters(&store).await;
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].letter.rp_url, hanging.url);
    assert_eq!(kept[0].letter.last_status, None);
    let _ = store
        .client()
        .delete_table()
        .table_name(&table)
        .send()
        .await;
}
