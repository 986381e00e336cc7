#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The queued ingest path (C2) on the SQLite vault: 1,000 interleaved creates and updates of
//! 100 users integrated in per-user order, rejections with a reason in `status`, a restart in the
//! middle (including an item integrated but never acked) that loses nothing and applies nothing
//! twice, and retryable failures that are retried and finally given up.

mod common;

use std::sync::Arc;
use std::time::Duration;

use cis_core::ingest::{Processor, RecordOutcome, enqueue_change, integrate_record_data};
use cis_core::{ChangeRequest, ChangeService, ChangeSettings, KeySource, UuidSalt};
use cis_crypto::WellKnownSource;
use cis_profile::attribute;
use cis_vault::{ChangeFeed, IngestId, IngestQueue, IngestStatus, MemoryVault, ProfileStore};
use cis_vault_sqlite::{Durability, SqliteOptions, SqliteVault};
use common::*;
use serde_json::{Value, json};

const USERS: u64 = 100;
const STEPS: usize = 10;

fn open(dir: &tempfile::TempDir) -> Arc<SqliteVault> {
    let options = SqliteOptions {
        durability: Durability::Normal,
        ..SqliteOptions::default()
    };
    Arc::new(SqliteVault::open_with(dir.path().join("vault.db"), options).unwrap())
}

fn processor_on(vault: &Arc<SqliteVault>) -> Processor {
    let env = env_on(
        vault.clone(),
        Arc::new(MemoryVault::new()),
        ChangeSettings::default(),
        Some(SALT),
    );
    Processor::new(env.service, vault.clone())
}

/// Step 0 creates the user, steps 1.. set `fun_title` to `title-<step>`; for every tenth user
/// step 5 is claimed by a publisher that may not write `fun_title` (rejected for good).
fn body(profile: &Value, seed: u64, step: usize, signer: &cis_crypto::Signer) -> (Value, bool) {
    if step == 0 {
        return (profile.clone(), true);
    }
    let bad = seed.is_multiple_of(10) && step == 5;
    let publisher = if bad { "hris" } else { "mozilliansorg" };
    let title = if bad {
        "never".to_owned()
    } else {
        format!("title-{step}")
    };
    (
        change(profile, "fun_title", json!(title), publisher, signer),
        !bad,
    )
}

async fn changes(vault: &SqliteVault) -> usize {
    vault.read_changes(None, 100_000).await.unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_queued_changes_in_user_order_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let signer = signer();
    // Signing a whole profile is the slow part: once per user.
    let users: Vec<Value> = (0..USERS).map(new_user).collect();
    let mut ids: Vec<(IngestId, bool)> = Vec::new();
    let first_processed;
    {
        let vault = open(&dir);
        let processor = processor_on(&vault);
        // Interleaved: every user's step k is queued before anyone's step k+1.
        for step in 0..STEPS {
            for seed in 0..USERS {
                let user = &users[usize::try_from(seed).unwrap()];
                let (profile, good) = body(user, seed, step, &signer);
                let user_id = user_id_of(user);
                let request = ChangeRequest::new(profile).with_user_id(user_id);
                let id = enqueue_change(&processor.service, vault.as_ref(), request)
                    .await
                    .unwrap();
                ids.push((id, good));
            }
        }
        assert_eq!(ids.len(), 1_000);

        // A few rounds, then one item integrated but never acked: the processor "dies".
        let mut report = cis_core::ingest::ProcessReport::default();
        for _ in 0..3 {
            let round = processor.process_batch(60).await.unwrap();
            report.integrated += round.integrated;
            report.rejected += round.rejected;
        }
        assert!(report.integrated > 0 && report.integrated < 990);
        let claimed = vault.claim(1, Duration::from_millis(200)).await.unwrap();
        assert_eq!(claimed.len(), 1);
        let item = claimed.into_iter().next().unwrap();
        processor
            .service
            .integrate(ChangeRequest::new(item.profile).with_user_id(item.user_id))
            .await
            .unwrap();
        first_processed = report;
    }

    // Reopen the same file with a fresh processor and finish.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let vault = open(&dir);
    let processor = processor_on(&vault);
    let report = processor.process_available(64).await.unwrap();
    assert_eq!(report.retried, 0);
    assert_eq!(
        first_processed.integrated + report.integrated,
        990,
        "every good item integrated once (the unacked one re-run as a no-op)"
    );
    assert_eq!(first_processed.rejected + report.rejected, 10);
    assert!(processor.process_available(64).await.unwrap() == Default::default());

    // Nothing applied twice: one vault write per good item.
    assert_eq!(changes(&vault).await, 990);

    for (id, good) in &ids {
        match vault.status(id).await.unwrap() {
            IngestStatus::Integrated { .. } => assert!(good, "{id}"),
            IngestStatus::Rejected { reason } => {
                assert!(!good, "{id}: {reason}");
                assert!(reason.starts_with("invalid_publisher: "), "{reason}");
            }
            IngestStatus::Pending => panic!("{id} still pending"),
        }
    }
    // Final state = the updates applied in order.
    for user in &users {
        let user_id = user_id_of(user);
        let stored = vault.get_by_user_id(&user_id).await.unwrap().unwrap();
        let title = attribute(&stored.profile, "fun_title").unwrap();
        assert_eq!(title["value"], json!(format!("title-{}", STEPS - 1)));
    }
}

#[tokio::test]
async fn precheck_refuses_before_queueing() {
    let dir = tempfile::tempdir().unwrap();
    let vault = open(&dir);
    let processor = processor_on(&vault);
    let error = enqueue_change(
        &processor.service,
        vault.as_ref(),
        ChangeRequest::new(json!({"user_id": {"value": 7}})),
    )
    .await
    .unwrap_err();
    assert!(matches!(error.status(), 400), "{error}");
    let dry = ChangeRequest::new(new_user(1)).with_dry_run(true);
    assert!(
        enqueue_change(&processor.service, vault.as_ref(), dry)
            .await
            .is_err()
    );
    assert!(
        vault
            .claim(10, Duration::from_secs(1))
            .await
            .unwrap()
            .is_empty()
    );
}

fn keyless_service(store: Arc<dyn ProfileStore>) -> ChangeService {
    // A well-known file that does not exist: keys unavailable, a retryable failure.
    let source = WellKnownSource::new("/nonexistent/cis/well-known.json").unwrap();
    ChangeService::new(
        store,
        KeySource::well_known(Arc::new(source)),
        Arc::new(signer()),
        Some(UuidSalt::new(SALT)),
        ChangeSettings::default(),
    )
    .unwrap()
}

#[tokio::test]
async fn retryable_failures_are_released_then_given_up() {
    let dir = tempfile::tempdir().unwrap();
    let vault = open(&dir);
    let service = Arc::new(keyless_service(vault.clone()));
    let mut processor = Processor::new(service.clone(), vault.clone());
    processor.max_attempts = 2;
    let id = enqueue_change(&service, vault.as_ref(), ChangeRequest::new(new_user(3)))
        .await
        .unwrap();

    let first = processor.process_available(10).await.unwrap();
    assert_eq!((first.integrated, first.rejected, first.retried), (0, 0, 1));
    assert_eq!(vault.status(&id).await.unwrap(), IngestStatus::Pending);

    let second = processor.process_available(10).await.unwrap();
    assert_eq!((second.rejected, second.retried), (1, 0));
    match vault.status(&id).await.unwrap() {
        IngestStatus::Rejected { reason } => {
            assert!(
                reason.starts_with("gave up after 2 attempts: publisher_keys_unavailable"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn local_processor_loop_drains_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let vault = open(&dir);
    let processor = Arc::new(processor_on(&vault));
    let mut ids = Vec::new();
    for seed in 0..5 {
        ids.push(
            enqueue_change(
                &processor.service,
                vault.as_ref(),
                ChangeRequest::new(new_user(seed)),
            )
            .await
            .unwrap(),
        );
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // An hour between polls: the change queued below is only picked up in time because the
    // enqueue's commit wakes the loop.
    let task = tokio::spawn(cis_core::ingest::run_local_processor(
        processor.clone(),
        Duration::from_secs(3600),
        async move {
            let _ = stopped.await;
        },
    ));
    // Let the loop drain the first five and start waiting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Queued while the loop is waiting.
    ids.push(
        enqueue_change(
            &processor.service,
            vault.as_ref(),
            ChangeRequest::new(new_user(9)),
        )
        .await
        .unwrap(),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let mut pending = 0;
        for id in &ids {
            if vault.status(id).await.unwrap() == IngestStatus::Pending {
                pending += 1;
            }
        }
        if pending == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{pending} pending");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn record_data_wrapped_bare_and_garbage() {
    let env = env();
    let profile = new_user(21);
    let wrapped = serde_json::to_vec(&json!({ "profile": profile })).unwrap();
    assert!(matches!(
        integrate_record_data(&env.service, &wrapped).await,
        RecordOutcome::Integrated(_)
    ));
    // The bare profile again: an idempotent no-op, still integrated.
    let bare = serde_json::to_vec(&profile).unwrap();
    assert!(matches!(
        integrate_record_data(&env.service, &bare).await,
        RecordOutcome::Integrated(_)
    ));
    match integrate_record_data(&env.service, b"not json").await {
        RecordOutcome::Rejected { code, .. } => assert_eq!(code, "invalid_request"),
        other => panic!("{other:?}"),
    }
}
