#![cfg(feature = "ssm")]
#![allow(clippy::unwrap_used)]
//! Publisher keys from SSM against a moto server: `eval "$(ci/moto.sh start)"`, then
//! `cargo test -p cis-crypto --features ssm`. Skipped, loudly, without an endpoint.

mod common;

use aws_sdk_ssm::Client;
use aws_sdk_ssm::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ssm::types::ParameterType;
use cis_crypto::ssm::{parameter_name, signer_from_ssm, signing_key_from_ssm};
use cis_crypto::{CryptoError, PublisherKeys, sign_compact};

fn endpoint(test: &str) -> Option<String> {
    let endpoint = std::env::var("CIS_TEST_SSM_ENDPOINT")
        .ok()
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
        .filter(|e| !e.trim().is_empty());
    if endpoint.is_none() {
        eprintln!(
            "SKIPPED {test}: neither CIS_TEST_SSM_ENDPOINT nor AWS_ENDPOINT_URL is set; \
             run `eval \"$(ci/moto.sh start)\"` first"
        );
    }
    endpoint
}

fn client(endpoint: &str) -> Client {
    let config = aws_sdk_ssm::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .endpoint_url(endpoint)
        .build();
    Client::from_conf(config)
}

async fn put(client: &Client, name: &str, value: &str) {
    client
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .unwrap();
}

#[test]
fn parameter_names() {
    assert_eq!(
        parameter_name("/iam/cis/dev/keys", "hris"),
        "/iam/cis/dev/keys/hris"
    );
    assert_eq!(parameter_name("/iam/", "cis"), "/iam/cis");
}

#[tokio::test]
async fn jwk_and_pem_parameters_load_and_missing_ones_fail() {
    let Some(endpoint) = endpoint("jwk_and_pem_parameters_load_and_missing_ones_fail") else {
        return;
    };
    let client = client(&endpoint);
    let path = format!("/cis-crypto-test/{}", std::process::id());
    // As the Python test_ssm_provider: a JSON private JWK; and a PEM for another publisher.
    put(
        &client,
        &format!("{path}/hris"),
        &common::read("keys/fake-publisher-key_0.priv.jwk"),
    )
    .await;
    put(&client, &format!("{path}/ldap"), &common::key0_pem()).await;

    let signer = signer_from_ssm(&client, &path, &["hris", "ldap"])
        .await
        .unwrap();
    let public = common::read("keys/fake-publisher-key_0.pub.pem");
    let keys = PublisherKeys::new()
        .with_pem("hris", &public)
        .unwrap()
        .with_pem("ldap", &public)
        .unwrap();
    for publisher in ["hris", "ldap"] {
        let token = signer.sign_bytes(publisher, b"{\"value\":true}").unwrap();
        keys.verify_token(publisher, &token).unwrap();
    }

    let error = signing_key_from_ssm(&client, &format!("{path}/nobody"))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, CryptoError::SecretFetch { reason, .. } if reason == "parameter not found"),
        "{error:?}"
    );

    put(&client, &format!("{path}/broken"), "not a key").await;
    let error = signing_key_from_ssm(&client, &format!("{path}/broken"))
        .await
        .unwrap_err();
    assert!(matches!(error, CryptoError::KeyParse { .. }), "{error:?}");
    assert!(
        !error.to_string().contains("not a key"),
        "secret text in an error"
    );

    // Same key as the PEM fixture: deterministic signatures agree.
    let direct = cis_crypto::SigningKey::from_pem(&common::key0_pem()).unwrap();
    let from_ssm = signing_key_from_ssm(&client, &format!("{path}/hris"))
        .await
        .unwrap();
    assert_eq!(
        sign_compact(&direct, b"x").unwrap(),
        sign_compact(&from_ssm, b"x").unwrap()
    );
}
