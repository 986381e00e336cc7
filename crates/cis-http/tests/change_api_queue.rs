#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The Change API with a queue (`CIS_STREAM_BYPASS=false`, DECISIONS C2): writes are prechecked
//! and queued on a real SQLite vault, a [`Processor`] integrates them, `/v2/status` follows each
//! queue id from pending to integrated or rejected.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use cis_core::ingest::Processor;
use cis_core::{ChangeService, ChangeSettings, KeySource, UuidSalt};
use cis_crypto::{PUBLISHERS, PublisherKeys, Signer, VerifyingKey};
use cis_http::Validator;
use cis_http::change_api::{self, ChangeApiSettings, ChangeApiState};
use cis_profile::{FakeOptions, LoginMethod, fake_profile};
use cis_vault::{IngestQueue, ProfileStore, UserIdFilter};
use cis_vault_sqlite::SqliteVault;
use common::*;
use serde_json::{Value, json};

fn reference(path: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../../../shared/reference/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn signer() -> Signer {
    Signer::new()
        .with_same_key(
            &PUBLISHERS,
            &reference("keys/fake-publisher-key_0.priv.pem"),
        )
        .unwrap()
}

fn evil_signer() -> Signer {
    Signer::new()
        .with_same_key(&PUBLISHERS, &reference("keys/evil-signing-key.priv.pem"))
        .unwrap()
}

struct Api {
    router: Router,
    vault: Arc<SqliteVault>,
    processor: Processor,
    _dir: tempfile::TempDir,
}

fn queued_api() -> Api {
    let dir = tempfile::tempdir().unwrap();
    let vault = Arc::new(SqliteVault::open(dir.path().join("vault.db")).unwrap());
    let mut keys = PublisherKeys::new();
    keys.insert_shared(
        &PUBLISHERS,
        VerifyingKey::from_pem(&reference("keys/fake-publisher-key_0.priv.pem"), None).unwrap(),
    );
    let service = Arc::new(
        ChangeService::new(
            vault.clone(),
            KeySource::fixed(keys),
            Arc::new(signer()),
            Some(UuidSalt::new("router-test-salt")),
            ChangeSettings::default(),
        )
        .unwrap(),
    );
    let validator = Arc::new(Validator::with_fetcher(
        settings(),
        FakeJwks::new(issuer().jwks()),
    ));
    let state = ChangeApiState::new(service.clone(), validator, ChangeApiSettings::default())
        .with_queue(vault.clone());
    Api {
        router: change_api::router(state),
        processor: Processor::new(service, vault.clone()),
        vault,
        _dir: dir,
    }
}

fn bearer() -> String {
    let token = issuer()
        .mint(
            "publisher@clients",
            AUDIENCE,
            ["write"],
            Duration::from_secs(300),
        )
        .unwrap();
    format!("Bearer {token}")
}

fn request(method: &str, uri: &str, auth: Option<&str>, body: Option<&Value>) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(a) = auth {
        b = b.header("authorization", a);
    }
    match body {
        Some(v) => b
            .header("content-type", "application/json")
            .body(Body::from(serde_json::to_vec(v).unwrap()))
            .unwrap(),
        None => b.body(Body::empty()).unwrap(),
    }
}

async fn call(api: &Api, req: Request<Body>) -> (StatusCode, Value) {
    let (status, resp) = send(&api.router, req).await;
    (status, body_json(resp).await)
}

async fn post(api: &Api, uri: &str, body: &Value) -> (StatusCode, Value) {
    call(api, request("POST", uri, Some(&bearer()), Some(body))).await
}

async fn status_of(api: &Api, sequence: &str) -> Value {
    let (status, body) = call(
        api,
        request(
            "GET",
            &format!("/v2/status?sequenceNumber={sequence}"),
            None,
            None,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn new_user(seed: u64) -> Value {
    let opts = FakeOptions {
        uuid_username: false,
        login_method: Some(LoginMethod::MozillaLdap),
        ..FakeOptions::default()
    };
    let mut profile = fake_profile(seed, &opts);
    signer().sign_profile(&mut profile, None).unwrap();
    profile
}

fn user_id_of(profile: &Value) -> String {
    profile["user_id"]["value"].as_str().unwrap().to_owned()
}

/// `profile` with `first_name` = `name`, signed by mozilliansorg (allowed to change it).
fn renamed(profile: &Value, name: &str) -> Value {
    let mut changed = profile.clone();
    changed["first_name"]["value"] = json!(name);
    signer()
        .sign_path(&mut changed, "first_name", "mozilliansorg")
        .unwrap();
    changed
}

async fn user_count(api: &Api) -> usize {
    api.vault
        .list_user_ids(UserIdFilter::default())
        .await
        .unwrap()
        .len()
}

async fn first_name(api: &Api, user_id: &str) -> Value {
    api.vault
        .get_by_user_id(user_id)
        .await
        .unwrap()
        .unwrap()
        .profile["first_name"]["value"]
        .clone()
}

/// Nothing waiting in the queue: a claim hands out nothing.
async fn assert_queue_empty(api: &Api) {
    let claimed = api
        .vault
        .claim(100, Duration::from_millis(1))
        .await
        .unwrap();
    assert!(claimed.is_empty(), "queued: {claimed:?}");
}

#[tokio::test]
async fn a_queued_user_is_202_pending_then_integrated() {
    let api = queued_api();
    let profile = new_user(1);
    let user_id = user_id_of(&profile);

    let (status, body) = post(&api, "/v2/user", &profile).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let ticket = body["sequence_number"].as_str().unwrap().to_owned();
    assert_eq!(
        body,
        json!({"condition": "queued", "sequence_number": ticket, "status_code": 202})
    );
    assert_eq!(user_count(&api).await, 0, "queued, not written");
    assert_eq!(
        status_of(&api, &ticket).await,
        json!({"identity_vault": false, "status": "pending"})
    );

    let report = api.processor.process_available(10).await.unwrap();
    assert_eq!(report.integrated, 1);
    let stored = api.vault.get_by_user_id(&user_id).await.unwrap().unwrap();
    let vault_sequence = stored.sequence_number.as_str().to_owned();
    assert_eq!(
        status_of(&api, &ticket).await,
        json!({"identity_vault": true, "status": "integrated", "sequence_number": vault_sequence})
    );
    // A number the queue never issued is looked up in the vault as before (here a direct
    // write's sequence number; SQLite numbers both from 1, so the queue's "1" is taken).
    let direct = api
        .processor
        .service
        .integrate(cis_core::ChangeRequest::new(new_user(5)))
        .await
        .unwrap()
        .sequence_number
        .unwrap();
    assert_ne!(direct.as_str(), ticket);
    assert_eq!(
        status_of(&api, direct.as_str()).await,
        json!({"identity_vault": true})
    );
    assert_eq!(
        status_of(&api, "12345678901234567890123").await,
        json!({"identity_vault": false})
    );
    assert_eq!(
        status_of(&api, "999999").await,
        json!({"identity_vault": false})
    );
    let (status, body) = call(&api, request("GET", "/v2/status", None, None)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "invalid_request");
}

#[tokio::test]
async fn queued_writes_still_check_auth_body_and_schema() {
    let api = queued_api();
    let profile = new_user(2);
    for uri in ["/v2/user", "/v2/users"] {
        let body = if uri == "/v2/users" {
            json!([profile])
        } else {
            profile.clone()
        };
        let (status, answer) = call(&api, request("POST", uri, None, Some(&body))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}: {answer}");
        assert_eq!(answer["code"], "authorization_header_missing");
    }

    let (status, body) = call(
        &api,
        Request::builder()
            .method("PUT")
            .uri("/v2/user")
            .header("authorization", bearer())
            .body(Body::from("{nope"))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "invalid_json");

    let mut invalid = new_user(3);
    invalid["active"]["value"] = json!("yes");
    let (status, body) = post(&api, "/v2/user", &invalid).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "invalid_profile");

    let (status, body) = post(&api, "/v2/user?user_id=ad%7Cother", &profile).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "integration_exception");

    let (status, body) = post(&api, "/v2/users", &json!({"not": "an array"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "invalid_request");

    assert_queue_empty(&api).await;
    assert_eq!(user_count(&api).await, 0);
}

#[tokio::test]
async fn a_dry_run_is_answered_directly_and_queues_nothing() {
    let api = queued_api();
    let profile = new_user(4);
    let (status, body) = post(&api, "/v2/user?dryRun=true", &profile).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["condition"], "create");
    assert_eq!(body["dry_run"], true);
    let (status, body) = post(&api, "/v2/users?dryRun=true", &json!([profile])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["results"][0]["condition"], "create");
    assert_eq!(body["results"][0]["dry_run"], true);
    assert_queue_empty(&api).await;
    assert_eq!(user_count(&api).await, 0);
}

#[tokio::test]
async fn a_batch_queues_each_good_profile_in_order() {
    let api = queued_api();
    let a = new_user(10);
    let b = new_user(11);
    let a_id = user_id_of(&a);
    let b_id = user_id_of(&b);
    let mut bad = new_user(12);
    bad["active"]["value"] = json!("yes");
    let batch = json!([
        a,
        b,
        renamed(&a, "Second"),
        bad,
        Value::String(renamed(&a, "Third").to_string()),
        renamed(&b, "Bee"),
    ]);
    let (status, body) = post(&api, "/v2/users", &batch).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["status"], 202);
    assert_eq!(body["failed"], 1);
    assert_eq!(body["creates"], Value::Null);
    assert_eq!(body["updates"], Value::Null);
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 6);
    let mut tickets = Vec::new();
    for (index, result) in results.iter().enumerate() {
        assert_eq!(result["index"], index, "{result}");
        if index == 3 {
            assert_eq!(result["code"], "invalid_profile", "{result}");
            assert_eq!(result["status_code"], 400);
            assert!(result.get("sequence_number").is_none());
            continue;
        }
        assert_eq!(result["condition"], "queued", "{result}");
        assert_eq!(result["status_code"], 202);
        let want_user = if [0, 2, 4].contains(&index) {
            &a_id
        } else {
            &b_id
        };
        assert_eq!(result["user_id"], json!(want_user));
        tickets.push(result["sequence_number"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        body["queued"]["sequence_numbers"],
        json!(tickets),
        "the ticket list follows the request order"
    );
    // Queue ids grow in submission order.
    let numbers: Vec<u64> = tickets.iter().map(|t| t.parse().unwrap()).collect();
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");

    // One more change to `a` after the batch, on the single route.
    let (status, body) = post(&api, "/v2/user", &renamed(&a, "Fourth")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    tickets.push(body["sequence_number"].as_str().unwrap().to_owned());

    for ticket in &tickets {
        assert_eq!(status_of(&api, ticket).await["status"], "pending");
    }
    let report = api.processor.process_available(100).await.unwrap();
    assert_eq!(report.integrated, tickets.len(), "{report:?}");
    assert_eq!(report.rejected, 0);
    for ticket in &tickets {
        let status = status_of(&api, ticket).await;
        assert_eq!(status["status"], "integrated", "{ticket}: {status}");
        assert_eq!(status["identity_vault"], true);
    }
    // Applied in the order sent: the last change of each user wins.
    assert_eq!(first_name(&api, &a_id).await, "Fourth");
    assert_eq!(first_name(&api, &b_id).await, "Bee");
    assert_eq!(
        user_count(&api).await,
        2,
        "the bad profile was never queued"
    );
}

#[tokio::test]
async fn a_batch_of_only_bad_profiles_queues_nothing() {
    let api = queued_api();
    let mut bad = new_user(13);
    bad["active"]["value"] = json!("yes");
    let (status, body) = post(&api, "/v2/users", &json!([bad, 7])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["failed"], 2);
    assert_eq!(body["queued"], Value::Null);
    assert_eq!(body["results"][0]["code"], "invalid_profile");
    assert_eq!(body["results"][1]["status_code"], 400);
    assert_queue_empty(&api).await;
}

#[tokio::test]
async fn a_rejected_change_reports_its_reason() {
    let api = queued_api();
    let profile = new_user(20);
    let user_id = user_id_of(&profile);
    let (status, body) = post(&api, "/v2/user", &profile).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let created = body["sequence_number"].as_str().unwrap().to_owned();

    // Schema-valid, so it is queued; the signature check in the processor refuses it.
    let mut evil = profile.clone();
    evil["first_name"]["value"] = json!("Evil");
    evil_signer()
        .sign_path(&mut evil, "first_name", "mozilliansorg")
        .unwrap();
    let (status, body) = post(&api, "/v2/user", &evil).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let refused = body["sequence_number"].as_str().unwrap().to_owned();

    // A later good change of the same user is not blocked by the refused one.
    let (status, body) = post(&api, "/v2/user", &renamed(&profile, "Good")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let later = body["sequence_number"].as_str().unwrap().to_owned();

    let report = api.processor.process_available(10).await.unwrap();
    assert_eq!((report.integrated, report.rejected), (2, 1), "{report:?}");
    assert_eq!(status_of(&api, &created).await["status"], "integrated");
    let status = status_of(&api, &refused).await;
    assert_eq!(status["status"], "rejected", "{status}");
    assert_eq!(status["identity_vault"], false);
    let reason = status["reason"].as_str().unwrap();
    assert!(reason.starts_with("invalid_signature"), "{reason}");
    assert!(!reason.contains("Evil"), "no profile values: {reason}");
    assert_eq!(status.as_object().unwrap().len(), 3, "{status}");
    assert_eq!(status_of(&api, &later).await["status"], "integrated");
    assert_eq!(first_name(&api, &user_id).await, "Good");
}
