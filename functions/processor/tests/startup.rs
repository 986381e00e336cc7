#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The Lambda binary fails fast at start-up, naming what is wrong (B11).

use std::time::Duration;

const BINARY: &str = env!("CARGO_BIN_EXE_processor");

#[tokio::test]
async fn start_up_without_environment_fails_naming_the_variable() {
    let output = tokio::process::Command::new(BINARY)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), output)
        .await
        .expect("exits promptly")
        .unwrap();
    assert!(!output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stdout.contains("CIS_ENVIRONMENT") || stderr.contains("CIS_ENVIRONMENT"),
        "{stdout}\n{stderr}"
    );
}
