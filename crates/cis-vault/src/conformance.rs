//! The storage conformance suite: every backend's tests run these cases, so memory, SQLite and
//! DynamoDB behave alike. A backend provides a [`Harness`] and expands
//! [`profile_store_conformance!`](crate::profile_store_conformance) (and, if it implements the
//! change feed, queue and dead letters, [`vault_conformance!`](crate::vault_conformance)) in an
//! integration test; each case becomes its own `#[tokio::test]`.
//!
//! Cases panic on failure, like any test.
// Modular arithmetic spells out the data set; the expected-set predicates mirror it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::manual_is_multiple_of,
    clippy::type_complexity
)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::model::{
    AttributeCriterion, AttributeQuery, ChangeCursor, ChangeOperation, DeadLetterFilter, IngestId,
    IngestOutcome, IngestStatus, NewDeadLetter, PageRequest, ProfileRecord, SequenceNumber,
    StoredProfile, UserIdEntry, UserIdFilter, WriteOp,
};
use crate::store::{BoxFuture, ChangeFeed, DeadLetterStore, IngestQueue, ProfileStore};
use crate::{MemoryVault, VaultError};

/// What a backend gives the suite.
pub trait Harness: Send + Sync {
    type Store: ProfileStore + 'static;

    /// A new, empty store (a fresh file, table, ...), independent of any other.
    fn fresh(&self) -> BoxFuture<'_, Arc<Self::Store>>;

    /// Overwrites the stored profile of `user_id` (which exists) with text that is not JSON,
    /// the way a bad migration or a manual edit would.
    fn corrupt_profile<'a>(&'a self, store: &'a Self::Store, user_id: &'a str)
    -> BoxFuture<'a, ()>;
}

/// The harness of the in-memory vault (used by this crate's own tests).
pub struct MemoryHarness;

impl Harness for MemoryHarness {
    type Store = MemoryVault;

    fn fresh(&self) -> BoxFuture<'_, Arc<MemoryVault>> {
        Box::pin(async { Arc::new(MemoryVault::new()) })
    }

    fn corrupt_profile<'a>(
        &'a self,
        store: &'a MemoryVault,
        user_id: &'a str,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            assert!(store.plant_corrupt_profile(user_id, "{\"user_id\": {\"value\": "));
        })
    }
}

/// Expands to one `#[tokio::test]` per [`ProfileStore`] case. The calling crate needs `tokio`
/// (with `macros` and `rt-multi-thread`) as a dev-dependency.
#[macro_export]
macro_rules! profile_store_conformance {
    ($harness:expr) => {
        $crate::__conformance_cases!(
            $harness;
            create_then_get_by_every_index,
            create_of_existing_user_conflicts,
            update_is_conditional_on_sequence_number,
            delete_removes_every_index_entry,
            shared_email_and_username_return_every_account,
            profile_text_round_trips_exactly,
            invalid_records_are_refused,
            concurrent_conditional_updates_have_one_winner_per_round,
            write_batch_gives_each_op_its_own_result,
            write_batch_larger_than_a_dynamodb_transaction,
            pagination_over_more_than_one_page,
            thousand_user_listing_matches_expectation,
            find_by_attributes_ands_criteria_and_pages,
            corrupt_profile_is_reported_not_panicked,
        );
    };
}

/// Expands to one `#[tokio::test]` per change-feed, ingest-queue and dead-letter case.
#[macro_export]
macro_rules! vault_conformance {
    ($harness:expr) => {
        $crate::__conformance_cases!(
            $harness;
            change_feed_lists_writes_in_commit_order,
            ingest_queue_keeps_per_user_order,
            ingest_queue_leases_expire_and_release,
            dead_letters_are_kept_listed_and_replayed,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ($harness:expr; $($case:ident),+ $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                $crate::conformance::$case(&$harness).await;
            }
        )+
    };
}

// ---------------------------------------------------------------------------------------------
// Test data

/// A small profile v2-shaped record; `n` varies the values. The vault does not validate
/// profiles, so only the shape the index keys come from matters.
pub fn sample_record(user_id: &str, n: usize) -> ProfileRecord {
    let uuid = format!("uuid-{user_id}");
    let email = format!("user{n}@example.com");
    let username = format!("r--user{n}");
    let active = n % 5 != 0;
    let staff = n % 3 == 0;
    let groups: Map<String, Value> = [
        ("everyone".to_owned(), Value::Null),
        (format!("team{}", n % 4), Value::Null),
    ]
    .into_iter()
    .collect();
    let profile = json!({
        "active": {"value": active, "signature": {"publisher": {"name": "access_provider", "value": ""}}},
        "user_id": {"value": user_id, "metadata": {"display": "public"}},
        "uuid": {"value": uuid},
        "primary_email": {"value": email},
        "primary_username": {"value": username},
        "first_name": {"value": format!("Jöhn {n} ✓ 😀")},
        "staff_information": {"staff": {"value": staff}, "title": {"value": format!("title{}", n % 2)}},
        "access_information": {"ldap": {"values": groups.clone()}}
    });
    let flat_profile = json!({
        "active": active,
        "user_id": user_id,
        "uuid": uuid,
        "primary_email": email,
        "primary_username": username,
        "first_name": format!("Jöhn {n} ✓ 😀"),
        "staff_information": {"staff": staff, "title": format!("title{}", n % 2)},
        "access_information": {"ldap": groups}
    });
    ProfileRecord {
        user_id: user_id.to_owned(),
        uuid,
        primary_email: email,
        primary_username: username,
        active,
        profile,
        flat_profile: flat_profile.as_object().cloned().unwrap(),
    }
}

/// A record with a different `first_name`, as an update would carry.
pub fn edited(record: &ProfileRecord, first_name: &str) -> ProfileRecord {
    let mut record = record.clone();
    record.profile["first_name"]["value"] = json!(first_name);
    record
        .flat_profile
        .insert("first_name".to_owned(), json!(first_name));
    record
}

/// The user_ids of the 1,000-user data set: several connection methods, including one
/// (`adfoo`) that a separator-less prefix `ad` would also match.
pub fn thousand_user_ids() -> Vec<String> {
    let methods = [
        "ad|Mozilla-LDAP",
        "email",
        "github",
        "oauth2|firefoxaccounts",
        "adfoo",
    ];
    (0..1000)
        .map(|n| format!("{}|user{n:04}", methods[n % methods.len()]))
        .collect()
}

fn assert_matches_record(stored: &StoredProfile, record: &ProfileRecord, sn: &SequenceNumber) {
    assert_eq!(stored.user_id, record.user_id);
    assert_eq!(stored.uuid, record.uuid);
    assert_eq!(stored.primary_email, record.primary_email);
    assert_eq!(stored.primary_username, record.primary_username);
    assert_eq!(stored.active, record.active);
    assert_eq!(&stored.sequence_number, sn);
    assert_eq!(stored.profile, record.profile);
}

fn ids(profiles: &[StoredProfile]) -> Vec<&str> {
    profiles.iter().map(|p| p.user_id.as_str()).collect()
}

fn path(segments: &[&str]) -> Vec<String> {
    segments.iter().map(|s| (*s).to_owned()).collect()
}

async fn create_all<S: ProfileStore + ?Sized>(store: &S, records: Vec<ProfileRecord>) {
    for chunk in records.chunks(250) {
        let ops = chunk.iter().cloned().map(WriteOp::Create).collect();
        for result in store.write_batch(ops).await {
            result.unwrap();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ProfileStore cases

pub async fn create_then_get_by_every_index<H: Harness>(harness: &H) {
    let store = harness.fresh().await;
    let record = sample_record("ad|Mozilla-LDAP|jdoe", 1);
    let sn = store.create(record.clone()).await.unwrap();
    assert!(!sn.as_str().is_empty());

    let by_id = store
        .get_by_user_id(&record.user_id)
        .await
        .unwrap()
        .unwrap();
    assert_matches_record(&by_id, &record, &sn);
    let by_uuid = store.find_by_uuid(&record.uuid).await.unwrap();
    assert_eq!(by_uuid, vec![by_id.clone()]);
    let by_email = store
        .find_by_primary_email(&record.primary_email)
        .await
        .unwrap();
    assert_eq!(by_email, vec![by_id.clone()]);
    let by_username = store
        .find_by_primary_username(&record.primary_username)
        .await
        .unwrap();
    assert_eq!(by_username, vec![by_id.clone()]);
    let by_sn = store.find_by_sequence_number(&sn).await.unwrap();
    assert_eq!(by_sn, Some(by_id));

    assert_eq!(
        store
            .get_by_user_id("ad|Mozilla-LDAP|nobody")
            .await
            .unwrap(),
        None
    );
    assert!(store.find_by_uuid("no-such-uuid").await.unwrap().is_empty());
    assert!(
        store
            .find_by_primary_email("no@example.com")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .find_by_primary_username("r--none")
            .await
            .unwrap()
            .is_empty()
    );
    let unknown = SequenceNumber::new("424242424242");
    assert_eq!(store.find_by_sequence_number(&unknown).await.unwrap(), None);
}

pub async fn create_of_existing_user_conflicts<H: Harness>(harness: &H) {
    let store = harness.fresh().await;
    let record = sample_record("email|dup", 2);
    let first = store.create(record.clone()).await.unwrap();
    let err = store.create(edited(&record, "Other")).await.unwrap_err();
    match err {
        VaultError::Conflict { user_id, current } => {
            assert_eq!(user_id, record.user_id);
            if let Some(current) = current {
                assert_eq!(current, first);
            }
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let stored = store
        .get_by_user_id(&record.user_id)
        .await
        .unwrap()
        .unwrap();
    assert_matches_record(&stored, &record, &first);
}

pub async fn update_is_conditional_on_sequence_number<H: Harness>(harness: &H) {
    let store = harness.fresh().await;
    let record = sample_record("github|42", 3);
    let first = store.create(record.clone()).await.unwrap();

    let mut changed = edited(&record, "Renamed");
    changed.primary_email = "moved@example.com".to_owned();
    changed.active = !record.active;
    let second = store.update(changed.clone(), &first).await.unwrap();
    assert_ne!(first, second);
    let stored = store
        .get_by_user_id(&record.user_id)
        .await
        .unwrap()
        .unwrap();
    assert_matches_record(&stored, &changed, &second);
    // The email index follows the update.
    assert!(
        store
            .find_by_primary_email(&record.primary_email)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        ids(&store
            .find_by_primary_email("moved@example.com")
            .await
            .unwrap()),
        vec![record.user_id.as_str()]
    );
    assert_eq!(store.find_by_sequence_number(&first).await.unwrap(), None);

    // A writer still holding the first sequence number loses and learns the current one.
    match store
        .update(edited(&record, "Stale"), &first)
        .await
        .unwrap_err()
    {
        VaultError::Conflict { user_id, current } => {
            assert_eq!(user_id, record.user_id);
            if let Some(current) = current {
                assert_eq!(current, second);
            }
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let stored = store
        .get_by_user_id(&record.user_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.profile["first_name"]["value"], json!("Renamed"));

    let ghost = sample_record("github|ghost", 4);
    let err = store.update(ghost, &second).await.unwrap_err();
    assert!(matches!(err, VaultError::NotFound { .. }), "{err:?}");
    assert_eq!(store.get_by_user_id("github|ghost").await.unwrap(), None);
}

pub async fn delete_removes_every_index_entry<H: Harness>(harness: &H) {
    let store = harness.fresh().await;
    let record = sample_record("email|gone", 6);
    let sn = store.create(record.clone()).await.unwrap();

    // No backend ever issues "0".
    let err = store
        .delete(&record.user_id, Some(&SequenceNumber::new("0")))
        .await;
    assert!(matches!(err, Err(VaultError::Conflict { .. })), "{err:?}");
    assert!(
        store
            .get_by_user_id(&record.user_id)
            .await
            .unwrap()
            .is_some()
    );
    store.delete(&record.user_id, Some(&sn)).await.unwrap();
    assert_eq!(store.get_by_user_id(&record.user_id).await.unwrap(), None);
    assert!(store.find_by_uuid(&record.uuid).await.unwrap().is_empty());
    assert!(
        store
            .find_by_primary_email(&record.primary_email)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .find_by_primary_username(&record.primary_username)
            .await
            .unwrap()
            .is_empty()
    );
    let err = store.delete(&record.user_id, None).await.unwrap_err();
    assert!(matches!(err, VaultError::NotFound { .. }), "{err:?}");
    let listed = store.list_user_ids(UserIdFilter::default()).await.unwrap();
    assert!(listed.is_empty());

    // The user can be created again afterwards.
    store.create(record.clone()).await.unwrap();
    assert!(
        store
            .get_by_user_id(&record.user_id)
            .await
            .unwrap()
            .is_some()
    );
}

pub async fn shared_email_and_username_return_every_account<H: Harness>(harness: &H) {
    let store = harness.fresh().await;
    let mut ldap = sample_record("ad|Mozilla-LDAP|jdoe", 7);
    let mut email = sample_record("email|jdoe", 8);
    let mut github = sample_record("github|jdoe", 9);
    for record in [&mut ldap, &mut email, &mut github] {
        record.primary_email = "jdoe@mozilla.com".to_owned();
        record.primary_username = "jdoe".to_owned();
    }
    // Created out of order: results are ordered by user_id regardless.
    for record in [&github, &ldap, &email] {
        store.create(record.clone()).await.unwrap();
    }
    let expected = vec!["ad|Mozilla-LDAP|jdoe", "email|jdoe", "github|jdoe"];
    let found = store
        .find_by_primary_email("jdoe@mozilla.com")
        .await
        .unwrap();
    assert_eq!(ids(&found), expected);
    let found = store.find_by_primary_username("jdoe").await.unwrap();
    assert_eq!(ids(&found), expected);
}

pub async fn profile_text_round_trips_exactly<H: Harness>(harness: &H) {
    let store = harness.fresh().await;
    // Key order matters: signatures are computed over the document's key order (A3).
    let mut record = sample_record("oauth2|firefoxaccounts|ab+c@example.com", 10);
    record.profile = json!({
        "zeta": {"value": "last key first"},
        "alpha": {"value": "ü \u{1F600} \"quoted\" \\ \n tab\t"},
        "user_id": {"value": record.user_id},
        "numbers": {"values": {"b": 2, "a": -1, "c": null, "d": 12345678901234_i64}}
    });
    let sn = store.create(record.clone()).await.unwrap();
    let stored = store
        .get_by_user_id(&record.user_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        serde_json::to_string(&stored.profile).unwrap(),
        serde_json::to_string(&record.profile).unwrap()
    );
    assert_eq!(stored.sequence_number, sn);
}

pub async fn invalid_records_are_refused<H: Harness>(harness: &H) {
    let store = harness.fresh().await;
    for field in ["user_id", "uuid", "primary_email", "primary_username"] {
        let mut record = sample_record("email|invalid", 11);
        match field {
            "user_id" => record.user_id.clear(),
            "uuid" => record.uuid.clear(),
            "primary_email" => record.primary_email.clear(),
            _ => record.primary_username.clear(),
        }
        match store.create(record).await.unwrap_err() {
            VaultError::InvalidInput { field: named, .. } => assert_eq!(named, field),
            other => panic!("expected invalid input for {field}, got {other:?}"),
        }
    }
    assert!(
        store
            .list_user_ids(UserIdFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
}

/// N writers read the same sequence number and update at once: exactly one wins each round,
/// the others get `Conflict` (DECISIONS B5).
pub async fn concurrent_conditional_updates_have_one_winner_per_round<H: Harness>(harness: &H) {
    const WRITERS: usize = 8;
    const ROUNDS: usize = 5;
    let store = harness.fresh().await;
    let record = sample_record("ad|Mozilla-LDAP|contended", 12);
    let mut current = store.create(record.clone()).await.unwrap();
    for round in 0..ROUNDS {
        let barrier = Arc::new(tokio::sync::Barrier::new(WRITERS));
        let tasks: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let store = Arc::clone(&store);
                let barrier = Arc::clone(&barrier);
                let expected = current.clone();
                let update = edited(&record, &format!("round {round} writer {writer}"));
                tokio::spawn(async move {
                    barrier.wait().await;
                    (writer, store.update(update, &expected).await)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            let (writer, result) = task.await.unwrap();
            match result {
                Ok(sn) => winners.push((writer, sn)),
                Err(VaultError::Conflict { .. }) => {}
                Err(other) => panic!("round {round}: unexpected error {other:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        let (writer, sn) = winners.pop().unwrap();
        let stored = store
            .get_by_user_id(&record.user_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.sequence_number, sn);
        assert_eq!(
            stored.profile["first_name"]["value"],
            json!(format!("round {round} writer {writer}"))
        );
        current = sn;
    }
}

pub async fn write_batch_gives_each_op_its_own_result<H: Harness>(harness: &H) {
    let store = harness.fresh().await;
    let existing = sample_record("email|existing", 13);
    let existing_sn = store.create(existing.clone()).await.unwrap();
    let fresh = sample_record("email|fresh", 14);
    let mut invalid = sample_record("email|invalid", 15);
    invalid.primary_email.clear();

    let results = store
        .write_batch(vec![
            WriteOp::Create(fresh.clone()),
            WriteOp::Update {
                record: edited(&existing, "First"),
                expected: existing_sn.clone(),
            },
            // Duplicates are applied in order: these see the writes above.
            WriteOp::Create(edited(&fresh, "Again")),
            WriteOp::Update {
                record: edited(&existing, "Second"),
                expected: existing_sn.clone(),
            },
            WriteOp::Update {
                record: sample_record("email|missing", 16),
                expected: existing_sn.clone(),
            },
            WriteOp::Create(invalid),
        ])
        .await;
    assert_eq!(results.len(), 6);
    let fresh_sn = results[0].as_ref().unwrap().clone();
    let updated_sn = results[1].as_ref().unwrap().clone();
    assert_ne!(fresh_sn, updated_sn);
    assert_ne!(updated_sn, existing_sn);
    assert!(
        matches!(results[2], Err(VaultError::Conflict { .. })),
        "{:?}",
        results[2]
    );
    assert!(
        matches!(results[3], Err(VaultError::Conflict { .. })),
        "{:?}",
        results[3]
    );
    assert!(
        matches!(results[4], Err(VaultError::NotFound { .. })),
        "{:?}",
        results[4]
    );
    assert!(
        matches!(
            results[5],
            Err(VaultError::InvalidInput {
                field: "primary_email",
                ..
            })
        ),
        "{:?}",
        results[5]
    );

    let stored = store.get_by_user_id("email|fresh").await.unwrap().unwrap();
    assert_matches_record(&stored, &fresh, &fresh_sn);
    let stored = store
        .get_by_user_id("email|existing")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.profile["first_name"]["value"], json!("First"));
    assert_eq!(stored.sequence_number, updated_sn);
    assert_eq!(store.get_by_user_id("email|missing").await.unwrap(), None);
    assert_eq!(store.get_by_user_id("email|invalid").await.unwrap(), None);
    assert!(store.write_batch(Vec::new()).await.is_empty());
}

/// DynamoDB transactions stop at 100 actions; the port has no such limit (DECISIONS B6).
pub async fn write_batch_larger_than_a_dynamodb_transaction<H: Harness>(harness: &H) {
    let store = harness.fresh().await;
    let records: Vec<_> = (0..150)
        .map(|n| sample_record(&format!("email|batch{n:03}"), n))
        .collect();
    let results = store
        .write_batch(records.iter().cloned().map(WriteOp::Create).collect())
        .await;
    let numbers: BTreeSet<_> = results.into_iter().map(Result::unwrap).collect();
    assert_eq!(numbers.len(), 150, "every op gets its own sequence number");
    let listed = store.list_user_ids(UserIdFilter::default()).await.unwrap();
    assert_eq!(listed.len(), 150);
}

pub async fn pagination_over_more_than_one_page<H: Harness>(harness: &H) {
    let store = harness.fresh().await;
    let records: Vec<_> = (0..53)
        .map(|n| sample_record(&format!("ad|Mozilla-LDAP|page{n:02}"), n))
        .collect();
    create_all(store.as_ref(), records.clone()).await;

    for active in [None, Some(true), Some(false)] {
        let expected: BTreeSet<String> = records
            .iter()
            .filter(|r| active.is_none_or(|a| r.active == a))
            .map(|r| r.user_id.clone())
            .collect();
        let mut seen = Vec::new();
        let mut after = None;
        let mut pages = 0;
        loop {
            let page = store
                .list_profiles(PageRequest {
                    after,
                    limit: 10,
                    active,
                })
                .await
                .unwrap();
            assert!(page.items.len() <= 10);
            pages += 1;
            assert!(pages < 100, "pagination does not terminate");
            seen.extend(page.items.into_iter().map(|p| {
                assert!(active.is_none_or(|a| p.active == a));
                p.user_id
            }));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let unique: BTreeSet<String> = seen.iter().cloned().collect();
        assert_eq!(unique.len(), seen.len(), "a profile was listed twice");
        assert_eq!(unique, expected, "active filter {active:?}");
        if active.is_none() {
            assert!(pages >= 6, "53 profiles in pages of 10 took {pages} pages");
        }
    }

    let err = store
        .list_profiles(PageRequest {
            after: None,
            limit: 0,
            active: None,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, VaultError::InvalidInput { field: "limit", .. }),
        "{err:?}"
    );
}

pub async fn thousand_user_listing_matches_expectation<H: Harness>(harness: &H) {
    let store = harness.fresh().await;
    let records: Vec<_> = thousand_user_ids()
        .iter()
        .enumerate()
        .map(|(n, user_id)| sample_record(user_id, n))
        .collect();
    create_all(store.as_ref(), records.clone()).await;

    let entry = |r: &ProfileRecord| UserIdEntry {
        user_id: r.user_id.clone(),
        uuid: r.uuid.clone(),
        primary_email: r.primary_email.clone(),
        active: r.active,
    };
    let filters = [
        (None, None),
        (Some("ad"), None),
        (Some("ad|"), Some(true)),
        (Some("oauth2|firefoxaccounts|"), Some(false)),
        (Some("github|"), Some(true)),
        (None, Some(false)),
        (Some("nomatch"), None),
    ];
    for (prefix, active) in filters {
        let filter = UserIdFilter {
            user_id_prefix: prefix.map(str::to_owned),
            active,
        };
        let mut listed = store.list_user_ids(filter).await.unwrap();
        listed.sort();
        let mut expected: Vec<UserIdEntry> = records
            .iter()
            .filter(|r| prefix.is_none_or(|p| r.user_id.starts_with(p)))
            .filter(|r| active.is_none_or(|a| r.active == a))
            .map(entry)
            .collect();
        expected.sort();
        assert_eq!(listed, expected, "prefix {prefix:?}, active {active:?}");
    }

    let mut walked = BTreeSet::new();
    let mut after = None;
    loop {
        let page = store
            .list_profiles(PageRequest {
                after,
                limit: 100,
                active: None,
            })
            .await
            .unwrap();
        for profile in page.items {
            assert!(walked.insert(profile.user_id));
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let all: BTreeSet<String> = records.into_iter().map(|r| r.user_id).collect();
    assert_eq!(walked, all);
}

pub async fn find_by_attributes_ands_criteria_and_pages<H: Harness>(harness: &H) {
    let store = harness.fresh().await;
    let records: Vec<_> = (0..60)
        .map(|n| sample_record(&format!("ad|Mozilla-LDAP|attr{n:02}"), n))
        .collect();
    create_all(store.as_ref(), records.clone()).await;

    let staff = path(&["staff_information", "staff"]);
    let title = path(&["staff_information", "title"]);
    let team1 = path(&["access_information", "ldap", "team1"]);
    let cases: Vec<(
        Vec<AttributeCriterion>,
        Option<bool>,
        Box<dyn Fn(usize) -> bool>,
    )> = vec![
        (
            vec![AttributeCriterion::Equals {
                path: staff.clone(),
                value: json!(true),
            }],
            Some(true),
            Box::new(|n| n % 3 == 0 && n % 5 != 0),
        ),
        (
            vec![
                AttributeCriterion::Equals {
                    path: staff.clone(),
                    value: json!(true),
                },
                AttributeCriterion::Equals {
                    path: title.clone(),
                    value: json!("title1"),
                },
            ],
            None,
            Box::new(|n| n % 3 == 0 && n % 2 == 1),
        ),
        (
            vec![AttributeCriterion::Exists {
                path: team1.clone(),
            }],
            Some(false),
            Box::new(|n| n % 4 == 1 && n % 5 == 0),
        ),
        (
            vec![
                AttributeCriterion::NotExists { path: team1 },
                AttributeCriterion::NotEquals {
                    path: staff,
                    value: json!(true),
                },
            ],
            Some(true),
            Box::new(|n| n % 4 != 1 && n % 3 != 0 && n % 5 != 0),
        ),
        (
            vec![AttributeCriterion::Equals {
                path: title,
                value: json!("no such title"),
            }],
            None,
            Box::new(|_| false),
        ),
    ];
    for (index, (criteria, active, expected)) in cases.into_iter().enumerate() {
        let expected: BTreeSet<String> = (0..60)
            .filter(|n| expected(*n))
            .map(|n| records[n].user_id.clone())
            .collect();
        let mut found = BTreeSet::new();
        let mut after = None;
        loop {
            let page = store
                .find_by_attributes(AttributeQuery {
                    criteria: criteria.clone(),
                    active,
                    after,
                    limit: 4,
                })
                .await
                .unwrap();
            assert!(page.items.len() <= 4);
            for profile in page.items {
                assert!(found.insert(profile.user_id.clone()));
                assert_eq!(profile.profile["user_id"]["value"], json!(profile.user_id));
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(found, expected, "case {index}");
    }

    let err = store
        .find_by_attributes(AttributeQuery {
            criteria: Vec::new(),
            active: None,
            after: None,
            limit: 10,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, VaultError::InvalidInput { .. }), "{err:?}");
}

pub async fn corrupt_profile_is_reported_not_panicked<H: Harness>(harness: &H) {
    let store = harness.fresh().await;
    let good = sample_record("email|good", 17);
    let bad = sample_record("email|bad", 18);
    store.create(good.clone()).await.unwrap();
    store.create(bad.clone()).await.unwrap();
    harness.corrupt_profile(&store, &bad.user_id).await;

    let err = store.get_by_user_id(&bad.user_id).await.unwrap_err();
    match &err {
        VaultError::Corrupt { key, .. } => assert_eq!(key, &bad.user_id),
        other => panic!("expected corrupt, got {other:?}"),
    }
    assert!(!err.is_retryable());
    let err = store
        .find_by_primary_email(&bad.primary_email)
        .await
        .unwrap_err();
    assert!(matches!(err, VaultError::Corrupt { .. }), "{err:?}");
    // A listing that would include it fails instead of silently leaving it out.
    let err = store
        .list_profiles(PageRequest {
            after: None,
            limit: 10,
            active: None,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, VaultError::Corrupt { .. }), "{err:?}");

    // Everything else keeps working.
    assert!(store.get_by_user_id(&good.user_id).await.unwrap().is_some());
    let ids = store.list_user_ids(UserIdFilter::default()).await.unwrap();
    assert_eq!(ids.len(), 2);
}

// ---------------------------------------------------------------------------------------------
// ChangeFeed, IngestQueue, DeadLetterStore cases

pub async fn change_feed_lists_writes_in_commit_order<H>(harness: &H)
where
    H: Harness,
    H::Store: ChangeFeed,
{
    let store = harness.fresh().await;
    assert!(store.read_changes(None, 100).await.unwrap().is_empty());
    let a = sample_record("email|feed-a", 19);
    let b = sample_record("email|feed-b", 20);
    let a1 = store.create(a.clone()).await.unwrap();
    let b1 = store.create(b.clone()).await.unwrap();
    let a2 = store.update(edited(&a, "Changed"), &a1).await.unwrap();
    // A failed write leaves no event.
    store.update(edited(&b, "Stale"), &a1).await.unwrap_err();
    store.delete(&b.user_id, None).await.unwrap();

    let events = store.read_changes(None, 100).await.unwrap();
    let summary: Vec<_> = events
        .iter()
        .map(|e| (e.operation, e.user_id.as_str(), e.sequence_number.clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (ChangeOperation::Create, "email|feed-a", Some(a1)),
            (ChangeOperation::Create, "email|feed-b", Some(b1)),
            (ChangeOperation::Update, "email|feed-a", Some(a2)),
            (ChangeOperation::Delete, "email|feed-b", None),
        ]
    );
    assert!(events.windows(2).all(|w| w[0].cursor < w[1].cursor));
    assert!(events.iter().all(|e| e.time_ms > 1_600_000_000_000));

    let rest = store
        .read_changes(Some(events[1].cursor), 100)
        .await
        .unwrap();
    assert_eq!(rest, events[2..].to_vec());
    let limited = store.read_changes(None, 2).await.unwrap();
    assert_eq!(limited, events[..2].to_vec());
    assert!(
        store
            .read_changes(Some(events[3].cursor), 10)
            .await
            .unwrap()
            .is_empty()
    );

    assert_eq!(store.load_checkpoint("notifier").await.unwrap(), None);
    store
        .save_checkpoint("notifier", events[1].cursor)
        .await
        .unwrap();
    store
        .save_checkpoint("notifier", events[2].cursor)
        .await
        .unwrap();
    store
        .save_checkpoint("other", ChangeCursor(0))
        .await
        .unwrap();
    assert_eq!(
        store.load_checkpoint("notifier").await.unwrap(),
        Some(events[2].cursor)
    );
    assert_eq!(
        store.load_checkpoint("other").await.unwrap(),
        Some(ChangeCursor(0))
    );
}

pub async fn ingest_queue_keeps_per_user_order<H>(harness: &H)
where
    H: Harness,
    H::Store: IngestQueue,
{
    let store = harness.fresh().await;
    let lease = Duration::from_secs(60);
    let a1 = store.enqueue("email|a", json!({"n": "a1"})).await.unwrap();
    let b1 = store.enqueue("email|b", json!({"n": "b1"})).await.unwrap();
    let a2 = store.enqueue("email|a", json!({"n": "a2"})).await.unwrap();
    for id in [&a1, &b1, &a2] {
        assert_eq!(store.status(id).await.unwrap(), IngestStatus::Pending);
    }

    let claimed = store.claim(10, lease).await.unwrap();
    let claimed_ids: Vec<&IngestId> = claimed.iter().map(|item| &item.id).collect();
    assert_eq!(claimed_ids, vec![&a1, &b1], "a2 must wait for a1");
    assert_eq!(claimed[0].profile, json!({"n": "a1"}));
    assert_eq!(claimed[0].user_id, "email|a");
    assert_eq!(claimed[0].attempts, 1);
    // Leased items are not handed out twice, and a2 still waits.
    assert!(store.claim(10, lease).await.unwrap().is_empty());

    let written = SequenceNumber::new("77");
    store
        .ack(
            &a1,
            IngestOutcome::Integrated {
                sequence_number: Some(written.clone()),
            },
        )
        .await
        .unwrap();
    let claimed = store.claim(10, lease).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, a2);
    assert_eq!(claimed[0].profile, json!({"n": "a2"}));

    store
        .ack(
            &b1,
            IngestOutcome::Rejected {
                reason: "invalid_signature".to_owned(),
            },
        )
        .await
        .unwrap();
    // A late duplicate ack does not change the first outcome.
    store
        .ack(
            &b1,
            IngestOutcome::Integrated {
                sequence_number: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store.status(&a1).await.unwrap(),
        IngestStatus::Integrated {
            sequence_number: Some(written)
        }
    );
    assert_eq!(
        store.status(&b1).await.unwrap(),
        IngestStatus::Rejected {
            reason: "invalid_signature".to_owned()
        }
    );
    assert_eq!(store.status(&a2).await.unwrap(), IngestStatus::Pending);

    let unknown = IngestId::new("999999");
    assert!(matches!(
        store.status(&unknown).await,
        Err(VaultError::NotFound { .. })
    ));
    let garbage = IngestId::new("not-an-id");
    assert!(matches!(
        store.status(&garbage).await,
        Err(VaultError::NotFound { .. })
    ));
    let err = store
        .ack(
            &unknown,
            IngestOutcome::Integrated {
                sequence_number: None,
            },
        )
        .await;
    assert!(matches!(err, Err(VaultError::NotFound { .. })), "{err:?}");
}

pub async fn ingest_queue_leases_expire_and_release<H>(harness: &H)
where
    H: Harness,
    H::Store: IngestQueue,
{
    let store = harness.fresh().await;
    let id = store.enqueue("github|1", json!({"n": 1})).await.unwrap();
    let other = store.enqueue("github|2", json!({"n": 2})).await.unwrap();

    let first = store.claim(1, Duration::from_millis(50)).await.unwrap();
    assert_eq!(first.len(), 1, "limit respected");
    assert_eq!(first[0].id, id);
    tokio::time::sleep(Duration::from_millis(120)).await;
    // The expired lease hands the item out again, before younger items.
    let second = store.claim(10, Duration::from_secs(60)).await.unwrap();
    let ids: Vec<&IngestId> = second.iter().map(|item| &item.id).collect();
    assert_eq!(ids, vec![&id, &other]);
    assert_eq!(second[0].attempts, 2);

    store.release(&other).await.unwrap();
    let third = store.claim(10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(third.len(), 1);
    assert_eq!(third[0].id, other);
    assert_eq!(third[0].attempts, 2);
}

pub async fn dead_letters_are_kept_listed_and_replayed<H>(harness: &H)
where
    H: Harness,
    H::Store: DeadLetterStore,
{
    let store = harness.fresh().await;
    let letter = |user: &str, rp: &str| NewDeadLetter {
        operation: ChangeOperation::Update,
        user_id: user.to_owned(),
        event_time_ms: 1_700_000_000_123,
        rp_url: rp.to_owned(),
        last_status: Some(503),
        error: "HTTP 503 after 5 attempts".to_owned(),
        attempts: 5,
        failed_at_ms: 1_700_000_100_000,
    };
    let rp1 = "https://rp1.example.com/events/update";
    let rp2 = "https://rp2.example.com/hook";
    let first = store.put_dead_letter(letter("email|a", rp1)).await.unwrap();
    let second = store.put_dead_letter(letter("email|b", rp2)).await.unwrap();
    let mut third_letter = letter("email|a", rp2);
    third_letter.last_status = None;
    third_letter.operation = ChangeOperation::Delete;
    let third = store.put_dead_letter(third_letter.clone()).await.unwrap();
    assert!(first < second && second < third);

    let all = DeadLetterFilter {
        limit: 100,
        ..DeadLetterFilter::default()
    };
    let listed = store.list_dead_letters(all.clone()).await.unwrap();
    assert_eq!(
        listed.iter().map(|l| l.id).collect::<Vec<_>>(),
        vec![first, second, third]
    );
    assert_eq!(listed[2].letter, third_letter);
    assert_eq!(listed[0].replayed_at_ms, None);

    let for_rp2 = store
        .list_dead_letters(DeadLetterFilter {
            rp_url: Some(rp2.to_owned()),
            ..all.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        for_rp2.iter().map(|l| l.id).collect::<Vec<_>>(),
        vec![second, third]
    );
    let for_a_on_rp2 = store
        .list_dead_letters(DeadLetterFilter {
            rp_url: Some(rp2.to_owned()),
            user_id: Some("email|a".to_owned()),
            ..all.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        for_a_on_rp2.iter().map(|l| l.id).collect::<Vec<_>>(),
        vec![third]
    );
    let paged = store
        .list_dead_letters(DeadLetterFilter {
            after: Some(first),
            limit: 1,
            ..all.clone()
        })
        .await
        .unwrap();
    assert_eq!(paged.iter().map(|l| l.id).collect::<Vec<_>>(), vec![second]);

    store
        .mark_replayed(second, 1_700_000_200_000)
        .await
        .unwrap();
    let pending = store.list_dead_letters(all.clone()).await.unwrap();
    assert_eq!(
        pending.iter().map(|l| l.id).collect::<Vec<_>>(),
        vec![first, third]
    );
    let everything = store
        .list_dead_letters(DeadLetterFilter {
            include_replayed: true,
            ..all.clone()
        })
        .await
        .unwrap();
    assert_eq!(everything.len(), 3);
    assert_eq!(everything[1].replayed_at_ms, Some(1_700_000_200_000));

    store.remove_dead_letter(first).await.unwrap();
    let remaining = store.list_dead_letters(all).await.unwrap();
    assert_eq!(
        remaining.iter().map(|l| l.id).collect::<Vec<_>>(),
        vec![third]
    );
    let gone = store.remove_dead_letter(first).await;
    assert!(matches!(gone, Err(VaultError::NotFound { .. })), "{gone:?}");
    let gone = store.mark_replayed(first, 1).await;
    assert!(matches!(gone, Err(VaultError::NotFound { .. })), "{gone:?}");
}
