#![allow(clippy::unwrap_used)]
//! DECISIONS B5: concurrent publishers updating one user all land (conditional write, re-read,
//! re-merge, re-check on conflict).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use cis_core::{ChangeRequest, ChangeSettings, Condition};
use cis_profile::attribute;
use cis_vault::{
    AttributeQuery, BoxFuture, MemoryVault, Page, PageRequest, ProfileRecord, ProfileStore,
    SequenceNumber, StoredProfile, UserIdEntry, UserIdFilter, VaultResult, WriteOp,
};
use common::*;
use serde_json::{Value, json};

/// A vault that makes races likely (it yields after every read, so other tasks read the same
/// version before anyone writes) and can slip a competing write in before the next update.
struct RacyStore {
    inner: Arc<MemoryVault>,
    /// A write to perform (once) right before the next `update`, as if another publisher won.
    interloper: std::sync::Mutex<Option<(String, Value)>>,
    interloped: AtomicBool,
}

impl RacyStore {
    fn new(inner: Arc<MemoryVault>) -> Self {
        Self {
            inner,
            interloper: std::sync::Mutex::new(None),
            interloped: AtomicBool::new(false),
        }
    }
}

impl ProfileStore for RacyStore {
    fn get_by_user_id<'a>(
        &'a self,
        user_id: &'a str,
    ) -> BoxFuture<'a, VaultResult<Option<StoredProfile>>> {
        Box::pin(async move {
            let read = self.inner.get_by_user_id(user_id).await;
            tokio::task::yield_now().await;
            read
        })
    }
    fn find_by_uuid<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, VaultResult<Vec<StoredProfile>>> {
        self.inner.find_by_uuid(uuid)
    }
    fn find_by_primary_email<'a>(
        &'a self,
        email: &'a str,
    ) -> BoxFuture<'a, VaultResult<Vec<StoredProfile>>> {
        self.inner.find_by_primary_email(email)
    }
    fn find_by_primary_username<'a>(
        &'a self,
        username: &'a str,
    ) -> BoxFuture<'a, VaultResult<Vec<StoredProfile>>> {
        self.inner.find_by_primary_username(username)
    }
    fn find_by_sequence_number<'a>(
        &'a self,
        sequence_number: &'a SequenceNumber,
    ) -> BoxFuture<'a, VaultResult<Option<StoredProfile>>> {
        self.inner.find_by_sequence_number(sequence_number)
    }
    fn create(&self, record: ProfileRecord) -> BoxFuture<'_, VaultResult<SequenceNumber>> {
        self.inner.create(record)
    }
    fn update<'a>(
        &'a self,
        record: ProfileRecord,
        expected: &'a SequenceNumber,
    ) -> BoxFuture<'a, VaultResult<SequenceNumber>> {
        Box::pin(async move {
            let competing = self.interloper.lock().unwrap().take();
            if let Some((path, attr)) = competing {
                let mut current = self.inner.get_by_user_id(&record.user_id).await?.unwrap();
                let (group, child) = path.split_once('.').unwrap_or((path.as_str(), ""));
                if child.is_empty() {
                    current.profile[group] = attr;
                } else {
                    current.profile[group][child] = attr;
                }
                let flat = cis_profile::sanitized_profile(&current.profile);
                let competing_record = ProfileRecord::from_profile(
                    current.profile,
                    flat.as_object().unwrap().clone(),
                )?;
                self.inner
                    .update(competing_record, &current.sequence_number)
                    .await?;
                self.interloped.store(true, Ordering::SeqCst);
            }
            self.inner.update(record, expected).await
        })
    }
    fn write_batch(&self, ops: Vec<WriteOp>) -> BoxFuture<'_, Vec<VaultResult<SequenceNumber>>> {
        self.inner.write_batch(ops)
    }
    fn delete<'a>(
        &'a self,
        user_id: &'a str,
        expected: Option<&'a SequenceNumber>,
    ) -> BoxFuture<'a, VaultResult<()>> {
        self.inner.delete(user_id, expected)
    }
    fn list_profiles(
        &self,
        request: PageRequest,
    ) -> BoxFuture<'_, VaultResult<Page<StoredProfile>>> {
        self.inner.list_profiles(request)
    }
    fn list_user_ids(&self, filter: UserIdFilter) -> BoxFuture<'_, VaultResult<Vec<UserIdEntry>>> {
        self.inner.list_user_ids(filter)
    }
    fn find_by_attributes(
        &self,
        query: AttributeQuery,
    ) -> BoxFuture<'_, VaultResult<Page<StoredProfile>>> {
        self.inner.find_by_attributes(query)
    }
}

fn racy_env(settings: ChangeSettings) -> (Env, Arc<RacyStore>) {
    let vault = Arc::new(MemoryVault::new());
    let racy = Arc::new(RacyStore::new(vault.clone()));
    (env_on(racy.clone(), vault, settings, Some(SALT)), racy)
}

#[tokio::test]
async fn a_lost_write_is_re_read_re_merged_and_retried() {
    let (env, racy) = racy_env(ChangeSettings::default());
    let profile = new_user(30);
    let user_id = user_id_of(&profile);
    env.service
        .integrate(ChangeRequest::new(profile))
        .await
        .unwrap();
    let base = stored(&env, &user_id).await;

    // Another publisher's fun_title lands between our read and our write.
    let theirs = change(
        &base,
        "fun_title",
        json!("Theirs"),
        "mozilliansorg",
        &env.signer,
    );
    *racy.interloper.lock().unwrap() = Some(("fun_title".into(), theirs["fun_title"].clone()));
    let ours = change(
        &base,
        "staff_information.team",
        json!("Ours"),
        "hris",
        &env.signer,
    );
    let outcome = env
        .service
        .integrate(ChangeRequest::new(ours).with_user_id(&user_id))
        .await
        .unwrap();
    assert!(racy.interloped.load(Ordering::SeqCst));
    assert_eq!(outcome.condition, Condition::Update);
    assert_eq!(outcome.timings.attempts, 2);
    let after = stored(&env, &user_id).await;
    assert_eq!(after["fun_title"]["value"], "Theirs");
    assert_eq!(after["staff_information"]["team"]["value"], "Ours");
}

#[tokio::test]
async fn losing_every_time_ends_in_conflict() {
    let settings = ChangeSettings {
        max_conflict_retries: 0,
        ..ChangeSettings::default()
    };
    let (env, racy) = racy_env(settings);
    let profile = new_user(31);
    let user_id = user_id_of(&profile);
    env.service
        .integrate(ChangeRequest::new(profile))
        .await
        .unwrap();
    let base = stored(&env, &user_id).await;
    let theirs = change(
        &base,
        "fun_title",
        json!("Theirs"),
        "mozilliansorg",
        &env.signer,
    );
    *racy.interloper.lock().unwrap() = Some(("fun_title".into(), theirs["fun_title"].clone()));
    let ours = change(
        &base,
        "staff_information.team",
        json!("Ours"),
        "hris",
        &env.signer,
    );
    let error = env
        .service
        .integrate(ChangeRequest::new(ours).with_user_id(&user_id))
        .await
        .unwrap_err();
    assert_eq!((error.status(), error.code()), (409, "conflict"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_publishers_all_land() {
    let settings = ChangeSettings {
        max_conflict_retries: 40,
        ..ChangeSettings::default()
    };
    let (env, racy) = racy_env(settings.clone());
    let profile = new_user(32);
    let user_id = user_id_of(&profile);
    env.service
        .integrate(ChangeRequest::new(profile))
        .await
        .unwrap();
    let base = stored(&env, &user_id).await;

    let mut changes: Vec<(&str, Value, &str)> = Vec::new();
    for (i, path) in [
        "first_name",
        "last_name",
        "alternative_name",
        "fun_title",
        "description",
        "location",
        "pronouns",
    ]
    .into_iter()
    .enumerate()
    {
        changes.push((path, json!(format!("value {i}")), "mozilliansorg"));
    }
    for path in [
        "identities.github_primary_email",
        "identities.bugzilla_mozilla_org_primary_email",
        "identities.google_primary_email",
        "identities.custom_1_primary_email",
    ] {
        changes.push((
            path,
            json!(format!("{}@example.net", path.len())),
            "mozilliansorg",
        ));
    }
    for path in [
        "staff_information.title",
        "staff_information.team",
        "staff_information.cost_center",
        "staff_information.wpr_desk_number",
        "staff_information.office_location",
    ] {
        changes.push((path, json!(format!("hris {path}")), "hris"));
    }
    changes.push((
        "access_information.hris",
        json!({"employee_id": "20"}),
        "hris",
    ));
    changes.push((
        "primary_email",
        json!("concurrent@example.net"),
        "access_provider",
    ));
    changes.push((
        "access_information.access_provider",
        json!({"grp": null}),
        "access_provider",
    ));
    changes.push(("access_information.ldap", json!({"ldapgrp": null}), "ldap"));
    assert_eq!(changes.len(), 20);

    let mut tasks = Vec::new();
    for (path, value, publisher) in &changes {
        let body = change(&base, path, value.clone(), publisher, &env.signer);
        // One service per writer, as twenty Lambdas would be: within one service the writer
        // lock serialises them, across services only the conditional write does.
        let service = env_on(
            racy.clone(),
            racy.inner.clone(),
            settings.clone(),
            Some(SALT),
        )
        .service;
        let user_id = user_id.clone();
        tasks.push(tokio::spawn(async move {
            service
                .integrate(ChangeRequest::new(body).with_user_id(user_id))
                .await
        }));
    }
    let mut attempts = 0;
    let mut sequence_numbers = Vec::new();
    for (task, (path, _, _)) in tasks.into_iter().zip(&changes) {
        let outcome = task
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(outcome.condition, Condition::Update, "{path}");
        attempts += outcome.timings.attempts;
        sequence_numbers.push(outcome.sequence_number.unwrap());
    }
    sequence_numbers.sort();
    sequence_numbers.dedup();
    assert_eq!(sequence_numbers.len(), 20);
    // The racy store makes them collide: retries happened, and nothing was lost.
    assert!(attempts > 20, "attempts: {attempts}");
    let after = stored(&env, &user_id).await;
    for (path, value, _) in &changes {
        let attr = attribute(&after, path).unwrap();
        assert_eq!(
            attr.get("value").or(attr.get("values")).unwrap(),
            value,
            "{path}"
        );
    }
    assert!(env.keys.verify_profile(&after).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_writers_in_one_service_never_conflict() {
    let (env, _racy) = racy_env(ChangeSettings {
        max_conflict_retries: 0,
        ..ChangeSettings::default()
    });
    let profile = new_user(33);
    let user_id = user_id_of(&profile);
    env.service
        .integrate(ChangeRequest::new(profile))
        .await
        .unwrap();
    let base = stored(&env, &user_id).await;
    let paths = [
        "first_name",
        "last_name",
        "alternative_name",
        "fun_title",
        "description",
        "location",
        "pronouns",
        "timezone",
    ];
    let mut tasks = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        let body = change(
            &base,
            path,
            json!(format!("serial {i}")),
            "mozilliansorg",
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
    for (task, path) in tasks.into_iter().zip(paths) {
        // With no retries allowed, any lost race would be a 409: the writer lock prevents them.
        let outcome = task
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(outcome.timings.attempts, 1, "{path}");
    }
    let after = stored(&env, &user_id).await;
    for (i, path) in paths.iter().enumerate() {
        assert_eq!(
            after[*path]["value"],
            json!(format!("serial {i}")),
            "{path}"
        );
    }
}
