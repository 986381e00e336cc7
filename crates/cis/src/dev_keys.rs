//! The DEV-ONLY publisher keys from `well-known/dev-keys/`, compiled in so that `cis profile fake`,
//! `--well-known dev` and local mode work without any files. Anything they sign proves nothing.

use anyhow::{Context, Result};
use cis_crypto::{PublisherKeys, Signer, SigningKey};

/// The five publishers of profile v2, each with its dev key PEM.
pub const DEV_KEYS: [(&str, &str); 5] = [
    (
        "ldap",
        include_str!("../../../well-known/dev-keys/ldap.pem"),
    ),
    (
        "hris",
        include_str!("../../../well-known/dev-keys/hris.pem"),
    ),
    (
        "mozilliansorg",
        include_str!("../../../well-known/dev-keys/mozilliansorg.pem"),
    ),
    (
        "access_provider",
        include_str!("../../../well-known/dev-keys/access_provider.pem"),
    ),
    ("cis", include_str!("../../../well-known/dev-keys/cis.pem")),
];

/// A signer holding every dev publisher key.
pub fn dev_signer() -> Result<Signer> {
    let mut signer = Signer::new();
    for (publisher, pem) in DEV_KEYS {
        let key = SigningKey::from_pem(pem).with_context(|| format!("dev key for {publisher}"))?;
        signer.insert(publisher, key);
    }
    Ok(signer)
}

/// The public halves of the dev keys, by publisher.
pub fn dev_publisher_keys() -> Result<PublisherKeys> {
    let mut keys = PublisherKeys::new();
    for (publisher, pem) in DEV_KEYS {
        let key = SigningKey::from_pem(pem).with_context(|| format!("dev key for {publisher}"))?;
        let kid = cis_crypto::default_kid(publisher);
        keys.insert(publisher, key.verifying_key(Some(kid))?);
    }
    Ok(keys)
}
