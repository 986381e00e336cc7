//! Publisher public keys and attribute/profile verification (profile-and-crypto §4).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Number, Value};

use crate::error::CryptoError;
use crate::jws::verify_compact;
use crate::keys::VerifyingKey;

/// Publisher name -> the public keys trusted for it, each parsed once. Every key of a publisher is
/// tried in order (key rotation publishes old and new side by side).
#[derive(Debug, Clone, Default)]
pub struct PublisherKeys {
    keys: BTreeMap<String, Vec<Arc<VerifyingKey>>>,
}

/// The verifying half of the crate; the same type as [`PublisherKeys`].
pub type Verifier = PublisherKeys;

/// One attribute of a profile that did not verify.
#[derive(Debug)]
pub struct VerificationFailure {
    /// `name` or `group.child`.
    pub path: String,
    /// The publisher the attribute claims, if it names one.
    pub publisher: Option<String>,
    pub error: CryptoError,
}

impl std::fmt::Display for VerificationFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.publisher {
            Some(publisher) => write!(f, "{} ({publisher}): {}", self.path, self.error),
            None => write!(f, "{}: {}", self.path, self.error),
        }
    }
}

impl PublisherKeys {
    /// No keys: every signed attribute fails with [`CryptoError::UnknownPublisher`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts `key` for `publisher`, after the keys already trusted for it.
    pub fn insert(&mut self, publisher: impl Into<String>, key: VerifyingKey) {
        self.keys
            .entry(publisher.into())
            .or_default()
            .push(Arc::new(key));
    }

    /// Trusts one key for several publishers (test and dev setups).
    pub fn insert_shared(&mut self, publishers: &[&str], key: VerifyingKey) {
        let key = Arc::new(key);
        for publisher in publishers {
            self.keys
                .entry((*publisher).to_owned())
                .or_default()
                .push(Arc::clone(&key));
        }
    }

    /// Trusts a PEM public key (SPKI or PKCS#1; a private PEM is reduced to its public half).
    pub fn with_pem(mut self, publisher: &str, pem: &str) -> Result<Self, CryptoError> {
        self.insert(publisher, VerifyingKey::from_pem(pem, None)?);
        Ok(self)
    }

    /// Trusts every key of a JWKS (`{"keys": [...]}`) or a single JWK object for `publisher`.
    pub fn with_jwks(mut self, publisher: &str, jwks: &Value) -> Result<Self, CryptoError> {
        for key in jwk_list(jwks, publisher)? {
            self.insert(publisher, key);
        }
        Ok(self)
    }

    /// The publisher keys of a `mozilla-iam` well-known document:
    /// `api.publishers_jwks.<publisher>.keys`. `access_file` keys are not publisher keys and are
    /// ignored. A key that cannot be parsed fails the whole document, so a broken deployment is
    /// noticed at once rather than as sporadic verification failures.
    pub fn from_well_known(document: &Value) -> Result<Self, CryptoError> {
        let publishers = document
            .get("api")
            .and_then(|api| api.get("publishers_jwks"))
            .and_then(Value::as_object)
            .ok_or_else(|| {
                CryptoError::WellKnownInvalid("no `api.publishers_jwks` object".into())
            })?;
        let mut out = Self::new();
        for (publisher, jwks) in publishers {
            out = out.with_jwks(publisher, jwks)?;
        }
        Ok(out)
    }

    /// Publishers with at least one key, sorted.
    pub fn publishers(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// The keys trusted for `publisher`.
    pub fn keys_for(&self, publisher: &str) -> Result<&[Arc<VerifyingKey>], CryptoError> {
        self.keys
            .get(publisher)
            .filter(|keys| !keys.is_empty())
            .map(Vec::as_slice)
            .ok_or_else(|| CryptoError::UnknownPublisher(publisher.to_owned()))
    }

    /// Verifies a compact JWS with the keys of `publisher`; returns the payload bytes.
    pub fn verify_token(&self, publisher: &str, token: &str) -> Result<Vec<u8>, CryptoError> {
        verify_compact(token, self.keys_for(publisher)?, publisher)
    }

    /// Verifies the publisher signature of `attribute` with the keys of the publisher it names.
    ///
    /// Order of checks: value set (null -> [`CryptoError::NullValue`]), publisher named, signature
    /// present, publisher known, JWS well formed, signature valid with some key, signed data equal
    /// to the attribute minus `signature`.
    ///
    /// The data comparison is semantic and order-insensitive (Python dict equality), with one
    /// deliberate difference: numbers compare by numeric value (`1` equals `1.0`, as in Python),
    /// but booleans only equal booleans (Python's `true == 1` is not kept: a signed `1` must not
    /// vouch for `true`).
    pub fn verify_attribute(&self, attribute: &Map<String, Value>) -> Result<(), CryptoError> {
        self.verify_attribute_checked(attribute, None)
    }

    /// [`Self::verify_attribute`], also requiring the attribute to name `expected_publisher`
    /// ([`CryptoError::PublisherMismatch`] otherwise).
    pub fn verify_attribute_as(
        &self,
        attribute: &Map<String, Value>,
        expected_publisher: &str,
    ) -> Result<(), CryptoError> {
        self.verify_attribute_checked(attribute, Some(expected_publisher))
    }

    fn verify_attribute_checked(
        &self,
        attribute: &Map<String, Value>,
        expected_publisher: Option<&str>,
    ) -> Result<(), CryptoError> {
        match cis_profile::value_is_set(attribute) {
            Some(true) => {}
            Some(false) => return Err(CryptoError::NullValue),
            None => return Err(CryptoError::NotAnAttribute("no `value` or `values`".into())),
        }
        let publisher =
            cis_profile::publisher_name(attribute).ok_or(CryptoError::MissingPublisherName)?;
        if let Some(expected) = expected_publisher
            && expected != publisher
        {
            return Err(CryptoError::PublisherMismatch {
                expected: expected.to_owned(),
                claimed: publisher.to_owned(),
            });
        }
        let token = cis_profile::signature_value(attribute)
            .filter(|token| !token.trim().is_empty())
            .ok_or(CryptoError::MissingSignature)?;
        let payload = self.verify_token(publisher, token)?;
        let signed: Value = serde_json::from_slice(&payload)
            .map_err(|e| CryptoError::MalformedJws(format!("payload is not JSON: {e}")))?;
        match signed {
            Value::Object(signed) if same_as_attribute_data(&signed, attribute) => Ok(()),
            _ => Err(CryptoError::PayloadMismatch),
        }
    }

    /// Verifies every non-null attribute of `profile` (null attributes are skipped: they are
    /// never signed). Returns the failures in document order; empty means the profile verifies.
    pub fn verify_profile(&self, profile: &Value) -> Vec<VerificationFailure> {
        cis_profile::attributes(profile)
            .into_iter()
            .filter(|(_, attribute)| cis_profile::value_is_set(attribute) != Some(false))
            .filter_map(|(path, attribute)| {
                self.verify_attribute(attribute)
                    .err()
                    .map(|error| VerificationFailure {
                        path,
                        publisher: cis_profile::publisher_name(attribute).map(str::to_owned),
                        error,
                    })
            })
            .collect()
    }
}

fn jwk_list(jwks: &Value, publisher: &str) -> Result<Vec<VerifyingKey>, CryptoError> {
    let invalid = |reason: String| {
        CryptoError::WellKnownInvalid(format!("keys of publisher `{publisher}`: {reason}"))
    };
    let entries: Vec<&Value> = match jwks.get("keys") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(single @ Value::Object(_)) => vec![single],
        Some(_) => return Err(invalid("`keys` is neither a list nor an object".into())),
        None if jwks.get("kty").is_some() => vec![jwks],
        None => return Err(invalid("no `keys`".into())),
    };
    entries
        .into_iter()
        .enumerate()
        .map(|(index, jwk)| {
            VerifyingKey::from_jwk(jwk).map_err(|e| invalid(format!("key #{index}: {e}")))
        })
        .collect()
}

/// `signed` equals `attribute` without its `signature` member (see [`json_equal`]).
fn same_as_attribute_data(signed: &Map<String, Value>, attribute: &Map<String, Value>) -> bool {
    let attribute_len = attribute.len() - usize::from(attribute.contains_key("signature"));
    signed.len() == attribute_len
        && signed.iter().all(|(key, signed_value)| {
            key != "signature"
                && attribute
                    .get(key)
                    .is_some_and(|value| json_equal(signed_value, value))
        })
}

/// Python-style JSON equality: object key order irrelevant, numbers by value, booleans distinct
/// from numbers.
pub(crate) fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(a), Value::Bool(b)) => a == b,
        (Value::Number(a), Value::Number(b)) => numbers_equal(a, b),
        (Value::String(a), Value::String(b)) => a == b,
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(key, a)| b.get(key).is_some_and(|b| json_equal(a, b)))
        }
        _ => false,
    }
}

fn numbers_equal(a: &Number, b: &Number) -> bool {
    match (integer(a), integer(b)) {
        (Some(a), Some(b)) => a == b,
        (Some(int), None) => b.as_f64().is_some_and(|f| float_equals_integer(f, int)),
        (None, Some(int)) => a.as_f64().is_some_and(|f| float_equals_integer(f, int)),
        (None, None) => a.as_f64() == b.as_f64(),
    }
}

fn integer(n: &Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

/// Exact comparison, like Python's int/float equality (no rounding of the integer).
fn float_equals_integer(f: f64, int: i128) -> bool {
    // Beyond ±2^127 the cast would saturate; no JSON integer we parse gets there.
    f.is_finite() && f.fract() == 0.0 && f.abs() < 1.7e38 && (f as i128) == int
}

#[cfg(test)]
mod tests {
    use super::json_equal;
    use serde_json::json;

    #[test]
    fn equality_ignores_key_order_and_number_form_but_not_bool_vs_int() {
        assert!(json_equal(
            &json!({"a": 1, "b": [1, {"x": null}]}),
            &json!({"b": [1.0, {"x": null}], "a": 1})
        ));
        assert!(json_equal(&json!(0.5), &json!(0.5)));
        assert!(json_equal(&json!(10_000_000_000_000_000u64), &json!(1e16)));
        assert!(!json_equal(&json!(true), &json!(1)));
        assert!(!json_equal(&json!(false), &json!(0)));
        assert!(!json_equal(&json!(1), &json!(1.5)));
        assert!(!json_equal(&json!([1, 2]), &json!([2, 1])));
        assert!(!json_equal(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
        assert!(!json_equal(&json!(null), &json!("")));
        assert!(json_equal(&json!(u64::MAX), &json!(u64::MAX)));
        assert!(!json_equal(&json!(-1), &json!(u64::MAX)));
    }
}
