#![allow(clippy::unwrap_used)]

mod common;

use axum::Router;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::http::{Request, StatusCode};
use axum::routing::{get, post};
use cis_http::ApiError;
use cis_http::error::{self, JsonBody};
use common::{body_json, send};
use serde_json::{Value, json};

async fn echo(JsonBody(v): JsonBody<Value>) -> axum::Json<Value> {
    axum::Json(v)
}

#[derive(serde::Deserialize)]
struct Typed {
    #[allow(dead_code)]
    user_id: String,
}

async fn typed(JsonBody(_): JsonBody<Typed>) -> &'static str {
    "ok"
}

async fn boom() -> Result<(), ApiError> {
    Err(ApiError::internal(
        "DynamoDB said: secret table detail ad|Mozilla-LDAP|jdoe",
    ))
}

async fn unavailable() -> Result<(), ApiError> {
    Err(ApiError::unavailable(
        "vault_unavailable",
        "connection refused to 10.0.0.1",
    ))
}

fn app() -> Router {
    let r = Router::new()
        .route("/v2/user", post(echo))
        .route("/v2/typed", post(typed))
        .route("/v2/boom", get(boom))
        .route("/v2/down", get(unavailable))
        .layer(DefaultBodyLimit::max(64));
    error::with_json_fallbacks(r)
}

fn post_body(path: &str, body: &str) -> Request<Body> {
    Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

#[tokio::test]
async fn client_error_body_shape() {
    let resp = axum::response::IntoResponse::into_response(ApiError::bad_request(
        "integration_exception",
        "user_id query parameter does not match profile, that looks wrong",
    ));
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let bytes = axum::body::to_bytes(resp.into_body(), 1024).await.unwrap();
    assert_eq!(
        std::str::from_utf8(&bytes).unwrap(),
        r#"{"code":"integration_exception","description":"user_id query parameter does not match profile, that looks wrong"}"#
    );
}

#[tokio::test]
async fn server_errors_hide_internals() {
    let (s, resp) = send(
        &app(),
        Request::get("/v2/boom").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
    let body = body_json(resp).await;
    assert_eq!(body["code"], "integration_exception");
    let desc = body["description"].as_str().unwrap();
    assert!(desc.starts_with("Internal error, reference "), "{desc}");
    assert!(!body.to_string().contains("DynamoDB") && !body.to_string().contains("jdoe"));

    let (s, resp) = send(
        &app(),
        Request::get("/v2/down").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    let body = body_json(resp).await;
    assert_eq!(body["code"], "vault_unavailable");
    assert!(!body.to_string().contains("10.0.0.1"));

    let e = ApiError::internal("x");
    assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(e.code(), "integration_exception");
}

#[tokio::test]
async fn json_404_and_405() {
    let (s, resp) = send(
        &app(),
        Request::get("/v2/nothing").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        body_json(resp).await,
        json!({"code": "not_found", "description": "No route for GET /v2/nothing"})
    );
    // no trailing-slash magic, as in the original
    let (s, _) = send(
        &app(),
        Request::get("/v2/boom/").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (s, resp) = send(
        &app(),
        Request::delete("/v2/user").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        body_json(resp).await,
        json!({"code": "method_not_allowed", "description": "Method DELETE is not allowed on /v2/user"})
    );
}

#[tokio::test]
async fn json_body_errors() {
    let (s, resp) = send(&app(), post_body("/v2/user", r#"{"a": 1}"#)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body_json(resp).await, json!({"a": 1}));

    let (s, resp) = send(&app(), post_body("/v2/user", r#"{"a": "#)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let body = body_json(resp).await;
    assert_eq!(body["code"], "invalid_json");
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .contains("line 1 column"),
        "{body}"
    );

    let (s, resp) = send(&app(), post_body("/v2/user", "")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(body_json(resp).await["code"], "invalid_json");

    let (s, resp) = send(&app(), post_body("/v2/typed", r#"{"other": 1}"#)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let body = body_json(resp).await;
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .contains("missing field `user_id`"),
        "{body}"
    );

    let big = format!(r#"{{"a": "{}"}}"#, "x".repeat(200));
    let (s, resp) = send(&app(), post_body("/v2/user", &big)).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body_json(resp).await["code"], "payload_too_large");
}

#[tokio::test]
async fn tower_http_body_limit_becomes_json_413() {
    let r = Router::new()
        .route("/v2/user", post(echo))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(16))
        .layer(axum::middleware::map_response(error::json_error_bodies));
    let (s, resp) = send(&r, post_body("/v2/user", &"x".repeat(100))).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        body_json(resp).await,
        json!({"code": "payload_too_large", "description": "Request body is too large"})
    );
    // JSON errors and successes pass through untouched
    let (s, resp) = send(&r, post_body("/v2/user", "{}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body_json(resp).await, json!({}));
}

#[tokio::test]
async fn plain_text_rejections_become_json() {
    async fn q(
        axum::extract::Query(_q): axum::extract::Query<std::collections::HashMap<String, u32>>,
    ) -> &'static str {
        "ok"
    }
    let r = Router::new()
        .route("/v2/q", get(q))
        .layer(axum::middleware::map_response(error::json_error_bodies));
    let (s, resp) = send(
        &r,
        Request::get("/v2/q?a=notanumber")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(body_json(resp).await["code"], "bad_request");
}

#[test]
fn double_encoded_profiles_are_unwrapped_once() {
    let v = error::unwrap_double_encoded(json!("{\"user_id\": {\"value\": \"x\"}}")).unwrap();
    assert_eq!(v["user_id"]["value"], "x");
    let v = error::unwrap_double_encoded(json!({"a": 1})).unwrap();
    assert_eq!(v, json!({"a": 1}));
    let e = error::unwrap_double_encoded(json!("not json")).unwrap_err();
    assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    assert_eq!(e.code(), "invalid_json");
}
