//! The Change API router (change-api-and-vault §3, DECISIONS A8, B1–B8, C3).
//!
//! | route | auth | answer |
//! |---|---|---|
//! | `GET /v2` | none | `text/html` banner |
//! | `GET /v2/version` | none | `{"message":"0.0.1"}` |
//! | `GET /v2/openapi.json` | none | the OpenAPI document of both APIs (C6) |
//! | `POST`/`PUT /v2/user[?user_id=][&dryRun=true]` | `write` | `{"condition","sequence_number","status_code"}` |
//! | `DELETE /v2/user[?user_id=]` | `write` | `{"condition":"delete","message","status":200}` or 403 `delete_disabled` |
//! | `POST`/`PUT /v2/users[?dryRun=true]` | `write` | one result per profile (B6) |
//! | `GET /v2/status?sequenceNumber=` | none | `{"identity_vault": bool}` (with a queue also `status`) |
//!
//! With a [`ChangeQueue`] (`CIS_STREAM_BYPASS=false`, DECISIONS C2) the writes of `/v2/user` and
//! `/v2/users` are prechecked (auth, body, user_id, schema) and queued instead: each accepted
//! profile gets `{"condition":"queued","sequence_number":<queue id>,"status_code":202}`, and
//! `/v2/status` answers for that id with `status` `pending`, `integrated` or `rejected` (with the
//! reason). A dry run is still answered directly; it writes nothing.
//!
//! GET on the write routes is a JSON 405 (B7). Every error is JSON `{"code","description"}`
//! (plus `details` listing every violation where there are several); a 5xx never carries
//! internals. The router holds no socket-specific code: `cis serve` binds it to a port, the
//! `change` Lambda hands it to `lambda_http`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use cis_core::{
    ChangeError, ChangeOutcome, ChangeRequest, ChangeService, Condition, DeleteRequest,
    StageTimings,
};
use cis_vault::{ChangeQueue, IngestId, IngestStatus, SequenceNumber, VaultError};
use serde_json::{Map, Value, json};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::auth::{AuthRequirement, Validator};
use crate::error::{ApiError, json_error, json_error_bodies, parse_json, with_json_fallbacks};

/// The banner of `GET /v2`, as the Flask app answered.
pub const INDEX_BODY: &str = "Mozilla Change Integration Service Endpoint";

/// `GET /v2/version`.
pub const API_VERSION: &str = "0.0.1";

/// API Gateway's request cap; a batch of a few hundred signed profiles fits.
pub const DEFAULT_BODY_LIMIT: usize = 10 * 1024 * 1024;

/// The headers flask-cors allowed on the original app.
const CORS_HEADERS: [&str; 10] = [
    "x-requested-with",
    "content-type",
    "accept",
    "origin",
    "authorization",
    "x-csrftoken",
    "withcredentials",
    "cache-control",
    "cookie",
    "session-id",
];

/// How the router behaves, beyond what the [`ChangeService`] decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeApiSettings {
    /// The write routes require the `write` scope (B3; `CIS_REQUIRE_WRITE_SCOPE`).
    pub require_write_scope: bool,
    /// Largest accepted request body in bytes (413 `payload_too_large` above).
    pub body_limit: usize,
    /// Add a `Server-Timing` header with the pipeline's per-stage durations to `/v2/user`
    /// answers (local mode and the benchmark; it reveals nothing but timings).
    pub server_timing: bool,
}

impl Default for ChangeApiSettings {
    fn default() -> Self {
        Self {
            require_write_scope: true,
            body_limit: DEFAULT_BODY_LIMIT,
            server_timing: false,
        }
    }
}

impl ChangeApiSettings {
    /// The router settings implied by the Change API configuration.
    pub fn from_config(config: &cis_config::ChangeSettings) -> Self {
        Self {
            require_write_scope: config.require_write_scope,
            ..Self::default()
        }
    }
}

/// What the handlers share.
#[derive(Clone)]
pub struct ChangeApiState {
    pub service: Arc<ChangeService>,
    pub validator: Arc<Validator>,
    pub settings: ChangeApiSettings,
    /// Where writes go when they are queued rather than integrated in the request
    /// (`CIS_STREAM_BYPASS=false`); `None` writes directly.
    pub queue: Option<Arc<dyn ChangeQueue>>,
}

impl std::fmt::Debug for ChangeApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeApiState")
            .field("service", &self.service)
            .field("validator", &self.validator)
            .field("settings", &self.settings)
            .field("queued", &self.queue.is_some())
            .finish()
    }
}

impl ChangeApiState {
    pub fn new(
        service: Arc<ChangeService>,
        validator: Arc<Validator>,
        settings: ChangeApiSettings,
    ) -> Self {
        Self {
            service,
            validator,
            settings,
            queue: None,
        }
    }

    /// Queue writes (`CIS_STREAM_BYPASS=false`): the routes answer 202 with the queue's id per
    /// profile, and `/v2/status` reports what became of it.
    #[must_use]
    pub fn with_queue(mut self, queue: Arc<dyn ChangeQueue>) -> Self {
        self.queue = Some(queue);
        self
    }
}

/// The Change API.
pub fn router(state: ChangeApiState) -> Router {
    let body_limit = state.settings.body_limit;
    let writes = Router::new()
        .route("/v2/user", post(put_user).put(put_user).delete(delete_user))
        .route("/v2/users", post(put_users).put(put_users))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_write,
        ));
    let open = Router::new()
        .route("/v2", get(index))
        .route("/v2/version", get(version))
        .route("/v2/openapi.json", get(openapi))
        .route("/v2/status", get(status));
    with_json_fallbacks(writes.merge(open))
        .with_state(state)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::map_response(json_error_bodies))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(cors())
}

/// Bearer token with `write` (B1–B3). A refused request's body is read (up to the body limit)
/// before the answer goes out: a publisher streaming a large profile with an expired token
/// must get the JSON 401, not a connection reset halfway through its upload.
async fn require_write(
    State(state): State<ChangeApiState>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let requirement = AuthRequirement::write(state.settings.require_write_scope);
    match requirement.check(&state.validator, request.headers()).await {
        Ok(caller) => {
            if let Some(caller) = caller {
                request.extensions_mut().insert(caller);
            }
            next.run(request).await
        }
        Err(error) => {
            let _ = axum::body::to_bytes(request.into_body(), state.settings.body_limit).await;
            error.into_response()
        }
    }
}

/// flask-cors as configured on the original app: the Origin is reflected, credentials allowed,
/// preflights answered without auth.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_credentials(true)
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers(CORS_HEADERS.map(HeaderName::from_static))
        .max_age(Duration::from_secs(600))
}

/// A panic in a handler is a bug; the client still gets the JSON 500 shape, never a dropped
/// connection or a panic message.
fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    json_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "integration_exception",
        "Internal error",
    )
}

async fn index() -> Html<&'static str> {
    Html(INDEX_BODY)
}

async fn version() -> Response {
    axum::Json(json!({ "message": API_VERSION })).into_response()
}

/// C6: one document describes both APIs (written with the Person API).
async fn openapi() -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        crate::person_api::OPENAPI_JSON,
    )
        .into_response()
}

/// `?dryRun=` in any letter case; anything but true/false is a 400 rather than a silent write.
fn dry_run(query: &HashMap<String, String>) -> Result<bool, ApiError> {
    match query.get("dryRun").or_else(|| query.get("dry_run")) {
        None => Ok(false),
        Some(v) => cis_config::parse_bool(v).ok_or_else(|| {
            ApiError::bad_request("invalid_request", "dryRun must be true or false")
        }),
    }
}

/// The JSON answer of a [`ChangeError`]: 4xx bodies carry the description and every violation;
/// 5xx bodies only a reference id (the detail is logged).
pub fn change_error_response(error: &ChangeError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_server_error() {
        return ApiError::Server {
            status,
            code: error.code().into(),
            detail: error.log_detail(),
        }
        .into_response();
    }
    let mut body = Map::new();
    body.insert("code".into(), json!(error.code()));
    body.insert("description".into(), json!(error.description()));
    if let Some(details) = error.details() {
        body.insert("details".into(), details);
    }
    (status, axum::Json(Value::Object(body))).into_response()
}

/// The `/v2/user` answer body (A8); a dry run also says what would change.
fn outcome_body(outcome: &ChangeOutcome) -> Value {
    let mut body = Map::new();
    body.insert("condition".into(), json!(outcome.condition.as_str()));
    body.insert(
        "sequence_number".into(),
        json!(outcome.sequence_number.as_ref().map(SequenceNumber::as_str)),
    );
    body.insert("status_code".into(), json!(outcome.condition.status_code()));
    if outcome.dry_run {
        body.insert("dry_run".into(), json!(true));
        body.insert("changed".into(), json!(outcome.changed));
    }
    Value::Object(body)
}

/// `Server-Timing: validate;dur=0.105, read;dur=…` in milliseconds.
pub fn server_timing(t: &StageTimings) -> String {
    let mut out = String::new();
    for (name, d) in [
        ("validate", t.validate),
        ("read", t.read),
        ("merge", t.merge),
        ("publishers", t.publishers),
        ("signatures", t.signatures),
        ("cis_attributes", t.cis_attributes),
        ("record", t.record),
        ("write", t.write),
        ("backoff", t.backoff),
        ("total", t.total),
    ] {
        if !out.is_empty() {
            out.push_str(", ");
        }
        let _ = write!(out, "{name};dur={:.3}", d.as_secs_f64() * 1000.0);
    }
    let _ = write!(out, ", attempts;desc=\"{}\"", t.attempts);
    out
}

async fn put_user(
    State(state): State<ChangeApiState>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let dry_run = match dry_run(&query) {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    let profile: Value = match parse_json(&body) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let mut request = ChangeRequest::new(profile).with_dry_run(dry_run);
    // The original also accepted user_uuid, primary_email and primary_username and ignored
    // them; so does this.
    request.user_id_param = query.get("user_id").cloned();
    if let Some(queue) = state.queue.as_ref().filter(|_| !dry_run) {
        return match cis_core::ingest::enqueue_change(&state.service, queue.as_ref(), request).await
        {
            Ok(id) => (StatusCode::ACCEPTED, axum::Json(queued_body(&id))).into_response(),
            Err(error) => change_error_response(&error),
        };
    }
    match state.service.integrate(request).await {
        Ok(outcome) => {
            let mut response = axum::Json(outcome_body(&outcome)).into_response();
            if state.settings.server_timing
                && let Ok(value) = HeaderValue::from_str(&server_timing(&outcome.timings))
            {
                response
                    .headers_mut()
                    .insert(HeaderName::from_static("server-timing"), value);
            }
            response
        }
        Err(error) => change_error_response(&error),
    }
}

async fn delete_user(
    State(state): State<ChangeApiState>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    // Said before the body is looked at: a disabled delete is the answer whatever was sent.
    if !state.service.settings().allow_delete {
        return change_error_response(&ChangeError::DeleteDisabled);
    }
    let profile = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        match parse_json::<Value>(&body) {
            Ok(v) => Some(v),
            Err(e) => return e.into_response(),
        }
    };
    let request = DeleteRequest {
        user_id_param: query.get("user_id").cloned(),
        profile,
    };
    match state.service.delete(request).await {
        Ok(outcome) => axum::Json(json!({
            "condition": "delete",
            "message": format!("user profile deleted for user: {}", outcome.user_id),
            "status": 200,
        }))
        .into_response(),
        Err(error) => change_error_response(&error),
    }
}

/// `/v2/users`: a JSON array of profiles (objects, or strings holding one). Each profile is
/// integrated on its own, in order (B6). The answer keeps the original keys (`creates`,
/// `updates`, `status`) and adds `results`, one entry per profile in request order, and
/// `failed`, the number of rejected profiles.
async fn put_users(
    State(state): State<ChangeApiState>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let dry_run = match dry_run(&query) {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    let profiles: Value = match parse_json(&body) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let Value::Array(profiles) = profiles else {
        return ApiError::bad_request(
            "invalid_request",
            "the body of /v2/users must be a JSON array of profiles",
        )
        .into_response();
    };
    if let Some(queue) = state.queue.as_ref().filter(|_| !dry_run) {
        return enqueue_batch(&state.service, queue.as_ref(), profiles).await;
    }
    let requests = profiles
        .into_iter()
        .map(|p| ChangeRequest::new(p).with_dry_run(dry_run))
        .collect();
    let results = state.service.integrate_batch(requests).await;
    axum::Json(batch_body(&results)).into_response()
}

/// The answer for one queued profile; `sequence_number` is the ticket for `/v2/status`.
fn queued_body(id: &IngestId) -> Value {
    json!({
        "condition": "queued",
        "sequence_number": id.as_str(),
        "status_code": StatusCode::ACCEPTED.as_u16(),
    })
}

/// Queues a batch in request order, one submit after the other, so that the changes of one
/// user are integrated in the order they were sent. A bad profile gets its own error entry and
/// is not queued; the others still are. The answer is 202 when something was queued.
async fn enqueue_batch(
    service: &ChangeService,
    queue: &dyn ChangeQueue,
    profiles: Vec<Value>,
) -> Response {
    let mut queued = Vec::new();
    let mut failed = 0usize;
    let mut entries = Vec::with_capacity(profiles.len());
    for (index, profile) in profiles.into_iter().enumerate() {
        // What enqueue_change does, unrolled to name the user in the answer.
        let submitted = match service.precheck(&ChangeRequest::new(profile)) {
            Ok((profile, user_id)) => queue
                .submit(&user_id, profile)
                .await
                .map(|id| (id, user_id))
                .map_err(ChangeError::Storage),
            Err(error) => Err(error),
        };
        match submitted {
            Ok((id, user_id)) => {
                let mut entry = queued_body(&id);
                if let Value::Object(map) = &mut entry {
                    map.insert("index".into(), json!(index));
                    map.insert("user_id".into(), json!(user_id));
                }
                entries.push(entry);
                queued.push(id);
            }
            Err(error) => {
                failed += 1;
                entries.push(batch_error_entry(index, &error));
            }
        }
    }
    let status = if queued.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let numbers: Vec<&str> = queued.iter().map(IngestId::as_str).collect();
    let body = json!({
        "creates": Value::Null,
        "updates": Value::Null,
        "queued": if numbers.is_empty() {
            Value::Null
        } else {
            json!({ "status": 202, "sequence_numbers": numbers })
        },
        "status": 202,
        "failed": failed,
        "results": entries,
    });
    (status, axum::Json(body)).into_response()
}

fn batch_error_entry(index: usize, error: &ChangeError) -> Value {
    if error.status() >= 500 {
        tracing::error!(index, code = error.code(), detail = %error.log_detail(), "batch profile failed");
    }
    let mut entry = Map::new();
    entry.insert("index".into(), json!(index));
    entry.insert("status_code".into(), json!(error.status()));
    entry.insert("code".into(), json!(error.code()));
    entry.insert("description".into(), json!(error.description()));
    if let Some(details) = error.details() {
        entry.insert("details".into(), details);
    }
    Value::Object(entry)
}

fn batch_body(results: &[Result<ChangeOutcome, ChangeError>]) -> Value {
    let mut creates = Vec::new();
    let mut updates = Vec::new();
    let mut failed = 0usize;
    let mut entries = Vec::with_capacity(results.len());
    for (index, result) in results.iter().enumerate() {
        match result {
            Ok(outcome) => {
                let sequence = outcome.sequence_number.as_ref().map(SequenceNumber::as_str);
                match (outcome.condition, sequence) {
                    (Condition::Create, Some(sn)) => creates.push(sn),
                    (Condition::Update, Some(sn)) => updates.push(sn),
                    _ => {}
                }
                let mut entry = outcome_body(outcome);
                if let Value::Object(map) = &mut entry {
                    map.insert("index".into(), json!(index));
                    map.insert("user_id".into(), json!(outcome.user_id));
                }
                entries.push(entry);
            }
            Err(error) => {
                failed += 1;
                entries.push(batch_error_entry(index, error));
            }
        }
    }
    let group = |numbers: &[&str]| {
        if numbers.is_empty() {
            Value::Null
        } else {
            json!({ "status": 200, "sequence_numbers": numbers })
        }
    };
    let wrote = !creates.is_empty() || !updates.is_empty();
    json!({
        "creates": group(&creates),
        "updates": group(&updates),
        "status": if wrote { 200 } else { 202 },
        "failed": failed,
        "results": entries,
    })
}

/// `GET /v2/status?sequenceNumber=`: whether the write that produced this sequence number is
/// the latest one stored for its user (a later write replaces it, as in the original). With a
/// queue, a queue id is answered first from the queue (pending, integrated, rejected); a
/// number the queue does not know is looked up in the vault as before.
async fn status(
    State(state): State<ChangeApiState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(sequence) = query
        .get("sequenceNumber")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    else {
        return ApiError::bad_request(
            "invalid_request",
            "the sequenceNumber query parameter is required",
        )
        .into_response();
    };
    if let Some(queue) = &state.queue {
        match queue.submission_status(&IngestId::new(sequence)).await {
            Ok(status) => return axum::Json(submission_body(&status)).into_response(),
            Err(VaultError::NotFound { .. }) => {}
            Err(error) => return change_error_response(&ChangeError::Storage(error)),
        }
    }
    let sequence = SequenceNumber::new(sequence);
    match state
        .service
        .store()
        .find_by_sequence_number(&sequence)
        .await
    {
        Ok(found) => axum::Json(json!({ "identity_vault": found.is_some() })).into_response(),
        Err(error) => change_error_response(&ChangeError::Storage(error)),
    }
}

/// `identity_vault` stays for clients of the original, which only knew that boolean.
fn submission_body(status: &IngestStatus) -> Value {
    match status {
        IngestStatus::Pending => json!({ "identity_vault": false, "status": "pending" }),
        IngestStatus::Integrated { sequence_number } => json!({
            "identity_vault": true,
            "status": "integrated",
            "sequence_number": sequence_number.as_ref().map(SequenceNumber::as_str),
        }),
        IngestStatus::Rejected { reason } => json!({
            "identity_vault": false,
            "status": "rejected",
            "reason": reason,
        }),
    }
}
