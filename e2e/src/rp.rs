//! A relying party (RP) for the propagation tests and benchmark: an HTTP server on
//! `127.0.0.1:0` that records every POST it gets (body, when it arrived, what it answered) and
//! checks the bearer token the way an RP of CIS does (notifier spec §1.1): RS256 against the
//! issuer's JWKS fetched over HTTP, `exp`, `aud` and `iss`. An invalid or missing token is
//! answered 401, so a notifier sending bad tokens shows up as rejected deliveries.
//!
//! The verification is written against `jsonwebtoken` directly, not through `cis-http`'s
//! validator, so that a bug shared by the CIS side and its own validator cannot hide here.
//!
//! The RP starts before `cis serve` (whose `CIS_RP_URLS` must name it) and learns whom to trust
//! afterwards with [`TestRp::trust`]; until then it answers 503, which a notifier retries.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use tokio::sync::Notify;

/// Whom the RP trusts: the token issuer (`iss`, with its trailing `/` as Auth0 writes it), where
/// its JWKS is, and the audience the RP is registered as (`hook.*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trust {
    pub issuer: String,
    pub jwks_url: String,
    pub audience: String,
}

/// What the RP answers to a request with a valid token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// 200.
    Healthy,
    /// 503 (a notifier retries, then dead-letters).
    Failing,
}

/// One POST the RP received.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// The JSON body (`Value::Null` if it was not JSON).
    pub body: Value,
    /// When it arrived (monotonic, for latencies).
    pub received: Instant,
    /// When it arrived, epoch seconds (to compare with the notification's `time`).
    pub received_epoch: f64,
    /// What the RP answered.
    pub status: u16,
    /// `Ok(sub)` if the bearer token verified, else why not.
    pub token: Result<String, String>,
}

impl Delivery {
    pub fn accepted(&self) -> bool {
        self.status == 200
    }

    pub fn operation(&self) -> Option<&str> {
        self.body.get("operation").and_then(Value::as_str)
    }

    pub fn user_id(&self) -> Option<&str> {
        self.body.get("id").and_then(Value::as_str)
    }
}

struct RpState {
    trust: Mutex<Option<Trust>>,
    behaviour: Mutex<Behaviour>,
    keys: tokio::sync::Mutex<HashMap<String, DecodingKey>>,
    deliveries: Mutex<Vec<Delivery>>,
    arrived: Notify,
    jwks_fetches: Mutex<u64>,
    http: reqwest::Client,
}

/// A running test RP; stops when dropped.
pub struct TestRp {
    pub url: String,
    state: Arc<RpState>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestRp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl TestRp {
    /// Listens on `127.0.0.1:0`; `url` is `http://127.0.0.1:<port>/events/update`.
    pub async fn start() -> Self {
        let state = Arc::new(RpState {
            trust: Mutex::new(None),
            behaviour: Mutex::new(Behaviour::Healthy),
            keys: tokio::sync::Mutex::new(HashMap::new()),
            deliveries: Mutex::new(Vec::new()),
            arrived: Notify::new(),
            jwks_fetches: Mutex::new(0),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        });
        let router = Router::new()
            .route("/events/update", post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self {
            url: format!("http://{addr}/events/update"),
            state,
            stop: Some(stop),
        }
    }

    /// Trust tokens from this issuer for this audience from now on (forgets cached keys).
    pub async fn trust(&self, trust: Trust) {
        self.state.keys.lock().await.clear();
        *self.state.trust.lock().unwrap() = Some(trust);
    }

    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *self.state.behaviour.lock().unwrap() = behaviour;
    }

    /// Every POST so far, in arrival order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.state.deliveries.lock().unwrap().clone()
    }

    /// The POSTs answered 200 (valid token, healthy), in arrival order.
    pub fn accepted(&self) -> Vec<Delivery> {
        self.deliveries()
            .into_iter()
            .filter(Delivery::accepted)
            .collect()
    }

    /// How many times the RP fetched the issuer's JWKS.
    pub fn jwks_fetches(&self) -> u64 {
        *self.state.jwks_fetches.lock().unwrap()
    }

    /// Waits until `done(deliveries)` holds, or panics after `deadline` with `what` and the
    /// deliveries seen.
    pub async fn wait_until<F>(&self, deadline: Duration, what: &str, mut done: F) -> Vec<Delivery>
    where
        F: FnMut(&[Delivery]) -> bool,
    {
        let until = Instant::now() + deadline;
        loop {
            // Register interest before checking, so an arrival in between is not missed.
            let arrived = self.state.arrived.notified();
            let mut arrived = std::pin::pin!(arrived);
            arrived.as_mut().enable();
            let seen = self.deliveries();
            if done(&seen) {
                return seen;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let last: Vec<&Value> = seen.iter().rev().take(5).map(|d| &d.body).collect();
                panic!(
                    "{what}: not within {deadline:?}; {} deliveries, the last ones: {last:?}",
                    seen.len()
                );
            }
            // Wake on an arrival, or at least every second.
            let _ = tokio::time::timeout(left.min(Duration::from_secs(1)), arrived).await;
        }
    }
}

async fn receive(State(state): State<Arc<RpState>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let received = Instant::now();
    let received_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let trust = state.trust.lock().unwrap().clone();
    let (status, token) = match trust {
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            Err("the RP does not know whom to trust yet".to_owned()),
        ),
        Some(trust) => match verify(&state, &trust, &headers).await {
            Ok(sub) => {
                let healthy = *state.behaviour.lock().unwrap() == Behaviour::Healthy;
                let status = if healthy {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                (status, Ok(sub))
            }
            Err(why) => (StatusCode::UNAUTHORIZED, Err(why)),
        },
    };
    state.deliveries.lock().unwrap().push(Delivery {
        body,
        received,
        received_epoch,
        status: status.as_u16(),
        token,
    });
    state.arrived.notify_waiters();
    status
}

/// Checks `Authorization: Bearer <jwt>` against `trust`; the token's `sub` when valid.
async fn verify(state: &RpState, trust: &Trust, headers: &HeaderMap) -> Result<String, String> {
    let header = headers
        .get("authorization")
        .ok_or("no Authorization header")?
        .to_str()
        .map_err(|_| "the Authorization header is not ASCII")?;
    let token = header
        .strip_prefix("Bearer ")
        .ok_or("the Authorization header is not `Bearer <token>`")?;
    let jwt_header = jsonwebtoken::decode_header(token).map_err(|e| format!("header: {e}"))?;
    if jwt_header.alg != Algorithm::RS256 {
        return Err(format!("alg {:?}, not RS256", jwt_header.alg));
    }
    let kid = jwt_header.kid.ok_or("no kid in the token header")?;
    let mut keys = state.keys.lock().await;
    if !keys.contains_key(&kid) {
        // Unknown kid: the issuer may have rotated keys; fetch its JWKS again.
        *keys = fetch_jwks(state, &trust.jwks_url).await?;
        *state.jwks_fetches.lock().unwrap() += 1;
    }
    let key = keys
        .get(&kid)
        .ok_or_else(|| format!("kid {kid} is not in the issuer's JWKS"))?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[&trust.audience]);
    validation.set_issuer(&[&trust.issuer]);
    validation.set_required_spec_claims(&["exp", "aud", "iss"]);
    validation.leeway = 5;
    let data = jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, key, &validation)
        .map_err(|e| format!("token rejected: {e}"))?;
    Ok(data
        .claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned())
}

async fn fetch_jwks(state: &RpState, url: &str) -> Result<HashMap<String, DecodingKey>, String> {
    let jwks: Value = state
        .http
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| format!("cannot fetch the JWKS: {e}"))?
        .json()
        .await
        .map_err(|e| format!("the JWKS is not JSON: {e}"))?;
    let mut keys = HashMap::new();
    for key in jwks["keys"].as_array().ok_or("the JWKS has no keys")? {
        let field = |name: &str| key.get(name).and_then(Value::as_str);
        if field("kty") != Some("RSA") {
            continue;
        }
        if let (Some(kid), Some(n), Some(e)) = (field("kid"), field("n"), field("e")) {
            let decoding =
                DecodingKey::from_rsa_components(n, e).map_err(|e| format!("JWKS key: {e}"))?;
            keys.insert(kid.to_owned(), decoding);
        }
    }
    Ok(keys)
}
