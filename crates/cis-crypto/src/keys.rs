//! RSA keys: parsing PEM (PKCS#1, PKCS#8, SPKI) and JWK (private and public) once, into
//! ready-to-use aws-lc-rs key objects.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeyPairComponents, PublicKey, PublicKeyComponents};
use aws_lc_rs::signature::{KeyPair as _, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD_INDIFFERENT};
use serde_json::Value;

use crate::error::CryptoError;

const MIN_MODULUS_BITS: usize = 2048;
const MAX_MODULUS_BITS: usize = 8192;

/// An RSA private key, parsed once, used for RS256 signing.
pub struct SigningKey {
    pub(crate) pair: KeyPair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey(RSA-{})", self.pair.public_modulus_len() * 8)
    }
}

impl SigningKey {
    /// A PEM private key: `RSA PRIVATE KEY` (PKCS#1) or `PRIVATE KEY` (PKCS#8).
    pub fn from_pem(pem: &str) -> Result<Self, CryptoError> {
        let block = PemBlock::parse(pem).map_err(|reason| CryptoError::key_parse("PEM", reason))?;
        let pair = match block.label.as_str() {
            "RSA PRIVATE KEY" => KeyPair::from_der(&block.der),
            "PRIVATE KEY" => KeyPair::from_pkcs8(&block.der),
            other => {
                return Err(CryptoError::key_parse(
                    "PEM",
                    format!("expected an RSA private key, found `{other}`"),
                ));
            }
        }
        .map_err(|e| CryptoError::key_parse("PEM", e.to_string()))?;
        Ok(Self { pair })
    }

    /// A private RSA JWK (`kty`, `n`, `e`, `d`, `p`, `q`, `dp`, `dq`, `qi`). Integers may carry
    /// leading zero bytes, as the Python fixtures' `n`, `p` and `q` do.
    pub fn from_jwk(jwk: &Value) -> Result<Self, CryptoError> {
        let field = |name: &str| jwk_integer(jwk, name);
        if jwk.get("kty").and_then(Value::as_str) != Some("RSA") {
            return Err(CryptoError::key_parse("JWK", "kty is not RSA"));
        }
        let n = field("n")?;
        let e = field("e")?;
        let components = KeyPairComponents {
            public_key: PublicKeyComponents {
                n: strip_leading_zeros(&n),
                e: strip_leading_zeros(&e),
            },
            d: field("d")?,
            p: field("p")?,
            q: field("q")?,
            dP: field("dp")?,
            dQ: field("dq")?,
            qInv: field("qi")?,
        };
        let pair = KeyPair::from_components(&components)
            .map_err(|e| CryptoError::key_parse("JWK", e.to_string()))?;
        Ok(Self { pair })
    }

    /// PEM or private JWK, told apart by the first non-blank character (`{` = JSON), which is
    /// how the Python SSM provider stores either form.
    pub fn from_pem_or_jwk(text: &str) -> Result<Self, CryptoError> {
        if text.trim_start().starts_with('{') {
            let jwk: Value = serde_json::from_str(text)
                .map_err(|e| CryptoError::key_parse("JWK", format!("not JSON: {e}")))?;
            Self::from_jwk(&jwk)
        } else {
            Self::from_pem(text)
        }
    }

    /// The matching public key, ready for verification.
    pub fn verifying_key(&self, kid: Option<String>) -> Result<VerifyingKey, CryptoError> {
        let der = self
            .pair
            .public_key()
            .as_der()
            .map_err(|_| CryptoError::key_parse("private key", "cannot encode public half"))?;
        VerifyingKey::from_der(der.as_ref(), kid, "private key")
    }

    /// Modulus and exponent, big-endian without leading zeros.
    pub(crate) fn public_components(&self) -> (Vec<u8>, Vec<u8>) {
        let public = self.pair.public_key();
        (
            public.modulus().big_endian_without_leading_zero().to_vec(),
            public.exponent().big_endian_without_leading_zero().to_vec(),
        )
    }

    /// SubjectPublicKeyInfo DER of the public half (what the well-known `x5c` entries hold).
    pub(crate) fn public_spki_der(&self) -> Result<Vec<u8>, CryptoError> {
        self.pair
            .public_key()
            .as_der()
            .map(|der| der.as_ref().to_vec())
            .map_err(|_| CryptoError::key_parse("private key", "cannot encode public half"))
    }

    /// Length in bytes of a signature made with this key.
    pub fn signature_len(&self) -> usize {
        self.pair.public_modulus_len()
    }
}

/// An RSA public key, parsed once, used for RS256 verification.
pub struct VerifyingKey {
    kid: Option<String>,
    pub(crate) parsed: ParsedPublicKey,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .finish()
    }
}

impl VerifyingKey {
    /// A PEM public key: `PUBLIC KEY` (SPKI) or `RSA PUBLIC KEY` (PKCS#1). A PEM private key is
    /// accepted too and reduced to its public half.
    pub fn from_pem(pem: &str, kid: Option<String>) -> Result<Self, CryptoError> {
        let block = PemBlock::parse(pem).map_err(|reason| CryptoError::key_parse("PEM", reason))?;
        match block.label.as_str() {
            "PUBLIC KEY" | "RSA PUBLIC KEY" => Self::from_der(&block.der, kid, "PEM"),
            "RSA PRIVATE KEY" | "PRIVATE KEY" => SigningKey::from_pem(pem)?.verifying_key(kid),
            other => Err(CryptoError::key_parse(
                "PEM",
                format!("expected an RSA public key, found `{other}`"),
            )),
        }
    }

    /// A public RSA JWK. Only `n` and `e` are used (`x5c`/`x5t` are ignored, as the Python CIS
    /// does); `n` may carry a leading zero byte (the production mozilliansorg key does).
    pub fn from_jwk(jwk: &Value) -> Result<Self, CryptoError> {
        if let Some(kty) = jwk.get("kty").and_then(Value::as_str)
            && kty != "RSA"
        {
            return Err(CryptoError::key_parse(
                "JWK",
                format!("kty `{kty}` is not RSA"),
            ));
        }
        if let Some(alg) = jwk.get("alg").and_then(Value::as_str)
            && alg != "RS256"
        {
            return Err(CryptoError::key_parse(
                "JWK",
                format!("alg `{alg}` is not RS256"),
            ));
        }
        let n = jwk_integer(jwk, "n")?;
        let e = jwk_integer(jwk, "e")?;
        let kid = jwk.get("kid").and_then(Value::as_str).map(str::to_owned);
        Self::from_components(&n, &e, kid)
    }

    /// Modulus and exponent as big-endian bytes (leading zeros allowed). RS256 keys must be
    /// 2048 to 8192 bits; smaller ones are refused here rather than failing every verification.
    pub fn from_components(n: &[u8], e: &[u8], kid: Option<String>) -> Result<Self, CryptoError> {
        let n = strip_leading_zeros(n);
        let bits = n.len() * 8;
        if !(MIN_MODULUS_BITS..=MAX_MODULUS_BITS).contains(&bits) {
            return Err(CryptoError::key_parse(
                "RSA public key",
                format!(
                    "modulus of {bits} bits; RS256 needs {MIN_MODULUS_BITS} to {MAX_MODULUS_BITS}"
                ),
            ));
        }
        let components = PublicKeyComponents {
            n,
            e: strip_leading_zeros(e),
        };
        let parsed = components
            .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
            .map_err(|e| CryptoError::key_parse("RSA public key", e.to_string()))?;
        Ok(Self { kid, parsed })
    }

    fn from_der(der: &[u8], kid: Option<String>, source_name: &str) -> Result<Self, CryptoError> {
        let public = PublicKey::from_der(der)
            .map_err(|e| CryptoError::key_parse(source_name, e.to_string()))?;
        Self::from_components(
            public.modulus().big_endian_without_leading_zero(),
            public.exponent().big_endian_without_leading_zero(),
            kid,
        )
    }

    /// The key id the key was published with, if any (informational only).
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// True when `signature` is a valid RS256 signature of `message`.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        self.parsed.verify_sig(message, signature).is_ok()
    }
}

/// One PEM block: its label and DER body.
pub(crate) struct PemBlock {
    pub(crate) label: String,
    pub(crate) der: Vec<u8>,
}

impl PemBlock {
    /// The first PEM block of `text`.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let begin = text
            .find("-----BEGIN ")
            .ok_or_else(|| "no `-----BEGIN` line".to_owned())?;
        let rest = &text[begin + "-----BEGIN ".len()..];
        let label_end = rest
            .find("-----")
            .ok_or_else(|| "unterminated BEGIN line".to_owned())?;
        let label = rest[..label_end].to_owned();
        let rest = &rest[label_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let end = rest
            .find(&end_marker)
            .ok_or_else(|| format!("no `{end_marker}` line"))?;
        let body_text = &rest[..end];
        if body_text.contains(':') {
            return Err("encrypted PEM keys are not supported".to_owned());
        }
        let body: String = body_text.split_ascii_whitespace().collect();
        let der = STANDARD
            .decode(body.as_bytes())
            .map_err(|e| format!("invalid base64 body: {e}"))?;
        Ok(Self { label, der })
    }
}

/// A JWK integer member (`n`, `e`, `d`, …): base64url, padding tolerated.
fn jwk_integer(jwk: &Value, name: &str) -> Result<Vec<u8>, CryptoError> {
    let text = jwk
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| CryptoError::key_parse("JWK", format!("missing `{name}`")))?;
    let bytes = URL_SAFE_NO_PAD_INDIFFERENT
        .decode(text.trim().as_bytes())
        .map_err(|e| CryptoError::key_parse("JWK", format!("`{name}` is not base64url: {e}")))?;
    if bytes.is_empty() {
        return Err(CryptoError::key_parse("JWK", format!("`{name}` is empty")));
    }
    Ok(bytes)
}

/// aws-lc-rs wants public integers without leading zero bytes; JWKs in the wild (python-jose's
/// own output, the prod mozilliansorg key) carry one.
fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first_nonzero = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[first_nonzero..]
}
