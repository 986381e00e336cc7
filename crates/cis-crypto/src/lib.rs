//! RS256 JWS signing and verification of CIS profile attributes, byte-identical to the Python CIS
//! (DECISIONS A3, A4; profile-and-crypto §3, §4), plus the key sources: PEM and JWK files, key
//! directories, and the `mozilla-iam` well-known document from a file or an HTTP(S) URL.
//!
//! Keys are parsed once (aws-lc-rs) and shared; signing and verifying an attribute costs one RSA
//! operation plus the payload serialization.

mod error;
pub mod jwk;
pub mod jws;
mod keys;
mod signer;
#[cfg(feature = "ssm")]
pub mod ssm;
mod verifier;
pub mod well_known;

pub use error::CryptoError;
pub use jwk::{
    default_kid, jwks_from_pems, mozilla_iam_document, public_jwk_from_pem,
    public_jwk_from_signing_key, render_well_known_template,
};
pub use jws::{JWS_HEADER_B64, JWS_HEADER_JSON, decode_compact, sign_compact, verify_compact};
pub use keys::{SigningKey, VerifyingKey};
pub use signer::Signer;
pub use verifier::{PublisherKeys, VerificationFailure, Verifier};
pub use well_known::{
    DEFAULT_FETCH_TIMEOUT, DEFAULT_TTL, WellKnownLocation, WellKnownSource, load_file,
    publisher_keys_from_file,
};

/// The publishers of the Python CIS, in well-known document order.
pub const PUBLISHERS: [&str; 5] = ["mozilliansorg", "access_provider", "hris", "ldap", "cis"];
