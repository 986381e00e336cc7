//! The emulator against a hand-driven client speaking the runtime API, as lambda_runtime does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use cis_lambda_emulator::{EmulatorError, LambdaEmulator};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn http(addr: &str, request: String) -> (u16, Vec<(String, String)>, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

#[tokio::test]
async fn delivers_an_event_and_returns_the_function_response() {
    let emulator = LambdaEmulator::start().await.unwrap();
    let addr = emulator.runtime_api();
    let function = tokio::spawn(async move {
        let (status, headers, body) = http(
            &addr,
            "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                .into(),
        )
        .await;
        assert_eq!(status, 200);
        let id = headers
            .iter()
            .find(|(k, _)| k == "lambda-runtime-aws-request-id")
            .unwrap()
            .1
            .clone();
        assert!(
            headers
                .iter()
                .any(|(k, _)| k == "lambda-runtime-deadline-ms")
        );
        let event: Value = serde_json::from_str(&body).unwrap();
        let reply = json!({"echo": event["n"]}).to_string();
        let (status, _, _) = http(
            &addr,
            format!(
                "POST /2018-06-01/runtime/invocation/{id}/response HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{reply}",
                reply.len()
            ),
        )
        .await;
        assert_eq!(status, 202);
    });
    let response = emulator
        .invoke(json!({"n": 7}), Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(response, json!({"echo": 7}));
    function.await.unwrap();
}

#[tokio::test]
async fn reports_function_errors_and_timeouts() {
    let emulator = LambdaEmulator::start().await.unwrap();
    let addr = emulator.runtime_api();
    let function = tokio::spawn(async move {
        let (_, headers, _) = http(
            &addr,
            "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                .into(),
        )
        .await;
        let id = headers
            .iter()
            .find(|(k, _)| k == "lambda-runtime-aws-request-id")
            .unwrap()
            .1
            .clone();
        let body = r#"{"errorType":"Boom","errorMessage":"bad event"}"#;
        http(
            &addr,
            format!(
                "POST /2018-06-01/runtime/invocation/{id}/error HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
        )
        .await;
    });
    let error = emulator
        .invoke(json!({}), Duration::from_secs(10))
        .await
        .unwrap_err();
    match error {
        EmulatorError::Function {
            error_type,
            message,
        } => {
            assert_eq!(error_type, "Boom");
            assert_eq!(message, "bad event");
        }
        other => panic!("unexpected {other:?}"),
    }
    function.await.unwrap();

    // Nobody polls now: the invocation times out instead of hanging.
    let error = emulator
        .invoke(json!({}), Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(error, EmulatorError::Timeout(_)));
}
