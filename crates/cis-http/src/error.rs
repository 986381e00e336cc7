//! The one error type of the HTTP layer and its JSON rendering `{"code","description"}` (A8).
//!
//! 4xx bodies say what is wrong. 5xx bodies never carry internals: the detail is logged together
//! with a fresh reference id, and only that id reaches the client.

use std::borrow::Cow;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

/// Every failure the HTTP layer answers with. `code` values are the original CIS codes where one
/// exists (`authorization_header_missing`, `invalid_header`, `token_expired`, `invalid_claims`,
/// `scope_missing`, `integration_exception`, ...).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A 4xx answer: the description is shown to the client as-is.
    #[error("{status} {code}: {description}")]
    Client {
        status: StatusCode,
        code: Cow<'static, str>,
        description: Cow<'static, str>,
    },
    /// A 5xx answer: `detail` is logged (never sent); the client gets a reference id.
    #[error("{status} {code}: {detail}")]
    Server {
        status: StatusCode,
        code: Cow<'static, str>,
        detail: String,
    },
    /// Building the JWKS HTTP client or a dev-issuer key failed (start-up errors).
    #[error("setup: {0}")]
    Setup(String),
}

impl ApiError {
    pub fn client(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        description: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::Client {
            status,
            code: code.into(),
            description: description.into(),
        }
    }

    /// 401.
    pub fn unauthorized(
        code: impl Into<Cow<'static, str>>,
        description: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::client(StatusCode::UNAUTHORIZED, code, description)
    }

    /// 403.
    pub fn forbidden(
        code: impl Into<Cow<'static, str>>,
        description: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::client(StatusCode::FORBIDDEN, code, description)
    }

    /// 400.
    pub fn bad_request(
        code: impl Into<Cow<'static, str>>,
        description: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::client(StatusCode::BAD_REQUEST, code, description)
    }

    /// 403 `scope_missing` (the Person API's original code for a missing scope).
    pub fn scope_missing(scope: &str) -> Self {
        Self::forbidden(
            "scope_missing",
            format!("This endpoint may only be queried using {scope}"),
        )
    }

    /// 500 `integration_exception`, the original code of the Change API's 500s. Put no profile
    /// values, emails or tokens in `detail`: it is logged.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::Server {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: Cow::Borrowed("integration_exception"),
            detail: detail.into(),
        }
    }

    /// 503: a dependency (the token issuer, the vault) is unreachable; the client may retry.
    pub fn unavailable(code: impl Into<Cow<'static, str>>, detail: impl Into<String>) -> Self {
        Self::Server {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: code.into(),
            detail: detail.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Client { status, .. } | Self::Server { status, .. } => *status,
            Self::Setup(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &str {
        match self {
            Self::Client { code, .. } | Self::Server { code, .. } => code,
            Self::Setup(_) => "internal_error",
        }
    }
}

/// A JSON `{"code","description"}` response with `status`.
pub fn json_error(status: StatusCode, code: &str, description: &str) -> Response {
    let body = serde_json::json!({ "code": code, "description": description });
    let mut response = (status, axum::Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        // RFC 6750: tell clients it is the bearer token that failed.
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

fn reference_id() -> String {
    let bytes: [u8; 8] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::Client {
                status,
                code,
                description,
            } => json_error(status, &code, &description),
            Self::Server {
                status,
                code,
                detail,
            } => {
                let reference = reference_id();
                tracing::error!(%status, %code, reference = %reference, detail = %detail, "request failed");
                json_error(
                    status,
                    &code,
                    &format!("Internal error, reference {reference}"),
                )
            }
            Self::Setup(detail) => {
                let reference = reference_id();
                tracing::error!(reference = %reference, detail = %detail, "request failed (setup)");
                json_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    &format!("Internal error, reference {reference}"),
                )
            }
        }
    }
}

/// Router fallback: a JSON 404 naming the method and path.
pub async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::client(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("No route for {method} {}", uri.path()),
    )
}

/// Router method-not-allowed fallback: a JSON 405.
pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::client(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("Method {method} is not allowed on {}", uri.path()),
    )
}

/// Install the JSON 404 and 405 fallbacks on a router.
pub fn with_json_fallbacks<S>(router: axum::Router<S>) -> axum::Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

/// Middleware (for `axum::middleware::map_response`) that turns any non-JSON error response
/// produced below it (tower-http's 413 from `RequestBodyLimitLayer`, axum's plain-text
/// rejections, a timeout layer) into the JSON error shape, so clients only ever see JSON errors.
pub async fn json_error_bodies(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return response;
    }
    let (code, description) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "Request body is too large"),
        StatusCode::NOT_FOUND => ("not_found", "Not found"),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "Method not allowed"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ("unsupported_media_type", "Unsupported content type")
        }
        StatusCode::REQUEST_TIMEOUT => ("request_timeout", "Request timed out"),
        s if s.is_server_error() => ("integration_exception", "Internal error"),
        _ => ("bad_request", "Bad request"),
    };
    let mut out = json_error(status, code, description);
    // Keep headers such as Allow or WWW-Authenticate that the inner layer set.
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}

/// A JSON body extractor whose failures are JSON errors: 413 `payload_too_large` when the body
/// exceeds the router's limit (`axum::extract::DefaultBodyLimit` or tower-http's
/// `RequestBodyLimitLayer`), 400 `invalid_json` naming the parse problem otherwise.
///
/// The Content-Type is not checked: the original clients always send JSON, and a strict check
/// would only turn a working request into an error.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::client(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "Request body is too large",
                )
            } else {
                ApiError::bad_request("invalid_body", "Request body could not be read")
            }
        })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parse a JSON body, mapping errors to 400 `invalid_json` with the parser's message (line and
/// column, what was expected), which names the problem without echoing the body.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "invalid_json",
            "Request body is empty; a JSON document is expected",
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request(
            "invalid_json",
            format!("Request body is not valid JSON: {e}"),
        )
    })
}

/// The Change API accepted a profile sent as a JSON *string* holding the JSON document (some
/// clients double-encode); this unwraps one such level and leaves anything else as it is.
pub fn unwrap_double_encoded(value: serde_json::Value) -> Result<serde_json::Value, ApiError> {
    match value {
        serde_json::Value::String(inner) => parse_json(inner.as_bytes()),
        other => Ok(other),
    }
}
