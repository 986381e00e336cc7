//! SQLite vault throughput: create, get and conditional update per second, and listing the ids
//! of 100,000 users (target: under 1 s). Run with `ci/bench.sh vault`.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use cis_vault::conformance::{edited, sample_record};
use cis_vault::{
    AttributeCriterion, AttributeQuery, ProfileStore, SequenceNumber, UserIdFilter, WriteOp,
};
use cis_vault_sqlite::{Durability, SqliteOptions, SqliteVault};
use criterion::{Criterion, criterion_group, criterion_main};
use tokio::runtime::Runtime;

const LISTED_USERS: usize = 100_000;

fn open(dir: &tempfile::TempDir, name: &str, durability: Durability) -> SqliteVault {
    let options = SqliteOptions {
        durability,
        ..SqliteOptions::default()
    };
    SqliteVault::open_with(dir.path().join(name), options).unwrap()
}

/// Loads `count` users in one transaction (one `write_batch`).
fn load(runtime: &Runtime, vault: &SqliteVault, prefix: &str, count: usize) -> Vec<SequenceNumber> {
    let ops = (0..count)
        .map(|n| WriteOp::Create(sample_record(&format!("{prefix}|user{n:06}"), n)))
        .collect();
    runtime
        .block_on(vault.write_batch(ops))
        .into_iter()
        .map(Result::unwrap)
        .collect()
}

fn single_user_operations(c: &mut Criterion) {
    let runtime = Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("vault_sqlite");

    for (id, durability) in [
        ("create", Durability::Full),
        ("create_sync_normal", Durability::Normal),
    ] {
        let vault = open(&dir, &format!("{id}.sqlite"), durability);
        let mut n = 0_usize;
        group.bench_function(id, |b| {
            b.iter(|| {
                n += 1;
                let record = sample_record(&format!("email|create{n:09}"), n);
                black_box(runtime.block_on(vault.create(record)).unwrap())
            })
        });
    }

    let vault = open(&dir, "read_update.sqlite", Durability::Full);
    let users = 10_000;
    let mut numbers = load(&runtime, &vault, "ad|Mozilla-LDAP", users);
    let records: Vec<_> = (0..users)
        .map(|n| sample_record(&format!("ad|Mozilla-LDAP|user{n:06}"), n))
        .collect();

    let mut n = 0_usize;
    group.bench_function("get", |b| {
        b.iter(|| {
            n = (n + 7919) % users;
            let user_id = &records[n].user_id;
            black_box(runtime.block_on(vault.get_by_user_id(user_id)).unwrap())
        })
    });

    let mut n = 0_usize;
    group.bench_function("update", |b| {
        b.iter(|| {
            n = (n + 7919) % users;
            let update = edited(&records[n], "Updated");
            numbers[n] = runtime.block_on(vault.update(update, &numbers[n])).unwrap();
        })
    });
    group.finish();
}

fn id_listing(c: &mut Criterion) {
    let runtime = Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let vault = open(&dir, "listing.sqlite", Durability::Normal);
    let started = Instant::now();
    load(&runtime, &vault, "ad|Mozilla-LDAP", LISTED_USERS);
    eprintln!(
        "loaded {LISTED_USERS} users in one transaction in {:.2?}",
        started.elapsed()
    );

    let mut group = c.benchmark_group("vault_sqlite");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("list_ids_100k", |b| {
        b.iter(|| {
            let ids = runtime
                .block_on(vault.list_user_ids(UserIdFilter::default()))
                .unwrap();
            assert_eq!(ids.len(), LISTED_USERS);
            black_box(ids)
        })
    });
    group.bench_function("list_ids_100k_active_by_connection", |b| {
        b.iter(|| {
            let filter = UserIdFilter {
                user_id_prefix: Some("ad".to_owned()),
                active: Some(true),
            };
            black_box(runtime.block_on(vault.list_user_ids(filter)).unwrap())
        })
    });
    // The Person API's attribute search: a first page of staff (matches come early) and a
    // criterion nobody matches (every flat profile is read and parsed).
    let query = |value: serde_json::Value| AttributeQuery {
        criteria: vec![AttributeCriterion::Equals {
            path: vec!["staff_information".to_owned(), "staff".to_owned()],
            value,
        }],
        active: Some(true),
        after: None,
        limit: 25,
    };
    group.bench_function("find_by_attributes_100k_first_page", |b| {
        b.iter(|| {
            black_box(
                runtime
                    .block_on(vault.find_by_attributes(query(serde_json::json!(true))))
                    .unwrap(),
            )
        })
    });
    group.bench_function("find_by_attributes_100k_no_match", |b| {
        b.iter(|| {
            let page = runtime
                .block_on(vault.find_by_attributes(query(serde_json::json!("nobody"))))
                .unwrap();
            assert!(page.items.is_empty());
            black_box(page)
        })
    });
    group.finish();
}

criterion_group!(benches, single_user_operations, id_listing);
criterion_main!(benches);
