//! Compact RS256 JWS exactly as python-jose 3.2.0 produces and reads it (profile-and-crypto §3.2,
//! §4.1).

use std::borrow::Borrow;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::RSA_PKCS1_SHA256;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::engine::general_purpose::URL_SAFE_NO_PAD_INDIFFERENT;
use serde_json::Value;

use crate::error::CryptoError;
use crate::keys::{SigningKey, VerifyingKey};

/// The protected header python-jose writes (it sorts header keys): `{"alg":"RS256","typ":"JWT"}`.
pub const JWS_HEADER_JSON: &str = r#"{"alg":"RS256","typ":"JWT"}"#;

/// [`JWS_HEADER_JSON`] base64url-encoded without padding.
pub const JWS_HEADER_B64: &str = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9";

/// Signs `payload` (raw bytes, normally [`cis_profile::attribute_payload`]) and returns the compact
/// JWS `header.payload.signature`. RSASSA-PKCS1-v1_5 is deterministic, so the same key and payload
/// always give the same token.
pub fn sign_compact(key: &SigningKey, payload: &[u8]) -> Result<String, CryptoError> {
    let signature_len = key.signature_len();
    // Exact capacity avoids reallocations on the hot signing path.
    let capacity = JWS_HEADER_B64.len()
        + 2
        + base64::encoded_len(payload.len(), false).unwrap_or(0)
        + base64::encoded_len(signature_len, false).unwrap_or(0);
    let mut token = String::with_capacity(capacity);
    token.push_str(JWS_HEADER_B64);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut token);

    let mut signature = vec![0u8; signature_len];
    key.pair
        .sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            token.as_bytes(),
            &mut signature,
        )
        .map_err(|_| CryptoError::SigningFailed)?;
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&signature, &mut token);
    Ok(token)
}

/// A compact JWS split and decoded, not yet verified.
#[derive(Debug)]
pub struct DecodedJws<'a> {
    /// `<b64 header>.<b64 payload>`: the bytes the signature covers.
    pub signing_input: &'a str,
    /// The decoded header object.
    pub header: serde_json::Map<String, Value>,
    /// The decoded payload bytes.
    pub payload: Vec<u8>,
    /// The decoded signature bytes.
    pub signature: Vec<u8>,
}

/// Splits and decodes a compact JWS the way python-jose does: the signature after the LAST dot,
/// header and payload split at the first dot. Surrounding whitespace is ignored (token files end
/// with a newline). The header must be a JSON object with `alg` exactly `RS256`; any key order
/// and any other header fields (`typ`, `kid`) are accepted.
pub fn decode_compact(token: &str) -> Result<DecodedJws<'_>, CryptoError> {
    let token = token.trim();
    let (signing_input, signature_b64) = token
        .rsplit_once('.')
        .ok_or_else(|| CryptoError::MalformedJws("not enough segments".into()))?;
    let (header_b64, payload_b64) = signing_input
        .split_once('.')
        .ok_or_else(|| CryptoError::MalformedJws("not enough segments".into()))?;
    let header_bytes = decode_segment(header_b64, "header")?;
    let header: serde_json::Map<String, Value> = serde_json::from_slice(&header_bytes)
        .map_err(|e| CryptoError::MalformedJws(format!("header is not a JSON object: {e}")))?;
    match header.get("alg") {
        Some(Value::String(alg)) if alg == "RS256" => {}
        Some(Value::String(alg)) => {
            return Err(CryptoError::MalformedJws(format!(
                "algorithm `{alg}` is not RS256"
            )));
        }
        _ => return Err(CryptoError::MalformedJws("header has no `alg`".into())),
    }
    let payload = decode_segment(payload_b64, "payload")?;
    let signature = decode_segment(signature_b64, "signature")?;
    if signature.is_empty() {
        return Err(CryptoError::MalformedJws("empty signature".into()));
    }
    Ok(DecodedJws {
        signing_input,
        header,
        payload,
        signature,
    })
}

fn decode_segment(segment: &str, what: &str) -> Result<Vec<u8>, CryptoError> {
    URL_SAFE_NO_PAD_INDIFFERENT
        .decode(segment.as_bytes())
        .map_err(|e| CryptoError::MalformedJws(format!("{what} is not base64url: {e}")))
}

/// Verifies `token` with each key in order and returns the decoded payload bytes on the first
/// success. `publisher` only names the key set in the error.
pub fn verify_compact<K: Borrow<VerifyingKey>>(
    token: &str,
    keys: &[K],
    publisher: &str,
) -> Result<Vec<u8>, CryptoError> {
    let decoded = decode_compact(token)?;
    if keys.iter().any(|key| {
        key.borrow()
            .verifies(decoded.signing_input.as_bytes(), &decoded.signature)
    }) {
        Ok(decoded.payload)
    } else {
        Err(CryptoError::SignatureInvalid {
            publisher: publisher.to_owned(),
            keys_tried: keys.len(),
        })
    }
}
