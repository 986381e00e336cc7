//! `cis notify status` and `cis notify replay` (DECISIONS C4): the webhook deliveries a local
//! `cis serve` gave up on, and their redelivery.
//!
//! Both read the data directory's SQLite vault (safe while `cis serve` runs). `replay` delivers
//! with the settings the serve recorded in serve.json (RPs, audience, attempts, timeout) and a
//! token from that serve's issuer, as the notifier client of clients.json: the serve must be
//! running.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use cis_notify::{ClientCredentials, Notifier, ReplayFilter, RetryPolicy, TokenProvider};
use cis_vault::{DeadLetter, DeadLetterFilter, DeadLetterId, DeadLetterStore};
use cis_vault_sqlite::SqliteVault;
use serde_json::{Value, json};

use crate::Outcome;
use crate::datadir::DataDir;
use crate::input::print_json;

#[derive(clap::Subcommand, Debug)]
pub enum NotifyCommand {
    /// List the dead letters (deliveries that exhausted their retries) as JSON.
    Status(StatusArgs),
    /// Redeliver the dead letters not replayed yet, each to the RP that failed it; exit 1 if
    /// some still fail.
    Replay(ReplayArgs),
}

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// The `cis serve` data directory.
    #[arg(long, default_value = ".cis-data")]
    pub data_dir: PathBuf,
    /// Only letters for this RP URL.
    #[arg(long, value_name = "URL")]
    pub rp: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// The `cis serve` data directory (the serve must be running: its issuer signs the token).
    #[arg(long, default_value = ".cis-data")]
    pub data_dir: PathBuf,
    /// Only letters for this RP URL.
    #[arg(long, value_name = "URL")]
    pub rp: Option<String>,
    /// Only letters that failed at or after this time: RFC 3339 (`2026-12-03T20:00:00Z`) or
    /// epoch seconds.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
}

pub fn run(command: NotifyCommand) -> Result<Outcome> {
    init_logging();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match command {
        NotifyCommand::Status(args) => runtime.block_on(status(args)),
        NotifyCommand::Replay(args) => runtime.block_on(replay(args)),
    }
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// `--since`: RFC 3339, or whole epoch seconds; milliseconds since the epoch.
pub fn parse_since(text: &str) -> Result<i64> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<i64>() {
        return seconds
            .checked_mul(1000)
            .with_context(|| format!("--since {text}: out of range"));
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|e| {
            anyhow::anyhow!(
                "--since {text:?}: expected RFC 3339 (2026-12-03T20:00:00Z) or epoch seconds ({e})"
            )
        })
}

fn rfc3339(ms: i64) -> Value {
    DateTime::<Utc>::from_timestamp_millis(ms).map_or(Value::Null, |t| {
        json!(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    })
}

fn open_vault(dir: &DataDir) -> Result<SqliteVault> {
    let path = dir.vault_path();
    if !path.exists() {
        bail!(
            "no vault at {} (start `cis serve --data-dir {}` first)",
            path.display(),
            dir.root().display()
        );
    }
    SqliteVault::open(&path).with_context(|| format!("cannot open {}", path.display()))
}

/// Every letter matching `filter` (paged through), in id order.
async fn all_letters(
    store: &dyn DeadLetterStore,
    rp_url: Option<String>,
    include_replayed: bool,
) -> Result<Vec<DeadLetter>> {
    let mut letters = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_dead_letters(DeadLetterFilter {
                rp_url: rp_url.clone(),
                user_id: None,
                include_replayed,
                after,
                limit: 500,
            })
            .await
            .context("cannot list the dead letters")?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        letters.extend(page);
    }
    Ok(letters)
}

fn letter_json(letter: &DeadLetter) -> Value {
    let l = &letter.letter;
    json!({
        "id": letter.id.0,
        "rp": l.rp_url,
        "operation": l.operation.as_str(),
        "user_id": l.user_id,
        "time": l.event_time_ms.div_euclid(1000),
        "failed_at": rfc3339(l.failed_at_ms),
        "status": l.last_status,
        "error": l.error,
        "attempts": l.attempts,
        "replayed": letter.replayed_at_ms.is_some(),
        "replayed_at": letter.replayed_at_ms.map_or(Value::Null, rfc3339),
    })
}

async fn status(args: StatusArgs) -> Result<Outcome> {
    let dir = DataDir::new(&args.data_dir);
    let vault = open_vault(&dir)?;
    let letters = all_letters(&vault, args.rp, true).await?;
    let unreplayed = letters
        .iter()
        .filter(|l| l.replayed_at_ms.is_none())
        .count();
    print_json(&json!({
        "count": letters.len(),
        "unreplayed": unreplayed,
        "dead_letters": letters.iter().map(letter_json).collect::<Vec<_>>(),
    }))?;
    Ok(Outcome::Ok)
}

async fn replay(args: ReplayArgs) -> Result<Outcome> {
    let since_ms = args.since.as_deref().map(parse_since).transpose()?;
    let dir = DataDir::new(&args.data_dir);
    let vault = Arc::new(open_vault(&dir)?);

    let pending: HashMap<DeadLetterId, DeadLetter> =
        all_letters(vault.as_ref(), args.rp.clone(), false)
            .await?
            .into_iter()
            .filter(|l| since_ms.is_none_or(|since| l.letter.failed_at_ms >= since))
            .map(|l| (l.id, l))
            .collect();
    if pending.is_empty() {
        print_report(0, &[], &[])?;
        return Ok(Outcome::Ok);
    }

    let serve = dir.serve_urls()?;
    let Some(info) = serve.notifier else {
        bail!(
            "{}/serve.json has no notifier settings: start a current `cis serve --data-dir {}`",
            dir.root().display(),
            dir.root().display()
        );
    };
    let client = dir.client(&info.client_id)?;
    let timeout = Duration::from_secs(info.request_timeout_seconds.max(1));
    let token = TokenProvider::new(
        ClientCredentials {
            token_url: info.token_url.clone(),
            audience: info.audience.clone(),
            client_id: client.client_id,
            client_secret: cis_config::Secret::new(client.client_secret),
        },
        timeout,
    )
    .context("token client")?;
    let policy = RetryPolicy {
        max_attempts: info.max_attempts.max(1),
        request_timeout: timeout,
        ..RetryPolicy::default()
    };
    let notifier = Notifier::new(info.rp_urls.clone(), token, policy, Some(vault.clone()))
        .context("notifier")?;
    // Fail before touching any letter when the serve's issuer is not there.
    notifier.token_provider().bearer().await.with_context(|| {
        format!(
            "cannot get a token from {} (is `cis serve --data-dir {}` running?)",
            info.token_url,
            dir.root().display()
        )
    })?;

    let report = notifier
        .replay(&ReplayFilter {
            rp_url: args.rp,
            user_id: None,
            since_ms,
            limit: None,
        })
        .await
        .context("replay")?;
    let delivered: Vec<Value> = report
        .delivered
        .iter()
        .map(|id| {
            let letter = pending.get(id);
            json!({
                "id": id.0,
                "rp": letter.map(|l| l.letter.rp_url.as_str()),
                "operation": letter.map(|l| l.letter.operation.as_str()),
                "user_id": letter.map(|l| l.letter.user_id.as_str()),
            })
        })
        .collect();
    let failed: Vec<Value> = report
        .failed
        .iter()
        .map(|f| {
            json!({
                "id": f.id.0,
                "rp": f.rp_url,
                "user_id": pending.get(&f.id).map(|l| l.letter.user_id.as_str()),
                "reason": f.reason,
            })
        })
        .collect();
    print_report(pending.len(), &delivered, &failed)?;
    Ok(if failed.is_empty() {
        Outcome::Ok
    } else {
        Outcome::Rejected
    })
}

fn print_report(matched: usize, delivered: &[Value], failed: &[Value]) -> Result<()> {
    print_json(&json!({
        "matched": matched,
        "delivered_count": delivered.len(),
        "failed_count": failed.len(),
        "delivered": delivered,
        "still_failing": failed,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_rfc3339_and_epoch_seconds() {
        assert_eq!(parse_since("1700000000").unwrap(), 1_700_000_000_000);
        assert_eq!(
            parse_since("2023-11-14T22:13:20Z").unwrap(),
            1_700_000_000_000
        );
        assert_eq!(
            parse_since("2023-11-14T23:13:20.5+01:00").unwrap(),
            1_700_000_000_500
        );
        let error = parse_since("yesterday").unwrap_err().to_string();
        assert!(error.contains("RFC 3339"), "{error}");
    }
}
