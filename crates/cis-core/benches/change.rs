#![allow(clippy::unwrap_used)]
//! One update through the whole change pipeline on the in-memory vault, signature verification
//! and publisher rules on. Prints the per-stage split first (mean over many updates), then the
//! criterion timings.
//!
//! `cargo bench -p cis-core --bench change`

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use cis_core::{ChangeRequest, ChangeService, ChangeSettings, KeySource, StageTimings, UuidSalt};
use cis_crypto::{PUBLISHERS, PublisherKeys, Signer, VerifyingKey};
use cis_profile::{FakeOptions, LoginMethod, attribute_mut, fake_profile, null_profile};
use cis_vault::MemoryVault;
use criterion::Criterion;
use serde_json::{Value, json};

fn key_pem() -> String {
    // The repository's dev key (the bench must not depend on ../shared).
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../well-known/dev-keys/cis.pem"
    ))
    .unwrap()
}

struct Setup {
    runtime: tokio::runtime::Runtime,
    service: ChangeService,
    user_id: String,
    /// Two partial changes (one attribute) alternating, so no update is a no-op.
    partial: [Value; 2],
    /// Two full profiles differing in one attribute, as HRIS/LDAP publish.
    full: [Value; 2],
}

fn setup() -> Setup {
    let pem = key_pem();
    let signer = Signer::new().with_same_key(&PUBLISHERS, &pem).unwrap();
    let mut keys = PublisherKeys::new();
    keys.insert_shared(&PUBLISHERS, VerifyingKey::from_pem(&pem, None).unwrap());
    let service = ChangeService::new(
        Arc::new(MemoryVault::new()),
        KeySource::fixed(keys),
        Arc::new(signer.clone()),
        Some(UuidSalt::new("bench")),
        ChangeSettings::default(),
    )
    .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let opts = FakeOptions {
        uuid_username: false,
        login_method: Some(LoginMethod::MozillaLdap),
        ..FakeOptions::default()
    };
    let mut profile = fake_profile(7, &opts);
    signer.sign_profile(&mut profile, None).unwrap();
    let user_id = profile["user_id"]["value"].as_str().unwrap().to_owned();
    runtime
        .block_on(service.integrate(ChangeRequest::new(profile.clone())))
        .unwrap();

    let with_title = |base: &Value, title: &str| {
        let mut p = base.clone();
        let attr = attribute_mut(&mut p, "fun_title").unwrap();
        attr.insert("value".into(), json!(title));
        attr["signature"]["publisher"]["name"] = json!("mozilliansorg");
        signer.sign_attribute(attr, "mozilliansorg").unwrap();
        p
    };
    let mut partial_base = null_profile();
    partial_base["fun_title"] = profile["fun_title"].clone();
    Setup {
        partial: [
            with_title(&partial_base, "Bench A"),
            with_title(&partial_base, "Bench B"),
        ],
        full: [
            with_title(&profile, "Full A"),
            with_title(&profile, "Full B"),
        ],
        runtime,
        service,
        user_id,
    }
}

fn update(setup: &Setup, body: &Value) -> StageTimings {
    let request = ChangeRequest::new(body.clone()).with_user_id(&setup.user_id);
    let outcome = setup
        .runtime
        .block_on(setup.service.integrate(request))
        .unwrap();
    assert_eq!(outcome.condition, cis_core::Condition::Update);
    outcome.timings
}

fn print_split(setup: &Setup, label: &str, bodies: &[Value; 2]) {
    const N: u32 = 400;
    let mut sum = StageTimings::default();
    for i in 0..N {
        let t = update(setup, &bodies[(i % 2) as usize]);
        sum.validate += t.validate;
        sum.read += t.read;
        sum.merge += t.merge;
        sum.publishers += t.publishers;
        sum.signatures += t.signatures;
        sum.cis_attributes += t.cis_attributes;
        sum.record += t.record;
        sum.write += t.write;
        sum.total += t.total;
    }
    let us = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(N);
    println!("per-stage split of one update ({label}, mean of {N}, µs):");
    for (stage, d) in [
        ("validate (user_id + schema)", sum.validate),
        ("read", sum.read),
        ("merge", sum.merge),
        ("publisher rules", sum.publishers),
        ("signature verification", sum.signatures),
        ("cis attributes (sign)", sum.cis_attributes),
        ("record (flat profile)", sum.record),
        ("write", sum.write),
        ("total", sum.total),
    ] {
        println!("  {stage:<30} {:>9.1}", us(d));
    }
}

fn main() {
    let setup = setup();
    print_split(&setup, "partial profile, one attribute", &setup.partial);
    print_split(&setup, "full profile, one attribute changed", &setup.full);

    let mut c = Criterion::default().configure_from_args();
    let mut i = 0usize;
    c.bench_function("integrate update (partial profile)", |b| {
        b.iter(|| {
            i += 1;
            black_box(update(&setup, &setup.partial[i % 2]))
        })
    });
    c.bench_function("integrate update (full profile)", |b| {
        b.iter(|| {
            i += 1;
            black_box(update(&setup, &setup.full[i % 2]))
        })
    });
    c.bench_function("integrate no-op (full profile re-posted)", |b| {
        let last = setup.full[i % 2].clone();
        b.iter(|| {
            let request = ChangeRequest::new(last.clone()).with_user_id(&setup.user_id);
            black_box(
                setup
                    .runtime
                    .block_on(setup.service.integrate(request))
                    .unwrap(),
            )
        })
    });
    c.final_summary();
}
