#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use base64::Engine as _;
use cis_http::auth::{self, parse_jwks};
use cis_http::{AuthRequirement, AuthenticatedCaller, RequireAuthLayer, Validator};
use common::*;
use serde_json::{Value, json};

async fn whoami(caller: AuthenticatedCaller) -> axum::Json<Value> {
    axum::Json(json!({"sub": caller.subject, "scopes": caller.scopes, "verified": caller.verified}))
}

async fn maybe(caller: Option<AuthenticatedCaller>) -> axum::Json<Value> {
    axum::Json(json!({"anonymous": caller.is_none()}))
}

fn router(validator: Arc<Validator>, req: AuthRequirement) -> Router {
    Router::new()
        .route("/v2/user", post(whoami))
        .route_layer(RequireAuthLayer::new(validator, req))
}

fn validator_with(fake: Arc<FakeJwks>, clock: &ManualClock) -> Arc<Validator> {
    Arc::new(Validator::with_fetcher_and_clock(
        settings(),
        fake,
        clock.clock(),
    ))
}

fn write_router() -> (Router, Arc<FakeJwks>, ManualClock, Arc<Validator>) {
    let fake = FakeJwks::new(issuer().jwks());
    let clock = ManualClock::new();
    let v = validator_with(fake.clone(), &clock);
    (
        router(v.clone(), AuthRequirement::write(true)),
        fake,
        clock,
        v,
    )
}

fn token(scopes: &[&str]) -> String {
    issuer()
        .mint("client@clients", AUDIENCE, scopes, Duration::from_secs(300))
        .unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn expect_error(
    router: &Router,
    auth: Option<&str>,
    status: StatusCode,
    code: &str,
    desc: &str,
) {
    let (s, resp) = send(router, get_with_auth("/v2/user", auth)).await;
    assert_eq!(s, status, "auth={auth:?}");
    let body = body_json(resp).await;
    assert_eq!(body["code"], code, "auth={auth:?} body={body}");
    assert_eq!(body["description"], desc, "auth={auth:?} body={body}");
}

#[tokio::test]
async fn valid_token_with_write_scope_passes() {
    let (r, fake, _, _) = write_router();
    let t = token(&["write", "read:fullprofile"]);
    let (s, resp) = send(&r, get_with_auth("/v2/user", Some(&format!("Bearer {t}")))).await;
    assert_eq!(s, StatusCode::OK);
    let body = body_json(resp).await;
    assert_eq!(body["sub"], "client@clients");
    assert_eq!(body["scopes"], json!(["read:fullprofile", "write"]));
    assert_eq!(body["verified"], true);
    // lower-case scheme is accepted, as in the original
    let (s, _) = send(&r, get_with_auth("/v2/user", Some(&format!("bearer {t}")))).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(fake.fetches(), 1, "the JWKS is cached between requests");
}

#[tokio::test]
async fn header_errors_use_the_original_codes() {
    let (r, _, _, _) = write_router();
    let t = token(&["write"]);
    expect_error(
        &r,
        None,
        StatusCode::UNAUTHORIZED,
        "authorization_header_missing",
        auth::DESC_HEADER_MISSING,
    )
    .await;
    expect_error(
        &r,
        Some("   "),
        StatusCode::UNAUTHORIZED,
        "authorization_header_missing",
        auth::DESC_HEADER_MISSING,
    )
    .await;
    expect_error(
        &r,
        Some(&format!("Basic {t}")),
        StatusCode::UNAUTHORIZED,
        "invalid_header",
        auth::DESC_NOT_BEARER,
    )
    .await;
    expect_error(
        &r,
        Some("Bearer"),
        StatusCode::UNAUTHORIZED,
        "invalid_header",
        auth::DESC_TOKEN_NOT_FOUND,
    )
    .await;
    expect_error(
        &r,
        Some(&format!("Bearer {t} extra")),
        StatusCode::UNAUTHORIZED,
        "invalid_header",
        auth::DESC_NOT_BEARER_TOKEN,
    )
    .await;
    expect_error(
        &r,
        Some("Bearer garbage"),
        StatusCode::UNAUTHORIZED,
        "invalid_header",
        auth::DESC_UNPARSABLE,
    )
    .await;
    expect_error(
        &r,
        Some("Bearer a.b.c"),
        StatusCode::UNAUTHORIZED,
        "invalid_header",
        auth::DESC_UNPARSABLE,
    )
    .await;

    let (_, resp) = send(&r, get_with_auth("/v2/user", None)).await;
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
}

#[tokio::test]
async fn claim_errors() {
    let (r, _, _, _) = write_router();
    let i = issuer();
    let base = |over: Value| {
        let mut c = json!({
            "iss": format!("{ISSUER_URL}/"), "sub": "x@clients", "aud": AUDIENCE,
            "iat": now(), "exp": now() + 300, "scope": "write"
        });
        for (k, v) in over.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        format!("Bearer {}", i.sign(&c).unwrap())
    };
    let unauth = StatusCode::UNAUTHORIZED;
    expect_error(
        &r,
        Some(&base(json!({"exp": now() - 120}))),
        unauth,
        "token_expired",
        auth::DESC_EXPIRED,
    )
    .await;
    expect_error(
        &r,
        Some(&base(json!({"aud": "https://change.sso.allizom.org"}))),
        unauth,
        "invalid_claims",
        auth::DESC_BAD_CLAIMS,
    )
    .await;
    expect_error(
        &r,
        Some(&base(json!({"iss": "https://evil.example/"}))),
        unauth,
        "invalid_claims",
        auth::DESC_BAD_CLAIMS,
    )
    .await;
    expect_error(
        &r,
        Some(&base(json!({"exp": "soon"}))),
        unauth,
        "invalid_claims",
        "Token is missing the required exp claim, or it has the wrong type",
    )
    .await;
    // B2: exp, aud and iss are required (python-jose accepted tokens without them)
    expect_error(
        &r,
        Some(&base(json!({"exp": null}))),
        unauth,
        "invalid_claims",
        "Token is missing the required exp claim, or it has the wrong type",
    )
    .await;
    expect_error(
        &r,
        Some(&base(json!({"aud": null}))),
        unauth,
        "invalid_claims",
        "Token is missing the required aud claim, or it has the wrong type",
    )
    .await;
    expect_error(
        &r,
        Some(&base(json!({"iss": null}))),
        unauth,
        "invalid_claims",
        "Token is missing the required iss claim, or it has the wrong type",
    )
    .await;
    expect_error(
        &r,
        Some(&base(json!({"nbf": now() + 3600}))),
        unauth,
        "invalid_claims",
        "Token is not valid yet (nbf)",
    )
    .await;
    expect_error(
        &r,
        Some(&base(json!({"scope": 5}))),
        unauth,
        "invalid_claims",
        "The scope claim must be a space-separated string or a list of strings",
    )
    .await;
    // an audience list containing ours is fine
    let (s, _) = send(
        &r,
        get_with_auth("/v2/user", Some(&base(json!({"aud": ["other", AUDIENCE]})))),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    // scopes from Auth0 RBAC `permissions` count too
    let (s, _) = send(
        &r,
        get_with_auth(
            "/v2/user",
            Some(&base(json!({"scope": null, "permissions": ["write"]}))),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn bad_signature_and_wrong_algorithms_are_401() {
    let (r, _, _, _) = write_router();
    let t = token(&["write"]);
    // Swap the payload for one granting more: the signature no longer matches.
    let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
    let forged = json!({"iss": format!("{ISSUER_URL}/"), "sub": "admin", "aud": AUDIENCE, "exp": now() + 300, "scope": "write display:all"});
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged.to_string());
    let forged = parts.join(".");
    expect_error(
        &r,
        Some(&format!("Bearer {forged}")),
        StatusCode::UNAUTHORIZED,
        "invalid_header",
        auth::DESC_UNPARSABLE,
    )
    .await;

    // HS256 with the right kid (the classic key-confusion attack) is refused before any key use.
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(issuer().kid().to_owned());
    let hs = jsonwebtoken::encode(
        &header,
        &json!({"iss": format!("{ISSUER_URL}/"), "sub": "x", "aud": AUDIENCE, "exp": now() + 300, "scope": "write"}),
        &jsonwebtoken::EncodingKey::from_secret(b"secret").unwrap(),
    )
    .unwrap();
    let (s, resp) = send(&r, get_with_auth("/v2/user", Some(&format!("Bearer {hs}")))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let body = body_json(resp).await;
    assert_eq!(body["code"], "invalid_header");
    assert!(
        body["description"].as_str().unwrap().contains("RS256"),
        "{body}"
    );

    // alg "none"
    let none = format!(
        "{}.{}.",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    expect_error(
        &r,
        Some(&format!("Bearer {none}")),
        StatusCode::UNAUTHORIZED,
        "invalid_header",
        auth::DESC_UNPARSABLE,
    )
    .await;

    // no kid
    let nokid = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({}),
        &jsonwebtoken::EncodingKey::from_secret(b"k").unwrap(),
    )
    .unwrap();
    let (s, _) = send(
        &r,
        get_with_auth("/v2/user", Some(&format!("Bearer {nokid}"))),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn missing_write_scope_is_403() {
    let (r, _, _, _) = write_router();
    for scopes in [&[][..], &["read:fullprofile"][..], &["writer"][..]] {
        let t = token(scopes);
        expect_error(
            &r,
            Some(&format!("Bearer {t}")),
            StatusCode::FORBIDDEN,
            "scope_missing",
            "This endpoint may only be queried using write",
        )
        .await;
    }
}

#[tokio::test]
async fn write_scope_can_be_turned_off_and_other_scopes_required() {
    let fake = FakeJwks::new(issuer().jwks());
    let clock = ManualClock::new();
    let v = validator_with(fake, &clock);
    let r = router(v.clone(), AuthRequirement::write(false));
    let (s, _) = send(
        &r,
        get_with_auth("/v2/user", Some(&format!("Bearer {}", token(&[])))),
    )
    .await;
    assert_eq!(s, StatusCode::OK);

    let r = router(v, AuthRequirement::authenticated().with_scope("search:all"));
    expect_error(
        &r,
        Some(&format!("Bearer {}", token(&["write"]))),
        StatusCode::FORBIDDEN,
        "scope_missing",
        "This endpoint may only be queried using search:all",
    )
    .await;
    let (s, _) = send(
        &r,
        get_with_auth(
            "/v2/user",
            Some(&format!("Bearer {}", token(&["search:all"]))),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn anonymous_allowed_mode() {
    let fake = FakeJwks::new(issuer().jwks());
    let clock = ManualClock::new();
    let v = validator_with(fake.clone(), &clock);
    let r = Router::new()
        .route("/v2/user/metadata/x", post(maybe))
        .route_layer(RequireAuthLayer::new(
            v,
            AuthRequirement::anonymous_allowed(),
        ));
    let (s, resp) = send(&r, get_with_auth("/v2/user/metadata/x", None)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body_json(resp).await["anonymous"], true);
    assert_eq!(
        fake.fetches(),
        0,
        "anonymous requests never touch the issuer"
    );
    let (s, resp) = send(
        &r,
        get_with_auth(
            "/v2/user/metadata/x",
            Some(&format!("Bearer {}", token(&[]))),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body_json(resp).await["anonymous"], false);
    // a token that is sent must be valid
    let (s, _) = send(
        &r,
        get_with_auth("/v2/user/metadata/x", Some("Bearer garbage")),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn jwks_cached_then_refreshed_after_ttl() {
    let (r, fake, clock, v) = write_router();
    let auth = format!("Bearer {}", token(&["write"]));
    for _ in 0..5 {
        let (s, _) = send(&r, get_with_auth("/v2/user", Some(&auth))).await;
        assert_eq!(s, StatusCode::OK);
    }
    assert_eq!(fake.fetches(), 1);
    clock.advance(Duration::from_secs(599));
    send(&r, get_with_auth("/v2/user", Some(&auth))).await;
    assert_eq!(fake.fetches(), 1);
    clock.advance(Duration::from_secs(2));
    let (s, _) = send(&r, get_with_auth("/v2/user", Some(&auth))).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(fake.fetches(), 2, "refetched once the TTL passed");
    assert_eq!(v.jwks_fetch_count(), 2);
}

#[tokio::test]
async fn unknown_kid_refreshes_once_and_is_rate_limited() {
    let (r, fake, clock, _) = write_router();
    let good = format!("Bearer {}", token(&["write"]));
    send(&r, get_with_auth("/v2/user", Some(&good))).await;
    assert_eq!(fake.fetches(), 1);
    clock.advance(Duration::from_secs(31));

    let foreign = other_issuer()
        .mint("x@clients", AUDIENCE, ["write"], Duration::from_secs(300))
        .unwrap();
    let foreign = format!("Bearer {foreign}");
    expect_error(
        &r,
        Some(&foreign),
        StatusCode::UNAUTHORIZED,
        "invalid_header",
        auth::DESC_NO_KEY,
    )
    .await;
    assert_eq!(
        fake.fetches(),
        2,
        "an unknown kid triggers exactly one refresh"
    );

    // A flood of unknown kids within the interval does not reach the issuer.
    for _ in 0..20 {
        expect_error(
            &r,
            Some(&foreign),
            StatusCode::UNAUTHORIZED,
            "invalid_header",
            auth::DESC_NO_KEY,
        )
        .await;
    }
    assert_eq!(fake.fetches(), 2);
    // Known keys keep working meanwhile.
    let (s, _) = send(&r, get_with_auth("/v2/user", Some(&good))).await;
    assert_eq!(s, StatusCode::OK);

    // The issuer rotates to the other key; after the interval the new kid is picked up.
    *fake.jwks.lock().unwrap() = other_issuer().jwks();
    clock.advance(Duration::from_secs(31));
    let (s, _) = send(&r, get_with_auth("/v2/user", Some(&foreign))).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(fake.fetches(), 3);
}

#[tokio::test]
async fn issuer_down_gives_503_without_internals_or_serves_stale_keys() {
    let fake = FakeJwks::new(issuer().jwks());
    *fake.fail.lock().unwrap() = true;
    let clock = ManualClock::new();
    let v = validator_with(fake.clone(), &clock);
    let r = router(v, AuthRequirement::write(true));
    let auth = format!("Bearer {}", token(&["write"]));
    let (s, resp) = send(&r, get_with_auth("/v2/user", Some(&auth))).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    let body = body_json(resp).await;
    assert_eq!(body["code"], "jwks_unavailable");
    assert!(!body.to_string().contains("issuer.test"), "{body}");
    // failures are rate limited too
    send(&r, get_with_auth("/v2/user", Some(&auth))).await;
    assert_eq!(fake.fetches(), 1);

    // Recovered: keys fetched, then the issuer goes down again past the TTL: stale keys serve.
    *fake.fail.lock().unwrap() = false;
    clock.advance(Duration::from_secs(31));
    let (s, _) = send(&r, get_with_auth("/v2/user", Some(&auth))).await;
    assert_eq!(s, StatusCode::OK);
    *fake.fail.lock().unwrap() = true;
    clock.advance(Duration::from_secs(700));
    let (s, _) = send(&r, get_with_auth("/v2/user", Some(&auth))).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(fake.fetches(), 3);
}

#[tokio::test]
async fn local_bypass_reads_claims_unverified() {
    let mut s = settings();
    s.jwt_validation = false;
    let fake = FakeJwks::new(json!({"keys": []}));
    let v = Arc::new(Validator::with_fetcher(s, fake.clone()));
    let r = router(v, AuthRequirement::write(true));
    // expired, wrong audience, unknown key: all ignored in bypass mode
    let t = other_issuer()
        .mint("dev", "someone-else", ["write"], Duration::from_secs(0))
        .unwrap();
    let (s, resp) = send(&r, get_with_auth("/v2/user", Some(&format!("Bearer {t}")))).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body_json(resp).await["verified"], false);
    assert_eq!(fake.fetches(), 0);
    // scopes still apply
    let t = other_issuer()
        .mint("dev", "x", [""; 0], Duration::from_secs(60))
        .unwrap();
    let (s, _) = send(&r, get_with_auth("/v2/user", Some(&format!("Bearer {t}")))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[test]
fn jwks_modulus_with_leading_zero_byte_is_accepted() {
    let mut jwks = issuer().jwks();
    let n = jwks["keys"][0]["n"].as_str().unwrap().to_owned();
    let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(n)
        .unwrap();
    bytes.insert(0, 0);
    jwks["keys"][0]["n"] = json!(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes));
    let keys = parse_jwks(&jwks);
    assert!(keys.contains_key(issuer().kid()));

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let v = Validator::with_fetcher(settings(), FakeJwks::new(jwks));
    let claims = rt.block_on(v.validate(&token(&["write"]))).unwrap();
    assert_eq!(claims.sub, "client@clients");
    assert!(claims.scopes.contains("write"));
}

#[test]
fn non_rsa_or_foreign_use_keys_are_skipped() {
    let mut jwks = issuer().jwks();
    let mut enc = jwks["keys"][0].clone();
    enc["use"] = json!("enc");
    enc["kid"] = json!("enc-key");
    let mut hs = jwks["keys"][0].clone();
    hs["alg"] = json!("HS256");
    hs["kid"] = json!("hs-key");
    let ec = json!({"kty": "EC", "kid": "ec-key", "crv": "P-256", "x": "AA", "y": "AA"});
    jwks["keys"].as_array_mut().unwrap().extend([enc, hs, ec]);
    let keys = parse_jwks(&jwks);
    assert_eq!(keys.len(), 1);
    assert!(keys.contains_key(issuer().kid()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_share_one_jwks_fetch() {
    let fake = FakeJwks::new(issuer().jwks());
    let v = Arc::new(Validator::with_fetcher(settings(), fake.clone()));
    let t = token(&["write"]);
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let v = v.clone();
        let t = t.clone();
        tasks.push(tokio::spawn(
            async move { v.validate(&t).await.map(|c| c.sub) },
        ));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), "client@clients");
    }
    assert_eq!(fake.fetches(), 1);
}

#[tokio::test]
async fn defaults_match_the_original_fake_auth0_claims() {
    // tests/fake_auth0.py: iss https://auth-dev.mozilla.auth0.com/, aud https://change.sso.allizom.org,
    // which are the Change API's default domain and audience.
    let i = cis_http::DevIssuer::generate("https://auth-dev.mozilla.auth0.com").unwrap();
    let settings = cis_config::ChangeSettings::from_source(&cis_config::Source::from_map([(
        "CIS_ENVIRONMENT",
        "testing",
    )]))
    .unwrap();
    let v = Validator::with_fetcher(settings.auth, FakeJwks::new(i.jwks()));
    let now = now();
    let t = i
        .sign(&json!({
            "iss": "https://auth-dev.mozilla.auth0.com/",
            "sub": "mc1l0G4sJI2eQfdWxqgVNcRAD9EAgHib@clients",
            "aud": "https://change.sso.allizom.org",
            "iat": now - 3100, "exp": now + 3100,
            "gty": "client-credentials",
            "scope": "write"
        }))
        .unwrap();
    let claims = v.validate(&t).await.unwrap();
    assert_eq!(claims.sub, "mc1l0G4sJI2eQfdWxqgVNcRAD9EAgHib@clients");
}

#[tokio::test]
async fn cors_preflight_skips_auth() {
    let (r, fake, _, _) = write_router();
    let req = axum::http::Request::builder()
        .method("OPTIONS")
        .uri("/v2/user")
        .body(axum::body::Body::empty())
        .unwrap();
    let (s, _) = send(&r, req).await;
    // No OPTIONS handler on this test route: 405 from the router, not 401 from auth.
    assert_ne!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(fake.fetches(), 0);
}

/// Verified tokens are remembered, but a remembered token is never accepted once it has expired
/// or once the JWKS it was checked against no longer holds its key.
#[tokio::test]
async fn remembered_tokens_still_expire_and_follow_key_rotation() {
    let fake = FakeJwks::new(issuer().jwks());
    let clock = ManualClock::new();
    // settings() has no leeway: expiry is exact.
    let validator = validator_with(fake.clone(), &clock);
    let r = router(validator, AuthRequirement::write(true));

    let short = issuer()
        .mint(
            "client@clients",
            AUDIENCE,
            ["write"],
            Duration::from_secs(2),
        )
        .unwrap();
    let short = format!("Bearer {short}");
    for _ in 0..3 {
        let (s, _) = send(&r, get_with_auth("/v2/user", Some(&short))).await;
        assert_eq!(s, StatusCode::OK);
    }
    tokio::time::sleep(Duration::from_millis(3100)).await;
    expect_error(
        &r,
        Some(&short),
        StatusCode::UNAUTHORIZED,
        "token_expired",
        auth::DESC_EXPIRED,
    )
    .await;

    let long = format!("Bearer {}", token(&["write"]));
    let (s, _) = send(&r, get_with_auth("/v2/user", Some(&long))).await;
    assert_eq!(s, StatusCode::OK);
    // The issuer drops the key; once the JWKS is refetched the remembered token is refused.
    *fake.jwks.lock().unwrap() = other_issuer().jwks();
    clock.advance(Duration::from_secs(601));
    expect_error(
        &r,
        Some(&long),
        StatusCode::UNAUTHORIZED,
        "invalid_header",
        auth::DESC_NO_KEY,
    )
    .await;
}
