//! Publisher signing keys and attribute/profile signing (profile-and-crypto §3.3, §3.4).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::CryptoError;
use crate::jws::sign_compact;
use crate::keys::SigningKey;

/// Publisher name -> private key. Keys are parsed once when added; the Python quirk of reusing the
/// first publisher's key for every publisher is not reproduced.
#[derive(Debug, Clone, Default)]
pub struct Signer {
    keys: BTreeMap<String, Arc<SigningKey>>,
}

impl Signer {
    /// An empty signer; add keys with [`Signer::insert`] or the `with_*` builders.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the key of `publisher`.
    pub fn insert(&mut self, publisher: impl Into<String>, key: SigningKey) {
        self.keys.insert(publisher.into(), Arc::new(key));
    }

    /// Adds the key of `publisher` from PEM (PKCS#1 or PKCS#8) or private-JWK text.
    pub fn with_key_text(mut self, publisher: &str, text: &str) -> Result<Self, CryptoError> {
        self.insert(publisher, SigningKey::from_pem_or_jwk(text)?);
        Ok(self)
    }

    /// Adds the key of `publisher` from a PEM or private-JWK file.
    pub fn with_key_file(self, publisher: &str, path: &Path) -> Result<Self, CryptoError> {
        let text = std::fs::read_to_string(path).map_err(|e| CryptoError::io(path, e))?;
        self.with_key_text(publisher, &text)
    }

    /// One key for every named publisher (the original tests sign everything with key_0).
    pub fn with_same_key(mut self, publishers: &[&str], text: &str) -> Result<Self, CryptoError> {
        let key = Arc::new(SigningKey::from_pem_or_jwk(text)?);
        for publisher in publishers {
            self.keys.insert((*publisher).to_owned(), Arc::clone(&key));
        }
        Ok(self)
    }

    /// Every `<dir>/<publisher>.pem` (and `<publisher>.jwk`) file, keyed by file stem — the
    /// layout of `well-known/dev-keys/`.
    pub fn from_dir(dir: &Path) -> Result<Self, CryptoError> {
        let mut signer = Self::new();
        let entries = std::fs::read_dir(dir).map_err(|e| CryptoError::io(dir, e))?;
        for entry in entries {
            let path = entry.map_err(|e| CryptoError::io(dir, e))?.path();
            let is_key = matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("pem" | "jwk")
            );
            let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            if is_key && path.is_file() {
                let stem = stem.to_owned();
                signer = signer.with_key_file(&stem, &path)?;
            }
        }
        Ok(signer)
    }

    /// True when a key for `publisher` is loaded.
    pub fn has_key(&self, publisher: &str) -> bool {
        self.keys.contains_key(publisher)
    }

    /// The publishers with a key, sorted.
    pub fn publishers(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// The key of `publisher`.
    pub fn key(&self, publisher: &str) -> Result<&SigningKey, CryptoError> {
        self.keys
            .get(publisher)
            .map(Arc::as_ref)
            .ok_or_else(|| CryptoError::UnknownPublisher(publisher.to_owned()))
    }

    /// Compact JWS of arbitrary payload bytes with the key of `publisher`.
    pub fn sign_bytes(&self, publisher: &str, payload: &[u8]) -> Result<String, CryptoError> {
        sign_compact(self.key(publisher)?, payload)
    }

    /// Signs `attribute` as `publisher` regardless of the publisher it named before, writing
    /// `signature.publisher` `{alg: "RS256", typ: "JWS", name, value}` in place (existing key
    /// order kept, `signature.additional` untouched). Metadata timestamps are not touched: the
    /// caller updates them first. Null values are refused ([`CryptoError::NullValue`]); `""`,
    /// `{}` and `false` are signed.
    pub fn sign_attribute(
        &self,
        attribute: &mut Map<String, Value>,
        publisher: &str,
    ) -> Result<(), CryptoError> {
        match cis_profile::value_is_set(attribute) {
            Some(true) => {}
            Some(false) => return Err(CryptoError::NullValue),
            None => return Err(CryptoError::NotAnAttribute("no `value` or `values`".into())),
        }
        let key = self.key(publisher)?;
        let token = sign_compact(key, &cis_profile::attribute_payload(attribute))?;

        let signature = attribute
            .entry("signature")
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(signature) = signature else {
            return Err(CryptoError::NotAnAttribute(
                "`signature` is not an object".into(),
            ));
        };
        let slot = signature
            .entry("publisher")
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        if let Value::Object(block) = slot {
            block.insert("alg".into(), Value::String("RS256".into()));
            block.insert("typ".into(), Value::String("JWS".into()));
            block.insert("name".into(), Value::String(publisher.to_owned()));
            block.insert("value".into(), Value::String(token));
        }
        Ok(())
    }

    /// Signs every non-null attribute of `profile` whose `signature.publisher.name` has a key here
    /// (restricted to `publishers` when given); others are left alone. Returns the signed paths
    /// (`name` or `group.child`) in document order.
    pub fn sign_profile(
        &self,
        profile: &mut Value,
        publishers: Option<&[&str]>,
    ) -> Result<Vec<String>, CryptoError> {
        let mut signed = Vec::new();
        for (path, attribute) in cis_profile::attributes_mut(profile) {
            if cis_profile::value_is_set(attribute) != Some(true) {
                continue;
            }
            let Some(name) = cis_profile::publisher_name(attribute) else {
                continue;
            };
            let wanted = publishers.is_none_or(|list| list.contains(&name));
            if !wanted || !self.has_key(name) {
                continue;
            }
            let name = name.to_owned();
            self.sign_attribute(attribute, &name)?;
            signed.push(path);
        }
        Ok(signed)
    }

    /// Signs the attribute at `path` (`name` or `group.child`) as `publisher`.
    pub fn sign_path(
        &self,
        profile: &mut Value,
        path: &str,
        publisher: &str,
    ) -> Result<(), CryptoError> {
        let attribute = cis_profile::attribute_mut(profile, path)
            .ok_or_else(|| CryptoError::NotAnAttribute(format!("no attribute at `{path}`")))?;
        self.sign_attribute(attribute, publisher)
    }
}
