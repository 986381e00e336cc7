//! Real local HTTP endpoints for the notifier tests: a dev token issuer (cis-http's, the one
//! `cis serve` runs) and relying-party receivers that verify the bearer token and record calls.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::middleware::{self, Next};
use axum::routing::post;
use cis_config::{AuthSettings, Secret};
use cis_http::{DevIssuer, Validator};
use cis_notify::{ClientCredentials, Clock, Notifier, RetryPolicy, TokenProvider};
use cis_vault::{ChangeCursor, ChangeEvent, ChangeOperation, DeadLetterStore};
use serde_json::Value;

pub const AUDIENCE: &str = "hook.dev.sso.allizom.org";
pub const CLIENT_ID: &str = "notifier-client";
pub const CLIENT_SECRET: &str = "notifier-secret";

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    format!("http://{addr}")
}

/// The dev issuer on a socket, counting client-credentials requests.
pub struct TokenServer {
    pub base: String,
    pub token_url: String,
    pub token_requests: Arc<AtomicUsize>,
    pub validator: Arc<Validator>,
}

impl TokenServer {
    pub async fn start(token_ttl: Duration) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let issuer = DevIssuer::generate(&base)
            .unwrap()
            .with_client(CLIENT_ID, CLIENT_SECRET, [AUDIENCE], Vec::<String>::new())
            .with_token_ttl(token_ttl);
        let issuer_claim = issuer.issuer().to_owned();
        let jwks_url = issuer.jwks_url();
        let token_url = issuer.token_url();
        let warm_up = issuer
            .mint(
                "warm-up",
                AUDIENCE,
                Vec::<String>::new(),
                Duration::from_secs(60),
            )
            .unwrap();
        let token_requests = Arc::new(AtomicUsize::new(0));
        let counter = token_requests.clone();
        let router = Arc::new(issuer).router().layer(middleware::from_fn(
            move |request: Request<Body>, next: Next| {
                let counter = counter.clone();
                async move {
                    if request.uri().path() == "/oauth/token" {
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                    next.run(request).await
                }
            },
        ));
        tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        let validator = Validator::new(AuthSettings {
            issuer: issuer_claim,
            audience: AUDIENCE.to_owned(),
            jwks_url,
            jwks_ttl: Duration::from_secs(600),
            jwks_fetch_timeout: Duration::from_secs(5),
            jwks_min_refresh_interval: Duration::from_secs(30),
            leeway: Duration::from_secs(0),
            jwt_validation: true,
        })
        .unwrap();
        // Fetch the JWKS now, so no receiver's first answer waits for it (and times out on a
        // loaded machine).
        validator.validate(&warm_up).await.unwrap();
        Self {
            base,
            token_url,
            token_requests,
            validator: Arc::new(validator),
        }
    }

    pub fn credentials(&self) -> ClientCredentials {
        ClientCredentials {
            token_url: self.token_url.clone(),
            audience: AUDIENCE.to_owned(),
            client_id: CLIENT_ID.to_owned(),
            client_secret: Secret::new(CLIENT_SECRET.to_owned()),
        }
    }

    pub fn requests(&self) -> usize {
        self.token_requests.load(Ordering::SeqCst)
    }
}

/// How a receiver answers.
#[derive(Clone, Debug)]
pub enum Behaviour {
    Healthy,
    /// The first `n` calls for each user id answer 500, later ones 200.
    FailTimes(usize),
    /// Answers 200 after this long (longer than the notifier's timeout).
    Hang(Duration),
    /// Always this status.
    Always(u16),
    /// 500 for these user ids, 200 for the others.
    FailFor(Vec<String>),
    /// Answers 401 to the first call, whatever the token, then 200.
    RejectFirstToken,
}

#[derive(Clone, Debug)]
pub struct Call {
    pub body: Value,
    pub token_valid: bool,
    pub token: String,
}

struct ReceiverState {
    behaviour: Behaviour,
    /// Once set, answers 200 whatever the behaviour (the RP came back).
    recovered: AtomicBool,
    calls: Mutex<Vec<Call>>,
    per_id: Mutex<HashMap<String, usize>>,
    validator: Arc<Validator>,
}

/// A relying party on a socket.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    state: Arc<ReceiverState>,
}

impl Receiver {
    pub async fn start(behaviour: Behaviour, tokens: &TokenServer) -> Self {
        let state = Arc::new(ReceiverState {
            behaviour,
            recovered: AtomicBool::new(false),
            calls: Mutex::new(Vec::new()),
            per_id: Mutex::new(HashMap::new()),
            validator: tokens.validator.clone(),
        });
        let router = Router::new()
            .route("/events/update", post(receive))
            .with_state(state.clone());
        let base = serve(router).await;
        Self {
            url: format!("{base}/events/update"),
            state,
        }
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.calls.lock().unwrap().clone()
    }

    pub fn call_count(&self) -> usize {
        self.state.calls.lock().unwrap().len()
    }

    /// Calls per notified user id.
    pub fn calls_for(&self, user_id: &str) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.body["id"] == user_id)
            .count()
    }

    /// User ids of the calls answered... in arrival order.
    pub fn ids(&self) -> Vec<String> {
        self.calls()
            .iter()
            .map(|c| c.body["id"].as_str().unwrap().to_owned())
            .collect()
    }

    pub fn recover(&self) {
        self.state.recovered.store(true, Ordering::SeqCst);
    }
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    let token_valid = state.validator.validate(&token).await.is_ok();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let id = body["id"].as_str().unwrap_or_default().to_owned();
    let nth = {
        let mut per_id = state.per_id.lock().unwrap();
        let n = per_id.entry(id.clone()).or_default();
        *n += 1;
        *n
    };
    let first_call = {
        let mut calls = state.calls.lock().unwrap();
        calls.push(Call {
            body,
            token_valid,
            token,
        });
        calls.len() == 1
    };
    if !token_valid {
        return StatusCode::UNAUTHORIZED;
    }
    if state.recovered.load(Ordering::SeqCst) {
        return StatusCode::OK;
    }
    match &state.behaviour {
        Behaviour::Healthy => StatusCode::OK,
        Behaviour::FailTimes(n) if nth <= *n => StatusCode::INTERNAL_SERVER_ERROR,
        Behaviour::FailTimes(_) => StatusCode::OK,
        Behaviour::Hang(d) => {
            tokio::time::sleep(*d).await;
            StatusCode::OK
        }
        Behaviour::Always(s) => StatusCode::from_u16(*s).unwrap(),
        Behaviour::FailFor(ids) if ids.contains(&id) => StatusCode::INTERNAL_SERVER_ERROR,
        Behaviour::FailFor(_) => StatusCode::OK,
        Behaviour::RejectFirstToken if first_call => StatusCode::UNAUTHORIZED,
        Behaviour::RejectFirstToken => StatusCode::OK,
    }
}

/// Fast retries so tests take milliseconds; the timeout is far below `Hang`'s delay.
pub fn fast_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
        request_timeout: Duration::from_millis(1000),
    }
}

pub const HANG: Duration = Duration::from_secs(5);

pub fn notifier(
    tokens: &TokenServer,
    rps: &[&Receiver],
    store: Option<Arc<dyn DeadLetterStore>>,
) -> Notifier {
    let provider = TokenProvider::new(tokens.credentials(), Duration::from_secs(5)).unwrap();
    notifier_with(provider, rps, store)
}

pub fn notifier_with(
    provider: TokenProvider,
    rps: &[&Receiver],
    store: Option<Arc<dyn DeadLetterStore>>,
) -> Notifier {
    Notifier::new(
        rps.iter().map(|r| r.url.clone()).collect(),
        provider,
        fast_policy(),
        store,
    )
    .unwrap()
}

/// A clock the test moves forward by hand.
#[derive(Clone)]
pub struct ManualClock {
    start: Instant,
    offset_ms: Arc<AtomicU64>,
}

impl ManualClock {
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            offset_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn advance(&self, by: Duration) {
        self.offset_ms
            .fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }

    pub fn clock(&self) -> Clock {
        let this = self.clone();
        Arc::new(move || this.start + Duration::from_millis(this.offset_ms.load(Ordering::SeqCst)))
    }
}

pub fn event(user_id: &str, operation: ChangeOperation, time_ms: i64) -> ChangeEvent {
    ChangeEvent {
        cursor: ChangeCursor(0),
        operation,
        user_id: user_id.to_owned(),
        sequence_number: None,
        time_ms,
    }
}
