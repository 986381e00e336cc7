//! `cis profile …` and `cis keys …`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cis_crypto::{PublisherKeys, Signer, SigningKey, WellKnownSource};
use serde_json::{Value, json};

use crate::input::{print_json, read_profile};
use crate::{KeysCommand, Outcome, ProfileCommand, dev_keys};

pub fn run(command: ProfileCommand) -> Result<Outcome> {
    match command {
        ProfileCommand::Validate(file) => validate(file.file.as_deref()),
        ProfileCommand::Sign { keys, file } => sign(&keys, file.file.as_deref()),
        ProfileCommand::Verify { well_known, file } => verify(&well_known, file.file.as_deref()),
        ProfileCommand::Filter {
            scopes,
            filter_display,
            file,
        } => filter(&scopes, filter_display.as_deref(), file.file.as_deref()),
        ProfileCommand::CheckPublishers { old, file } => {
            check_publishers(old.as_deref(), file.file.as_deref())
        }
        ProfileCommand::Merge { stored, file } => merge(&stored, file.file.as_deref()),
        ProfileCommand::Uuid { salt, user_id } => uuid(&salt, &user_id),
        ProfileCommand::Fake {
            seed,
            count,
            unsigned,
        } => fake(seed, count, unsigned),
    }
}

pub fn run_keys(command: KeysCommand) -> Result<Outcome> {
    match command {
        KeysCommand::Jwks { files } => jwks(&files),
    }
}

fn validate(file: Option<&Path>) -> Result<Outcome> {
    let profile = read_profile(file)?;
    let errors = match cis_profile::validate(&profile) {
        Ok(()) => Vec::new(),
        Err(violations) => violations,
    };
    let valid = errors.is_empty();
    print_json(&json!({ "valid": valid, "errors": errors }))?;
    Ok(if valid {
        Outcome::Ok
    } else {
        Outcome::Rejected
    })
}

fn sign(key_args: &[String], file: Option<&Path>) -> Result<Outcome> {
    let mut signer = Signer::new();
    for arg in key_args {
        let Some((publisher, path)) = arg.split_once('=') else {
            bail!("--key {arg:?} must be PUBLISHER=PEM_FILE");
        };
        if publisher.is_empty() || path.is_empty() {
            bail!("--key {arg:?} must be PUBLISHER=PEM_FILE");
        }
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read key file {path} for {publisher}"))?;
        let key = SigningKey::from_pem_or_jwk(&text)
            .with_context(|| format!("{path} is not an RSA private key (PEM or JWK)"))?;
        signer.insert(publisher, key);
    }
    let mut profile = read_profile(file)?;
    signer
        .sign_profile(&mut profile, None)
        .context("cannot sign the profile")?;
    print_json(&profile)?;
    Ok(Outcome::Ok)
}

fn publisher_keys(location: &str) -> Result<PublisherKeys> {
    if location == "dev" {
        return dev_keys::dev_publisher_keys();
    }
    let source = WellKnownSource::new(location)
        .with_context(|| format!("cannot use well-known document {location}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let keys = runtime
        .block_on(source.publisher_keys())
        .with_context(|| format!("cannot load publisher keys from {location}"))?;
    Ok(PublisherKeys::clone(&keys))
}

fn verify(well_known: &str, file: Option<&Path>) -> Result<Outcome> {
    let keys = publisher_keys(well_known)?;
    let profile = read_profile(file)?;
    let failures: Vec<Value> = keys
        .verify_profile(&profile)
        .into_iter()
        .map(|failure| {
            json!({
                "path": failure.path,
                "publisher": failure.publisher,
                "reason": failure.error.to_string(),
            })
        })
        .collect();
    let verified = failures.is_empty();
    print_json(&json!({ "verified": verified, "failures": failures }))?;
    Ok(if verified {
        Outcome::Ok
    } else {
        Outcome::Rejected
    })
}

fn filter(scopes: &str, filter_display: Option<&str>, file: Option<&Path>) -> Result<Outcome> {
    let scopes: Vec<&str> = scopes.split_whitespace().collect();
    let grant = cis_profile::ScopeGrant::from_scopes(&scopes);
    let mut profile = read_profile(file)?;
    cis_profile::filter_profile(&mut profile, &grant, filter_display);
    print_json(&profile)?;
    Ok(Outcome::Ok)
}

fn check_publishers(old: Option<&Path>, file: Option<&Path>) -> Result<Outcome> {
    let previous = match old {
        Some(path) => read_profile(Some(path))?,
        None => cis_profile::null_profile(),
    };
    let profile = read_profile(file)?;
    let violations =
        cis_profile::check_publishers(&profile, &previous, cis_profile::PublisherRules::bundled());
    let allowed = violations.is_empty();
    let violations: Vec<Value> = violations
        .iter()
        .map(|v| {
            json!({
                "path": v.path,
                "publisher": v.publisher,
                "operation": v.operation.as_str(),
                "reason": v.reason,
            })
        })
        .collect();
    print_json(&json!({ "allowed": allowed, "violations": violations }))?;
    Ok(if allowed {
        Outcome::Ok
    } else {
        Outcome::Rejected
    })
}

fn merge(stored: &Path, file: Option<&Path>) -> Result<Outcome> {
    let mut profile = read_profile(Some(stored))?;
    let patch = read_profile(file)?;
    let changed = cis_profile::merge(&mut profile, &patch);
    print_json(&json!({ "profile": profile, "changed": changed }))?;
    Ok(Outcome::Ok)
}

fn uuid(salt: &str, user_id: &str) -> Result<Outcome> {
    if user_id.is_empty() {
        bail!("--user-id must not be empty");
    }
    let (uuid, primary_username) = cis_profile::derive_uuid_and_username(salt, user_id);
    print_json(&json!({ "uuid": uuid, "primary_username": primary_username }))?;
    Ok(Outcome::Ok)
}

fn fake(seed: u64, count: Option<u64>, unsigned: bool) -> Result<Outcome> {
    let signer = if unsigned {
        None
    } else {
        Some(dev_keys::dev_signer()?)
    };
    let options = cis_profile::FakeOptions::default();
    let make = |seed: u64| -> Result<Value> {
        let mut profile = cis_profile::fake_profile(seed, &options);
        if let Some(signer) = &signer {
            signer
                .sign_profile(&mut profile, None)
                .context("cannot sign the fake profile")?;
        }
        Ok(profile)
    };
    match count {
        None => print_json(&make(seed)?)?,
        Some(count) => {
            for offset in 0..count {
                print_json(&make(seed.wrapping_add(offset))?)?;
            }
        }
    }
    Ok(Outcome::Ok)
}

fn jwks(files: &[String]) -> Result<Outcome> {
    let mut keys = Vec::with_capacity(files.len());
    for arg in files {
        let (kid, path) = match arg.split_once('=') {
            Some((kid, path)) => (kid.to_owned(), PathBuf::from(path)),
            None => {
                let path = PathBuf::from(arg);
                let kid = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "key".to_owned());
                (kid, path)
            }
        };
        let pem = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let jwk = cis_crypto::public_jwk_from_pem(&pem, &kid)
            .with_context(|| format!("{} is not an RSA key in PEM form", path.display()))?;
        keys.push(jwk);
    }
    print_json(&json!({ "keys": keys }))?;
    Ok(Outcome::Ok)
}
