#![allow(clippy::unwrap_used)]
//! The cis_crypto test suite of the Python CIS (profile-and-crypto §12.2), ported in spirit.

mod common;

use cis_crypto::{
    CryptoError, PUBLISHERS, PublisherKeys, Signer, SigningKey, VerifyingKey, decode_compact,
    public_jwk_from_pem, sign_compact, verify_compact,
};
use serde_json::{Value, json};

const GOOD_SIGNATURE_PAYLOAD: &str = r#"{"metadata":{"classification":"PUBLIC","last_modified":"2018-01-01T00:00:00Z","created":"2018-01-01T00:00:00Z","publisher_authority":"mozilliansorg","verified":"false"},"values":{"my blog":"https://example.net/blog"}}"#;

/// From the Python test_jwks_verification: signed with the allizom (dev) mozilliansorg key, with
/// the older typ-first header.
const ALLIZOM_MOZILLIANSORG_TOKEN: &str = concat!(
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJtZXRhZGF0YSI6eyJjbGFzc2lmaWNhdGlvbiI6IlBVQkxJQyIsImxhc3R",
    "fbW9kaWZpZWQiOiIyMDE5LTAyLTA1VDEyOjExOjUyLjAwMFoiLCJjcmVhdGVkIjoiMjAxOS0wMi0wNVQxMjoxMTo1Mi4wMDBa",
    "IiwidmVyaWZpZWQiOnRydWUsImRpc3BsYXkiOiJwdWJsaWMifSwidmFsdWUiOiJhOTg2MTM1My1jODRkLTQ5NTktOWI4Ni04ZTA",
    "xZTBmZDQ1MmIifQ.aFzcm6rq1AaOpUymvZkzvDNwVLaQsaVakUrw_VZilXHuY9WwZAC1mXd0pPoZpjeeQY9kq7pWsCwVe5PkBu7_6Yf",
    "EcToKbkpPlID3EmW2qeUIbby7GpiAT1Alnj0PWcfOH_P1E8_DLh7quwOhu8SA1ekmAME6ty0OCd7o6QUUrY4eVozFux2qAFpDd6Oqo-H",
    "K2dkFxRbLZivEZFzAURHN8G7EN3bzicI72R_QDDO_rBEa_QSMmkkhs3M9DB3hBAgzRExNah0NHH6mpcuQl9QnMocR2Moj_pmbKJhpr6wZ",
    "uoTidZyW_sX5ZG5guja7FkwK960yLlwl1AgCXzMUlJ5zZqwuuiWCV5n8f3Cbwd-IUQaiTklAJWunydqcxM32LRUfJ7kR16D2O7LkQf96Z",
    "KBgyH-YyRflFuYtjL6PEmCETOYTJ58m8y4BTWlXicWCv0w7R8tGIQ0AOjdUYh0wIBAvnL_dV2UeENc2f4hrcK_OgDynYeYixVOH-lb0E",
    "QRm2-x-xcVc3aco6W80Z0GooTKT40TYffyt6rEhg0og4cluPX9IQGdd5PD9QfKh5ecoECUQ0nhGNUkAMlqC-bPMgT2a2kxd04p-gZuV",
    "re-laBVWh6NnRird-11fncRyMhJ8HSaZr1ETLzOegR7cFQ5DZhWKAuvcjpBayWUJ2Y1qq4Begjk",
);

#[test]
fn good_signature_file_verifies_with_the_access_file_key() {
    let public =
        VerifyingKey::from_pem(&common::read("keys/fake-access-file-key.pub.pem"), None).unwrap();
    // The fixture file ends with a newline and uses the typ-first header.
    let token = common::read("keys/good-signature");
    let decoded = decode_compact(&token).unwrap();
    assert_eq!(
        decoded.header.keys().next().map(String::as_str),
        Some("typ")
    );
    let payload = verify_compact(&token, &[public], "access_file").unwrap();
    assert_eq!(String::from_utf8(payload).unwrap(), GOOD_SIGNATURE_PAYLOAD);
}

#[test]
fn token_signed_by_the_evil_key_is_rejected() {
    let evil = SigningKey::from_pem(&common::read("keys/evil-signing-key.priv.pem")).unwrap();
    let token = sign_compact(&evil, GOOD_SIGNATURE_PAYLOAD.as_bytes()).unwrap();
    let trusted =
        VerifyingKey::from_pem(&common::read("keys/fake-access-file-key.pub.pem"), None).unwrap();
    let error = verify_compact(&token, &[trusted], "access_file").unwrap_err();
    assert!(
        matches!(error, CryptoError::SignatureInvalid { keys_tried: 1, .. }),
        "{error:?}"
    );
}

#[test]
fn private_jwk_signs_and_fake_well_known_verifies_as_hris() {
    let signer = Signer::new()
        .with_key_file(
            "hris",
            &common::reference("keys/fake-publisher-key_0.priv.jwk"),
        )
        .unwrap();
    let mut attribute = json!({
        "signature": {"publisher": {"alg": "RS256", "typ": "JWS", "name": "hris", "value": ""}},
        "metadata": {
            "classification": "PUBLIC",
            "last_modified": "1970-01-01T00:00:00Z",
            "created": "1970-01-01T00:00:00Z",
            "verified": true,
            "display": "public"
        },
        "value": "test"
    });
    signer
        .sign_attribute(attribute.as_object_mut().unwrap(), "hris")
        .unwrap();
    let keys = PublisherKeys::from_well_known(&common::json("keys/fake-well-known.json")).unwrap();
    keys.verify_attribute(attribute.as_object().unwrap())
        .unwrap();

    // The JWK and the PEM of key_0 are the same key: same deterministic signature.
    let from_pem = SigningKey::from_pem(&common::key0_pem()).unwrap();
    let token = cis_profile::signature_value(attribute.as_object().unwrap()).unwrap();
    let payload = cis_profile::attribute_payload(attribute.as_object().unwrap());
    assert_eq!(sign_compact(&from_pem, &payload).unwrap(), token);
}

#[test]
fn allizom_mozilliansorg_token_verifies_against_the_dev_well_known() {
    let keys = PublisherKeys::from_well_known(&common::json("keys/well-known.json")).unwrap();
    let payload = keys
        .verify_token("mozilliansorg", ALLIZOM_MOZILLIANSORG_TOKEN)
        .unwrap();
    let payload: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(payload["value"], "a9861353-c84d-4959-9b86-8e01e0fd452b");

    // Another publisher's key does not verify it.
    assert!(matches!(
        keys.verify_token("hris", ALLIZOM_MOZILLIANSORG_TOKEN),
        Err(CryptoError::SignatureInvalid { .. })
    ));
}

#[test]
fn jwk_n_with_a_leading_zero_byte_is_accepted() {
    let mut well_known = common::json("keys/fake-well-known.json");
    let jwk = &mut well_known["api"]["publishers_jwks"]["ldap"]["keys"][0];
    // Same key as the private JWK fixture, whose `n` starts with a 0x00 byte ("ALxE…").
    let private_jwk = common::json("keys/fake-publisher-key_0.priv.jwk");
    assert!(private_jwk["n"].as_str().unwrap().starts_with("ALxE"));
    jwk["n"] = private_jwk["n"].clone();
    let keys = PublisherKeys::from_well_known(&well_known).unwrap();

    let signer = Signer::new()
        .with_key_text("ldap", &common::key0_pem())
        .unwrap();
    let token = signer.sign_bytes("ldap", b"{\"value\":1}").unwrap();
    assert_eq!(keys.verify_token("ldap", &token).unwrap(), b"{\"value\":1}");

    // The production document, whose mozilliansorg `n` has a leading zero, loads completely.
    let prod =
        PublisherKeys::from_well_known(&common::json("well-known/prod.mozilla-iam.json")).unwrap();
    assert_eq!(prod.publishers().count(), PUBLISHERS.len());
}

#[test]
fn every_key_of_a_publisher_is_tried() {
    let key1_public = common::read("keys/fake-publisher-key_1.pub.pem");
    let key0_public = common::read("keys/fake-publisher-key_0.pub.pem");
    // Rotation: the old key first, the current one second.
    let keys = PublisherKeys::new()
        .with_pem("cis", &key1_public)
        .unwrap()
        .with_pem("cis", &key0_public)
        .unwrap();
    let signer = Signer::new()
        .with_key_text("cis", &common::key0_pem())
        .unwrap();
    let token = signer.sign_bytes("cis", b"{}").unwrap();
    keys.verify_token("cis", &token).unwrap();

    let only_old = PublisherKeys::new().with_pem("cis", &key1_public).unwrap();
    assert!(matches!(
        only_old.verify_token("cis", &token),
        Err(CryptoError::SignatureInvalid { keys_tried: 1, .. })
    ));
}

#[test]
fn pkcs8_pem_and_pkcs1_pem_are_the_same_key() {
    // PKCS#8 wrapping of key_0 built from its PKCS#1 DER (version 0, rsaEncryption, octet string).
    use base64::Engine;
    let pkcs1_pem = common::key0_pem();
    let body: String = pkcs1_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let pkcs1 = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    let algorithm: &[u8] = &[
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut octets = vec![0x04];
    push_der_len(&mut octets, pkcs1.len());
    octets.extend_from_slice(&pkcs1);
    let mut inner = vec![0x02, 0x01, 0x00];
    inner.extend_from_slice(algorithm);
    inner.extend_from_slice(&octets);
    let mut pkcs8 = vec![0x30];
    push_der_len(&mut pkcs8, inner.len());
    pkcs8.extend_from_slice(&inner);
    let pkcs8_pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(&pkcs8)
    );

    let a = SigningKey::from_pem(&pkcs1_pem).unwrap();
    let b = SigningKey::from_pem(&pkcs8_pem).unwrap();
    assert_eq!(
        sign_compact(&a, b"{}").unwrap(),
        sign_compact(&b, b"{}").unwrap()
    );
}

fn push_der_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
}

#[test]
fn public_jwk_from_pem_matches_pem_to_jwks_output() {
    let expected = common::json("keys/fake-publisher-key_0.pub.jwks");
    let from_public = public_jwk_from_pem(
        &common::read("keys/fake-publisher-key_0.pub.pem"),
        "example",
    )
    .unwrap();
    let from_private = public_jwk_from_pem(&common::key0_pem(), "example").unwrap();
    // Same members and values (the Python output's member order is not meaningful).
    assert_eq!(from_public, expected);
    assert_eq!(from_private, expected);
    let keys: Vec<&str> = from_public
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["alg", "e", "kid", "kty", "n", "use", "x5c"]);
}

#[test]
fn bad_key_material_is_a_key_parse_error() {
    for text in [
        "",
        "-----BEGIN RSA PRIVATE KEY-----\nnot base64!\n-----END RSA PRIVATE KEY-----\n",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        "{\"kty\":\"RSA\",\"n\":\"AQAB\"}",
        "{not json",
    ] {
        assert!(
            matches!(
                SigningKey::from_pem_or_jwk(text),
                Err(CryptoError::KeyParse { .. })
            ),
            "{text}"
        );
    }
    assert!(matches!(
        VerifyingKey::from_jwk(&json!({"kty": "EC", "n": "AQAB", "e": "AQAB"})),
        Err(CryptoError::KeyParse { .. })
    ));
    assert!(matches!(
        PublisherKeys::from_well_known(&json!({"api": {}})),
        Err(CryptoError::WellKnownInvalid(_))
    ));
}
