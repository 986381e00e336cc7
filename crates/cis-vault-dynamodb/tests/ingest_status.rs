//! The Kinesis ingest outcome table on moto: ensure is idempotent and enables TTL, outcomes
//! round-trip, the first outcome of a record is kept. Each test has its own table.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::{AttributeValue, KeyType, TimeToLiveStatus};
use cis_vault::{IngestOutcome, IngestStatus, SequenceNumber, VaultError};
use cis_vault_dynamodb::{IngestStatusTable, ensure_ingest_status_table, ingest_status_table_name};
use support::{client, endpoint};

fn unique_name() -> String {
    ingest_status_table_name(&format!(
        "ist{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    ))
}

#[tokio::test]
async fn ensure_creates_the_table_with_ttl_once_then_changes_nothing() {
    let Some(endpoint) = endpoint("ensure_creates_the_table_with_ttl_once") else {
        return;
    };
    let client = client(&endpoint);
    let name = unique_name();

    let first = ensure_ingest_status_table(&client, &name).await.unwrap();
    assert!(first.created_table && first.enabled_ttl, "{first:?}");
    assert!(!first.unchanged && first.warnings.is_empty(), "{first:?}");
    let second = ensure_ingest_status_table(&client, &name).await.unwrap();
    assert!(second.unchanged, "{second:?}");
    assert!(!second.created_table && !second.enabled_ttl, "{second:?}");

    let table = client
        .describe_table()
        .table_name(&name)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let keys: Vec<_> = table
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name().to_owned(), k.key_type().clone()))
        .collect();
    assert_eq!(keys, [("sequence_number".to_owned(), KeyType::Hash)]);
    let ttl = client
        .describe_time_to_live()
        .table_name(&name)
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(ttl.attribute_name(), Some("expires_at"));
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));

    client
        .delete_table()
        .table_name(&name)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn outcomes_round_trip_and_the_first_one_is_kept() {
    let Some(endpoint) = endpoint("outcomes_round_trip_and_the_first_one_is_kept") else {
        return;
    };
    let client = client(&endpoint);
    let name = unique_name();
    ensure_ingest_status_table(&client, &name).await.unwrap();
    let table = IngestStatusTable::new(client.clone(), &name);
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;

    let integrated = "49545115243490985018280067714973144582180062593244200961";
    assert_eq!(table.get_outcome(integrated).await.unwrap(), None);
    table
        .record_outcome(
            integrated,
            Some("ad|Mozilla-LDAP|alice"),
            &IngestOutcome::Integrated {
                sequence_number: Some(SequenceNumber::new("1234")),
            },
        )
        .await
        .unwrap();
    let read = table.get_outcome(integrated).await.unwrap().unwrap();
    assert_eq!(
        read.status,
        IngestStatus::Integrated {
            sequence_number: Some(SequenceNumber::new("1234"))
        }
    );
    assert_eq!(read.user_id.as_deref(), Some("ad|Mozilla-LDAP|alice"));
    assert!(read.recorded_at_ms / 1000 >= before, "{read:?}");
    // Seven days, give or take the test's own duration.
    let week = 7 * 24 * 3600;
    assert!(
        (read.expires_at - before - week).abs() < 600,
        "expires_at {} is not a week after {before}",
        read.expires_at
    );

    // A redelivered record integrates as a no-op; the first outcome (with the vault's sequence
    // number) stays.
    table
        .record_outcome(
            integrated,
            Some("ad|Mozilla-LDAP|alice"),
            &IngestOutcome::Integrated {
                sequence_number: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        table.get_outcome(integrated).await.unwrap().unwrap().status,
        read.status
    );

    // A rejection keeps its reason; a record without a user_id is recorded too.
    let rejected = "49545115243490985018280067714973144582180062593244200962";
    let reason = "invalid_signature: the signature of first_name does not verify";
    table
        .record_outcome(
            rejected,
            None,
            &IngestOutcome::Rejected {
                reason: reason.into(),
            },
        )
        .await
        .unwrap();
    let read = table.get_outcome(rejected).await.unwrap().unwrap();
    assert_eq!(
        read.status,
        IngestStatus::Rejected {
            reason: reason.into()
        }
    );
    assert_eq!(read.user_id, None);

    // The raw item has the documented attributes.
    let item = client
        .get_item()
        .table_name(&name)
        .key("sequence_number", AttributeValue::S(integrated.into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(item["status"], AttributeValue::S("integrated".into()));
    assert_eq!(
        item["vault_sequence_number"],
        AttributeValue::S("1234".into())
    );
    assert!(item["expires_at"].as_n().is_ok() && item["recorded_at"].as_n().is_ok());

    // A corrupt item names the record; an empty number is refused, naming the field.
    client
        .put_item()
        .table_name(&name)
        .item("sequence_number", AttributeValue::S("777".into()))
        .item("status", AttributeValue::S("lost".into()))
        .send()
        .await
        .unwrap();
    let error = table.get_outcome("777").await.unwrap_err();
    assert!(
        matches!(&error, VaultError::Corrupt { key, .. } if key == "777"),
        "{error}"
    );
    let error = table.get_outcome("").await.unwrap_err();
    assert!(matches!(error, VaultError::InvalidInput { field, .. } if field == "sequence_number"));

    // A shorter TTL is honoured.
    let short = IngestStatusTable::new(client.clone(), &name).with_ttl(Duration::from_secs(60));
    short
        .record_outcome(
            "888",
            None,
            &IngestOutcome::Integrated {
                sequence_number: None,
            },
        )
        .await
        .unwrap();
    let read = short.get_outcome("888").await.unwrap().unwrap();
    assert!(read.expires_at - before < 600, "{read:?}");

    client
        .delete_table()
        .table_name(&name)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_missing_table_is_a_clear_error_not_a_pending_status() {
    let Some(endpoint) = endpoint("a_missing_table_is_a_clear_error") else {
        return;
    };
    let name = unique_name();
    let table = IngestStatusTable::new(client(&endpoint), &name);
    let error = table.get_outcome("1").await.unwrap_err().to_string();
    assert!(error.contains("ResourceNotFound"), "{error}");
    let error = table
        .record_outcome("1", None, &IngestOutcome::Rejected { reason: "x".into() })
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("ResourceNotFound"), "{error}");
}
