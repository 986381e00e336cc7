//! What only the embedded backend promises: durability across restarts, readers that never wait
//! for the writer, index-only id listings, and safety when two handles share one file.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use cis_vault::conformance::{edited, sample_record};
use cis_vault::{
    ChangeCursor, ChangeFeed, ChangeOperation, DeadLetterFilter, DeadLetterStore, IngestOutcome,
    IngestQueue, IngestStatus, NewDeadLetter, ProfileStore, SequenceNumber, UserIdFilter,
    VaultError, WriteOp,
};
use cis_vault_sqlite::{Error, SqliteVault};

fn number(sn: &SequenceNumber) -> u64 {
    sn.as_str().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_survives_a_restart_and_numbers_are_never_reused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.sqlite");
    let kept = sample_record("ad|Mozilla-LDAP|kept", 1);
    let gone = sample_record("email|gone", 2);
    let (kept_sn, ingest_id, letter_id, last_cursor) = {
        let vault = SqliteVault::open(&path).unwrap();
        let first = vault.create(kept.clone()).await.unwrap();
        let kept_sn = vault
            .update(edited(&kept, "Before restart"), &first)
            .await
            .unwrap();
        vault.create(gone.clone()).await.unwrap();
        vault.delete(&gone.user_id, None).await.unwrap();
        let ingest_id = vault
            .enqueue(&kept.user_id, kept.profile.clone())
            .await
            .unwrap();
        vault
            .ack(
                &ingest_id,
                IngestOutcome::Rejected {
                    reason: "invalid_publisher".to_owned(),
                },
            )
            .await
            .unwrap();
        let letter_id = vault
            .put_dead_letter(NewDeadLetter {
                operation: ChangeOperation::Update,
                user_id: kept.user_id.clone(),
                event_time_ms: 1,
                rp_url: "https://rp.example.com/hook".to_owned(),
                last_status: Some(500),
                error: "HTTP 500".to_owned(),
                attempts: 3,
                failed_at_ms: 2,
            })
            .await
            .unwrap();
        let events = vault.read_changes(None, 100).await.unwrap();
        let last_cursor = events.last().unwrap().cursor;
        vault
            .save_checkpoint("notifier", last_cursor)
            .await
            .unwrap();
        (kept_sn, ingest_id, letter_id, last_cursor)
    };

    let vault = SqliteVault::open(&path).unwrap();
    let stored = vault.get_by_user_id(&kept.user_id).await.unwrap().unwrap();
    assert_eq!(stored.sequence_number, kept_sn);
    assert_eq!(stored.profile["first_name"]["value"], "Before restart");
    assert_eq!(vault.get_by_user_id(&gone.user_id).await.unwrap(), None);
    let operations: Vec<_> = vault
        .read_changes(None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.operation, e.user_id))
        .collect();
    assert_eq!(
        operations,
        vec![
            (ChangeOperation::Create, kept.user_id.clone()),
            (ChangeOperation::Update, kept.user_id.clone()),
            (ChangeOperation::Create, gone.user_id.clone()),
            (ChangeOperation::Delete, gone.user_id.clone()),
        ]
    );
    assert_eq!(
        vault.load_checkpoint("notifier").await.unwrap(),
        Some(last_cursor)
    );
    assert_eq!(
        vault.status(&ingest_id).await.unwrap(),
        IngestStatus::Rejected {
            reason: "invalid_publisher".to_owned()
        }
    );
    let letters = vault
        .list_dead_letters(DeadLetterFilter {
            limit: 10,
            ..DeadLetterFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].id, letter_id);

    // The user deleted last had the highest number; a new write still goes above it.
    let recreated = vault.create(gone.clone()).await.unwrap();
    assert!(number(&recreated) > last_cursor.0);
    assert!(number(&recreated) > number(&kept_sn));
    // The old handle's stale number is still refused after the restart.
    let err = vault
        .update(edited(&kept, "stale"), &SequenceNumber::from(1))
        .await
        .unwrap_err();
    assert!(matches!(err, VaultError::Conflict { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readers_are_never_blocked_by_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let vault = Arc::new(SqliteVault::open(dir.path().join("vault.sqlite")).unwrap());
    let records: Vec<_> = (0..50)
        .map(|n| sample_record(&format!("email|reader{n:02}"), n))
        .collect();
    for result in vault
        .write_batch(records.iter().cloned().map(WriteOp::Create).collect())
        .await
    {
        result.unwrap();
    }
    let target = records[0].clone();
    let writing = Arc::new(AtomicBool::new(true));
    let reads = Arc::new(AtomicUsize::new(0));

    let readers: Vec<_> = (0..3)
        .map(|_| {
            let vault = Arc::clone(&vault);
            let writing = Arc::clone(&writing);
            let reads = Arc::clone(&reads);
            let user_id = target.user_id.clone();
            tokio::spawn(async move {
                let mut last_seen = 0;
                while writing.load(Ordering::Relaxed) {
                    let stored = vault.get_by_user_id(&user_id).await.unwrap().unwrap();
                    // Each read sees a committed state, never an older one than before.
                    let seen = number(&stored.sequence_number);
                    assert!(seen >= last_seen);
                    last_seen = seen;
                    let ids = vault.list_user_ids(UserIdFilter::default()).await.unwrap();
                    assert_eq!(ids.len(), 50);
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    let mut current = vault
        .get_by_user_id(&target.user_id)
        .await
        .unwrap()
        .unwrap()
        .sequence_number;
    for n in 0..200 {
        current = vault
            .update(edited(&target, &format!("write {n}")), &current)
            .await
            .unwrap();
    }
    writing.store(false, Ordering::Relaxed);
    for reader in readers {
        reader.await.unwrap();
    }
    assert!(reads.load(Ordering::Relaxed) > 0);
    let stored = vault
        .get_by_user_id(&target.user_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.profile["first_name"]["value"], "write 199");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_handles_on_one_file_still_have_one_winner() {
    // Two handles behave like two processes (e.g. `cis serve` and a `cis` admin command).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.sqlite");
    let first = Arc::new(SqliteVault::open(&path).unwrap());
    let second = Arc::new(SqliteVault::open(&path).unwrap());
    let record = sample_record("github|shared-file", 3);
    let mut current = first.create(record.clone()).await.unwrap();
    for round in 0..10 {
        let a = {
            let store = Arc::clone(&first);
            let update = edited(&record, &format!("first {round}"));
            let expected = current.clone();
            tokio::spawn(async move { store.update(update, &expected).await })
        };
        let b = {
            let store = Arc::clone(&second);
            let update = edited(&record, &format!("second {round}"));
            let expected = current.clone();
            tokio::spawn(async move { store.update(update, &expected).await })
        };
        let results = [a.await.unwrap(), b.await.unwrap()];
        let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        assert!(
            results
                .iter()
                .any(|r| matches!(r, Err(VaultError::Conflict { .. })))
        );
        current = winners[0].clone();
        let seen_by_other = second
            .get_by_user_id(&record.user_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(seen_by_other.sequence_number, current);
    }
    let events = first.read_changes(None, 100).await.unwrap();
    assert_eq!(events.len(), 11, "one create and one update per round");
    assert!(
        events
            .windows(2)
            .all(|w| w[0].cursor < w[1].cursor && w[0].cursor >= ChangeCursor(1))
    );
}

#[test]
fn id_listing_reads_only_the_covering_index() {
    let dir = tempfile::tempdir().unwrap();
    let vault = SqliteVault::open(dir.path().join("vault.sqlite")).unwrap();
    let plan = vault
        .explain_id_listing(&UserIdFilter::default())
        .unwrap()
        .join("\n");
    assert!(
        plan.contains("COVERING INDEX profiles_id_listing"),
        "query plan: {plan}"
    );
    // A connection method narrows the scan to its range of the index.
    let by_connection = UserIdFilter {
        user_id_prefix: Some("ad|".to_owned()),
        active: Some(true),
    };
    let plan = vault.explain_id_listing(&by_connection).unwrap().join("\n");
    assert!(
        plan.contains("SEARCH")
            && plan.contains("COVERING INDEX profiles_id_listing (user_id>? AND user_id<?)"),
        "query plan: {plan}"
    );
}

#[test]
fn a_file_from_a_newer_build_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.sqlite");
    drop(SqliteVault::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    match SqliteVault::open(&path) {
        Err(Error::NewerSchema { found: 99, .. }) => {}
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("a newer schema was opened"),
    }
}

#[test]
fn a_missing_directory_is_an_open_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join("vault.sqlite");
    match SqliteVault::open(&path) {
        Err(error @ Error::Open { .. }) => {
            assert!(error.to_string().contains("no-such-dir"), "{error}");
        }
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("opened a file in a missing directory"),
    }
}

/// The SQLite backend narrows attribute searches with its JSON functions; on awkward values
/// (numbers vs booleans, escapes, dotted or quoted group names, nulls) it must still agree with
/// the in-memory reference, which only uses the shared Rust matcher.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attribute_search_agrees_with_the_reference_on_awkward_values() {
    use cis_vault::{AttributeCriterion, AttributeQuery, MemoryVault};
    use serde_json::json;

    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteVault::open(dir.path().join("vault.sqlite")).unwrap();
    let memory = MemoryVault::new();
    let values = [
        json!(true),
        json!(1),
        json!(1.5),
        json!("1"),
        json!("true"),
        json!(null),
        json!("tab\t \"quoted\" \\ é 😀"),
        json!(["a"]),
        json!({"nested": true}),
    ];
    for (n, value) in values.iter().enumerate() {
        let mut record = sample_record(&format!("email|awkward{n}"), n);
        let mut groups = serde_json::Map::new();
        groups.insert(format!("group{}", n % 3), json!(null));
        groups.insert("team.moco".to_owned(), json!(null));
        if n % 2 == 0 {
            groups.insert("odd\"name".to_owned(), json!(null));
        }
        record.flat_profile.insert(
            "staff_information".to_owned(),
            json!({"staff": value, "title": value}),
        );
        record
            .flat_profile
            .insert("access_information".to_owned(), json!({"ldap": groups}));
        record.active = true;
        sqlite.create(record.clone()).await.unwrap();
        memory.create(record).await.unwrap();
    }
    let path = |segments: &[&str]| segments.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut criteria = Vec::new();
    for value in &values {
        criteria.push(AttributeCriterion::Equals {
            path: path(&["staff_information", "staff"]),
            value: value.clone(),
        });
        criteria.push(AttributeCriterion::NotEquals {
            path: path(&["staff_information", "title"]),
            value: value.clone(),
        });
    }
    for group in ["group0", "group1", "team.moco", "odd\"name", "missing"] {
        criteria.push(AttributeCriterion::Exists {
            path: path(&["access_information", "ldap", group]),
        });
        criteria.push(AttributeCriterion::NotExists {
            path: path(&["access_information", "ldap", group]),
        });
    }
    criteria.push(AttributeCriterion::Equals {
        path: path(&["staff_information", "staff", "nested"]),
        value: json!(true),
    });
    for criterion in criteria {
        let query = AttributeQuery {
            criteria: vec![criterion.clone()],
            active: Some(true),
            after: None,
            limit: 100,
        };
        let ids = |page: cis_vault::Page<cis_vault::StoredProfile>| {
            page.items
                .into_iter()
                .map(|p| p.user_id)
                .collect::<Vec<_>>()
        };
        let from_sqlite = ids(sqlite.find_by_attributes(query.clone()).await.unwrap());
        let from_memory = ids(memory.find_by_attributes(query).await.unwrap());
        assert_eq!(from_sqlite, from_memory, "{criterion:?}");
    }
}
