#![allow(clippy::unwrap_used)]
//! Every signing vector produced by the Python CIS, reproduced byte for byte.

mod common;

use cis_crypto::{
    JWS_HEADER_B64, JWS_HEADER_JSON, PublisherKeys, Signer, SigningKey, sign_compact,
};
use serde_json::{Map, Value};

fn null_profile_attribute(path: &str) -> Map<String, Value> {
    let null: Value = serde_json::from_str(&common::read("schema/user_profile_null.json")).unwrap();
    cis_profile::attribute(&null, path).unwrap().clone()
}

#[test]
fn header_constant_is_the_python_jose_header() {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(JWS_HEADER_JSON);
    assert_eq!(encoded, JWS_HEADER_B64);
}

#[test]
fn every_vector_is_reproduced_byte_for_byte() {
    let vectors = common::json("signing-vectors.json");
    let key = SigningKey::from_pem(vectors["key_private_pem"].as_str().unwrap()).unwrap();
    let list = vectors["vectors"].as_array().unwrap();
    assert_eq!(list.len(), 7);
    for vector in list {
        let name = vector["name"].as_str().unwrap();
        assert_eq!(
            vector["signing_input_header_json"], JWS_HEADER_JSON,
            "{name}"
        );
        let expected_after = vector["attribute_after_signing"].as_object().unwrap();

        // The payload of the signed attribute, then the JWS over it.
        let payload = cis_profile::attribute_payload(expected_after);
        assert_eq!(
            String::from_utf8(payload.clone()).unwrap(),
            vector["payload_json"].as_str().unwrap(),
            "{name}: payload"
        );
        assert_eq!(
            sign_compact(&key, &payload).unwrap(),
            vector["jws"].as_str().unwrap(),
            "{name}: jws"
        );
    }
}

#[test]
fn signing_the_null_profile_attribute_gives_the_vector_attribute() {
    let vectors = common::json("signing-vectors.json");
    let publishers: Vec<&str> = vectors["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["publisher"].as_str().unwrap())
        .collect();
    let signer = Signer::new()
        .with_same_key(&publishers, vectors["key_private_pem"].as_str().unwrap())
        .unwrap();
    let verifier = PublisherKeys::new();
    let mut verifier_keys = verifier;
    for publisher in &publishers {
        verifier_keys = verifier_keys
            .with_pem(publisher, vectors["key_public_pem"].as_str().unwrap())
            .unwrap();
    }

    for vector in vectors["vectors"].as_array().unwrap() {
        let name = vector["name"].as_str().unwrap();
        let expected = vector["attribute_after_signing"].as_object().unwrap();
        let mut attribute = null_profile_attribute(vector["attribute"].as_str().unwrap());
        // Take the value (and metadata) the vector signed, keeping the null-profile key order.
        for (key, value) in expected {
            if key != "signature" {
                attribute.insert(key.clone(), value.clone());
            }
        }
        signer
            .sign_attribute(&mut attribute, vector["publisher"].as_str().unwrap())
            .unwrap();
        // Whole attribute, including key order of `signature.publisher`.
        assert_eq!(
            serde_json::to_string(&attribute).unwrap(),
            serde_json::to_string(expected).unwrap(),
            "{name}"
        );
        verifier_keys.verify_attribute(&attribute).unwrap();
    }
}
