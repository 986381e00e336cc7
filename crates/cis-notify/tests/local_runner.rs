//! The local notifier of `cis serve` over the SQLite change feed: a restart neither loses nor
//! repeats a delivery.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use cis_notify::{LOCAL_CONSUMER, run_local_notifier};
use cis_vault::{ChangeFeed, DeadLetterFilter, DeadLetterStore, ProfileRecord, ProfileStore};
use cis_vault_sqlite::SqliteVault;
use common::*;
use serde_json::json;

fn record(user_id: &str) -> ProfileRecord {
    ProfileRecord {
        user_id: user_id.to_owned(),
        uuid: format!("uuid-{user_id}"),
        primary_email: format!("{user_id}@example.com"),
        primary_username: format!("r--{user_id}"),
        active: true,
        profile: json!({"user_id": {"value": user_id}}),
        flat_profile: serde_json::Map::new(),
    }
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("gave up waiting for {what}");
}

#[tokio::test]
async fn restart_in_the_middle_neither_loses_nor_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.sqlite");
    let tokens = TokenServer::start(Duration::from_secs(3600)).await;
    let healthy = Receiver::start(Behaviour::Healthy, &tokens).await;
    let flaky = Receiver::start(Behaviour::FailTimes(1), &tokens).await;

    let users: Vec<String> = (0..8).map(|n| format!("ad|Mozilla-LDAP|user{n}")).collect();
    {
        let vault = SqliteVault::open(&path).unwrap();
        for user in &users[..6] {
            vault.create(record(user)).await.unwrap();
        }
    }

    // First run: stopped once three notifications arrived, i.e. in the middle of the feed.
    let vault = Arc::new(SqliteVault::open(&path).unwrap());
    let notifier = Arc::new(common::notifier(
        &tokens,
        &[&healthy, &flaky],
        Some(vault.clone()),
    ));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(run_local_notifier(
        vault.clone(),
        notifier.clone(),
        Duration::from_millis(20),
        async move {
            let _ = stopped.await;
        },
    ));
    wait_until("three deliveries", || healthy.call_count() >= 3).await;
    stop.send(()).unwrap();
    let first_run = run.await.unwrap();
    assert!((3..=6).contains(&first_run), "{first_run}");
    assert_eq!(
        healthy.call_count() as u64,
        first_run,
        "every settled event was checkpointed"
    );
    let checkpoint = vault.load_checkpoint(LOCAL_CONSUMER).await.unwrap();
    assert!(checkpoint.is_some());
    drop(notifier);
    drop(vault);

    // Writes while the notifier is down, then a fresh process on the same file.
    {
        let vault = SqliteVault::open(&path).unwrap();
        for user in &users[6..] {
            vault.create(record(user)).await.unwrap();
        }
        vault.delete(&users[0], None).await.unwrap();
    }
    let vault = Arc::new(SqliteVault::open(&path).unwrap());
    let notifier = Arc::new(common::notifier(
        &tokens,
        &[&healthy, &flaky],
        Some(vault.clone()),
    ));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(run_local_notifier(
        vault.clone(),
        notifier,
        Duration::from_millis(20),
        async move {
            let _ = stopped.await;
        },
    ));
    wait_until("all deliveries", || healthy.call_count() >= 9).await;
    // Give a repeat, if there were one, the chance to show up before stopping.
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.send(()).unwrap();
    let second_run = run.await.unwrap();
    assert_eq!(first_run + second_run, 9);

    // Each RP got every event exactly once, in commit order.
    let mut expected: Vec<String> = users.clone();
    expected.push(users[0].clone());
    assert_eq!(healthy.ids(), expected);
    let operations: Vec<String> = healthy
        .calls()
        .iter()
        .map(|c| c.body["operation"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(operations[..8], vec!["create".to_owned(); 8]);
    assert_eq!(operations[8], "delete");
    // The flaky RP needed two calls per event, the second one succeeding.
    for user in &users[1..] {
        assert_eq!(flaky.calls_for(user), 2, "{user}");
    }
    // It fails only the first call per user: the delete went through at once.
    assert_eq!(flaky.calls_for(&users[0]), 3);
    assert!(
        vault
            .list_dead_letters(DeadLetterFilter {
                include_replayed: true,
                limit: 100,
                ..DeadLetterFilter::default()
            })
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_failing_rp_is_dead_lettered_and_does_not_hold_back_the_feed() {
    let dir = tempfile::tempdir().unwrap();
    let vault = Arc::new(SqliteVault::open(dir.path().join("vault.sqlite")).unwrap());
    let tokens = TokenServer::start(Duration::from_secs(3600)).await;
    let healthy = Receiver::start(Behaviour::Healthy, &tokens).await;
    let failing = Receiver::start(Behaviour::Always(502), &tokens).await;
    for user in ["a", "b", "c"] {
        vault.create(record(user)).await.unwrap();
    }
    let notifier = Arc::new(common::notifier(
        &tokens,
        &[&healthy, &failing],
        Some(vault.clone()),
    ));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(run_local_notifier(
        vault.clone(),
        notifier.clone(),
        Duration::from_millis(20),
        async move {
            let _ = stopped.await;
        },
    ));
    wait_until("three deliveries", || healthy.call_count() >= 3).await;
    wait_until("three dead letters", || failing.call_count() >= 12).await;
    stop.send(()).unwrap();
    assert_eq!(run.await.unwrap(), 3);
    assert_eq!(healthy.ids(), ["a", "b", "c"]);
    let letters = vault
        .list_dead_letters(DeadLetterFilter {
            limit: 100,
            ..DeadLetterFilter::default()
        })
        .await
        .unwrap();
    let ids: Vec<_> = letters.iter().map(|l| l.letter.user_id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    assert!(
        letters
            .iter()
            .all(|l| l.letter.last_status == Some(502) && l.letter.rp_url == failing.url)
    );
    let events = vault.read_changes(None, 10).await.unwrap();
    assert_eq!(
        vault.load_checkpoint(LOCAL_CONSUMER).await.unwrap(),
        events.last().map(|e| e.cursor)
    );

    // And `cis notify replay` catches the RP up once it is back.
    failing.recover();
    let report = notifier
        .replay(&cis_notify::ReplayFilter::default())
        .await
        .unwrap();
    assert_eq!(report.delivered.len(), 3);
    assert_eq!(failing.ids()[12..], ["a", "b", "c"]);
    assert_eq!(healthy.call_count(), 3);
}

#[tokio::test]
async fn shutdown_while_idle_returns_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let vault = Arc::new(SqliteVault::open(dir.path().join("vault.sqlite")).unwrap());
    let tokens = TokenServer::start(Duration::from_secs(3600)).await;
    let healthy = Receiver::start(Behaviour::Healthy, &tokens).await;
    let notifier = Arc::new(common::notifier(&tokens, &[&healthy], Some(vault.clone())));
    // A long poll interval: shutdown must not wait for it.
    let settled = tokio::time::timeout(
        Duration::from_secs(30),
        run_local_notifier(vault, notifier, Duration::from_secs(3600), async {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }),
    )
    .await
    .expect("shutdown interrupts the idle wait");
    assert_eq!(settled, 0);
    assert_eq!(healthy.call_count(), 0);
}

/// With an hour between polls, a commit in this process still reaches the RPs at once: the
/// notifier waits on the store's commit signal, not on its poll timer.
#[tokio::test]
async fn a_commit_wakes_the_notifier_without_waiting_for_the_poll() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = TokenServer::start(Duration::from_secs(3600)).await;
    let healthy = Receiver::start(Behaviour::Healthy, &tokens).await;
    let vault = Arc::new(SqliteVault::open(dir.path().join("vault.sqlite")).unwrap());
    let notifier = Arc::new(common::notifier(&tokens, &[&healthy], Some(vault.clone())));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(run_local_notifier(
        vault.clone(),
        notifier,
        Duration::from_secs(3600),
        async move {
            let _ = stopped.await;
        },
    ));
    // Let it read the empty feed and start waiting.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for n in 0..3 {
        vault
            .create(record(&format!("ad|Mozilla-LDAP|woken{n}")))
            .await
            .unwrap();
        wait_until("the delivery of a fresh commit", || {
            healthy.call_count() > n
        })
        .await;
    }
    stop.send(()).unwrap();
    assert_eq!(run.await.unwrap(), 3);
}
