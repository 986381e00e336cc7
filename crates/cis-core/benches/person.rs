//! Person API use cases on the SQLite vault:
//! * `person/ids_all_100k_sqlite`: `/v2/users/id/all?connectionMethod=ad&active=Any` over 100,000
//!   stored users with realistic (fake, full) profiles. The listing reads only the covering index
//!   of the id columns, never the profile JSON.
//! * `person/get_filtered`: one `/v2/user/user_id/<id>` lookup with a `display:all` filter.
//!
//! Run with `cargo bench -p cis-core --bench person`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use cis_core::person::{ActiveFilter, IdListing, PersonOptions, PersonService, Selector, View};
use cis_profile::{FakeOptions, LoginMethod, fake_profile, sanitized_profile};
use cis_vault::{ProfileRecord, ProfileStore, WriteOp};
use cis_vault_sqlite::{Durability, SqliteOptions, SqliteVault};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use tokio::runtime::Runtime;

const USERS: usize = 100_000;
/// Distinct generated profiles; the rest are copies with their own ids (generation, not storage,
/// would otherwise dominate the set-up).
const TEMPLATES: usize = 200;
const BATCH: usize = 5_000;

fn record(template: &Value, n: usize) -> ProfileRecord {
    let mut profile = template.clone();
    let user_id = format!("ad|Mozilla-LDAP|user{n:06}");
    profile["user_id"]["value"] = json!(user_id);
    profile["uuid"]["value"] = json!(format!("00000000-0000-4000-8000-{n:012}"));
    profile["primary_email"]["value"] = json!(format!("user{n:06}@example.com"));
    profile["primary_username"]["value"] = json!(format!("user{n:06}"));
    // Every tenth user inactive, so the active filter has work to do.
    profile["active"]["value"] = json!(!n.is_multiple_of(10));
    let flat = sanitized_profile(&profile)
        .as_object()
        .cloned()
        .expect("a profile is an object");
    ProfileRecord::from_profile(profile, flat).unwrap()
}

fn load(runtime: &Runtime, vault: &SqliteVault) -> f64 {
    let opts = FakeOptions {
        login_method: Some(LoginMethod::MozillaLdap),
        ..FakeOptions::default()
    };
    let templates: Vec<Value> = (0..TEMPLATES)
        .map(|i| fake_profile(i as u64, &opts))
        .collect();
    let bytes: usize = templates.iter().map(|t| t.to_string().len()).sum();
    let started = Instant::now();
    for chunk in (0..USERS).collect::<Vec<_>>().chunks(BATCH) {
        let ops = chunk
            .iter()
            .map(|&n| WriteOp::Create(record(&templates[n % TEMPLATES], n)))
            .collect();
        for result in runtime.block_on(vault.write_batch(ops)) {
            result.unwrap();
        }
    }
    println!(
        "loaded {USERS} users (mean profile {} bytes) in {:.1} s",
        bytes / TEMPLATES,
        started.elapsed().as_secs_f64()
    );
    bytes as f64 / TEMPLATES as f64
}

fn person(c: &mut Criterion) {
    let runtime = Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let vault = SqliteVault::open_with(
        dir.path().join("person.sqlite"),
        SqliteOptions {
            durability: Durability::Normal,
            ..SqliteOptions::default()
        },
    )
    .unwrap();
    load(&runtime, &vault);
    let store: Arc<dyn ProfileStore> = Arc::new(vault);
    let service = PersonService::new(store, PersonOptions::default());

    let listing = || IdListing {
        connection_method: "ad".into(),
        active: ActiveFilter::Any,
    };
    let all = runtime.block_on(service.list_user_ids(listing())).unwrap();
    assert_eq!(all.len(), USERS);
    let active = runtime
        .block_on(service.list_user_ids(IdListing {
            active: ActiveFilter::Active,
            ..listing()
        }))
        .unwrap();
    println!(
        "ids_all: {} users with active=Any, {} with active=True",
        all.len(),
        active.len()
    );

    let mut group = c.benchmark_group("person");
    group.sample_size(10);
    group.bench_function("ids_all_100k_sqlite", |b| {
        b.iter(|| black_box(runtime.block_on(service.list_user_ids(listing())).unwrap()))
    });
    group.finish();

    let mut group = c.benchmark_group("person");
    let view = View::new(&["display:all", "classification:workgroup"], None);
    let mut n = 0_usize;
    group.bench_function("get_filtered", |b| {
        b.iter(|| {
            n = (n + 7919) % USERS;
            let id = format!("ad|Mozilla-LDAP|user{n:06}");
            black_box(
                runtime
                    .block_on(service.get_user(Selector::UserId, &id, ActiveFilter::Any, &view))
                    .unwrap(),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, person);
criterion_main!(benches);
