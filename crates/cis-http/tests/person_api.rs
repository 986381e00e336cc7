//! The Person API router, driven without a socket over a `MemoryVault` of fake users, with tokens
//! from the dev issuer. Ports the person-api §10 checklist (test_v2_api.py, the e2e checks and
//! the suggested conformance cases) plus the issue's own: filtered output equals
//! `cis profile filter` for every route and scope set, paging visits each user once, inactive
//! users only with `active=False|Any`, bad parameters are 400s naming the parameter.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use cis_core::person::{PersonOptions, PersonService};
use cis_http::person_api::{self, PersonApiState};
use cis_http::{OPENAPI_JSON, Validator};
use cis_profile::{
    FakeOptions, LoginMethod, ScopeGrant, fake_profile, filter_profile, sanitized_profile,
};
use cis_vault::{
    AttributeQuery, BoxFuture, MemoryVault, Page, PageRequest, ProfileRecord, ProfileStore,
    SequenceNumber, StoredProfile, UserIdEntry, UserIdFilter, VaultError, VaultResult, WriteOp,
};
use common::{AUDIENCE, FakeJwks, body_json, issuer, send, settings};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Fixture.

/// Seeds of users keeping the null profile's display levels, so the spec's presence assertions
/// (cost_center is `staff`, access_provider `null`, ...) hold.
const SPEC_USERS: u64 = 55;
/// Seeds of users with random display levels (what DinoPark users set), for the equality checks.
const RANDOM_DISPLAY_USERS: std::ops::Range<u64> = 1000..1012;
const INACTIVE_ID: &str = "email|inactive0000000000000000000000";
const INACTIVE_EMAIL: &str = "inactive.user@example.com";

fn record(profile: Value) -> ProfileRecord {
    let flat = sanitized_profile(&profile).as_object().cloned().unwrap();
    ProfileRecord::from_profile(profile, flat).unwrap()
}

fn spec_profile(seed: u64) -> Value {
    fake_profile(
        seed,
        &FakeOptions {
            no_display: true,
            ..FakeOptions::default()
        },
    )
}

/// The one inactive `email|` user of the fixture (test_returning_all_filter_on_active_false
/// expects exactly one).
fn inactive_profile() -> Value {
    let mut p = fake_profile(
        7777,
        &FakeOptions {
            no_display: true,
            login_method: Some(LoginMethod::Email),
            ..FakeOptions::default()
        },
    );
    p["user_id"]["value"] = json!(INACTIVE_ID);
    p["primary_email"]["value"] = json!(INACTIVE_EMAIL);
    p["active"]["value"] = json!(false);
    p
}

fn fixture_profiles() -> Vec<Value> {
    let mut profiles: Vec<Value> = (0..SPEC_USERS).map(spec_profile).collect();
    profiles.extend(RANDOM_DISPLAY_USERS.map(|seed| fake_profile(seed, &FakeOptions::default())));
    // The seeded users must be active and distinct for the assertions below.
    for p in &mut profiles {
        p["active"]["value"] = json!(true);
    }
    profiles.push(inactive_profile());
    profiles
}

async fn filled_vault(profiles: &[Value]) -> Arc<MemoryVault> {
    let vault = Arc::new(MemoryVault::new());
    for p in profiles {
        vault.create(record(p.clone())).await.unwrap();
    }
    vault
}

fn validator() -> Arc<Validator> {
    Arc::new(Validator::with_fetcher(
        settings(),
        FakeJwks::new(issuer().jwks()),
    ))
}

struct Api {
    router: Router,
    profiles: Vec<Value>,
}

async fn api_with(
    profiles: Vec<Value>,
    options: PersonOptions,
    configure: impl FnOnce(&mut PersonApiState),
) -> Api {
    let vault = filled_vault(&profiles).await;
    let service = Arc::new(PersonService::new(vault, options));
    let mut state = PersonApiState::new(service, Some(validator()));
    state.advanced_search = true;
    configure(&mut state);
    Api {
        router: person_api::router(state),
        profiles,
    }
}

async fn api() -> Api {
    api_with(fixture_profiles(), PersonOptions::default(), |_| {}).await
}

fn token(scopes: &[&str]) -> String {
    issuer()
        .mint("client@clients", AUDIENCE, scopes, Duration::from_secs(300))
        .unwrap()
}

fn get(path: &str, scopes: Option<&[&str]>) -> Request<Body> {
    let mut builder = Request::builder().method("GET").uri(path);
    if let Some(scopes) = scopes {
        builder = builder.header("authorization", format!("Bearer {}", token(scopes)));
    }
    builder.body(Body::empty()).unwrap()
}

async fn call(router: &Router, path: &str, scopes: Option<&[&str]>) -> (StatusCode, Value) {
    let (status, response) = send(router, get(path, scopes)).await;
    (status, body_json(response).await)
}

async fn ok(router: &Router, path: &str, scopes: &[&str]) -> Value {
    let (status, body) = call(router, path, Some(scopes)).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

/// Percent-encode everything but unreserved characters (what `quote_plus` clients send).
fn enc(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn value_of<'a>(profile: &'a Value, attr: &str) -> &'a str {
    profile[attr]["value"].as_str().unwrap()
}

/// What `cis profile filter --scopes "<scopes>" [--filter-display <fd>]` prints for `profile`.
fn cli_filter(profile: &Value, scopes: &[&str], filter_display: Option<&str>) -> Value {
    let mut p = profile.clone();
    filter_profile(&mut p, &ScopeGrant::from_scopes(scopes), filter_display);
    p
}

fn has(profile: &Value, pointer: &str) -> bool {
    profile.pointer(pointer).is_some()
}

const FULL: &[&str] = &["read:fullprofile", "display:all"];
const SEARCH: &[&str] = &["read:fullprofile", "display:all", "search:all"];

// ---------------------------------------------------------------------------------------------
// R1, R2, openapi, methods, CORS.

#[tokio::test]
async fn banner_version_and_openapi_need_no_token() {
    let api = api().await;
    let (status, response) = send(&api.router, get("/v2", None)).await;
    assert_eq!(status, StatusCode::OK);
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    assert_eq!(&bytes[..], b"Mozilla Profile Retrieval Service Endpoint");

    assert_eq!(
        call(&api.router, "/v2/version", None).await,
        (StatusCode::OK, json!({"message": "0.0.1"}))
    );

    let (status, doc) = call(&api.router, "/v2/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc, serde_json::from_str::<Value>(OPENAPI_JSON).unwrap());
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.0"));
    for path in [
        "/v2/user/user_id/{id}",
        "/v2/user/uuid/{id}",
        "/v2/user/primary_email/{id}",
        "/v2/user/primary_username/{id}",
        "/v2/user/metadata/{email}",
        "/v2/users",
        "/v2/users/id/all",
        "/v2/users/id/all/by_attribute_contains",
        "/v2/user",
        "/v2/status",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} undocumented");
    }
    // Both APIs' /v2/users methods are documented.
    for method in ["get", "post", "put"] {
        assert!(doc["paths"]["/v2/users"][method].is_object(), "{method}");
    }
}

#[tokio::test]
async fn only_get_is_served_and_unknown_routes_are_json_404() {
    let api = api().await;
    let request = Request::builder()
        .method("POST")
        .uri("/v2/users")
        .header("authorization", format!("Bearer {}", token(FULL)))
        .body(Body::empty())
        .unwrap();
    let (status, response) = send(&api.router, request).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body_json(response).await["code"], "method_not_allowed");

    for path in ["/v2/", "/v2/user/nickname/x", "/v2/nothing"] {
        let (status, body) = call(&api.router, path, Some(FULL)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body["code"], "not_found");
    }
}

#[tokio::test]
async fn cors_reflects_the_origin_and_preflight_needs_no_token() {
    let api = api().await;
    let preflight = Request::builder()
        .method("OPTIONS")
        .uri("/v2/users")
        .header("origin", "https://people.mozilla.org")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .body(Body::empty())
        .unwrap();
    let (status, response) = send(&api.router, preflight).await;
    assert!(status.is_success(), "{status}");
    let headers = response.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://people.mozilla.org"
    );
    assert_eq!(headers["access-control-allow-credentials"], "true");
    assert!(
        headers["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("authorization")
    );

    let request = Request::builder()
        .uri("/v2/version")
        .header("origin", "https://example.org")
        .body(Body::empty())
        .unwrap();
    let (_, response) = send(&api.router, request).await;
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://example.org"
    );
}

// ---------------------------------------------------------------------------------------------
// Authentication and authorization.

#[tokio::test]
async fn profile_routes_need_a_valid_token_and_answer_json_401() {
    let api = api().await;
    let user_id = enc(value_of(&api.profiles[0], "user_id"));
    for path in [
        format!("/v2/user/user_id/{user_id}"),
        "/v2/users".to_string(),
        "/v2/users/id/all?connectionMethod=ad".to_string(),
        "/v2/users/id/all/by_attribute_contains?staff_information.staff=True".to_string(),
        "/v2/user/metadata/someone@example.com".to_string(),
    ] {
        let (status, body) = call(&api.router, &path, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(body["code"], "authorization_header_missing", "{path}");

        let request = Request::builder()
            .uri(&path)
            .header("authorization", "Bearer not.a.jwt")
            .body(Body::empty())
            .unwrap();
        let (status, response) = send(&api.router, request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(body_json(response).await["code"], "invalid_header");
    }
    // A token for another API is refused.
    let foreign = issuer()
        .mint(
            "c",
            "https://change.sso.allizom.org",
            FULL,
            Duration::from_secs(60),
        )
        .unwrap();
    let request = Request::builder()
        .uri("/v2/users")
        .header("authorization", format!("Bearer {foreign}"))
        .body(Body::empty())
        .unwrap();
    let (status, response) = send(&api.router, request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body_json(response).await["code"], "invalid_claims");
}

#[tokio::test]
async fn advanced_search_requires_search_all_and_the_setting() {
    let api = api().await;
    let path = "/v2/users/id/all/by_attribute_contains?staff_information.staff=True";
    let (status, body) = call(&api.router, path, Some(FULL)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["code"], "scope_missing");
    assert_eq!(
        body["description"],
        "This endpoint may only be queried using search:all"
    );

    let off = api_with(fixture_profiles(), PersonOptions::default(), |s| {
        s.advanced_search = false
    })
    .await;
    let (status, body) = call(&off.router, path, Some(SEARCH)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "not_found");
}

#[tokio::test]
async fn a_token_without_scopes_sees_public_data_and_empty_groups() {
    let api = api().await;
    let p = &api.profiles[0];
    let got = ok(
        &api.router,
        &format!("/v2/user/user_id/{}", enc(value_of(p, "user_id"))),
        &[],
    )
    .await;
    let keys: BTreeSet<&str> = got
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "schema",
            "uuid",
            "primary_username",
            "access_information",
            "staff_information",
            "identities"
        ])
    );
    assert_eq!(got["access_information"], json!({}));
    assert_eq!(got["staff_information"], json!({}));
    assert_eq!(got["identities"], json!({}));
    // `classification:public`, `display:public` and `display:private` change nothing.
    for scopes in [
        &["classification:public"][..],
        &["display:public"],
        &["display:private"],
    ] {
        let same = ok(
            &api.router,
            &format!("/v2/user/user_id/{}", enc(value_of(p, "user_id"))),
            scopes,
        )
        .await;
        assert_eq!(same, got, "{scopes:?}");
    }
}

#[tokio::test]
async fn without_a_validator_everyone_is_anonymous_and_sees_public_data_only() {
    let profiles = fixture_profiles();
    let vault = filled_vault(&profiles).await;
    let service = Arc::new(PersonService::new(vault, PersonOptions::default()));
    let mut state = PersonApiState::new(service, None);
    state.advanced_search = true;
    let router = person_api::router(state);
    let p = &profiles[0];
    let (status, got) = call(
        &router,
        &format!("/v2/user/user_id/{}", enc(value_of(p, "user_id"))),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, cli_filter(p, &[], None));
    let (status, body) = call(
        &router,
        "/v2/users/id/all/by_attribute_contains?staff_information.staff=True",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["code"], "scope_missing");
}

// ---------------------------------------------------------------------------------------------
// R3–R6.

#[tokio::test]
async fn find_by_x_with_full_scopes_returns_the_whole_active_profile() {
    // test_find_by_x
    let api = api().await;
    let first = ok(&api.router, "/v2/users", FULL).await["Items"][0].clone();
    for selector in ["user_id", "uuid", "primary_email", "primary_username"] {
        let path = format!("/v2/user/{selector}/{}", enc(value_of(&first, selector)));
        let got = ok(&api.router, &path, FULL).await;
        assert!(
            has(&got, "/access_information/access_provider"),
            "{selector}"
        );
        assert!(has(&got, "/staff_information/cost_center"), "{selector}");
        assert!(has(&got, "/uuid"), "{selector}");
        assert_eq!(got["active"]["value"], true);
        assert_eq!(got, first, "{selector}");
    }
}

#[tokio::test]
async fn missing_user_is_200_empty_object() {
    let api = api().await;
    for selector in ["user_id", "uuid", "primary_email", "primary_username"] {
        let got = ok(&api.router, &format!("/v2/user/{selector}/nobody"), FULL).await;
        assert_eq!(got, json!({}), "{selector}");
    }
}

#[tokio::test]
async fn path_ids_are_decoded_twice() {
    let api = api().await;
    let p = &api.profiles[0];
    let user_id = value_of(p, "user_id");
    assert!(user_id.contains('|'), "{user_id}");
    let expected = ok(
        &api.router,
        &format!("/v2/user/user_id/{}", enc(user_id)),
        FULL,
    )
    .await;
    assert_eq!(value_of(&expected, "user_id"), user_id);
    // Literal `|`, `%7C` (decoded by the path) and `%257C` (decoded by the second pass).
    for path in [
        format!("/v2/user/user_id/{user_id}"),
        format!("/v2/user/user_id/{}", user_id.replace('|', "%7C")),
        format!("/v2/user/user_id/{}", user_id.replace('|', "%257C")),
    ] {
        assert_eq!(ok(&api.router, &path, FULL).await, expected, "{path}");
    }
    // A percent-encoded `@` (e2e test_get_single_user).
    let email = value_of(p, "primary_email");
    let by_email = ok(
        &api.router,
        &format!("/v2/user/primary_email/{}", email.replace('@', "%40")),
        FULL,
    )
    .await;
    assert_eq!(by_email, expected);
}

#[tokio::test]
async fn an_id_with_a_slash_is_reachable_double_encoded() {
    let mut profiles = fixture_profiles();
    let mut slashed = spec_profile(4242);
    slashed["user_id"]["value"] = json!("oauth2|weird/id");
    profiles.push(slashed);
    let api = api_with(profiles, PersonOptions::default(), |_| {}).await;
    let got = ok(&api.router, "/v2/user/user_id/oauth2%7Cweird%252Fid", FULL).await;
    assert_eq!(value_of(&got, "user_id"), "oauth2|weird/id");
}

#[tokio::test]
async fn active_selects_between_active_and_inactive_users() {
    // test_find_by_x_active_true / test_find_by_x_active_false
    let api = api().await;
    let active = &api.profiles[0];
    let inactive = api.profiles.last().unwrap();
    assert_eq!(inactive["active"]["value"], false);
    for selector in ["user_id", "uuid", "primary_email", "primary_username"] {
        let on = |p: &Value, active: &str| {
            format!("/v2/user/{selector}/{}{active}", enc(value_of(p, selector)))
        };
        for suffix in [
            "",
            "?active=true",
            "?active=True",
            "?active=any",
            "?active=ANY",
        ] {
            let got = ok(&api.router, &on(active, suffix), FULL).await;
            assert_eq!(got["active"]["value"], true, "{selector}{suffix}");
        }
        assert_eq!(
            ok(&api.router, &on(active, "?active=false"), FULL).await,
            json!({}),
            "{selector}"
        );
        for suffix in ["?active=false", "?active=False", "?active=any"] {
            let got = ok(&api.router, &on(inactive, suffix), FULL).await;
            assert_eq!(got["active"]["value"], false, "{selector}{suffix}");
        }
        for suffix in ["", "?active=true", "?active=TRUE"] {
            assert_eq!(
                ok(&api.router, &on(inactive, suffix), FULL).await,
                json!({}),
                "{selector}{suffix}"
            );
        }
    }
}

#[tokio::test]
async fn an_active_account_is_not_hidden_by_an_inactive_one_sharing_its_email() {
    let mut profiles = fixture_profiles();
    let shared = "shared@example.com";
    let mut inactive = spec_profile(5001);
    inactive["user_id"]["value"] = json!("ad|Mozilla-LDAP|aaa-shared");
    inactive["primary_email"]["value"] = json!(shared);
    inactive["active"]["value"] = json!(false);
    let mut active = spec_profile(5002);
    active["user_id"]["value"] = json!("email|zzz-shared");
    active["primary_email"]["value"] = json!(shared);
    active["active"]["value"] = json!(true);
    profiles.extend([inactive, active]);
    let api = api_with(profiles, PersonOptions::default(), |_| {}).await;
    let path = format!("/v2/user/primary_email/{}", enc(shared));
    let got = ok(&api.router, &path, FULL).await;
    assert_eq!(value_of(&got, "user_id"), "email|zzz-shared");
    let got = ok(&api.router, &format!("{path}?active=false"), FULL).await;
    assert_eq!(value_of(&got, "user_id"), "ad|Mozilla-LDAP|aaa-shared");
    // Any: the first in user_id order.
    let got = ok(&api.router, &format!("{path}?active=any"), FULL).await;
    assert_eq!(value_of(&got, "user_id"), "ad|Mozilla-LDAP|aaa-shared");
    // /v2/users?primaryEmail= lists every account in the requested state.
    let page = ok(
        &api.router,
        &format!("/v2/users?primaryEmail={}&active=any", enc(shared)),
        FULL,
    )
    .await;
    assert_eq!(page["Items"].as_array().unwrap().len(), 2);
    assert_eq!(page["nextPage"], Value::Null);
}

/// The scope sets of test_find_by_x_with_data_classification_scopes,
/// test_find_by_x_with_dispaly_level_params_and_scopes, test_users_with_scopes and
/// test_users_with_dispaly_level_params_and_scopes, with what each must show or hide
/// (`+` present, `-` absent) on a profile with the null profile's display levels.
const SCOPE_CASES: &[(&[&str], Option<&str>, &[&str])] = &[
    (
        &["display:all"],
        None,
        &[
            "-/access_information/access_provider",
            "-/staff_information/cost_center",
            "+/uuid",
        ],
    ),
    (
        &["classification:workgroup:staff_only", "display:all"],
        None,
        &[
            "-/access_information/access_provider",
            "+/staff_information/cost_center",
            "-/staff_information/title",
            "+/uuid",
        ],
    ),
    (
        &[
            "classification:workgroup:staff_only",
            "classification:mozilla_confidential",
            "display:all",
        ],
        None,
        &[
            "+/staff_information/cost_center",
            "+/staff_information/title",
            "+/uuid",
        ],
    ),
    (
        &["classification:workgroup:staff_only", "display:public"],
        None,
        &[
            "-/access_information/access_provider",
            "-/staff_information/cost_center",
            "+/uuid",
        ],
    ),
    (
        &["classification:public", "display:all"],
        None,
        &["+/access_information/ldap", "-/access_information/hris"],
    ),
    (
        &["read:fullprofile", "display:public"],
        None,
        &[
            "-/access_information/access_provider",
            "-/staff_information/cost_center",
            "+/uuid",
        ],
    ),
    (
        &["read:fullprofile", "display:staff"],
        None,
        &[
            "-/access_information/access_provider",
            "+/staff_information/cost_center",
            "+/uuid",
        ],
    ),
    (
        &["display:staff"],
        Some("public"),
        &[
            "-/access_information/access_provider",
            "-/staff_information/cost_center",
            "+/uuid",
        ],
    ),
    (
        &["display:public"],
        Some("staff"),
        &[
            "-/access_information/access_provider",
            "-/staff_information/cost_center",
            "+/uuid",
        ],
    ),
    (
        &["read:fullprofile", "display:all"],
        Some("staff"),
        &[
            "-/user_id",
            "+/staff_information/cost_center",
            "-/access_information/access_provider",
        ],
    ),
    (
        &["read:profile", "display:all"],
        None,
        &["-/access_information/hris", "+/uuid"],
    ),
    (
        &["read:fullprofile", "display:all"],
        None,
        &[
            "+/access_information/access_provider",
            "+/staff_information/cost_center",
            "+/uuid",
            "+/access_information/hris",
        ],
    ),
    (&[], None, &["-/user_id", "+/uuid", "+/primary_username"]),
    (
        &["display:none"],
        None,
        &["+/user_id", "+/primary_email", "-/active"],
    ),
];

fn check_presence(profile: &Value, expectations: &[&str], context: &str) {
    for e in expectations {
        let (want, pointer) = e.split_at(1);
        assert_eq!(
            has(profile, pointer),
            want == "+",
            "{context}: expected {e} in {}",
            serde_json::to_string(profile).unwrap()
        );
    }
}

#[tokio::test]
async fn every_route_and_scope_set_equals_the_cli_filter() {
    let api = api().await;
    let staff = api
        .profiles
        .iter()
        .find(|p| value_of(p, "user_id").starts_with("ad|"))
        .unwrap();
    // One staff user with the null profile's levels (presence assertions) and every user with
    // random display levels (equality only).
    let mut subjects = vec![(staff.clone(), true)];
    subjects.extend(
        api.profiles[SPEC_USERS as usize..api.profiles.len() - 1]
            .iter()
            .map(|p| (p.clone(), false)),
    );
    for (scopes, filter_display, expectations) in SCOPE_CASES {
        let fd = filter_display
            .map(|f| format!("filterDisplay={f}"))
            .unwrap_or_default();
        for (profile, spec_levels) in &subjects {
            let expected = cli_filter(profile, scopes, *filter_display);
            for selector in ["user_id", "uuid", "primary_email", "primary_username"] {
                let path = format!(
                    "/v2/user/{selector}/{}?{fd}",
                    enc(value_of(profile, selector))
                );
                let got = ok(&api.router, &path, scopes).await;
                assert_eq!(got, expected, "{path} {scopes:?}");
                if *spec_levels {
                    check_presence(&got, expectations, &format!("{path} {scopes:?}"));
                }
            }
            // R8 with primaryEmail.
            let path = format!(
                "/v2/users?primaryEmail={}&{fd}",
                enc(value_of(profile, "primary_email"))
            );
            let page = ok(&api.router, &path, scopes).await;
            assert_eq!(page["Items"], json!([expected]), "{path} {scopes:?}");
        }
        // R8 pages: every item is the CLI's output for the stored profile.
        let mut scopes_search: Vec<&str> = scopes.to_vec();
        scopes_search.push("search:all");
        let page = ok(&api.router, &format!("/v2/users?{fd}"), scopes).await;
        let search = ok(
            &api.router,
            &format!(
                "/v2/users/id/all/by_attribute_contains?staff_information.staff=True&fullProfiles=True&{fd}"
            ),
            &scopes_search,
        )
        .await;
        let stored: std::collections::HashMap<&str, &Value> = api
            .profiles
            .iter()
            .map(|p| (value_of(p, "user_id"), p))
            .collect();
        let grant_scopes = &scopes_search;
        for hit in search["users"].as_array().unwrap() {
            let user_id = hit["id"]["value"].as_str().unwrap();
            assert_eq!(hit["id"], stored[user_id]["user_id"], "{user_id}");
            assert_eq!(
                hit["profile"],
                cli_filter(stored[user_id], grant_scopes, *filter_display),
                "{user_id} {scopes:?}"
            );
        }
        // R8 items carry no user_id when the scopes hide it, so match them in order instead.
        let mut in_order: Vec<&Value> = api
            .profiles
            .iter()
            .filter(|p| p["active"]["value"] == true)
            .collect();
        in_order.sort_by_key(|p| value_of(p, "user_id"));
        for (item, profile) in page["Items"].as_array().unwrap().iter().zip(in_order) {
            assert_eq!(
                item,
                &cli_filter(profile, scopes, *filter_display),
                "{scopes:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// R7.

#[tokio::test]
async fn metadata_needs_a_token_unless_configured_public() {
    // test_metadata_by_primary_email, with B13.
    let api = api().await;
    let staff = api
        .profiles
        .iter()
        .find(|p| value_of(p, "user_id").starts_with("ad|"))
        .unwrap();
    let path = format!("/v2/user/metadata/{}", value_of(staff, "primary_email"));
    let (status, body) = call(&api.router, &path, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "authorization_header_missing");
    assert_eq!(
        ok(&api.router, &path, &[]).await,
        json!({"exists": {"cis": true, "ldap": true}})
    );

    let public = api_with(fixture_profiles(), PersonOptions::default(), |s| {
        s.public_metadata = true
    })
    .await;
    let (status, body) = call(&public.router, &path, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"exists": {"cis": true, "ldap": true}}));
    let (_, body) = call(&public.router, "/v2/user/metadata/nobody@example.com", None).await;
    assert_eq!(body, json!({"exists": {"cis": false, "ldap": false}}));
    // A token that is sent must still be valid.
    let request = Request::builder()
        .uri(&path)
        .header("authorization", "Bearer garbage")
        .body(Body::empty())
        .unwrap();
    let (status, _) = send(&public.router, request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn metadata_reports_ldap_only_with_ldap_values_and_counts_inactive_users() {
    let mut profiles = fixture_profiles();
    let mut no_ldap = spec_profile(6001);
    no_ldap["primary_email"]["value"] = json!("noldap@example.com");
    no_ldap["access_information"]["ldap"]["values"] = Value::Null;
    profiles.push(no_ldap);
    let api = api_with(profiles, PersonOptions::default(), |_| {}).await;
    assert_eq!(
        ok(&api.router, "/v2/user/metadata/noldap@example.com", &[]).await,
        json!({"exists": {"cis": true, "ldap": false}})
    );
    assert_eq!(
        ok(
            &api.router,
            &format!("/v2/user/metadata/{INACTIVE_EMAIL}"),
            &[]
        )
        .await["exists"]["cis"],
        true
    );
}

// ---------------------------------------------------------------------------------------------
// R8.

#[tokio::test]
async fn users_pages_with_json_and_python_repr_cursors() {
    // test_profiles_returns_a_list
    let api = api().await;
    let first = ok(&api.router, "/v2/users", FULL).await;
    let items = first["Items"].as_array().unwrap();
    assert!(items.len() > 20, "{}", items.len());
    let next = &first["nextPage"];
    assert!(
        next["id"].as_str().is_some_and(|id| !id.is_empty()),
        "{next}"
    );

    let as_json = ok(
        &api.router,
        &format!("/v2/users?nextPage={}", enc(&next.to_string())),
        FULL,
    )
    .await;
    assert!(!as_json["Items"].as_array().unwrap().is_empty());
    let repr = format!("{{'id': '{}'}}", next["id"].as_str().unwrap());
    let as_repr = ok(
        &api.router,
        &format!("/v2/users?nextPage={}", enc(&repr)),
        FULL,
    )
    .await;
    assert_eq!(as_repr, as_json);

    let email = value_of(&items[0], "primary_email");
    let by_email = ok(
        &api.router,
        &format!("/v2/users?primaryEmail={}", enc(email)),
        FULL,
    )
    .await;
    assert_eq!(by_email["Items"].as_array().unwrap().len(), 1);
    assert_eq!(by_email["nextPage"], Value::Null);

    let limited = ok(&api.router, "/v2/users", &["read:profile", "display:all"]).await;
    for item in limited["Items"].as_array().unwrap() {
        assert!(!has(item, "/access_information/hris"));
    }
    let user_id = enc(value_of(&items[0], "user_id"));
    let single = ok(
        &api.router,
        &format!("/v2/user/user_id/{user_id}"),
        &["read:profile", "display:all"],
    )
    .await;
    assert!(!has(&single, "/access_information/hris"));
    let single = ok(&api.router, &format!("/v2/user/user_id/{user_id}"), FULL).await;
    assert!(has(&single, "/access_information"));
}

#[tokio::test]
async fn users_with_all_has_every_section() {
    // test_users_with_all
    let api = api().await;
    let page = ok(&api.router, "/v2/users", FULL).await;
    for item in page["Items"].as_array().unwrap() {
        assert!(has(item, "/access_information/access_provider"));
        assert!(has(item, "/staff_information/cost_center"));
        assert!(has(item, "/uuid"));
    }
}

/// Follow `/v2/users` to the end, alternating the two cursor spellings; user_ids in order.
async fn walk_users(router: &Router, query: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &next {
            None => format!("/v2/users?{query}"),
            Some(cursor) => format!("/v2/users?{query}&nextPage={}", enc(cursor)),
        };
        let page = ok(router, &path, FULL).await;
        for item in page["Items"].as_array().unwrap() {
            seen.push(value_of(item, "user_id").to_owned());
        }
        pages += 1;
        next = match &page["nextPage"] {
            Value::Null => break,
            cursor if pages % 2 == 0 => Some(cursor.to_string()),
            cursor => Some(format!("{{'id': '{}'}}", cursor["id"].as_str().unwrap())),
        };
        assert!(pages < 1000, "paging does not end");
    }
    seen
}

#[tokio::test]
async fn paging_over_1000_users_returns_each_exactly_once() {
    let mut profiles: Vec<Value> = (0..1000u64)
        .map(|seed| {
            let mut p = fake_profile(
                seed,
                &FakeOptions {
                    minimal: true,
                    ..FakeOptions::default()
                },
            );
            p["user_id"]["value"] = json!(format!("email|user{seed:04}"));
            p["primary_email"]["value"] = json!(format!("user{seed:04}@example.com"));
            p["active"]["value"] = json!(seed % 7 != 0);
            p
        })
        .collect();
    profiles.sort_by_key(|p| value_of(p, "user_id").to_owned());
    let api = api_with(
        profiles.clone(),
        PersonOptions {
            users_page_size: 37,
            search_page_size: 29,
            ..PersonOptions::default()
        },
        |_| {},
    )
    .await;
    let ids = |active: Option<bool>| -> Vec<String> {
        profiles
            .iter()
            .filter(|p| active.is_none_or(|a| p["active"]["value"] == a))
            .map(|p| value_of(p, "user_id").to_owned())
            .collect()
    };
    assert_eq!(walk_users(&api.router, "").await, ids(Some(true)));
    assert_eq!(
        walk_users(&api.router, "active=False").await,
        ids(Some(false))
    );
    assert_eq!(walk_users(&api.router, "active=any").await, ids(None));

    // The id listing: everything in one answer.
    let all = ok(
        &api.router,
        "/v2/users/id/all?connectionMethod=email&active=Any",
        FULL,
    )
    .await;
    let mut listed: Vec<String> = all["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user_id"].as_str().unwrap().to_owned())
        .collect();
    listed.sort();
    assert_eq!(listed, ids(None));
    assert_eq!(all["nextPage"], Value::Null);

    // The search pages with a bare user_id cursor, appended unencoded as the HRIS job does.
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let mut path =
            "/v2/users/id/all/by_attribute_contains?not_access_information.ldap=nogroup&active=any"
                .to_string();
        if let Some(cursor) = &next {
            path.push_str(&format!("&nextPage={cursor}"));
        }
        let page = ok(&api.router, &path, SEARCH).await;
        let users = page["users"].as_array().unwrap();
        assert!(users.len() <= 29);
        seen.extend(users.iter().map(|u| u["id"].as_str().unwrap().to_owned()));
        match &page["nextPage"] {
            Value::Null => break,
            Value::String(cursor) => next = Some(cursor.clone()),
            other => panic!("nextPage {other}"),
        }
    }
    assert_eq!(seen, ids(None));
}

// ---------------------------------------------------------------------------------------------
// R9.

#[tokio::test]
async fn ids_all_by_connection_method_and_active() {
    // test_returning_all, _filter_on_active_false, _filter_on_active_true
    let api = api().await;
    let all = ok(&api.router, "/v2/users/id/all?connectionMethod=email", FULL).await;
    let users = all["users"].as_array().unwrap();
    assert!(!users.is_empty());
    for u in users {
        let keys: BTreeSet<&str> = u.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            BTreeSet::from(["uuid", "user_id", "primary_email", "active"])
        );
        assert!(u["user_id"].as_str().unwrap().starts_with("email"));
        assert_eq!(u["active"], true);
    }
    assert_eq!(all["nextPage"], Value::Null);

    let inactive = ok(
        &api.router,
        "/v2/users/id/all?connectionMethod=email&active=False",
        FULL,
    )
    .await;
    assert_eq!(
        inactive["users"],
        json!([{
            "uuid": value_of(api.profiles.last().unwrap(), "uuid"),
            "user_id": INACTIVE_ID,
            "primary_email": INACTIVE_EMAIL,
            "active": false,
        }])
    );
    let active = ok(
        &api.router,
        "/v2/users/id/all?connectionMethod=email&active=True",
        FULL,
    )
    .await;
    assert_eq!(active["users"].as_array().unwrap().len(), users.len());
    assert_eq!(active["nextPage"], Value::Null);
    let any = ok(
        &api.router,
        "/v2/users/id/all?connectionMethod=email&active=any",
        FULL,
    )
    .await;
    assert_eq!(any["users"].as_array().unwrap().len(), users.len() + 1);

    // Exactly the fixture's users of each method; a client nextPage changes nothing.
    for method in ["ad", "github", "google-oauth2", "oauth2", "email"] {
        let expected: BTreeSet<&str> = api
            .profiles
            .iter()
            .filter(|p| value_of(p, "user_id").starts_with(method))
            .map(|p| value_of(p, "user_id"))
            .collect();
        let got = ok(
            &api.router,
            &format!("/v2/users/id/all?connectionMethod={method}&active=any&nextPage=whatever"),
            &[],
        )
        .await;
        let got: BTreeSet<&str> = got["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["user_id"].as_str().unwrap())
            .collect();
        assert_eq!(got, expected, "{method}");
    }
}

// ---------------------------------------------------------------------------------------------
// R10.

#[tokio::test]
async fn search_staff_with_and_without_full_profiles() {
    // test_returning_query_by_any_staff_only_active_true(_with_full_profiles)
    let api = api().await;
    let staff: BTreeSet<&str> = api
        .profiles
        .iter()
        .filter(|p| p.pointer("/staff_information/staff/value") == Some(&json!(true)))
        .map(|p| value_of(p, "user_id"))
        .collect();
    assert!(staff.len() > 1, "fixture has staff users");
    let base = "/v2/users/id/all/by_attribute_contains?staff_information.staff=True&active=True";
    let page = ok(&api.router, base, SEARCH).await;
    let ids: BTreeSet<&str> = page["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, staff);

    let full = ok(&api.router, &format!("{base}&fullProfiles=True"), SEARCH).await;
    for hit in full["users"].as_array().unwrap() {
        assert!(hit["profile"].is_object());
        assert_eq!(hit["id"]["value"], hit["profile"]["user_id"]["value"]);
    }
    // `False` really means false (B15): the non-staff users.
    let not_staff = ok(
        &api.router,
        "/v2/users/id/all/by_attribute_contains?staff_information.staff=False&active=any",
        SEARCH,
    )
    .await;
    for hit in not_staff["users"].as_array().unwrap() {
        assert!(!staff.contains(hit["id"].as_str().unwrap()));
    }
    // fullProfiles with filterDisplay still carries the id object (the original 500ed).
    let narrowed = ok(
        &api.router,
        &format!("{base}&fullProfiles=True&filterDisplay=public"),
        SEARCH,
    )
    .await;
    for hit in narrowed["users"].as_array().unwrap() {
        assert!(hit["id"]["value"].as_str().is_some());
        assert!(!has(&hit["profile"], "/user_id"));
    }
}

#[tokio::test]
async fn search_ldap_members_and_anded_criteria() {
    // test_returning_query_by_any_find_ldap_members
    let api = api().await;
    let member = api
        .profiles
        .iter()
        .find(|p| {
            p.pointer("/access_information/ldap/values")
                .and_then(Value::as_object)
                .is_some_and(|groups| !groups.is_empty())
        })
        .unwrap();
    let user_id = value_of(member, "user_id");
    let groups = member["access_information"]["ldap"]["values"]
        .as_object()
        .unwrap();
    for group in groups.keys() {
        let page = ok(
            &api.router,
            &format!(
                "/v2/users/id/all/by_attribute_contains?access_information.ldap={}&active=True&fullProfiles=False",
                enc(group)
            ),
            SEARCH,
        )
        .await;
        let users = page["users"].as_array().unwrap();
        assert!(users.iter().any(|u| u["id"] == user_id), "{group}");
        // AND with a criterion the member fails: the member drops out.
        let title = member
            .pointer("/staff_information/title/value")
            .and_then(Value::as_str)
            .unwrap_or("x");
        let page = ok(
            &api.router,
            &format!(
                "/v2/users/id/all/by_attribute_contains?access_information.ldap={}&not_staff_information.title={}",
                enc(group),
                enc(title)
            ),
            SEARCH,
        )
        .await;
        assert!(
            !page["users"]
                .as_array()
                .unwrap()
                .iter()
                .any(|u| u["id"] == user_id),
            "{group}"
        );
    }
    // Without `active`, only active users (B15: default true, not "nobody").
    let page = ok(
        &api.router,
        "/v2/users/id/all/by_attribute_contains?not_access_information.ldap=nonexistent",
        SEARCH,
    )
    .await;
    assert!(!page["users"].as_array().unwrap().is_empty());
    assert!(
        !page["users"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["id"] == INACTIVE_ID)
    );
}

// ---------------------------------------------------------------------------------------------
// The inactive user across routes.

#[tokio::test]
async fn the_inactive_user_appears_only_with_active_false_or_any() {
    let api = api().await;
    let inactive = api.profiles.last().unwrap();
    let present = |body: &Value| body.to_string().contains(INACTIVE_ID);
    let search = "/v2/users/id/all/by_attribute_contains?not_access_information.ldap=nonexistent";
    for (suffix, expected) in [
        ("", false),
        ("active=true", false),
        ("active=True", false),
        ("active=false", true),
        ("active=False", true),
        ("active=any", true),
        ("active=Any", true),
    ] {
        let user = ok(
            &api.router,
            &format!("/v2/user/user_id/{}?{suffix}", enc(INACTIVE_ID)),
            SEARCH,
        )
        .await;
        assert_eq!(present(&user), expected, "R3 {suffix}");
        let user = ok(
            &api.router,
            &format!("/v2/user/uuid/{}?{suffix}", value_of(inactive, "uuid")),
            SEARCH,
        )
        .await;
        assert_eq!(present(&user), expected, "R4 {suffix}");
        let ids = ok(
            &api.router,
            &format!("/v2/users/id/all?connectionMethod=email&{suffix}"),
            SEARCH,
        )
        .await;
        assert_eq!(present(&ids), expected, "R9 {suffix}");
        let users = walk_users(&api.router, suffix).await;
        assert_eq!(
            users.iter().any(|u| u == INACTIVE_ID),
            expected,
            "R8 {suffix}"
        );
        let found = walk_search(&api.router, &format!("{search}&{suffix}")).await;
        assert_eq!(
            found.iter().any(|u| u == INACTIVE_ID),
            expected,
            "R10 {suffix}"
        );
    }
}

/// Follow a search to the end; user_ids in answer order.
async fn walk_search(router: &Router, path: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let url = match &next {
            None => path.to_string(),
            Some(cursor) => format!("{path}&nextPage={}", enc(cursor)),
        };
        let page = ok(router, &url, SEARCH).await;
        seen.extend(
            page["users"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["id"].as_str().unwrap().to_owned()),
        );
        match &page["nextPage"] {
            Value::String(cursor) => next = Some(cursor.clone()),
            _ => return seen,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Bad parameters.

#[tokio::test]
async fn bad_parameters_are_400_naming_the_parameter() {
    let api = api().await;
    let user_id = enc(value_of(&api.profiles[0], "user_id"));
    let search = "/v2/users/id/all/by_attribute_contains";
    for (path, param) in [
        (format!("/v2/user/user_id/{user_id}?active=maybe"), "active"),
        ("/v2/users?active=yes".to_string(), "active"),
        ("/v2/users?nextPage=garbage".to_string(), "nextPage"),
        (
            format!("/v2/users?nextPage={}", enc("{'user': 'x'}")),
            "nextPage",
        ),
        ("/v2/users/id/all".to_string(), "connectionMethod"),
        (
            "/v2/users/id/all?connectionMethod=".to_string(),
            "connectionMethod",
        ),
        (
            "/v2/users/id/all?connectionMethod=ad&active=1x".to_string(),
            "active",
        ),
        (format!("{search}?active=true"), "criteria"),
        (
            format!("{search}?staff_information.staff=Flase"),
            "staff_information.staff",
        ),
        (
            format!("{search}?not_staff_information.manager="),
            "not_staff_information.manager",
        ),
        (
            format!("{search}?staff_information.staff=True&fullProfiles=yes"),
            "fullProfiles",
        ),
        (
            format!("{search}?staff_information.staff=True&active=no"),
            "active",
        ),
    ] {
        let (status, body) = call(&api.router, &path, Some(SEARCH)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["code"], "invalid_parameter", "{path}");
        let description = body["description"].as_str().unwrap();
        assert!(description.contains(param), "{path}: {description}");
    }
    // An unknown filterDisplay means public rather than an error (person-api §4.4).
    let got = ok(
        &api.router,
        &format!("/v2/user/user_id/{user_id}?filterDisplay=__doc__"),
        FULL,
    )
    .await;
    assert_eq!(got, cli_filter(&api.profiles[0], FULL, Some("public")));
    let got = ok(
        &api.router,
        &format!("/v2/user/user_id/{user_id}?filterDisplay="),
        FULL,
    )
    .await;
    assert_eq!(got, api.profiles[0]);
}

// ---------------------------------------------------------------------------------------------
// Vault failures are loud.

/// A store that delegates to a `MemoryVault` but fails the listings.
struct FailingListings(MemoryVault);

impl ProfileStore for FailingListings {
    fn get_by_user_id<'a>(
        &'a self,
        user_id: &'a str,
    ) -> BoxFuture<'a, VaultResult<Option<StoredProfile>>> {
        self.0.get_by_user_id(user_id)
    }
    fn find_by_uuid<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, VaultResult<Vec<StoredProfile>>> {
        self.0.find_by_uuid(uuid)
    }
    fn find_by_primary_email<'a>(
        &'a self,
        email: &'a str,
    ) -> BoxFuture<'a, VaultResult<Vec<StoredProfile>>> {
        self.0.find_by_primary_email(email)
    }
    fn find_by_primary_username<'a>(
        &'a self,
        username: &'a str,
    ) -> BoxFuture<'a, VaultResult<Vec<StoredProfile>>> {
        self.0.find_by_primary_username(username)
    }
    fn find_by_sequence_number<'a>(
        &'a self,
        sequence_number: &'a SequenceNumber,
    ) -> BoxFuture<'a, VaultResult<Option<StoredProfile>>> {
        self.0.find_by_sequence_number(sequence_number)
    }
    fn create(&self, record: ProfileRecord) -> BoxFuture<'_, VaultResult<SequenceNumber>> {
        self.0.create(record)
    }
    fn update<'a>(
        &'a self,
        record: ProfileRecord,
        expected: &'a SequenceNumber,
    ) -> BoxFuture<'a, VaultResult<SequenceNumber>> {
        self.0.update(record, expected)
    }
    fn write_batch(&self, ops: Vec<WriteOp>) -> BoxFuture<'_, Vec<VaultResult<SequenceNumber>>> {
        self.0.write_batch(ops)
    }
    fn delete<'a>(
        &'a self,
        user_id: &'a str,
        expected: Option<&'a SequenceNumber>,
    ) -> BoxFuture<'a, VaultResult<()>> {
        self.0.delete(user_id, expected)
    }
    fn list_profiles(&self, _: PageRequest) -> BoxFuture<'_, VaultResult<Page<StoredProfile>>> {
        Box::pin(async { Err(VaultError::corrupt("ad|Mozilla-LDAP|broken", "not JSON")) })
    }
    fn list_user_ids(&self, _: UserIdFilter) -> BoxFuture<'_, VaultResult<Vec<UserIdEntry>>> {
        Box::pin(async {
            Err(VaultError::unavailable(
                true,
                "scan segment 17 of 64 throttled",
            ))
        })
    }
    fn find_by_attributes(
        &self,
        _: AttributeQuery,
    ) -> BoxFuture<'_, VaultResult<Page<StoredProfile>>> {
        Box::pin(async { Err(VaultError::unavailable(false, "scan failed")) })
    }
}

#[tokio::test]
async fn a_failing_vault_is_a_5xx_never_a_partial_answer() {
    let inner = MemoryVault::new();
    for p in fixture_profiles() {
        inner.create(record(p)).await.unwrap();
    }
    let service = Arc::new(PersonService::new(
        Arc::new(FailingListings(inner)),
        PersonOptions::default(),
    ));
    let mut state = PersonApiState::new(service, Some(validator()));
    state.advanced_search = true;
    let router = person_api::router(state);
    for (path, status, code) in [
        (
            "/v2/users/id/all?connectionMethod=ad",
            StatusCode::SERVICE_UNAVAILABLE,
            "vault_unavailable",
        ),
        (
            "/v2/users",
            StatusCode::INTERNAL_SERVER_ERROR,
            "integration_exception",
        ),
        (
            "/v2/users/id/all/by_attribute_contains?staff_information.staff=True",
            StatusCode::SERVICE_UNAVAILABLE,
            "vault_unavailable",
        ),
    ] {
        let (got, body) = call(&router, path, Some(SEARCH)).await;
        assert_eq!(got, status, "{path}: {body}");
        assert_eq!(body["code"], code, "{path}");
        let description = body["description"].as_str().unwrap();
        assert!(
            description.starts_with("Internal error, reference "),
            "{description}"
        );
        assert!(
            !body.to_string().contains("segment"),
            "internals leaked: {body}"
        );
        assert!(body.get("users").is_none() && body.get("Items").is_none());
    }
}

#[tokio::test]
async fn a_corrupt_stored_profile_is_a_500_without_its_content() {
    let profiles = fixture_profiles();
    let vault = filled_vault(&profiles).await;
    let victim = value_of(&profiles[3], "user_id").to_owned();
    assert!(vault.plant_corrupt_profile(&victim, "{\"secret\": \"do-not-leak"));
    let service = Arc::new(PersonService::new(vault, PersonOptions::default()));
    let router = person_api::router(PersonApiState::new(service, Some(validator())));
    let (status, body) = call(
        &router,
        &format!("/v2/user/user_id/{}", enc(&victim)),
        Some(FULL),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!body.to_string().contains("do-not-leak"));
}

#[tokio::test]
async fn state_from_settings_follows_the_person_api_switches() {
    let service = Arc::new(PersonService::new(
        filled_vault(&fixture_profiles()).await,
        PersonOptions::default(),
    ));
    let source = |public: &str, search: &str| {
        cis_config::Source::from_map([
            ("CIS_ENVIRONMENT", "testing"),
            ("PERSON_API_PUBLIC_METADATA", public),
            ("PERSON_API_ADVANCED_SEARCH", search),
        ])
    };
    let on = cis_config::PersonSettings::from_source(&source("true", "true")).unwrap();
    let state = PersonApiState::from_settings(service.clone(), Some(validator()), &on);
    assert!(state.public_metadata && state.advanced_search);
    let router = person_api::router(state);
    let (status, _) = call(&router, "/v2/user/metadata/x@example.com", None).await;
    assert_eq!(status, StatusCode::OK);
    let off = cis_config::PersonSettings::from_source(&source("false", "false")).unwrap();
    let router = person_api::router(PersonApiState::from_settings(
        service,
        Some(validator()),
        &off,
    ));
    let (status, _) = call(&router, "/v2/user/metadata/x@example.com", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(
        &router,
        "/v2/users/id/all/by_attribute_contains?staff_information.staff=True",
        Some(SEARCH),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
