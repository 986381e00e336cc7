//! `/v2/users/id/all` end to end through the Person API router (token check, SQLite listing,
//! JSON rendering of the answer) over 100,000 stored users with full fake profiles:
//! `person_api/ids_all_100k_sqlite_http`. Run with `cargo bench -p cis-http --bench person_api`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use cis_config::AuthSettings;
use cis_core::person::{PersonOptions, PersonService};
use cis_http::auth::JwksFetcher;
use cis_http::person_api::{self, PersonApiState};
use cis_http::{DevIssuer, Validator};
use cis_profile::{FakeOptions, LoginMethod, fake_profile, sanitized_profile};
use cis_vault::{ProfileRecord, ProfileStore, WriteOp};
use cis_vault_sqlite::{Durability, SqliteOptions, SqliteVault};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use tokio::runtime::Runtime;
use tower::ServiceExt;

const USERS: usize = 100_000;
const TEMPLATES: usize = 200;
const ISSUER: &str = "https://issuer.bench";
const AUDIENCE: &str = "api.bench";

struct StaticJwks(Value);

impl JwksFetcher for StaticJwks {
    fn fetch(&self) -> Pin<Box<dyn Future<Output = Result<Value, String>> + Send + '_>> {
        let jwks = self.0.clone();
        Box::pin(async move { Ok(jwks) })
    }
}

fn load(runtime: &Runtime, vault: &SqliteVault) {
    let opts = FakeOptions {
        login_method: Some(LoginMethod::MozillaLdap),
        ..FakeOptions::default()
    };
    let templates: Vec<Value> = (0..TEMPLATES)
        .map(|i| fake_profile(i as u64, &opts))
        .collect();
    let started = Instant::now();
    for chunk in (0..USERS).collect::<Vec<_>>().chunks(5_000) {
        let ops = chunk
            .iter()
            .map(|&n| {
                let mut p = templates[n % TEMPLATES].clone();
                p["user_id"]["value"] = json!(format!("ad|Mozilla-LDAP|user{n:06}"));
                p["uuid"]["value"] = json!(format!("00000000-0000-4000-8000-{n:012}"));
                p["primary_email"]["value"] = json!(format!("user{n:06}@example.com"));
                p["primary_username"]["value"] = json!(format!("user{n:06}"));
                let flat = sanitized_profile(&p).as_object().cloned().unwrap();
                WriteOp::Create(ProfileRecord::from_profile(p, flat).unwrap())
            })
            .collect();
        for result in runtime.block_on(vault.write_batch(ops)) {
            result.unwrap();
        }
    }
    println!(
        "loaded {USERS} users in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

fn ids_all(c: &mut Criterion) {
    let runtime = Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let vault = SqliteVault::open_with(
        dir.path().join("person-http.sqlite"),
        SqliteOptions {
            durability: Durability::Normal,
            ..SqliteOptions::default()
        },
    )
    .unwrap();
    load(&runtime, &vault);
    let store: Arc<dyn ProfileStore> = Arc::new(vault);
    let service = Arc::new(PersonService::new(store, PersonOptions::default()));

    let issuer = DevIssuer::generate(ISSUER).unwrap();
    let settings = AuthSettings {
        issuer: format!("{ISSUER}/"),
        audience: AUDIENCE.into(),
        jwks_url: format!("{ISSUER}/.well-known/jwks.json"),
        jwks_ttl: Duration::from_secs(3600),
        jwks_fetch_timeout: Duration::from_secs(2),
        jwks_min_refresh_interval: Duration::from_secs(30),
        leeway: Duration::from_secs(0),
        jwt_validation: true,
    };
    let validator = Arc::new(Validator::with_fetcher(
        settings,
        Arc::new(StaticJwks(issuer.jwks())),
    ));
    let router = person_api::router(PersonApiState::new(service, Some(validator)));
    let token = issuer
        .mint(
            "bench",
            AUDIENCE,
            ["display:all"],
            Duration::from_secs(3600),
        )
        .unwrap();

    let request = || {
        Request::builder()
            .uri("/v2/users/id/all?connectionMethod=ad&active=Any")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };
    let fetch = || async {
        let response = router.clone().oneshot(request()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap()
    };
    let body = runtime.block_on(fetch());
    let parsed: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(parsed["users"].as_array().unwrap().len(), USERS);
    println!(
        "ids_all answer: {USERS} users, {} bytes of JSON",
        body.len()
    );

    let mut group = c.benchmark_group("person_api");
    group.sample_size(10);
    group.bench_function("ids_all_100k_sqlite_http", |b| {
        b.iter(|| black_box(runtime.block_on(fetch())))
    });
    group.finish();
}

criterion_group!(benches, ids_all);
criterion_main!(benches);
