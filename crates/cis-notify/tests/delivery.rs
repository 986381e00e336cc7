//! The notifier against real local receivers and the dev token issuer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use cis_notify::{DeliveryReport, ReplayFilter, RpResult, TokenProvider};
use cis_vault::{ChangeOperation, DeadLetterFilter, DeadLetterStore, MemoryVault};
use common::*;
use serde_json::json;

fn all_letters() -> DeadLetterFilter {
    DeadLetterFilter {
        include_replayed: true,
        limit: 1000,
        ..DeadLetterFilter::default()
    }
}

fn result_for<'a>(report: &'a DeliveryReport, rp: &Receiver) -> (&'a RpResult, u32) {
    let outcome = report.outcome(&rp.url).unwrap();
    (&outcome.result, outcome.attempts)
}

#[tokio::test]
async fn healthy_flaky_hanging_and_failing_rps_each_get_exactly_their_attempts() {
    let tokens = TokenServer::start(Duration::from_secs(3600)).await;
    let healthy = Receiver::start(Behaviour::Healthy, &tokens).await;
    let flaky = Receiver::start(Behaviour::FailTimes(2), &tokens).await;
    let hanging = Receiver::start(Behaviour::Hang(HANG), &tokens).await;
    let failing = Receiver::start(Behaviour::Always(500), &tokens).await;
    let store = Arc::new(MemoryVault::new());
    let notifier = notifier(
        &tokens,
        &[&healthy, &flaky, &hanging, &failing],
        Some(store.clone()),
    );

    let report = notifier
        .deliver(&event(
            "ad|Mozilla-LDAP|jdoe",
            ChangeOperation::Update,
            1_551_868_482_250,
        ))
        .await;

    // Every body is the original's notification; every call carried a valid issuer token.
    let expected = json!({"operation": "update", "id": "ad|Mozilla-LDAP|jdoe", "time": 1551868482});
    for rp in [&healthy, &flaky, &hanging, &failing] {
        for call in rp.calls() {
            assert_eq!(call.body, expected);
            assert!(call.token_valid, "token rejected by {}", rp.url);
        }
    }
    assert_eq!(healthy.call_count(), 1);
    assert_eq!(flaky.call_count(), 3, "two failures then the success");
    assert_eq!(hanging.call_count(), 4, "every attempt timed out");
    assert_eq!(failing.call_count(), 4);

    assert_eq!(
        result_for(&report, &healthy),
        (&RpResult::Delivered { status: 200 }, 1)
    );
    assert_eq!(
        result_for(&report, &flaky),
        (&RpResult::Delivered { status: 200 }, 3)
    );
    let (hung, attempts) = result_for(&report, &hanging);
    assert_eq!(attempts, 4);
    assert!(
        matches!(hung, RpResult::DeadLettered { last_status: None, error, .. } if error == "timed out"),
        "{hung:?}"
    );
    let (failed, attempts) = result_for(&report, &failing);
    assert_eq!(attempts, 4);
    assert!(
        matches!(
            failed,
            RpResult::DeadLettered {
                last_status: Some(500),
                ..
            }
        ),
        "{failed:?}"
    );
    assert!(report.is_settled());

    // Exactly the two failed (event, RP) pairs are kept, with what an operator needs.
    let letters = store.list_dead_letters(all_letters()).await.unwrap();
    assert_eq!(letters.len(), 2);
    let mut by_rp: Vec<_> = letters
        .iter()
        .map(|l| {
            (
                l.letter.rp_url.clone(),
                l.letter.last_status,
                l.letter.attempts,
            )
        })
        .collect();
    by_rp.sort();
    let mut want = vec![
        (hanging.url.clone(), None, 4),
        (failing.url.clone(), Some(500), 4),
    ];
    want.sort();
    assert_eq!(by_rp, want);
    for letter in &letters {
        assert_eq!(letter.letter.user_id, "ad|Mozilla-LDAP|jdoe");
        assert_eq!(letter.letter.operation, ChangeOperation::Update);
        assert_eq!(letter.letter.event_time_ms, 1_551_868_482_250);
        assert!(letter.letter.failed_at_ms > 1_700_000_000_000);
        assert_eq!(letter.replayed_at_ms, None);
    }

    // One token served the whole fan-out.
    assert_eq!(tokens.requests(), 1);
}

#[tokio::test]
async fn replay_redelivers_only_to_the_rps_that_failed_and_marks_letters() {
    let tokens = TokenServer::start(Duration::from_secs(3600)).await;
    let healthy = Receiver::start(Behaviour::Healthy, &tokens).await;
    let failing = Receiver::start(Behaviour::Always(503), &tokens).await;
    let other = Receiver::start(Behaviour::Always(500), &tokens).await;
    let store = Arc::new(MemoryVault::new());
    let notifier = notifier(&tokens, &[&healthy, &failing, &other], Some(store.clone()));

    for (user, op) in [
        ("user-a", ChangeOperation::Create),
        ("user-b", ChangeOperation::Delete),
    ] {
        notifier.deliver(&event(user, op, 1_700_000_000_000)).await;
    }
    assert_eq!(healthy.call_count(), 2);
    assert_eq!(failing.call_count(), 8);
    assert_eq!(
        store.list_dead_letters(all_letters()).await.unwrap().len(),
        4
    );

    // Still down: a replay sends one round of attempts for the first letter, skips the rest of
    // that RP, and leaves every letter in place.
    let still_down = notifier
        .replay(&ReplayFilter {
            rp_url: Some(failing.url.clone()),
            ..ReplayFilter::default()
        })
        .await
        .unwrap();
    assert!(still_down.delivered.is_empty());
    assert_eq!(still_down.failed.len(), 2);
    assert_eq!(failing.call_count(), 8 + 4);
    assert_eq!(other.call_count(), 8, "the filter kept the other RP out");

    failing.recover();
    let replayed = notifier
        .replay(&ReplayFilter {
            rp_url: Some(failing.url.clone()),
            ..ReplayFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(replayed.delivered.len(), 2);
    assert!(replayed.failed.is_empty());
    // The two redeliveries, with the original operation and time; no one else was called.
    let calls = failing.calls();
    let redelivered: Vec<_> = calls[12..].iter().map(|c| c.body.clone()).collect();
    assert_eq!(
        redelivered,
        vec![
            json!({"operation": "create", "id": "user-a", "time": 1700000000}),
            json!({"operation": "delete", "id": "user-b", "time": 1700000000}),
        ]
    );
    assert_eq!(
        healthy.call_count(),
        2,
        "a succeeded RP is never re-notified"
    );
    assert_eq!(other.call_count(), 8);

    let letters = store.list_dead_letters(all_letters()).await.unwrap();
    let replayed_rps: Vec<_> = letters
        .iter()
        .filter(|l| l.replayed_at_ms.is_some())
        .map(|l| l.letter.rp_url.clone())
        .collect();
    assert_eq!(replayed_rps, vec![failing.url.clone(), failing.url.clone()]);

    // Nothing left for that RP: a second replay sends nothing.
    let again = notifier
        .replay(&ReplayFilter {
            rp_url: Some(failing.url.clone()),
            ..ReplayFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(again, cis_notify::ReplayReport::default());
    assert_eq!(failing.call_count(), 14);

    // `status` lists what is still pending.
    let pending = notifier
        .dead_letters(DeadLetterFilter {
            limit: 100,
            ..DeadLetterFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(pending.len(), 2);
    assert!(pending.iter().all(|l| l.letter.rp_url == other.url));
}

#[tokio::test]
async fn replay_filters_by_time_and_user_and_refuses_unconfigured_rps() {
    let tokens = TokenServer::start(Duration::from_secs(3600)).await;
    let failing = Receiver::start(Behaviour::Always(500), &tokens).await;
    let store = Arc::new(MemoryVault::new());
    let notifier = notifier(&tokens, &[&failing], Some(store.clone()));
    notifier
        .deliver(&event("user-a", ChangeOperation::Update, 1_000))
        .await;
    notifier
        .deliver(&event("user-b", ChangeOperation::Update, 2_000))
        .await;
    let stray = store
        .put_dead_letter(cis_vault::NewDeadLetter {
            operation: ChangeOperation::Update,
            user_id: "user-c".into(),
            event_time_ms: 3_000,
            rp_url: "http://127.0.0.1:9/not-configured".into(),
            last_status: Some(500),
            error: "HTTP 500".into(),
            attempts: 4,
            failed_at_ms: cis_vault::now_ms(),
        })
        .await
        .unwrap();
    failing.recover();
    let before = failing.call_count();

    let future = notifier
        .replay(&ReplayFilter {
            since_ms: Some(cis_vault::now_ms() + 60_000),
            ..ReplayFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(future, cis_notify::ReplayReport::default());
    assert_eq!(failing.call_count(), before);

    let only_b = notifier
        .replay(&ReplayFilter {
            user_id: Some("user-b".into()),
            ..ReplayFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(only_b.delivered.len(), 1);
    assert_eq!(failing.ids()[before..], ["user-b".to_owned()]);

    let rest = notifier.replay(&ReplayFilter::default()).await.unwrap();
    assert_eq!(rest.delivered.len(), 1, "user-a");
    assert_eq!(rest.failed.len(), 1);
    assert_eq!(rest.failed[0].id, stray);
    assert_eq!(rest.failed[0].reason, "RP is no longer configured");
}

#[tokio::test]
async fn a_client_error_is_not_retried() {
    let tokens = TokenServer::start(Duration::from_secs(3600)).await;
    let gone = Receiver::start(Behaviour::Always(404), &tokens).await;
    let store = Arc::new(MemoryVault::new());
    let notifier = notifier(&tokens, &[&gone], Some(store.clone()));
    let report = notifier
        .deliver(&event("user-a", ChangeOperation::Update, 0))
        .await;
    assert_eq!(gone.call_count(), 1);
    let (result, attempts) = result_for(&report, &gone);
    assert_eq!(attempts, 1);
    assert!(matches!(
        result,
        RpResult::DeadLettered {
            last_status: Some(404),
            ..
        }
    ));
}

#[tokio::test]
async fn token_is_cached_across_events_and_refreshed_before_expiry() {
    let tokens = TokenServer::start(Duration::from_secs(3600)).await;
    let healthy = Receiver::start(Behaviour::Healthy, &tokens).await;
    let flaky = Receiver::start(Behaviour::FailTimes(1), &tokens).await;
    let clock = ManualClock::new();
    let provider = TokenProvider::new(tokens.credentials(), Duration::from_secs(5))
        .unwrap()
        .with_refresh_margin(Duration::from_secs(300))
        .with_clock(clock.clock());
    let notifier = notifier_with(provider, &[&healthy, &flaky], None);

    for n in 0..10 {
        let report = notifier
            .deliver(&event(&format!("user-{n}"), ChangeOperation::Update, 0))
            .await;
        assert!(report.is_settled());
    }
    assert_eq!(tokens.requests(), 1, "ten events, one token");
    assert_eq!(notifier.token_provider().fetch_count(), 1);

    // 3600 s token, 300 s margin: still reused at 3299 s, replaced from 3300 s.
    clock.advance(Duration::from_secs(3299));
    notifier
        .deliver(&event("user-x", ChangeOperation::Update, 0))
        .await;
    assert_eq!(tokens.requests(), 1);
    clock.advance(Duration::from_secs(1));
    notifier
        .deliver(&event("user-y", ChangeOperation::Update, 0))
        .await;
    assert_eq!(tokens.requests(), 2);
    // (The dev issuer's tokens are deterministic within a second, so the refresh shows in the
    // exchange count rather than in a different token.)
    assert_eq!(healthy.call_count(), 12);
    assert!(healthy.calls().iter().all(|c| c.token_valid));
}

#[tokio::test]
async fn concurrent_deliveries_share_one_token_exchange() {
    let tokens = TokenServer::start(Duration::from_secs(3600)).await;
    let healthy = Receiver::start(Behaviour::Healthy, &tokens).await;
    let notifier = Arc::new(notifier(&tokens, &[&healthy], None));
    let tasks: Vec<_> = (0..20)
        .map(|n| {
            let notifier = notifier.clone();
            tokio::spawn(async move {
                notifier
                    .deliver(&event(&format!("user-{n}"), ChangeOperation::Update, 0))
                    .await
            })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap().is_settled());
    }
    assert_eq!(healthy.call_count(), 20);
    assert_eq!(tokens.requests(), 1);
}

#[tokio::test]
async fn short_lived_tokens_are_reused_for_half_their_life() {
    let tokens = TokenServer::start(Duration::from_secs(60)).await;
    let healthy = Receiver::start(Behaviour::Healthy, &tokens).await;
    let clock = ManualClock::new();
    let provider = TokenProvider::new(tokens.credentials(), Duration::from_secs(5))
        .unwrap()
        .with_clock(clock.clock());
    let notifier = notifier_with(provider, &[&healthy], None);
    notifier
        .deliver(&event("a", ChangeOperation::Update, 0))
        .await;
    clock.advance(Duration::from_secs(29));
    notifier
        .deliver(&event("b", ChangeOperation::Update, 0))
        .await;
    assert_eq!(tokens.requests(), 1);
    clock.advance(Duration::from_secs(1));
    notifier
        .deliver(&event("c", ChangeOperation::Update, 0))
        .await;
    assert_eq!(tokens.requests(), 2);
}

#[tokio::test]
async fn a_rejected_token_is_dropped_and_a_fresh_one_fetched() {
    let tokens = TokenServer::start(Duration::from_secs(3600)).await;
    let picky = Receiver::start(Behaviour::RejectFirstToken, &tokens).await;
    let notifier = notifier(&tokens, &[&picky], None);
    let report = notifier
        .deliver(&event("user-a", ChangeOperation::Update, 0))
        .await;
    assert_eq!(
        result_for(&report, &picky),
        (&RpResult::Delivered { status: 200 }, 2)
    );
    assert_eq!(tokens.requests(), 2);
}

#[tokio::test]
async fn without_a_token_no_rp_is_called_and_the_failure_is_kept() {
    let tokens = TokenServer::start(Duration::from_secs(3600)).await;
    let healthy = Receiver::start(Behaviour::Healthy, &tokens).await;
    let mut credentials = tokens.credentials();
    credentials.client_secret = cis_config::Secret::new("wrong".to_owned());
    let provider = TokenProvider::new(credentials, Duration::from_secs(5)).unwrap();
    let store = Arc::new(MemoryVault::new());
    let notifier = notifier_with(provider, &[&healthy], Some(store.clone()));
    let report = notifier
        .deliver(&event("user-a", ChangeOperation::Update, 0))
        .await;
    assert_eq!(healthy.call_count(), 0, "no unauthenticated POST");
    assert_eq!(tokens.requests(), 4, "one exchange per attempt");
    let (result, attempts) = result_for(&report, &healthy);
    assert_eq!(attempts, 4);
    match result {
        RpResult::DeadLettered {
            last_status, error, ..
        } => {
            assert_eq!(*last_status, None);
            assert_eq!(
                error,
                "no bearer token: token endpoint: HTTP 401 access_denied"
            );
            assert!(!error.contains("wrong"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn without_a_store_an_exhausted_rp_leaves_the_event_unsettled() {
    let tokens = TokenServer::start(Duration::from_secs(3600)).await;
    let healthy = Receiver::start(Behaviour::Healthy, &tokens).await;
    let failing = Receiver::start(Behaviour::Always(500), &tokens).await;
    let notifier = notifier(&tokens, &[&healthy, &failing], None);
    let report = notifier
        .deliver(&event("user-a", ChangeOperation::Update, 0))
        .await;
    assert!(!report.is_settled());
    assert_eq!(report.unsettled_rps(), vec![failing.url.clone()]);
    assert!(matches!(
        result_for(&report, &failing).0,
        RpResult::Failed {
            last_status: Some(500),
            ..
        }
    ));
    assert!(notifier.replay(&ReplayFilter::default()).await.is_err());
}
