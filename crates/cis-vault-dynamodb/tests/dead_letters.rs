//! The notifier's dead letters on DynamoDB (moto): the `cis-vault` dead-letter conformance case
//! SQLite passes, the table's ensure routine, ids across containers, and damaged items. Skips,
//! saying so, without `CIS_TEST_DYNAMODB_ENDPOINT` / `AWS_ENDPOINT_URL`.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use cis_vault::conformance::Harness;
use cis_vault::{
    AttributeQuery, BoxFuture, ChangeOperation, DeadLetter, DeadLetterFilter, DeadLetterId,
    DeadLetterStore, MemoryVault, NewDeadLetter, Page, PageRequest, ProfileRecord, ProfileStore,
    SequenceNumber, StoredProfile, UserIdEntry, UserIdFilter, VaultError, VaultResult, WriteOp,
};
use cis_vault_dynamodb::{DynamoDeadLetterStore, dead_letter_table_name, ensure_dead_letter_table};

fn unique_table() -> String {
    dead_letter_table_name(&format!(
        "dl{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    ))
}

async fn fresh_store(endpoint: &str) -> DynamoDeadLetterStore {
    let client = support::client(endpoint);
    let table = unique_table();
    let report = ensure_dead_letter_table(&client, &table).await.unwrap();
    assert!(report.created_table, "{report:?}");
    DynamoDeadLetterStore::new(client, table)
}

async fn drop_table(store: &DynamoDeadLetterStore) {
    let _ = store
        .client()
        .delete_table()
        .table_name(store.table_name())
        .send()
        .await;
}

fn letter(user_id: &str, rp_url: &str) -> NewDeadLetter {
    NewDeadLetter {
        operation: ChangeOperation::Update,
        user_id: user_id.to_owned(),
        event_time_ms: 1_700_000_000_000,
        rp_url: rp_url.to_owned(),
        last_status: Some(503),
        error: "HTTP 503".to_owned(),
        attempts: 3,
        failed_at_ms: 1_700_000_001_000,
    }
}

fn everything(limit: usize) -> DeadLetterFilter {
    DeadLetterFilter {
        include_replayed: true,
        limit,
        ..DeadLetterFilter::default()
    }
}

// ---------------------------------------------------------------------------------------------
// The conformance suite's harness wants a profile store too; the dead-letter case never touches
// it, so the profiles live in memory and the letters on moto.

struct LettersOnMoto {
    profiles: MemoryVault,
    letters: DynamoDeadLetterStore,
}

impl ProfileStore for LettersOnMoto {
    fn get_by_user_id<'a>(
        &'a self,
        user_id: &'a str,
    ) -> BoxFuture<'a, VaultResult<Option<StoredProfile>>> {
        self.profiles.get_by_user_id(user_id)
    }
    fn find_by_uuid<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, VaultResult<Vec<StoredProfile>>> {
        self.profiles.find_by_uuid(uuid)
    }
    fn find_by_primary_email<'a>(
        &'a self,
        primary_email: &'a str,
    ) -> BoxFuture<'a, VaultResult<Vec<StoredProfile>>> {
        self.profiles.find_by_primary_email(primary_email)
    }
    fn find_by_primary_username<'a>(
        &'a self,
        primary_username: &'a str,
    ) -> BoxFuture<'a, VaultResult<Vec<StoredProfile>>> {
        self.profiles.find_by_primary_username(primary_username)
    }
    fn find_by_sequence_number<'a>(
        &'a self,
        sequence_number: &'a SequenceNumber,
    ) -> BoxFuture<'a, VaultResult<Option<StoredProfile>>> {
        self.profiles.find_by_sequence_number(sequence_number)
    }
    fn create(&self, record: ProfileRecord) -> BoxFuture<'_, VaultResult<SequenceNumber>> {
        self.profiles.create(record)
    }
    fn update<'a>(
        &'a self,
        record: ProfileRecord,
        expected: &'a SequenceNumber,
    ) -> BoxFuture<'a, VaultResult<SequenceNumber>> {
        self.profiles.update(record, expected)
    }
    fn write_batch(&self, ops: Vec<WriteOp>) -> BoxFuture<'_, Vec<VaultResult<SequenceNumber>>> {
        self.profiles.write_batch(ops)
    }
    fn delete<'a>(
        &'a self,
        user_id: &'a str,
        expected: Option<&'a SequenceNumber>,
    ) -> BoxFuture<'a, VaultResult<()>> {
        self.profiles.delete(user_id, expected)
    }
    fn list_profiles(
        &self,
        request: PageRequest,
    ) -> BoxFuture<'_, VaultResult<Page<StoredProfile>>> {
        self.profiles.list_profiles(request)
    }
    fn list_user_ids(&self, filter: UserIdFilter) -> BoxFuture<'_, VaultResult<Vec<UserIdEntry>>> {
        self.profiles.list_user_ids(filter)
    }
    fn find_by_attributes(
        &self,
        query: AttributeQuery,
    ) -> BoxFuture<'_, VaultResult<Page<StoredProfile>>> {
        self.profiles.find_by_attributes(query)
    }
}

impl DeadLetterStore for LettersOnMoto {
    fn put_dead_letter(&self, letter: NewDeadLetter) -> BoxFuture<'_, VaultResult<DeadLetterId>> {
        self.letters.put_dead_letter(letter)
    }
    fn list_dead_letters(
        &self,
        filter: DeadLetterFilter,
    ) -> BoxFuture<'_, VaultResult<Vec<DeadLetter>>> {
        self.letters.list_dead_letters(filter)
    }
    fn mark_replayed(&self, id: DeadLetterId, at_ms: i64) -> BoxFuture<'_, VaultResult<()>> {
        self.letters.mark_replayed(id, at_ms)
    }
    fn remove_dead_letter(&self, id: DeadLetterId) -> BoxFuture<'_, VaultResult<()>> {
        self.letters.remove_dead_letter(id)
    }
}

struct DeadLetterHarness {
    endpoint: String,
}

impl Harness for DeadLetterHarness {
    type Store = LettersOnMoto;

    fn fresh(&self) -> BoxFuture<'_, Arc<LettersOnMoto>> {
        Box::pin(async {
            Arc::new(LettersOnMoto {
                profiles: MemoryVault::new(),
                letters: fresh_store(&self.endpoint).await,
            })
        })
    }

    fn corrupt_profile<'a>(
        &'a self,
        _store: &'a LettersOnMoto,
        _user_id: &'a str,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async { unreachable!("the dead-letter case stores no profiles") })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dead_letters_are_kept_listed_and_replayed() {
    let Some(endpoint) = support::endpoint("dead_letters_are_kept_listed_and_replayed") else {
        return;
    };
    cis_vault::conformance::dead_letters_are_kept_listed_and_replayed(&DeadLetterHarness {
        endpoint,
    })
    .await;
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ensuring_the_table_twice_changes_nothing_the_second_time() {
    let Some(endpoint) = support::endpoint("ensure_dead_letter_table") else {
        return;
    };
    let client = support::client(&endpoint);
    let table = unique_table();
    let first = ensure_dead_letter_table(&client, &table).await.unwrap();
    assert!(first.created_table && !first.unchanged, "{first:?}");
    assert!(first.warnings.is_empty(), "{first:?}");
    let store = DynamoDeadLetterStore::new(client.clone(), &table);
    let id = store
        .put_dead_letter(letter("email|a", "https://rp/"))
        .await
        .unwrap();

    let second = ensure_dead_letter_table(&client, &table).await.unwrap();
    assert!(!second.created_table && second.unchanged, "{second:?}");
    assert!(second.warnings.is_empty(), "{second:?}");
    let kept = store.list_dead_letters(everything(10)).await.unwrap();
    assert_eq!(
        kept.iter().map(|l| l.id).collect::<Vec<_>>(),
        [id],
        "the letter survives"
    );

    // A table of the same name with another key schema is reported, not rebuilt.
    let other = unique_table();
    client
        .create_table()
        .table_name(&other)
        .attribute_definitions(
            aws_sdk_dynamodb::types::AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            aws_sdk_dynamodb::types::KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    let odd = ensure_dead_letter_table(&client, &other).await.unwrap();
    assert!(odd.unchanged && odd.warnings.len() == 1, "{odd:?}");
    let _ = client.delete_table().table_name(&other).send().await;
    drop_table(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn letters_from_concurrent_containers_get_unique_time_ordered_ids() {
    let Some(endpoint) = support::endpoint("dead letters from concurrent containers") else {
        return;
    };
    let first = Arc::new(fresh_store(&endpoint).await);
    // A second container: its own client and id counter, the same table.
    let second = Arc::new(DynamoDeadLetterStore::new(
        support::client(&endpoint),
        first.table_name(),
    ));
    let before_us = u64::try_from(cis_vault::now_ms()).unwrap() * 1000;
    let mut tasks = Vec::new();
    for n in 0..40 {
        let store = if n % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        tasks.push(tokio::spawn(async move {
            store
                .put_dead_letter(letter(&format!("email|user{n}"), "https://rp/"))
                .await
                .unwrap()
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap());
    }
    let after_us = (u64::try_from(cis_vault::now_ms()).unwrap() + 1) * 1000;
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 40, "every letter has its own id");
    assert!(
        sorted
            .iter()
            .all(|id| (before_us..=after_us + 1000).contains(&id.0)),
        "ids are the microsecond of storage: {sorted:?} not in {before_us}..{after_us}"
    );

    // Listing walks them in id order, page by page.
    let mut walked = Vec::new();
    let mut after = None;
    loop {
        let page = first
            .list_dead_letters(DeadLetterFilter {
                after,
                limit: 7,
                ..DeadLetterFilter::default()
            })
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        walked.extend(page.iter().map(|l| l.id));
    }
    assert_eq!(walked, sorted);

    // Letters stored one after the other by one container keep that order.
    let a = first
        .put_dead_letter(letter("email|x", "https://rp/"))
        .await
        .unwrap();
    let b = second
        .put_dead_letter(letter("email|y", "https://rp/"))
        .await
        .unwrap();
    let c = first
        .put_dead_letter(letter("email|z", "https://rp/"))
        .await
        .unwrap();
    assert!(sorted[39] < a && a < b && b < c);
    drop_table(&first).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filter_that_matches_few_letters_still_fills_the_limit() {
    let Some(endpoint) = support::endpoint("dead-letter filter with limit") else {
        return;
    };
    let store = fresh_store(&endpoint).await;
    let mut wanted = Vec::new();
    for n in 0..30 {
        let rp = if n % 10 == 9 {
            "https://rare/"
        } else {
            "https://common/"
        };
        let id = store
            .put_dead_letter(letter(&format!("email|u{n}"), rp))
            .await
            .unwrap();
        if rp == "https://rare/" {
            wanted.push(id);
        }
    }
    let rare = store
        .list_dead_letters(DeadLetterFilter {
            rp_url: Some("https://rare/".into()),
            limit: 2,
            ..DeadLetterFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(rare.iter().map(|l| l.id).collect::<Vec<_>>(), wanted[..2]);
    let none = store.list_dead_letters(everything(0)).await.unwrap();
    assert!(none.is_empty());
    drop_table(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_item_is_reported_by_id_and_a_missing_table_is_unavailable() {
    let Some(endpoint) = support::endpoint("damaged dead letter") else {
        return;
    };
    let store = fresh_store(&endpoint).await;
    let id = store
        .put_dead_letter(letter("email|a", "https://rp/"))
        .await
        .unwrap();
    store
        .client()
        .update_item()
        .table_name(store.table_name())
        .key("pk", AttributeValue::S("dead-letter".into()))
        .key("id", AttributeValue::N(id.0.to_string()))
        .update_expression("SET attempts = :bad")
        .expression_attribute_values(":bad", AttributeValue::S("three".into()))
        .send()
        .await
        .unwrap();
    let err = store.list_dead_letters(everything(10)).await.unwrap_err();
    assert!(
        matches!(&err, VaultError::Corrupt { key, .. } if key.contains(&id.0.to_string())),
        "{err:?}"
    );
    drop_table(&store).await;

    let missing = DynamoDeadLetterStore::new(support::client(&endpoint), unique_table());
    let err = missing
        .put_dead_letter(letter("email|a", "https://rp/"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, VaultError::Unavailable { .. }),
        "a missing table is an outage the notifier reports, not a panic: {err:?}"
    );
}
