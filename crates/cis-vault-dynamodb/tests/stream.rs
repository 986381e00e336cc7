//! Decoding the vault's KEYS_ONLY stream records (the reference sample of the Python CIS).
#![allow(clippy::unwrap_used)]

use aws_lambda_events::dynamodb::Event;
use cis_vault::{ChangeCursor, ChangeOperation};
use cis_vault_dynamodb::{decode_stream_event, decode_stream_record};
use serde_json::Value;

fn reference_sample() -> Option<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/reference/events/dynamodb-stream-keys-only.json"
    );
    match std::fs::read_to_string(path) {
        Ok(text) => Some(serde_json::from_str(&text).unwrap()),
        Err(e) => {
            eprintln!("SKIPPED stream sample test: {path}: {e}");
            None
        }
    }
}

#[test]
fn reference_insert_is_a_create_of_the_key() {
    let Some(sample) = reference_sample() else {
        return;
    };
    let event: Event = serde_json::from_value(sample).unwrap();
    let change = decode_stream_record(&event.records[0]).unwrap();
    assert_eq!(change.operation, ChangeOperation::Create);
    assert_eq!(change.user_id, "google-oauth2|2749");
    assert_eq!(change.sequence_number, None);
    // ApproximateCreationDateTime 1551868482.0 (seconds).
    assert_eq!(change.time_ms, 1_551_868_482_000);
}

#[test]
fn modify_and_remove_are_update_and_delete_in_batch_order() {
    let Some(sample) = reference_sample() else {
        return;
    };
    let mut records = Vec::new();
    for (name, id) in [
        ("MODIFY", "ad|Mozilla-LDAP|a"),
        ("REMOVE", "github|b"),
        ("INSERT", "c"),
    ] {
        let mut record = sample["Records"][0].clone();
        record["eventName"] = Value::from(name);
        record["dynamodb"]["Keys"]["id"]["S"] = Value::from(id);
        records.push(record);
    }
    let event: Event = serde_json::from_value(serde_json::json!({ "Records": records })).unwrap();
    let changes: Vec<_> = decode_stream_event(&event)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let summary: Vec<_> = changes
        .iter()
        .map(|c| (c.cursor, c.operation, c.user_id.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (
                ChangeCursor(0),
                ChangeOperation::Update,
                "ad|Mozilla-LDAP|a"
            ),
            (ChangeCursor(1), ChangeOperation::Delete, "github|b"),
            (ChangeCursor(2), ChangeOperation::Create, "c"),
        ]
    );
}

#[test]
fn unknown_events_and_missing_keys_are_errors_not_guesses() {
    let Some(sample) = reference_sample() else {
        return;
    };
    let mut unknown = sample["Records"][0].clone();
    unknown["eventName"] = Value::from("TRUNCATE");
    let mut no_id = sample["Records"][0].clone();
    no_id["dynamodb"]["Keys"] = serde_json::json!({"other": {"S": "x"}});
    let mut numeric = sample["Records"][0].clone();
    numeric["dynamodb"]["Keys"] = serde_json::json!({"id": {"N": "5"}});
    let event: Event = serde_json::from_value(serde_json::json!({
        "Records": [unknown, no_id, numeric, sample["Records"][0].clone()]
    }))
    .unwrap();
    let results = decode_stream_event(&event);
    assert!(
        results[0]
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("TRUNCATE")
    );
    assert!(results[1].as_ref().unwrap_err().to_string().contains("id"));
    assert!(results[2].is_err());
    // One bad record does not hide the good ones.
    assert_eq!(results[3].as_ref().unwrap().user_id, "google-oauth2|2749");
}
