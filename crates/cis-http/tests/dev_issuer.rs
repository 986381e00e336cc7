#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use cis_config::AuthSettings;
use cis_http::{DevIssuer, Validator};
use common::{FakeJwks, body_json, send};
use serde_json::{Value, json};

const AUD: &str = "api.dev.sso.allizom.org";

fn issuer() -> Arc<DevIssuer> {
    Arc::new(
        DevIssuer::from_pem(
            "http://127.0.0.1:8765",
            include_str!("../../../well-known/dev-keys/cis.pem"),
        )
        .unwrap()
        .with_client(
            "publisher-client",
            "s3cret",
            [AUD, "hook.dev.sso.allizom.org"],
            ["write", "read:fullprofile", "display:all"],
        )
        .with_client("single-aud", "pw", [AUD], Vec::<String>::new()),
    )
}

fn settings_for(i: &DevIssuer, audience: &str) -> AuthSettings {
    AuthSettings {
        issuer: i.issuer().to_owned(),
        audience: audience.into(),
        jwks_url: i.jwks_url(),
        jwks_ttl: Duration::from_secs(600),
        jwks_fetch_timeout: Duration::from_secs(2),
        jwks_min_refresh_interval: Duration::from_secs(30),
        leeway: Duration::from_secs(0),
        jwt_validation: true,
    }
}

fn token_request(content_type: &str, body: String) -> Request<Body> {
    Request::post("/oauth/token")
        .header("content-type", content_type)
        .body(Body::from(body))
        .unwrap()
}

async fn validate(
    i: &DevIssuer,
    audience: &str,
    token: &str,
) -> Result<cis_http::Claims, cis_http::ApiError> {
    let v = Validator::with_fetcher(settings_for(i, audience), FakeJwks::new(i.jwks()));
    v.validate(token).await
}

#[tokio::test]
async fn client_credentials_json_round_trip() {
    let i = issuer();
    let r = i.clone().router();
    let body = json!({
        "client_id": "publisher-client", "client_secret": "s3cret",
        "audience": AUD, "grant_type": "client_credentials"
    });
    let (s, resp) = send(&r, token_request("application/json", body.to_string())).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body = body_json(resp).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 86400);
    assert_eq!(body["scope"], "display:all read:fullprofile write");
    let claims = validate(&i, AUD, body["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(claims.sub, "publisher-client@clients");
    assert_eq!(claims.client_id.as_deref(), Some("publisher-client"));
    assert!(claims.scopes.contains("write"));
    // wrong audience for this token
    let err = validate(
        &i,
        "hook.dev.sso.allizom.org",
        body["access_token"].as_str().unwrap(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "invalid_claims");
}

#[tokio::test]
async fn client_credentials_form_with_scope_and_basic_auth() {
    let i = issuer();
    let r = i.clone().router();
    let form = "grant_type=client_credentials&client_id=publisher-client&client_secret=s3cret&audience=hook.dev.sso.allizom.org&scope=write";
    let (s, resp) = send(
        &r,
        token_request("application/x-www-form-urlencoded", form.into()),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let body = body_json(resp).await;
    assert_eq!(body["scope"], "write");
    let claims = validate(
        &i,
        "hook.dev.sso.allizom.org",
        body["access_token"].as_str().unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(claims.scopes.iter().collect::<Vec<_>>(), vec!["write"]);

    // client_secret_basic, no content type, default audience of a single-audience client
    let basic = base64::engine::general_purpose::STANDARD.encode("single-aud:pw");
    let req = Request::post("/oauth/token")
        .header("authorization", format!("Basic {basic}"))
        .body(Body::from("grant_type=client_credentials"))
        .unwrap();
    let (s, resp) = send(&r, req).await;
    assert_eq!(s, StatusCode::OK);
    let body = body_json(resp).await;
    assert!(body.get("scope").is_none(), "{body}");
    let claims = validate(&i, AUD, body["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert!(claims.scopes.is_empty());
}

#[tokio::test]
async fn client_credentials_errors_look_like_auth0() {
    let r = issuer().router();
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (
            json!({"client_id": "publisher-client", "client_secret": "wrong", "audience": AUD, "grant_type": "client_credentials"}),
            StatusCode::UNAUTHORIZED,
            "access_denied",
        ),
        (
            json!({"client_id": "nobody", "client_secret": "s3cret", "audience": AUD, "grant_type": "client_credentials"}),
            StatusCode::UNAUTHORIZED,
            "access_denied",
        ),
        (
            json!({"client_id": "publisher-client", "audience": AUD, "grant_type": "client_credentials"}),
            StatusCode::UNAUTHORIZED,
            "access_denied",
        ),
        (
            json!({"client_id": "publisher-client", "client_secret": "s3cret", "audience": "api.sso.mozilla.com", "grant_type": "client_credentials"}),
            StatusCode::FORBIDDEN,
            "access_denied",
        ),
        (
            json!({"client_id": "publisher-client", "client_secret": "s3cret", "grant_type": "client_credentials"}),
            StatusCode::FORBIDDEN,
            "access_denied",
        ),
        (
            json!({"client_id": "publisher-client", "client_secret": "s3cret", "audience": AUD, "grant_type": "client_credentials", "scope": "write search:all"}),
            StatusCode::FORBIDDEN,
            "access_denied",
        ),
        (
            json!({"client_id": "publisher-client", "client_secret": "s3cret", "audience": AUD, "grant_type": "password"}),
            StatusCode::FORBIDDEN,
            "unsupported_grant_type",
        ),
        (
            json!({"client_id": "publisher-client", "client_secret": "s3cret", "audience": AUD}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (body, status, error) in cases {
        let (s, resp) = send(&r, token_request("application/json", body.to_string())).await;
        assert_eq!(s, status, "{body}");
        let out = body_json(resp).await;
        assert_eq!(out["error"], error, "{body} -> {out}");
        assert!(out["error_description"].is_string());
        assert!(!out.to_string().contains("s3cret"));
    }
    let (s, resp) = send(&r, token_request("application/json", "{not json".into())).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(body_json(resp).await["error"], "invalid_request");
}

#[tokio::test]
async fn jwks_and_openid_configuration() {
    let i = issuer();
    let r = i.clone().router();
    let (s, resp) = send(
        &r,
        Request::get("/.well-known/jwks.json")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let jwks = body_json(resp).await;
    assert_eq!(jwks["keys"][0]["kid"], i.kid());
    assert_eq!(jwks["keys"][0]["alg"], "RS256");
    assert_eq!(jwks["keys"][0]["e"], "AQAB");
    let (s, resp) = send(
        &r,
        Request::get("/.well-known/openid-configuration")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let oidc = body_json(resp).await;
    assert_eq!(oidc["issuer"], "http://127.0.0.1:8765/");
    assert_eq!(
        oidc["jwks_uri"],
        "http://127.0.0.1:8765/.well-known/jwks.json"
    );
    assert_eq!(oidc["token_endpoint"], "http://127.0.0.1:8765/oauth/token");
}

#[tokio::test]
async fn mint_and_key_persistence() {
    let a = DevIssuer::generate("http://localhost:1").unwrap();
    let pem = a.private_key_pem().expose().clone();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert_eq!(format!("{:?}", a.private_key_pem()), "[redacted]");
    assert!(!format!("{a:?}").contains("PRIVATE"));
    let b = DevIssuer::from_pem("http://localhost:1/", &pem).unwrap();
    assert_eq!(a.kid(), b.kid(), "the kid is stable for a key");
    assert_eq!(b.issuer(), "http://localhost:1/");

    let t = a
        .mint(
            "dev-user",
            AUD,
            ["write", "display:all"],
            Duration::from_secs(60),
        )
        .unwrap();
    let claims = validate(&b, AUD, &t).await.unwrap();
    assert_eq!(claims.sub, "dev-user");
    assert_eq!(claims.iss, "http://localhost:1/");
    assert_eq!(claims.scopes.len(), 2);
    assert!(claims.exp > 0);

    assert!(DevIssuer::from_pem("http://x", "not a pem").is_err());
}

/// The one test over a real socket: the validator fetches the JWKS over HTTP from the dev issuer
/// served on 127.0.0.1, and a client gets its token over HTTP too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validator_fetches_jwks_from_served_dev_issuer() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let i = Arc::new(
        DevIssuer::from_pem(&base, include_str!("../../../well-known/dev-keys/cis.pem"))
            .unwrap()
            .with_client(
                "notifier",
                "pw",
                ["hook.dev.sso.allizom.org"],
                Vec::<String>::new(),
            ),
    );
    let server = tokio::spawn(axum::serve(listener, i.clone().router()).into_future());

    let client = reqwest::Client::new();
    let resp = client
        .post(format!("{base}/oauth/token"))
        .json(&json!({"client_id": "notifier", "client_secret": "pw", "audience": "hook.dev.sso.allizom.org", "grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap();

    let settings = cis_config::ChangeSettings::from_source(&cis_config::Source::from_map([
        ("CIS_ENVIRONMENT", "local"),
        ("CHANGE_SERVICE_AUTH0_DOMAIN", base.as_str()),
        ("CHANGE_SERVICE_API_IDENTIFIER", "hook.dev.sso.allizom.org"),
    ]))
    .unwrap();
    let v = Validator::new(settings.auth).unwrap();
    let claims = v.validate(token).await.unwrap();
    assert_eq!(claims.sub, "notifier@clients");
    v.validate(token).await.unwrap();
    assert_eq!(v.jwks_fetch_count(), 1);
    server.abort();

    // Issuer gone and nothing cached: 503, not 500.
    let v = Validator::new(settings_for(&i, "hook.dev.sso.allizom.org")).unwrap();
    let err = v.validate(token).await.unwrap_err();
    assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE);
}
