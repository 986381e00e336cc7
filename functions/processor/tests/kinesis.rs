#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The Kinesis handler on the reference event shape (`shared/reference/events/kinesis-event.json`,
//! data replaced by base64 of signed fake profiles): integrated in order, a tampered profile
//! dropped for good (not a batch item failure), a retryable failure reported with the rest of
//! its batch; each outcome recorded, and a record whose outcome could not be recorded retried
//! with the rest of its batch (integrating it again is a no-op).

use std::io::Write;
use std::sync::{Arc, Mutex};

use aws_lambda_events::kinesis::KinesisEvent;
use base64::Engine as _;
use cis_core::{ChangeService, ChangeSettings, KeySource, UuidSalt};
use cis_crypto::{PUBLISHERS, PublisherKeys, Signer, VerifyingKey, WellKnownSource};
use cis_fn_processor::{OutcomeLog, handle_kinesis_event};
use cis_profile::{FakeOptions, LoginMethod, attribute, attribute_mut, fake_profile, null_profile};
use cis_vault::{BoxFuture, IngestOutcome, MemoryVault, ProfileStore, VaultError, VaultResult};
use serde_json::{Value, json};

/// The outcomes recorded, in order; the first `fail_first` recordings fail.
#[derive(Default)]
struct Outcomes {
    recorded: Mutex<Vec<(String, Option<String>, IngestOutcome)>>,
    fail_first: Mutex<usize>,
}

impl Outcomes {
    fn failing(times: usize) -> Self {
        Self {
            fail_first: Mutex::new(times),
            ..Self::default()
        }
    }

    fn recorded(&self) -> Vec<(String, Option<String>, IngestOutcome)> {
        self.recorded.lock().unwrap().clone()
    }
}

impl OutcomeLog for Outcomes {
    fn record<'a>(
        &'a self,
        kinesis_sequence_number: &'a str,
        user_id: Option<&'a str>,
        outcome: &'a IngestOutcome,
    ) -> BoxFuture<'a, VaultResult<()>> {
        Box::pin(async move {
            let mut fail = self.fail_first.lock().unwrap();
            if *fail > 0 {
                *fail -= 1;
                return Err(VaultError::unavailable(true, "outcome table throttled"));
            }
            self.recorded.lock().unwrap().push((
                kinesis_sequence_number.to_owned(),
                user_id.map(str::to_owned),
                outcome.clone(),
            ));
            Ok(())
        })
    }
}

fn reference(path: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../../../shared/reference/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn signer() -> Signer {
    Signer::new()
        .with_same_key(
            &PUBLISHERS,
            &reference("keys/fake-publisher-key_0.priv.pem"),
        )
        .unwrap()
}

fn publisher_keys() -> PublisherKeys {
    let mut keys = PublisherKeys::new();
    keys.insert_shared(
        &PUBLISHERS,
        VerifyingKey::from_pem(&reference("keys/fake-publisher-key_0.priv.pem"), None).unwrap(),
    );
    keys
}

fn service(store: Arc<dyn ProfileStore>, keys: KeySource) -> ChangeService {
    ChangeService::new(
        store,
        keys,
        Arc::new(signer()),
        Some(UuidSalt::new("test-salt")),
        ChangeSettings::default(),
    )
    .unwrap()
}

fn new_user(seed: u64) -> Value {
    let opts = FakeOptions {
        uuid_username: false,
        login_method: Some(LoginMethod::MozillaLdap),
        ..FakeOptions::default()
    };
    let mut profile = fake_profile(seed, &opts);
    signer().sign_profile(&mut profile, None).unwrap();
    profile
}

fn user_id_of(profile: &Value) -> String {
    profile["user_id"]["value"].as_str().unwrap().to_owned()
}

/// A null profile carrying `user_id` and a signed `fun_title` claimed by mozilliansorg.
fn title_update(base: &Value, title: &str) -> Value {
    let mut attr = attribute(base, "fun_title").unwrap().clone();
    attr.insert("value".into(), json!(title));
    attr["signature"]["publisher"]["name"] = json!("mozilliansorg");
    signer().sign_attribute(&mut attr, "mozilliansorg").unwrap();
    let mut profile = null_profile();
    *attribute_mut(&mut profile, "fun_title").unwrap() = attr;
    profile["user_id"] = base["user_id"].clone();
    profile
}

/// The reference event with one record per `(sequence number, data)`.
fn event(records: &[(&str, &Value)]) -> KinesisEvent {
    let template: Value = serde_json::from_str(&reference("events/kinesis-event.json")).unwrap();
    let record = template["Records"][0].clone();
    let records: Vec<Value> = records
        .iter()
        .map(|(sequence, data)| {
            let mut r = record.clone();
            let k = &mut r["kinesis"];
            k["sequenceNumber"] = json!(sequence);
            k["partitionKey"] = json!(data["user_id"]["value"].as_str().unwrap_or("x"));
            k["data"] = json!(
                base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(data).unwrap())
            );
            // Real Kinesis events carry it; the reference file omits it and the event type
            // requires it.
            k["approximateArrivalTimestamp"] = json!(1_764_763_200.0);
            r
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

fn failures(response: &aws_lambda_events::streams::KinesisEventResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone().unwrap())
        .collect()
}

#[tokio::test]
async fn signed_profiles_integrate_in_order_and_tampered_ones_are_dropped() {
    let vault = Arc::new(MemoryVault::new());
    let service = service(vault.clone(), KeySource::fixed(publisher_keys()));
    let alice = new_user(1);
    let bob = new_user(2);
    let mut tampered = new_user(3);
    tampered["first_name"]["value"] = json!("Mallory");
    let wrapped = json!({ "profile": title_update(&alice, "second") });

    let outcomes = Outcomes::default();
    let response = handle_kinesis_event(
        &service,
        &outcomes,
        event(&[
            ("900000000001", &alice),
            ("900000000002", &tampered),
            ("900000000003", &title_update(&alice, "first")),
            ("900000000004", &bob),
            ("900000000005", &wrapped),
        ]),
    )
    .await;
    assert!(failures(&response).is_empty(), "{response:?}");

    let stored = vault
        .get_by_user_id(&user_id_of(&alice))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.profile["fun_title"]["value"], json!("second"));
    assert!(
        vault
            .get_by_user_id(&user_id_of(&bob))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        vault
            .get_by_user_id(&user_id_of(&tampered))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        json!({ "batchItemFailures": [] })
    );

    // One outcome per record, keyed by its sequence number: the vault's sequence number for
    // each write, the reason for the rejection.
    let recorded = outcomes.recorded();
    let numbers: Vec<&str> = recorded.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(
        numbers,
        [
            "900000000001",
            "900000000002",
            "900000000003",
            "900000000004",
            "900000000005"
        ]
    );
    assert_eq!(recorded[0].1.as_deref(), Some(user_id_of(&alice).as_str()));
    assert_eq!(
        recorded[4].2,
        IngestOutcome::Integrated {
            sequence_number: Some(stored.sequence_number.clone())
        }
    );
    for index in [0, 2, 3] {
        assert!(
            matches!(
                &recorded[index].2,
                IngestOutcome::Integrated {
                    sequence_number: Some(_)
                }
            ),
            "{:?}",
            recorded[index]
        );
    }
    match &recorded[1] {
        (_, Some(user_id), IngestOutcome::Rejected { reason }) => {
            assert_eq!(user_id, &user_id_of(&tampered));
            assert!(reason.starts_with("invalid_signature"), "{reason}");
            assert!(!reason.contains("Mallory"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_unrecorded_outcome_is_retried_and_the_second_integration_is_a_noop() {
    let vault = Arc::new(MemoryVault::new());
    let service = service(vault.clone(), KeySource::fixed(publisher_keys()));
    let alice = new_user(7);
    let bob = new_user(8);
    let batch = || {
        event(&[
            ("900000000011", &alice),
            ("900000000012", &title_update(&alice, "t")),
            ("900000000013", &bob),
        ])
    };

    // Alice is integrated but her outcome is not recorded: her record and the rest of the
    // batch are reported, and nothing after it was integrated.
    let outcomes = Outcomes::failing(1);
    let response = handle_kinesis_event(&service, &outcomes, batch()).await;
    assert_eq!(
        failures(&response),
        ["900000000011", "900000000012", "900000000013"]
    );
    assert!(outcomes.recorded().is_empty());
    let first = vault
        .get_by_user_id(&user_id_of(&alice))
        .await
        .unwrap()
        .unwrap();
    assert!(first.profile["fun_title"]["value"] != json!("t"));
    assert!(
        vault
            .get_by_user_id(&user_id_of(&bob))
            .await
            .unwrap()
            .is_none()
    );

    // Lambda delivers the batch again: Alice's create is now a no-op (same stored sequence
    // number until her update), then the rest goes through and every outcome is recorded.
    let response = handle_kinesis_event(&service, &outcomes, batch()).await;
    assert!(failures(&response).is_empty(), "{response:?}");
    let recorded = outcomes.recorded();
    assert_eq!(
        recorded[0].2,
        IngestOutcome::Integrated {
            sequence_number: None
        },
        "the create was not applied twice"
    );
    assert!(matches!(
        recorded[1].2,
        IngestOutcome::Integrated {
            sequence_number: Some(_)
        }
    ));
    let after = vault
        .get_by_user_id(&user_id_of(&alice))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.profile["fun_title"]["value"], json!("t"));
    assert_eq!(after.uuid, first.uuid);
    assert!(
        vault
            .get_by_user_id(&user_id_of(&bob))
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn retryable_failures_are_reported_with_the_rest_of_the_batch() {
    let vault = Arc::new(MemoryVault::new());
    // A well-known file that does not exist: publisher keys unavailable, a retryable failure.
    let keys = KeySource::well_known(Arc::new(
        WellKnownSource::new("/nonexistent/cis/well-known.json").unwrap(),
    ));
    let service = service(vault.clone(), keys);
    let outcomes = Outcomes::default();
    let response = handle_kinesis_event(
        &service,
        &outcomes,
        event(&[
            ("900000000001", &new_user(4)),
            ("900000000002", &new_user(5)),
        ]),
    )
    .await;
    assert_eq!(failures(&response), ["900000000001", "900000000002"]);
    assert!(
        vault
            .get_by_user_id(&user_id_of(&new_user(4)))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        serde_json::to_value(&response).unwrap()["batchItemFailures"][0],
        json!({ "itemIdentifier": "900000000001" })
    );
    assert!(
        outcomes.recorded().is_empty(),
        "retried records stay pending"
    );
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_rejected_record_is_logged_with_user_id_and_code_only() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    // Current-thread runtime: every poll happens on this thread, under this default.
    let _guard = tracing::subscriber::set_default(subscriber);

    let service = service(
        Arc::new(MemoryVault::new()),
        KeySource::fixed(publisher_keys()),
    );
    let mut tampered = new_user(6);
    tampered["first_name"]["value"] = json!("Mallory");
    let response = handle_kinesis_event(
        &service,
        &Outcomes::default(),
        event(&[("900000000009", &tampered)]),
    )
    .await;
    assert!(failures(&response).is_empty());

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line = logs
        .lines()
        .find(|l| l.contains("rejected for good"))
        .unwrap_or_else(|| panic!("{logs}"));
    assert!(line.contains(&user_id_of(&tampered)), "{line}");
    assert!(line.contains("invalid_signature"), "{line}");
    assert!(line.contains("900000000009"), "{line}");
    assert!(!logs.contains("Mallory"), "{logs}");
}
