#![allow(clippy::unwrap_used, dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use cis_config::AuthSettings;
use cis_http::DevIssuer;
use cis_http::auth::JwksFetcher;
use serde_json::Value;

pub const ISSUER_URL: &str = "https://issuer.test";
pub const AUDIENCE: &str = "api.test.sso.allizom.org";

/// Key generation is slow-ish; every test in a binary shares two issuers.
pub fn issuer() -> &'static DevIssuer {
    static I: OnceLock<DevIssuer> = OnceLock::new();
    I.get_or_init(|| DevIssuer::generate(ISSUER_URL).unwrap())
}

/// Same issuer URL, different key (a rotated or foreign key).
pub fn other_issuer() -> &'static DevIssuer {
    static I: OnceLock<DevIssuer> = OnceLock::new();
    I.get_or_init(|| DevIssuer::generate(ISSUER_URL).unwrap())
}

pub fn settings() -> AuthSettings {
    AuthSettings {
        issuer: format!("{ISSUER_URL}/"),
        audience: AUDIENCE.into(),
        jwks_url: format!("{ISSUER_URL}/.well-known/jwks.json"),
        jwks_ttl: Duration::from_secs(600),
        jwks_fetch_timeout: Duration::from_secs(2),
        jwks_min_refresh_interval: Duration::from_secs(30),
        leeway: Duration::from_secs(0),
        jwt_validation: true,
    }
}

/// A JWKS source that counts fetches and can be switched or broken by the test.
pub struct FakeJwks {
    pub jwks: Mutex<Value>,
    pub fail: Mutex<bool>,
    pub count: AtomicUsize,
}

impl FakeJwks {
    pub fn new(jwks: Value) -> Arc<Self> {
        Arc::new(Self {
            jwks: Mutex::new(jwks),
            fail: Mutex::new(false),
            count: AtomicUsize::new(0),
        })
    }
    pub fn fetches(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

impl JwksFetcher for FakeJwks {
    fn fetch(&self) -> Pin<Box<dyn Future<Output = Result<Value, String>> + Send + '_>> {
        self.count.fetch_add(1, Ordering::SeqCst);
        let result = if *self.fail.lock().unwrap() {
            Err("issuer down".to_string())
        } else {
            Ok(self.jwks.lock().unwrap().clone())
        };
        Box::pin(async move { result })
    }
}

/// A clock the test moves by hand.
#[derive(Clone)]
pub struct ManualClock(pub Arc<Mutex<Instant>>);

impl ManualClock {
    pub fn new() -> Self {
        Self(Arc::new(Mutex::new(Instant::now())))
    }
    pub fn advance(&self, d: Duration) {
        *self.0.lock().unwrap() += d;
    }
    pub fn clock(&self) -> cis_http::auth::Clock {
        let inner = self.0.clone();
        Arc::new(move || *inner.lock().unwrap())
    }
}

pub async fn send(router: &axum::Router, req: Request<Body>) -> (StatusCode, Response) {
    use tower::ServiceExt;
    let resp = router.clone().oneshot(req).await.unwrap();
    (resp.status(), resp)
}

pub async fn body_json(resp: Response) -> Value {
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap_or_else(|_| {
        panic!("not JSON: {}", String::from_utf8_lossy(&bytes));
    })
}

pub fn get_with_auth(path: &str, auth: Option<&str>) -> Request<Body> {
    let mut b = Request::builder().uri(path).method("POST");
    if let Some(a) = auth {
        b = b.header("authorization", a);
    }
    b.body(Body::empty()).unwrap()
}
