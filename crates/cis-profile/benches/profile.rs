//! Per-profile cost of the hot paths, on the eleven e2e fixtures (cycled, one profile per
//! iteration). Ids: `profile/validate`, `profile/filter`, `profile/check_publishers`,
//! `profile/merge`; throughput is reported in profiles/s.
//!
//! filter uses a typical DinoPark scope set: `classification:mozilla_confidential
//! classification:workgroup display:staff display:ndaed display:vouched display:authenticated`
//! (no `read:fullprofile`, no `display:all`), no filterDisplay.
//!
//! filter and merge get a fresh clone per iteration (`PerIteration`, not timed) so the profile is
//! warm in cache as it is right after parsing; dropping what filter removes is part of its cost.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use cis_profile::{
    FilteredProfile, PublisherRules, SchemaValidator, ScopeGrant, check_publishers, filter_profile,
    merge,
};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};

fn fixtures() -> Vec<Value> {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/reference/profiles"
    );
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("e2e-"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect()
}

/// The fixture with one attribute changed by its update authority.
fn changed(profile: &Value) -> Value {
    let mut p = profile.clone();
    p["staff_information"]["title"]["value"] = json!("Principal Benchmark Engineer");
    p["staff_information"]["title"]["signature"]["publisher"]["name"] = json!("hris");
    p
}

fn benches(c: &mut Criterion) {
    let profiles = fixtures();
    assert_eq!(profiles.len(), 11);
    let validator = SchemaValidator::bundled();
    let rules = PublisherRules::bundled();
    let grant = ScopeGrant::from_scope_claim(
        "classification:mozilla_confidential classification:workgroup display:staff display:ndaed display:vouched display:authenticated",
    );
    let updates: Vec<Value> = profiles.iter().map(changed).collect();

    let mut group = c.benchmark_group("profile");
    group.throughput(Throughput::Elements(1));

    let mut i = 0;
    group.bench_function("validate", |b| {
        b.iter(|| {
            i = (i + 1) % profiles.len();
            black_box(validator.validate(black_box(&profiles[i])).is_ok())
        })
    });

    let mut i = 0;
    group.bench_function("filter", |b| {
        b.iter_batched(
            || {
                i = (i + 1) % profiles.len();
                profiles[i].clone()
            },
            |mut p| {
                filter_profile(&mut p, &grant, None);
                p
            },
            BatchSize::PerIteration,
        )
    });

    // Not one of the four headline ids: the copy-free path (borrowed view written as JSON), for
    // comparison with clone + filter + serialize in the Person API.
    let mut i = 0;
    let mut out = Vec::with_capacity(1 << 16);
    group.bench_function("filter_view_serialize", |b| {
        b.iter(|| {
            i = (i + 1) % profiles.len();
            out.clear();
            serde_json::to_writer(&mut out, &FilteredProfile::new(&profiles[i], &grant, None))
                .unwrap();
            black_box(out.len())
        })
    });

    let mut i = 0;
    group.bench_function("check_publishers", |b| {
        b.iter(|| {
            i = (i + 1) % profiles.len();
            black_box(check_publishers(
                black_box(&updates[i]),
                &profiles[i],
                rules,
            ))
        })
    });

    let mut i = 0;
    group.bench_function("merge", |b| {
        b.iter_batched(
            || {
                i = (i + 1) % profiles.len();
                (profiles[i].clone(), &updates[i])
            },
            |(mut stored, update)| {
                let changed = merge(&mut stored, update);
                (stored, changed)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(profile, benches);
criterion_main!(profile);
