#![allow(clippy::unwrap_used)]
//! Publisher keys from the well-known document: a rotated key is picked up after one failed
//! verification, and refetching is rate-limited.

mod common;

use std::sync::Arc;

use cis_core::{ChangeRequest, ChangeService, ChangeSettings, Condition, KeySource, UuidSalt};
use cis_crypto::{Signer, WellKnownSource, public_jwk_from_pem};
use cis_vault::MemoryVault;
use common::*;
use serde_json::{Value, json};

fn reference(path: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../../../shared/reference/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[tokio::test]
async fn a_rotated_publisher_key_is_fetched_once_after_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mozilla-iam.json");
    // Every publisher on key_0.
    let document = reference("keys/fake-well-known.json");
    std::fs::write(&path, &document).unwrap();

    let source = Arc::new(WellKnownSource::from_file_sync(&path).unwrap());
    let service = ChangeService::new(
        Arc::new(MemoryVault::new()),
        KeySource::well_known(source),
        Arc::new(signer()),
        Some(UuidSalt::new(SALT)),
        ChangeSettings::default(),
    )
    .unwrap();
    let profile = new_user(50);
    let user_id = user_id_of(&profile);
    service
        .integrate(ChangeRequest::new(profile.clone()))
        .await
        .unwrap();

    // mozilliansorg rotates to key_1; the cached document still says key_0.
    let key1_pem = reference("keys/fake-publisher-key_1.priv.pem");
    let mut rotated: Value = serde_json::from_str(&document).unwrap();
    rotated["api"]["publishers_jwks"]["mozilliansorg"] =
        json!({"keys": [public_jwk_from_pem(&key1_pem, "key-1").unwrap()]});
    std::fs::write(&path, serde_json::to_vec(&rotated).unwrap()).unwrap();
    let key1 = Signer::new()
        .with_key_text("mozilliansorg", &key1_pem)
        .unwrap();

    let base = profile;
    let body = change(&base, "fun_title", json!("Rotated"), "mozilliansorg", &key1);
    let outcome = service
        .integrate(ChangeRequest::new(body).with_user_id(&user_id))
        .await
        .unwrap();
    assert_eq!(outcome.condition, Condition::Update);

    // The old key no longer verifies, and a second refetch within the interval is not made.
    std::fs::write(&path, &document).unwrap();
    let body = change(
        &base,
        "fun_title",
        json!("Old key"),
        "mozilliansorg",
        &signer(),
    );
    let error = service
        .integrate(ChangeRequest::new(body).with_user_id(&user_id))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid_signature");
}
