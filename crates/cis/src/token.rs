//! `cis token`: mint a bearer token with the data directory's dev issuer key, as the local
//! `cis serve` (and only it) accepts.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use cis_http::DevIssuer;
use serde_json::json;

use crate::Outcome;
use crate::datadir::{DataDir, LOCAL_AUDIENCE};
use crate::input::print_json;

#[derive(clap::Args, Debug)]
pub struct TokenArgs {
    /// The `cis serve` data directory holding issuer.pem.
    #[arg(long, default_value = ".cis-data")]
    pub data_dir: PathBuf,
    /// Space-separated scopes, e.g. "write" or "classification:public display:all".
    #[arg(long, default_value = "write")]
    pub scopes: String,
    /// The `aud` claim (default: the local APIs' audience).
    #[arg(long)]
    pub audience: Option<String>,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    pub ttl: u64,
    /// The issuer URL (default: the one the running `cis serve` recorded in serve.json).
    #[arg(long)]
    pub issuer_url: Option<String>,
    /// The `sub` claim.
    #[arg(long, default_value = "cis-local-client@clients")]
    pub subject: String,
    /// Print only the token, for `$(cis token --raw)`.
    #[arg(long)]
    pub raw: bool,
}

/// A token from the data directory's issuer for `issuer_url` (or the serve.json one).
pub fn mint(
    dir: &DataDir,
    issuer_url: Option<&str>,
    subject: &str,
    audience: &str,
    scopes: &[&str],
    ttl: Duration,
) -> Result<String> {
    let issuer_url = match issuer_url {
        Some(url) => url.to_owned(),
        None => dir.serve_urls()?.issuer_url,
    };
    let issuer = DevIssuer::from_pem(&issuer_url, &dir.issuer_pem()?)
        .map_err(|e| anyhow::anyhow!("issuer.pem: {e}"))?;
    issuer
        .mint(subject, audience, scopes, ttl)
        .map_err(|e| anyhow::anyhow!("cannot mint: {e}"))
        .context("minting the token")
}

pub fn run(args: TokenArgs) -> Result<Outcome> {
    let dir = DataDir::new(&args.data_dir);
    let audience = match &args.audience {
        Some(a) => a.clone(),
        None => dir
            .serve_urls()
            .map(|u| u.audience)
            .unwrap_or_else(|_| LOCAL_AUDIENCE.to_owned()),
    };
    let scopes: Vec<&str> = args.scopes.split_whitespace().collect();
    let token = mint(
        &dir,
        args.issuer_url.as_deref(),
        &args.subject,
        &audience,
        &scopes,
        Duration::from_secs(args.ttl),
    )?;
    if args.raw {
        println!("{token}");
    } else {
        print_json(&json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": args.ttl,
            "scope": scopes.join(" "),
        }))?;
    }
    Ok(Outcome::Ok)
}
