#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The Change API router without a socket (change-api-and-vault §3, §3.7, §11.1; DECISIONS A8,
//! B1–B8, C3). Every publisher signs with `fake-publisher-key_0`, as the original tests did.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use cis_core::{ChangeService, ChangeSettings, KeySource, UuidSalt};
use cis_crypto::{PUBLISHERS, PublisherKeys, Signer, VerifyingKey};
use cis_http::Validator;
use cis_http::change_api::{self, ChangeApiSettings, ChangeApiState};
use cis_profile::{FakeOptions, LoginMethod, attribute, attribute_mut, fake_profile, null_profile};
use cis_vault::{MemoryVault, ProfileStore, UserIdFilter};
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
    vault: Arc<MemoryVault>,
}

fn api_with(change: ChangeSettings, api: ChangeApiSettings) -> Api {
    let mut keys = PublisherKeys::new();
    keys.insert_shared(
        &PUBLISHERS,
        VerifyingKey::from_pem(&reference("keys/fake-publisher-key_0.priv.pem"), None).unwrap(),
    );
    let vault = Arc::new(MemoryVault::new());
    let service = ChangeService::new(
        vault.clone(),
        KeySource::fixed(keys),
        Arc::new(signer()),
        Some(UuidSalt::new("router-test-salt")),
        change,
    )
    .unwrap();
    let validator = Arc::new(Validator::with_fetcher(
        settings(),
        FakeJwks::new(issuer().jwks()),
    ));
    let state = ChangeApiState::new(Arc::new(service), validator, api);
    Api {
        router: change_api::router(state),
        vault,
    }
}

fn api() -> Api {
    api_with(ChangeSettings::default(), ChangeApiSettings::default())
}

fn token(scopes: &[&str]) -> String {
    issuer()
        .mint(
            "publisher@clients",
            AUDIENCE,
            scopes,
            Duration::from_secs(300),
        )
        .unwrap()
}

fn bearer() -> String {
    format!("Bearer {}", token(&["write"]))
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

/// A signed staff profile of a new user (no uuid, no primary_username).
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

/// A null profile carrying `path` = `value` claimed and signed by `publisher`.
fn change(base: &Value, path: &str, value: Value, publisher: &str, signer: &Signer) -> Value {
    let mut attr = attribute(base, path).unwrap().clone();
    let key = if attr.contains_key("values") {
        "values"
    } else {
        "value"
    };
    attr.insert(key.into(), value);
    attr["signature"]["publisher"]["name"] = json!(publisher);
    signer.sign_attribute(&mut attr, publisher).unwrap();
    let mut profile = null_profile();
    *attribute_mut(&mut profile, path).unwrap() = attr;
    profile
}

fn uri_for(user_id: &str) -> String {
    format!("/v2/user?user_id={}", percent_encode(user_id))
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

async fn count(api: &Api) -> usize {
    api.vault
        .list_user_ids(UserIdFilter::default())
        .await
        .unwrap()
        .len()
}

async fn stored(api: &Api, user_id: &str) -> Value {
    api.vault
        .get_by_user_id(user_id)
        .await
        .unwrap()
        .unwrap()
        .profile
}

#[tokio::test]
async fn index_and_version_need_no_token() {
    let api = api();
    let (status, resp) = send(&api.router, request("GET", "/v2", None, None)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let bytes = axum::body::to_bytes(resp.into_body(), 1024).await.unwrap();
    assert_eq!(&bytes[..], change_api::INDEX_BODY.as_bytes());

    let (status, body) = call(&api, request("GET", "/v2/version", None, None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"message": "0.0.1"}));

    let (status, body) = call(&api, request("GET", "/v2/openapi.json", None, None)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["paths"]["/v2/user"]["post"].is_object(), "{body}");

    // No trailing-slash aliases, as in Flask; unknown routes are JSON 404s.
    let (status, body) = call(&api, request("GET", "/v2/user/", None, None)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "not_found");
}

#[tokio::test]
async fn get_on_write_routes_is_405_and_writes_nothing() {
    let api = api();
    for uri in ["/v2/user", "/v2/users"] {
        let (status, body) = call(&api, request("GET", uri, Some(&bearer()), None)).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{uri}");
        assert_eq!(body["code"], "method_not_allowed");
    }
    assert!(count(&api).await == 0);
}

#[tokio::test]
async fn auth_failures_are_json_401_and_403() {
    let api = api();
    let profile = new_user(1);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let expired = issuer()
        .sign(
            &json!({"iss": issuer().issuer(), "sub": "x", "aud": AUDIENCE,
            "exp": now - 3600, "iat": now - 7200, "scope": "write"}),
        )
        .unwrap();
    let wrong_aud = issuer()
        .mint("x", "https://hacks", ["write"], Duration::from_secs(300))
        .unwrap();
    let cases: Vec<(Option<String>, StatusCode, &str, &str)> = vec![
        (
            None,
            StatusCode::UNAUTHORIZED,
            "authorization_header_missing",
            "Authorization header is expected",
        ),
        (
            Some("Basic abc".into()),
            StatusCode::UNAUTHORIZED,
            "invalid_header",
            "Authorization header must start with Bearer",
        ),
        (
            Some("Bearer".into()),
            StatusCode::UNAUTHORIZED,
            "invalid_header",
            "Token not found",
        ),
        (
            Some("Bearer not.a.jwt".into()),
            StatusCode::UNAUTHORIZED,
            "invalid_header",
            "Unable to parse authentication token.",
        ),
        (
            Some(format!("Bearer {expired}")),
            StatusCode::UNAUTHORIZED,
            "token_expired",
            "token is expired",
        ),
        (
            Some(format!("Bearer {wrong_aud}")),
            StatusCode::UNAUTHORIZED,
            "invalid_claims",
            "incorrect claims,please check the audience and issuer",
        ),
        (
            Some(format!("Bearer {}", token(&["read:fullprofile"]))),
            StatusCode::FORBIDDEN,
            "scope_missing",
            "",
        ),
    ];
    for (auth, want_status, want_code, want_description) in cases {
        for (method, uri) in [
            ("POST", "/v2/user"),
            ("PUT", "/v2/users"),
            ("DELETE", "/v2/user"),
        ] {
            let body = if uri == "/v2/users" {
                json!([profile])
            } else {
                profile.clone()
            };
            let (status, got) =
                call(&api, request(method, uri, auth.as_deref(), Some(&body))).await;
            assert_eq!(status, want_status, "{method} {uri} {want_code}");
            assert_eq!(got["code"], want_code, "{method} {uri}");
            if !want_description.is_empty() {
                assert_eq!(got["description"], want_description);
            }
        }
    }
    assert!(count(&api).await == 0);

    // With the write-scope requirement turned off (migration setting), any valid token writes.
    let lax = api_with(
        ChangeSettings::default(),
        ChangeApiSettings {
            require_write_scope: false,
            ..ChangeApiSettings::default()
        },
    );
    let auth = format!("Bearer {}", token(&[]));
    let (status, body) = call(
        &lax,
        request("POST", "/v2/user", Some(&auth), Some(&profile)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["condition"], "create");
}

#[tokio::test]
async fn create_noop_update_and_status() {
    let api = api();
    let profile = new_user(2);
    let user_id = user_id_of(&profile);

    let (status, body) = post(&api, "/v2/user", &profile).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["condition"], "create");
    assert_eq!(body["status_code"], 200);
    let created = body["sequence_number"].as_str().unwrap().to_owned();
    assert!(created.chars().all(|c| c.is_ascii_digit()));
    assert_eq!(
        body.as_object().unwrap().len(),
        3,
        "exactly the original keys: {body}"
    );

    // Re-posting is a no-op: HTTP 200 with status_code 202 (A8).
    let (status, body) = post(&api, &uri_for(&user_id), &profile).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"condition": "noop", "sequence_number": null, "status_code": 202})
    );

    let (status, body) = call(
        &api,
        request(
            "GET",
            &format!("/v2/status?sequenceNumber={created}"),
            None,
            None,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"identity_vault": true}));

    let base = stored(&api, &user_id).await;
    let update = change(
        &base,
        "first_name",
        json!("Renamed"),
        "mozilliansorg",
        &signer(),
    );
    let (status, body) = post(&api, &uri_for(&user_id), &update).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["condition"], "update");
    let updated = body["sequence_number"].as_str().unwrap().to_owned();
    assert_ne!(updated, created);
    assert_eq!(
        stored(&api, &user_id).await["first_name"]["value"],
        "Renamed"
    );

    // The earlier write has been superseded; the new one is current; unknown is false.
    for (sn, want) in [
        (created.as_str(), false),
        (updated.as_str(), true),
        ("12345", false),
    ] {
        let (_, body) = call(
            &api,
            request(
                "GET",
                &format!("/v2/status?sequenceNumber={sn}"),
                None,
                None,
            ),
        )
        .await;
        assert_eq!(body["identity_vault"], want, "{sn}");
    }
    let (status, body) = call(&api, request("GET", "/v2/status", None, None)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "invalid_request");
}

#[tokio::test]
async fn a_double_encoded_body_is_accepted() {
    let api = api();
    let profile = new_user(3);
    let text = Value::String(profile.to_string());
    let (status, body) = post(&api, "/v2/user", &text).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["condition"], "create");
}

#[tokio::test]
async fn rejections_carry_the_original_codes() {
    let api = api();
    let profile = new_user(4);
    let user_id = user_id_of(&profile);
    post(&api, "/v2/user", &profile).await;
    let base = stored(&api, &user_id).await;

    // Wrong publisher: hris may not update first_name.
    let wrong = change(&base, "first_name", json!("X"), "hris", &signer());
    let (status, body) = post(&api, &uri_for(&user_id), &wrong).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["code"], "invalid_publisher");
    assert!(body["description"].as_str().unwrap().contains("first_name"));
    assert!(body["details"]["violations"].is_array());

    // Tampered value: signed, then changed.
    let mut tampered = change(
        &base,
        "first_name",
        json!("Signed"),
        "mozilliansorg",
        &signer(),
    );
    tampered["first_name"]["value"] = json!("Tampered");
    let (status, body) = post(&api, &uri_for(&user_id), &tampered).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["code"], "invalid_signature");
    assert_eq!(body["details"]["failures"][0]["path"], "first_name");

    // A key the well-known document does not list.
    let evil = change(
        &base,
        "first_name",
        json!("Evil"),
        "mozilliansorg",
        &evil_signer(),
    );
    let (status, body) = post(&api, &uri_for(&user_id), &evil).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["code"], "invalid_signature");

    // ?user_id= differs from the body's user_id.
    let (status, body) = post(&api, "/v2/user?user_id=ad%7Cother", &profile).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "integration_exception");
    assert_eq!(
        body["description"],
        "user_id query parameter does not match profile, that looks wrong"
    );

    // A new user with a uuid already set.
    let mut preset = new_user(5);
    preset["uuid"]["value"] = json!("1b6e5c36-4b3d-5cb1-9a55-000000000000");
    signer().sign_path(&mut preset, "uuid", "cis").unwrap();
    let (status, body) = post(&api, "/v2/user", &preset).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["code"], "uuid_or_primary_username_set");

    // Schema violations are listed with their paths.
    let mut invalid = new_user(6);
    invalid["active"]["value"] = json!("yes");
    invalid["first_name"]["metadata"]["classification"] = json!("TOP SECRET");
    let (status, body) = post(&api, "/v2/user", &invalid).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "invalid_profile");
    let paths: Vec<String> = body["details"]["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["path"].as_str().unwrap().to_owned())
        .collect();
    assert!(paths.iter().any(|p| p.contains("active")), "{paths:?}");
    assert!(paths.iter().any(|p| p.contains("first_name")), "{paths:?}");

    // Not JSON / not an object.
    let (status, body) = call(
        &api,
        Request::builder()
            .method("POST")
            .uri("/v2/user")
            .header("authorization", bearer())
            .body(Body::from("{nope"))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "invalid_json");
    let (status, body) = post(&api, "/v2/user", &json!([1, 2])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "invalid_request");

    // Nothing but the first create was written.
    assert_eq!(count(&api).await, 1);
    assert_eq!(stored(&api, &user_id).await, base);
}

#[tokio::test]
async fn oversized_bodies_are_json_413() {
    let api = api_with(
        ChangeSettings::default(),
        ChangeApiSettings {
            body_limit: 1024,
            ..ChangeApiSettings::default()
        },
    );
    let (status, body) = post(&api, "/v2/user", &new_user(7)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["code"], "payload_too_large");
}

#[tokio::test]
async fn delete_is_refused_unless_enabled() {
    let api = api();
    let profile = new_user(8);
    let user_id = user_id_of(&profile);
    post(&api, "/v2/user", &profile).await;
    let (status, body) = call(
        &api,
        request("DELETE", &uri_for(&user_id), Some(&bearer()), None),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["code"], "delete_disabled");
    assert_eq!(count(&api).await, 1);

    let api = api_with(
        ChangeSettings {
            allow_delete: true,
            ..ChangeSettings::default()
        },
        ChangeApiSettings::default(),
    );
    post(&api, "/v2/user", &profile).await;
    // The user_id alone (query) is enough (B8).
    let (status, body) = call(
        &api,
        request("DELETE", &uri_for(&user_id), Some(&bearer()), None),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"condition": "delete", "message": format!("user profile deleted for user: {user_id}"), "status": 200})
    );
    assert!(api.vault.get_by_user_id(&user_id).await.unwrap().is_none());
    // From the body, as the original clients send it.
    post(&api, "/v2/user", &profile).await;
    let (status, _) = call(
        &api,
        request("DELETE", "/v2/user", Some(&bearer()), Some(&profile)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(count(&api).await == 0);
    // Gone is gone.
    let (status, body) = call(
        &api,
        request("DELETE", &uri_for(&user_id), Some(&bearer()), None),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "not_found");
}

#[tokio::test]
async fn batch_gives_one_result_per_profile() {
    let api = api();
    let a = new_user(10);
    let b = new_user(11);
    let a_id = user_id_of(&a);
    let mut a_again = a.clone();
    // A duplicate of `a` later in the batch, changing a field: applied after the create.
    a_again["first_name"]["value"] = json!("Second");
    signer()
        .sign_path(&mut a_again, "first_name", "mozilliansorg")
        .unwrap();
    let mut bad = new_user(12);
    bad["first_name"]["value"] = json!("tampered");
    let (status, body) = post(
        &api,
        "/v2/users",
        &json!([a, b, a_again, bad, Value::String(new_user(13).to_string())]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    let conditions: Vec<&Value> = results.iter().map(|r| &r["condition"]).collect();
    assert_eq!(conditions[0], "create");
    assert_eq!(conditions[1], "create");
    assert_eq!(conditions[2], "update");
    assert_eq!(results[3]["code"], "invalid_signature");
    assert_eq!(results[3]["status_code"], 403);
    assert_eq!(conditions[4], "create");
    assert_eq!(body["failed"], 1);
    assert_eq!(body["status"], 200);
    assert_eq!(
        body["creates"]["sequence_numbers"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        body["updates"]["sequence_numbers"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let mut numbers: Vec<&str> = results
        .iter()
        .filter_map(|r| r["sequence_number"].as_str())
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(numbers.len(), 4, "each write has its own sequence number");
    assert_eq!(results[2]["user_id"], json!(a_id));
    assert_eq!(stored(&api, &a_id).await["first_name"]["value"], "Second");
    assert_eq!(count(&api).await, 3);

    let (status, body) = post(&api, "/v2/users", &json!({"not": "a list"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "invalid_request");
}

#[tokio::test]
async fn dry_run_reports_and_writes_nothing() {
    let api = api();
    let profile = new_user(14);
    let user_id = user_id_of(&profile);
    let (status, body) = post(&api, "/v2/user?dryRun=true", &profile).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["condition"], "create");
    assert_eq!(body["dry_run"], true);
    assert_eq!(body["sequence_number"], Value::Null);
    assert!(
        body["changed"]
            .as_array()
            .unwrap()
            .contains(&json!("first_name"))
    );
    assert!(count(&api).await == 0);

    post(&api, "/v2/user", &profile).await;
    let before = stored(&api, &user_id).await;
    let wrong = change(&before, "first_name", json!("X"), "hris", &signer());
    let (status, body) = post(&api, &format!("{}&dryRun=true", uri_for(&user_id)), &wrong).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["code"], "invalid_publisher");
    let good = change(
        &before,
        "first_name",
        json!("Maybe"),
        "mozilliansorg",
        &signer(),
    );
    let (_, body) = post(&api, &format!("{}&dryRun=TRUE", uri_for(&user_id)), &good).await;
    assert_eq!(body["condition"], "update");
    assert_eq!(body["changed"], json!(["first_name"]));
    assert_eq!(stored(&api, &user_id).await, before);

    let (_, body) = post(&api, "/v2/users?dryRun=true", &json!([new_user(15)])).await;
    assert_eq!(body["results"][0]["dry_run"], true);
    assert_eq!(count(&api).await, 1);

    let (status, body) = post(&api, "/v2/user?dryRun=maybe", &profile).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "invalid_request");
}

#[tokio::test]
async fn cors_preflight_needs_no_token_and_reflects_the_origin() {
    let api = api();
    let req = Request::builder()
        .method("OPTIONS")
        .uri("/v2/user")
        .header("origin", "https://dinopark.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .body(Body::empty())
        .unwrap();
    let (status, resp) = send(&api.router, req).await;
    assert!(status.is_success(), "{status}");
    let h = resp.headers();
    assert_eq!(h["access-control-allow-origin"], "https://dinopark.example");
    assert_eq!(h["access-control-allow-credentials"], "true");
    let allowed = h["access-control-allow-headers"].to_str().unwrap();
    assert!(allowed.contains("authorization"), "{allowed}");

    // Error answers carry CORS headers too.
    let req = Request::builder()
        .method("POST")
        .uri("/v2/user")
        .header("origin", "https://dinopark.example")
        .body(Body::empty())
        .unwrap();
    let (status, resp) = send(&api.router, req).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "https://dinopark.example"
    );
}

#[tokio::test]
async fn server_timing_is_opt_in() {
    let api = api();
    let (_, resp) = send(
        &api.router,
        request("POST", "/v2/user", Some(&bearer()), Some(&new_user(16))),
    )
    .await;
    assert!(resp.headers().get("server-timing").is_none());

    let api = api_with(
        ChangeSettings::default(),
        ChangeApiSettings {
            server_timing: true,
            ..ChangeApiSettings::default()
        },
    );
    let (status, resp) = send(
        &api.router,
        request("POST", "/v2/user", Some(&bearer()), Some(&new_user(16))),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let timing = resp.headers()["server-timing"].to_str().unwrap().to_owned();
    for stage in [
        "validate;dur=",
        "signatures;dur=",
        "write;dur=",
        "total;dur=",
    ] {
        assert!(timing.contains(stage), "{timing}");
    }
}
