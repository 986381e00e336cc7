#![allow(clippy::unwrap_used)]
//! The change pipeline on the embedded SQLite vault (the local-mode backend): create, update,
//! no-op, real concurrent writers, delete.

mod common;

use std::sync::Arc;

use cis_core::{ChangeRequest, ChangeSettings, Condition, DeleteRequest};
use cis_vault::MemoryVault;
use cis_vault_sqlite::{Durability, SqliteOptions, SqliteVault};
use common::*;
use serde_json::{Value, json};

fn sqlite_env(dir: &tempfile::TempDir, settings: ChangeSettings) -> Env {
    let options = SqliteOptions {
        durability: Durability::Normal,
        ..SqliteOptions::default()
    };
    let vault = SqliteVault::open_with(dir.path().join("vault.db"), options).unwrap();
    // `Env::vault` is unused here: reads go through the service's store.
    env_on(
        Arc::new(vault),
        Arc::new(MemoryVault::new()),
        settings,
        Some(SALT),
    )
}

async fn stored_in(env: &Env, user_id: &str) -> Value {
    env.service
        .store()
        .get_by_user_id(user_id)
        .await
        .unwrap()
        .unwrap()
        .profile
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_update_noop_concurrent_delete_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let settings = ChangeSettings {
        allow_delete: true,
        max_conflict_retries: 40,
        ..ChangeSettings::default()
    };
    let env = sqlite_env(&dir, settings);
    let profile = new_user(40);
    let user_id = user_id_of(&profile);

    let created = env
        .service
        .integrate(ChangeRequest::new(profile.clone()))
        .await
        .unwrap();
    assert_eq!(created.condition, Condition::Create);
    let noop = env
        .service
        .integrate(ChangeRequest::new(profile))
        .await
        .unwrap();
    assert_eq!(noop.condition, Condition::Noop);

    let base = stored_in(&env, &user_id).await;
    let paths = [
        ("first_name", "mozilliansorg"),
        ("last_name", "mozilliansorg"),
        ("fun_title", "mozilliansorg"),
        ("description", "mozilliansorg"),
        ("location", "mozilliansorg"),
        ("pronouns", "mozilliansorg"),
        ("alternative_name", "mozilliansorg"),
        ("staff_information.title", "hris"),
        ("staff_information.team", "hris"),
        ("staff_information.cost_center", "hris"),
    ];
    let mut tasks = Vec::new();
    for (i, (path, publisher)) in paths.iter().enumerate() {
        let body = change(
            &base,
            path,
            json!(format!("sqlite {i}")),
            publisher,
            &env.signer,
        );
        let service = env.service.clone();
        let user_id = user_id.clone();
        tasks.push(tokio::spawn(async move {
            service
                .integrate(ChangeRequest::new(body).with_user_id(user_id))
                .await
        }));
    }
    for task in tasks {
        let outcome = task.await.unwrap().unwrap();
        assert_eq!(outcome.condition, Condition::Update);
    }
    let after = stored_in(&env, &user_id).await;
    for (i, (path, _)) in paths.iter().enumerate() {
        let attr = cis_profile::attribute(&after, path).unwrap();
        assert_eq!(attr["value"], json!(format!("sqlite {i}")), "{path}");
    }
    assert!(env.keys.verify_profile(&after).is_empty());

    env.service
        .delete(DeleteRequest {
            user_id_param: Some(user_id.clone()),
            profile: None,
        })
        .await
        .unwrap();
    assert!(
        env.service
            .store()
            .get_by_user_id(&user_id)
            .await
            .unwrap()
            .is_none()
    );
}
