//! `ci/bench.sh propagate`: how fast changes propagate through a release `cis serve`.
//!
//! * change → webhook latency: one change at a time, from the moment the POST is sent until a
//!   test RP (which verifies the bearer token) has the notification; p50/p90/p99 over
//!   `BENCH_CHANGES` changes (default 500), with the POST's own round trip for comparison.
//! * queued-ingest throughput: `BENCH_PROFILES` signed new profiles (default 2,000) sent in
//!   `/v2/users` batches to a serve with `CIS_STREAM_BYPASS=false`, timed until `/v2/status`
//!   says every one is integrated; the same profiles sent to a direct-path serve as the
//!   baseline.
//!
//! Each serve runs alone on a fresh data directory. The binary under test is `$CIS_BIN`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use cis_e2e::rp::TestRp;
use cis_e2e::*;
use futures::StreamExt as _;
use serde_json::{Value, json};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn summary(mut ms: Vec<f64>) -> String {
    ms.sort_by(f64::total_cmp);
    let mean = ms.iter().sum::<f64>() / ms.len() as f64;
    format!(
        "p50 {:7.2} ms  p90 {:7.2} ms  p99 {:7.2} ms  max {:7.2} ms  mean {:7.2} ms",
        percentile(&ms, 50.0),
        percentile(&ms, 90.0),
        percentile(&ms, 99.0),
        ms.last().copied().unwrap_or(f64::NAN),
        mean
    )
}

/// `count` signed new profiles with distinct user_ids (fake names repeat now and then, and a
/// second "new" profile of the same user would be an update by ldap, refused by the rules).
fn new_users(count: usize, first_seed: u64, signer: &cis_crypto::Signer) -> Vec<Value> {
    let mut seen = std::collections::HashSet::new();
    let mut users: Vec<Value> = generate_users(count + count / 20 + 10, first_seed, signer)
        .into_iter()
        .filter(|p| seen.insert(user_id_of(p)))
        .collect();
    assert!(users.len() >= count, "too many repeated fake user_ids");
    users.truncate(count);
    users
}

/// Signed new profiles, generated on every core (RSA signing dominates).
fn generate_users(count: usize, first_seed: u64, signer: &cis_crypto::Signer) -> Vec<Value> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|scope| {
        let parts: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (0..count)
                        .filter(|i| i % threads == t)
                        .map(|i| (i, new_user(first_seed + i as u64, signer)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<(usize, Value)> =
            parts.into_iter().flat_map(|p| p.join().unwrap()).collect();
        all.sort_by_key(|(i, _)| *i);
        all.into_iter().map(|(_, p)| p).collect()
    })
}

async fn latency(changes: usize) {
    let rp = TestRp::start().await;
    let cis = CisServer::start_with(ServeOptions::default().env("CIS_RP_URLS", &rp.url));
    rp.trust(cis.rp_trust()).await;
    let signer = cis.signer();
    let writer = cis.writer();
    let profile = new_user(1, &signer);
    let user_id = user_id_of(&profile);
    let uri = format!("/v2/user?user_id={}", encode(&user_id));
    let updates: Vec<Value> = (0..changes)
        .map(|i| {
            change(
                &profile,
                "fun_title",
                json!(format!("latency {i}")),
                "mozilliansorg",
                &signer,
            )
        })
        .collect();

    // The create, also warming the notifier's token and the RP's JWKS.
    let (status, answer) = cis.post("/v2/user", Some(&writer), &profile).await;
    assert_eq!(status, 200, "{answer}");
    rp.wait_until(Duration::from_secs(60), "the create's notification", |s| {
        !s.is_empty()
    })
    .await;

    let mut end_to_end = Vec::with_capacity(changes);
    let mut post_only = Vec::with_capacity(changes);
    let started = Instant::now();
    for (i, update) in updates.iter().enumerate() {
        let sent = Instant::now();
        let (status, answer) = cis.post(&uri, Some(&writer), update).await;
        let answered = sent.elapsed();
        assert_eq!(
            (status, answer["condition"].as_str()),
            (200, Some("update")),
            "{answer}"
        );
        let seen = rp
            .wait_until(Duration::from_secs(60), "a notification", |s| {
                s.len() > i + 1
            })
            .await;
        let delivery = &seen[i + 1];
        assert!(delivery.accepted(), "refused: {:?}", delivery.token);
        assert_eq!(delivery.operation(), Some("update"));
        end_to_end.push(delivery.received.duration_since(sent).as_secs_f64() * 1e3);
        post_only.push(answered.as_secs_f64() * 1e3);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let refused = rp.deliveries().iter().filter(|d| !d.accepted()).count();
    println!(
        "propagate/webhook_latency  {changes} sequential updates in {elapsed:.1} s, {} deliveries, {refused} refused, {} JWKS fetch(es) by the RP",
        rp.deliveries().len(),
        rp.jwks_fetches()
    );
    println!("  change → RP received   {}", summary(end_to_end));
    println!("  POST answered          {}", summary(post_only));
}

/// Sends `profiles` in `/v2/users` batches, two requests in flight; the answers in order.
async fn post_batches(
    cis: &CisServer,
    writer: &str,
    profiles: &[Value],
    batch: usize,
) -> Vec<Value> {
    let answers: Vec<(usize, u16, Value)> =
        futures::stream::iter(profiles.chunks(batch).enumerate())
            .map(|(i, chunk)| async move {
                let (status, answer) = cis.post("/v2/users", Some(writer), &json!(chunk)).await;
                (i, status, answer)
            })
            .buffer_unordered(2)
            .collect()
            .await;
    let mut answers = answers;
    answers.sort_by_key(|(i, _, _)| *i);
    answers
        .into_iter()
        .map(|(_, status, answer)| {
            assert!(status == 200 || status == 202, "{status}: {answer}");
            assert_eq!(answer["failed"], 0, "{answer}");
            answer
        })
        .collect()
}

async fn status_of(cis: &CisServer, sn: &str) -> String {
    let (status, body) = cis
        .call(
            "GET",
            &cis.change(&format!("/v2/status?sequenceNumber={sn}")),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let state = body["status"].as_str().unwrap_or_default().to_owned();
    assert_ne!(state, "rejected", "{sn}: {body}");
    state
}

async fn throughput(count: usize, batch: usize) {
    // The profiles are signed by the dev keys every data directory starts with, so one set
    // serves both runs.
    let signing_dir = tempfile::tempdir().unwrap();
    let keys = {
        let probe = CisServer::start_in(&signing_dir.path().join("data"), &[]);
        probe.signer()
    };
    let generating = Instant::now();
    let profiles = new_users(count, 500_000, &keys);
    println!(
        "propagate/ingest  {count} signed new profiles generated in {:.1} s (not timed below)",
        generating.elapsed().as_secs_f64()
    );

    // Direct path (CIS_STREAM_BYPASS unset = true): integrated when the answer arrives.
    let direct_rate = {
        let cis = CisServer::start(&[]);
        let writer = cis.writer();
        let started = Instant::now();
        post_batches(&cis, &writer, &profiles, batch).await;
        let seconds = started.elapsed().as_secs_f64();
        let rate = count as f64 / seconds;
        println!(
            "  direct  (bypass)      {count} integrated in {seconds:7.2} s  {rate:8.1} profiles/s"
        );
        rate
    };

    // Queued path: 202 per profile, then the local processor.
    let cis = CisServer::start_with(ServeOptions::default().env("CIS_STREAM_BYPASS", "false"));
    let writer = cis.writer();
    let started = Instant::now();
    let answers = post_batches(&cis, &writer, &profiles, batch).await;
    let enqueued = started.elapsed().as_secs_f64();
    let mut waiting: Vec<String> = answers
        .iter()
        .flat_map(|a| a["results"].as_array().unwrap().clone())
        .map(|r| r["sequence_number"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(waiting.len(), count);
    let all = waiting.clone();
    // The queue hands items out oldest first: check from the front and stop at the first one
    // still pending, so polling stays light.
    let deadline = Instant::now() + Duration::from_secs(1800);
    while !waiting.is_empty() {
        let mut done = 0;
        for sn in &waiting {
            if status_of(&cis, sn).await == "integrated" {
                done += 1;
            } else {
                break;
            }
        }
        waiting.drain(..done);
        assert!(Instant::now() < deadline, "{} still pending", waiting.len());
        if !waiting.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    // Confirm every one, out of the timing.
    for sn in &all {
        assert_eq!(status_of(&cis, sn).await, "integrated", "{sn}");
    }
    let rate = count as f64 / seconds;
    println!(
        "  queued  (bypass=false) {count} enqueued in {enqueued:7.2} s  {:8.1} profiles/s accepted (202)",
        count as f64 / enqueued
    );
    println!(
        "  queued  (bypass=false) {count} integrated in {seconds:7.2} s  {rate:8.1} profiles/s  = {:.2}x the direct path",
        rate / direct_rate
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let changes = env_usize("BENCH_CHANGES", 500);
    let profiles = env_usize("BENCH_PROFILES", 2000);
    let batch = env_usize("BENCH_BATCH", 100);
    println!(
        "cis: {}  (cores: {})",
        cis_bin().display(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    latency(changes).await;
    throughput(profiles, batch).await;
}
