#![allow(clippy::unwrap_used, dead_code)]
//! Helpers shared by the integration tests: reading `../shared/reference` fixtures.

use std::path::PathBuf;

use serde_json::Value;

pub fn reference(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference")
        .join(path)
}

pub fn read(path: &str) -> String {
    std::fs::read_to_string(reference(path)).unwrap()
}

pub fn json(path: &str) -> Value {
    serde_json::from_str(&read(path)).unwrap()
}

pub fn key0_pem() -> String {
    read("keys/fake-publisher-key_0.priv.pem")
}

pub const E2E_FILES: [&str; 11] = [
    "e2e-0",
    "e2e-1",
    "e2e-2",
    "e2e-3",
    "e2e-4",
    "e2e-5",
    "e2e-6",
    "e2e-7",
    "e2e-8",
    "e2e-9",
    "e2e-durable",
];

pub fn e2e_profile(name: &str) -> Value {
    json(&format!("profiles/{name}.json"))
}
