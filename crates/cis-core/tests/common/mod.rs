#![allow(clippy::unwrap_used, dead_code)]
//! Shared fixtures: every publisher signs with `fake-publisher-key_0` (as the original tests do)
//! and the trusted keys are its public half, so tests stay fast.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use cis_core::{ChangeService, ChangeSettings, FixedClock, KeySource, UuidSalt};
use cis_crypto::{PUBLISHERS, PublisherKeys, Signer, VerifyingKey};
use cis_profile::{FakeOptions, LoginMethod, attribute, attribute_mut, fake_profile, null_profile};
use cis_vault::{MemoryVault, ProfileStore};
use serde_json::{Value, json};

pub const SALT: &str = "test-salt";
pub const NOW: &str = "2026-12-03T12:00:00.000Z";

fn reference(path: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../../../shared/reference/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

pub fn key0_pem() -> String {
    reference("keys/fake-publisher-key_0.priv.pem")
}

pub fn evil_pem() -> String {
    reference("keys/evil-signing-key.priv.pem")
}

/// Signs as any publisher with key_0.
pub fn signer() -> Signer {
    Signer::new()
        .with_same_key(&PUBLISHERS, &key0_pem())
        .unwrap()
}

pub fn evil_signer() -> Signer {
    Signer::new()
        .with_same_key(&PUBLISHERS, &evil_pem())
        .unwrap()
}

pub fn publisher_keys() -> PublisherKeys {
    let mut keys = PublisherKeys::new();
    keys.insert_shared(
        &PUBLISHERS,
        VerifyingKey::from_pem(&key0_pem(), None).unwrap(),
    );
    keys
}

pub struct Env {
    pub service: Arc<ChangeService>,
    pub vault: Arc<MemoryVault>,
    pub signer: Signer,
    pub keys: PublisherKeys,
}

pub fn env() -> Env {
    env_with(ChangeSettings::default(), Some(SALT))
}

pub fn env_with(settings: ChangeSettings, salt: Option<&str>) -> Env {
    let vault = Arc::new(MemoryVault::new());
    env_on(vault.clone(), vault, settings, salt)
}

pub fn env_on(
    store: Arc<dyn ProfileStore>,
    vault: Arc<MemoryVault>,
    settings: ChangeSettings,
    salt: Option<&str>,
) -> Env {
    let signer = signer();
    let service = ChangeService::new(
        store,
        KeySource::fixed(publisher_keys()),
        Arc::new(signer.clone()),
        salt.map(UuidSalt::new),
        settings,
    )
    .unwrap()
    .with_clock(Arc::new(FixedClock(
        Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).unwrap(),
    )));
    Env {
        service: Arc::new(service),
        vault,
        signer,
        keys: publisher_keys(),
    }
}

/// A full, signed profile of a new user (no uuid, no primary_username), as a publisher sends it.
pub fn new_user(seed: u64) -> Value {
    // Staff (LDAP login) users carry LDAP and HRIS data, so every publisher has something to
    // update.
    let opts = FakeOptions {
        uuid_username: false,
        login_method: Some(LoginMethod::MozillaLdap),
        ..FakeOptions::default()
    };
    let mut profile = fake_profile(seed, &opts);
    signer().sign_profile(&mut profile, None).unwrap();
    profile
}

pub fn user_id_of(profile: &Value) -> String {
    profile["user_id"]["value"].as_str().unwrap().to_owned()
}

/// A null profile carrying one attribute: `path` set to `value`, claimed by `publisher`, with
/// the metadata of `base` (the stored profile) and signed by `signer`.
pub fn change(base: &Value, path: &str, value: Value, publisher: &str, signer: &Signer) -> Value {
    let mut attr = attribute(base, path).unwrap().clone();
    let key = if attr.contains_key("values") {
        "values"
    } else {
        "value"
    };
    attr.insert(key.into(), value);
    attr["signature"]["publisher"]["name"] = json!(publisher);
    signer.sign_attribute(&mut attr, publisher).unwrap();
    let mut profile = null_profile();
    *attribute_mut(&mut profile, path).unwrap() = attr;
    profile
}

pub async fn stored(env: &Env, user_id: &str) -> Value {
    env.vault
        .get_by_user_id(user_id)
        .await
        .unwrap()
        .unwrap()
        .profile
}
