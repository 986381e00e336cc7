//! Building public JWKs, JWKS and `mozilla-iam` well-known documents from PEM keys — what
//! `pem_to_jwks.py` and the well-known Makefile did, for `cis keys jwks` and `cis serve`.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::PublicKey;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value, json};

use crate::error::CryptoError;
use crate::keys::{PemBlock, SigningKey};

/// The public JWK of a PEM key (public SPKI/PKCS#1, or private: its public half), shaped like
/// `pem_to_jwks.py` output: `alg` RS256, `e`, `kid`, `kty` RSA, `n` (minimal big-endian,
/// base64url unpadded), `use` sig, `x5c` [base64 SubjectPublicKeyInfo DER].
pub fn public_jwk_from_pem(pem: &str, kid: &str) -> Result<Value, CryptoError> {
    let block = PemBlock::parse(pem).map_err(|reason| CryptoError::key_parse("PEM", reason))?;
    let (n, e, spki) = match block.label.as_str() {
        "PUBLIC KEY" | "RSA PUBLIC KEY" => {
            let public = PublicKey::from_der(&block.der)
                .map_err(|e| CryptoError::key_parse("PEM", e.to_string()))?;
            let spki = public
                .as_der()
                .map_err(|_| CryptoError::key_parse("PEM", "cannot encode the public key"))?;
            (
                public.modulus().big_endian_without_leading_zero().to_vec(),
                public.exponent().big_endian_without_leading_zero().to_vec(),
                spki.as_ref().to_vec(),
            )
        }
        _ => {
            let key = SigningKey::from_pem(pem)?;
            let (n, e) = key.public_components();
            (n, e, key.public_spki_der()?)
        }
    };
    Ok(jwk_value(&n, &e, &spki, kid))
}

/// The public JWK of a loaded signing key (same shape as [`public_jwk_from_pem`]).
pub fn public_jwk_from_signing_key(key: &SigningKey, kid: &str) -> Result<Value, CryptoError> {
    let (n, e) = key.public_components();
    Ok(jwk_value(&n, &e, &key.public_spki_der()?, kid))
}

fn jwk_value(n: &[u8], e: &[u8], spki: &[u8], kid: &str) -> Value {
    json!({
        "alg": "RS256",
        "e": URL_SAFE_NO_PAD.encode(e),
        "kid": kid,
        "kty": "RSA",
        "n": URL_SAFE_NO_PAD.encode(n),
        "use": "sig",
        "x5c": [STANDARD.encode(spki)],
    })
}

/// A JWKS `{"keys": [...]}` of `(kid, pem)` pairs, in the given order.
pub fn jwks_from_pems(keys: &[(&str, &str)]) -> Result<Value, CryptoError> {
    let list = keys
        .iter()
        .map(|(kid, pem)| public_jwk_from_pem(pem, kid))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({ "keys": list }))
}

/// The key id the published documents use for a publisher's key (`HRISKeyId`, …); other
/// publishers get `<publisher>KeyId`.
pub fn default_kid(publisher: &str) -> String {
    match publisher {
        "mozilliansorg" => "MozilliansorgKeyId".to_owned(),
        "access_provider" => "APKeyId".to_owned(),
        "hris" => "HRISKeyId".to_owned(),
        "ldap" => "LDAPKeyId".to_owned(),
        "cis" => "CISKeyId".to_owned(),
        other => format!("{other}KeyId"),
    }
}

/// A copy of the `mozilla-iam` `template` with `api.publishers_jwks.<publisher>` set to
/// `{"keys": jwks}` for each given publisher. Publishers not given keep the template's keys.
pub fn mozilla_iam_document(
    template: &Value,
    publisher_jwks: &[(&str, Vec<Value>)],
) -> Result<Value, CryptoError> {
    let mut document = template.clone();
    let root = document
        .as_object_mut()
        .ok_or_else(|| CryptoError::WellKnownInvalid("template is not an object".into()))?;
    let api = root
        .entry("api")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| CryptoError::WellKnownInvalid("template `api` is not an object".into()))?;
    let publishers = api
        .entry("publishers_jwks")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| {
            CryptoError::WellKnownInvalid("template `api.publishers_jwks` is not an object".into())
        })?;
    for (publisher, keys) in publisher_jwks {
        publishers.insert((*publisher).to_owned(), json!({ "keys": keys }));
    }
    Ok(document)
}

/// Fills the `${DOMAIN}` and `${STAGE}` placeholders of a `*.mozilla-iam.tpl.json` text, as the
/// well-known Makefile's `templatize` did (`stage` is e.g. `dev.`, `test.` or empty for prod).
pub fn render_well_known_template(template_text: &str, domain: &str, stage: &str) -> String {
    template_text
        .replace("${DOMAIN}", domain)
        .replace("${STAGE}", stage)
}
