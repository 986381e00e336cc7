#![allow(clippy::unwrap_used)]
//! Signing and verification cost on the e2e fixtures, with a 2048-bit key (fake-publisher-key_0)
//! for every publisher so the figures compare with `openssl speed -elapsed rsa2048`:
//! expected profile rate ≈ openssl sign/s ÷ signatures per profile (printed at start).
//! `crypto/sign_all` and `crypto/verify_all` take the eleven fixtures in turn, so one iteration
//! costs the mean number of signatures per profile.
//!
//! Use `-elapsed` with openssl: by default `openssl speed` reports CPU time, criterion wall time,
//! and on a busy machine the two differ by the load factor.
//!
//! Run: `cargo bench -p cis-crypto --bench crypto`

use std::hint::black_box;
use std::path::PathBuf;

use cis_crypto::{PUBLISHERS, PublisherKeys, Signer, VerifyingKey};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::Value;

const FIXTURES: [&str; 11] = [
    "e2e-0",
    "e2e-1",
    "e2e-2",
    "e2e-3",
    "e2e-4",
    "e2e-5",
    "e2e-6",
    "e2e-7",
    "e2e-8",
    "e2e-9",
    "e2e-durable",
];

fn reference(path: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference")
        .join(path);
    std::fs::read_to_string(path).unwrap()
}

fn profile(name: &str) -> Value {
    serde_json::from_str(&reference(&format!("profiles/{name}.json"))).unwrap()
}

fn signed_count(profile: &Value) -> usize {
    cis_profile::attributes(profile)
        .into_iter()
        .filter(|(_, a)| cis_profile::value_is_set(a) == Some(true))
        .count()
}

fn bench(c: &mut Criterion) {
    let signer = Signer::new()
        .with_same_key(
            &PUBLISHERS,
            &reference("keys/fake-publisher-key_0.priv.pem"),
        )
        .unwrap();
    let mut keys = PublisherKeys::new();
    keys.insert_shared(
        &PUBLISHERS,
        VerifyingKey::from_pem(&reference("keys/fake-publisher-key_0.pub.pem"), None).unwrap(),
    );

    let mut profiles: Vec<Value> = FIXTURES.iter().map(|f| profile(f)).collect();
    let counts: Vec<usize> = profiles
        .iter_mut()
        .map(|p| signer.sign_profile(p, None).unwrap().len())
        .collect();
    for (signed, count) in profiles.iter().zip(&counts) {
        assert!(keys.verify_profile(signed).is_empty());
        assert_eq!(*count, signed_count(signed));
    }
    let mean = counts.iter().sum::<usize>() as f64 / counts.len() as f64;
    eprintln!("signatures per profile: mean {mean:.2} over the e2e fixtures {counts:?}");
    eprintln!(
        "compare: crypto/sign_all ≈ {mean:.2} / (openssl speed -elapsed rsa2048 sign/s), \
         crypto/verify_all ≈ {mean:.2} / (verify/s)"
    );

    let one_attribute = cis_profile::attribute(&profiles[0], "first_name")
        .unwrap()
        .clone();

    let mut group = c.benchmark_group("crypto");
    group.bench_function("sign_all", |b| {
        let mut profiles = profiles.clone();
        let mut next = 0;
        b.iter(|| {
            next = (next + 1) % profiles.len();
            let signed = signer
                .sign_profile(black_box(&mut profiles[next]), None)
                .unwrap();
            black_box(signed.len())
        });
    });
    group.bench_function("verify_all", |b| {
        let mut next = 0;
        b.iter(|| {
            next = (next + 1) % profiles.len();
            let failures = keys.verify_profile(black_box(&profiles[next]));
            black_box(failures.len())
        });
    });
    group.bench_function("sign_one", |b| {
        let mut attribute = one_attribute.clone();
        b.iter(|| signer.sign_attribute(black_box(&mut attribute), "mozilliansorg"));
    });
    group.bench_function("verify_one", |b| {
        b.iter(|| keys.verify_attribute(black_box(&one_attribute)).unwrap());
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
