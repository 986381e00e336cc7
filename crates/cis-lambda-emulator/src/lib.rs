//! A local implementation of the AWS Lambda Runtime API (`/2018-06-01/runtime/...`), so tests run
//! the real Lambda binaries — the same `lambda_runtime` polling loop as in AWS — and invoke them
//! with recorded event shapes.
//!
//! ```no_run
//! # async fn demo() -> Result<(), cis_lambda_emulator::EmulatorError> {
//! let emulator = cis_lambda_emulator::LambdaEmulator::start().await?;
//! let _function = emulator.spawn_function("target/debug/cis-fn-curator".as_ref(), "curator", &[])?;
//! let response = emulator
//!     .invoke(serde_json::json!({"source": "aws.events"}), std::time::Duration::from_secs(30))
//!     .await?;
//! # let _ = response; Ok(()) }
//! ```

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{Mutex, Notify, oneshot};

/// What can go wrong running or invoking a function.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("cannot start the runtime API server: {0}")]
    Bind(std::io::Error),
    #[error("cannot start the function binary {binary}: {source}")]
    Spawn {
        binary: String,
        source: std::io::Error,
    },
    #[error("the function did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the function reported an error: {error_type}: {message}")]
    Function { error_type: String, message: String },
    #[error("the function failed to initialise: {0}")]
    Init(String),
    #[error("the function's response is not JSON: {0}")]
    BadResponse(String),
}

type Outcome = Result<Value, EmulatorError>;

struct Pending {
    request_id: String,
    event: Bytes,
    deadline_ms: u64,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<VecDeque<Pending>>,
    queued: Notify,
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: Mutex<Option<String>>,
    next_id: AtomicU64,
}

/// The runtime API server. Dropping it stops the server.
pub struct LambdaEmulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for LambdaEmulator {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A running function binary; killed on drop.
pub struct FunctionProcess {
    child: tokio::process::Child,
}

impl FunctionProcess {
    /// Stops the function.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

impl LambdaEmulator {
    /// Serves the runtime API on a free port of 127.0.0.1.
    pub async fn start() -> Result<Self, EmulatorError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(EmulatorError::Bind)?;
        let addr = listener.local_addr().map_err(EmulatorError::Bind)?;
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
            .route(
                "/2018-06-01/runtime/invocation/{request_id}/response",
                post(invocation_response),
            )
            .route(
                "/2018-06-01/runtime/invocation/{request_id}/error",
                post(invocation_error),
            )
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            shared,
            server,
        })
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn runtime_api(&self) -> String {
        self.addr.to_string()
    }

    /// Starts `binary` as the function `name`, with the environment Lambda gives a function
    /// plus `env`. Its output goes to this process's stderr (visible with `--nocapture`).
    pub fn spawn_function(
        &self,
        binary: &Path,
        name: &str,
        env: &[(&str, &str)],
    ) -> Result<FunctionProcess, EmulatorError> {
        let mut command = tokio::process::Command::new(binary);
        command
            .env("AWS_LAMBDA_RUNTIME_API", self.runtime_api())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "emulator")
            .stdin(Stdio::null())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().map_err(|source| EmulatorError::Spawn {
            binary: binary.display().to_string(),
            source,
        })?;
        Ok(FunctionProcess { child })
    }

    /// Queues `event` for the function and waits for its response.
    pub async fn invoke(&self, event: Value, timeout: Duration) -> Outcome {
        let number = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let request_id = format!("00000000-0000-4000-8000-{number:012}");
        let (sender, receiver) = oneshot::channel();
        self.shared
            .waiting
            .lock()
            .await
            .insert(request_id.clone(), sender);
        let deadline_ms = now_ms() + u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX / 2);
        self.shared.queue.lock().await.push_back(Pending {
            request_id: request_id.clone(),
            event: Bytes::from(event.to_string()),
            deadline_ms,
        });
        self.shared.queued.notify_one();
        let outcome = tokio::select! {
            answer = receiver => answer.unwrap_or_else(|_| Err(EmulatorError::Timeout(timeout))),
            () = tokio::time::sleep(timeout) => Err(EmulatorError::Timeout(timeout)),
            () = wait_for_init_error(&self.shared) => {
                let message = self.shared.init_error.lock().await.clone().unwrap_or_default();
                Err(EmulatorError::Init(message))
            }
        };
        self.shared.waiting.lock().await.remove(&request_id);
        outcome
    }
}

async fn wait_for_init_error(shared: &Shared) {
    loop {
        if shared.init_error.lock().await.is_some() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

async fn next_invocation(State(shared): State<Arc<Shared>>) -> Response {
    // Long poll, as the real API does: the function blocks here until an event is queued.
    let pending = loop {
        let notified = shared.queued.notified();
        if let Some(pending) = shared.queue.lock().await.pop_front() {
            break pending;
        }
        notified.await;
    };
    let mut headers = HeaderMap::new();
    let header = |value: &str| HeaderValue::from_str(value).unwrap_or(HeaderValue::from_static(""));
    headers.insert("lambda-runtime-aws-request-id", header(&pending.request_id));
    headers.insert(
        "lambda-runtime-deadline-ms",
        header(&pending.deadline_ms.to_string()),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        HeaderValue::from_static("arn:aws:lambda:us-west-2:000000000000:function:emulated"),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        HeaderValue::from_static("Root=1-00000000-000000000000000000000000;Sampled=0"),
    );
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    (StatusCode::OK, headers, pending.event).into_response()
}

async fn invocation_response(
    State(shared): State<Arc<Shared>>,
    UrlPath(request_id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    let outcome = serde_json::from_slice::<Value>(&body).map_err(|e| {
        EmulatorError::BadResponse(format!("{e}: {}", String::from_utf8_lossy(&body)))
    });
    complete(&shared, &request_id, outcome).await
}

async fn invocation_error(
    State(shared): State<Arc<Shared>>,
    UrlPath(request_id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let error_type = parsed
        .get("errorType")
        .and_then(Value::as_str)
        .unwrap_or("Unknown")
        .to_owned();
    let message = parsed
        .get("errorMessage")
        .and_then(Value::as_str)
        .map_or_else(
            || String::from_utf8_lossy(&body).into_owned(),
            str::to_owned,
        );
    complete(
        &shared,
        &request_id,
        Err(EmulatorError::Function {
            error_type,
            message,
        }),
    )
    .await
}

async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    *shared.init_error.lock().await = Some(String::from_utf8_lossy(&body).into_owned());
    StatusCode::ACCEPTED
}

async fn complete(shared: &Shared, request_id: &str, outcome: Outcome) -> StatusCode {
    match shared.waiting.lock().await.remove(request_id) {
        Some(sender) => {
            let _ = sender.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::NOT_FOUND,
    }
}
