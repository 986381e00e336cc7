//! `cis seed`: fill a running CIS with realistic users through the Change API, exactly as the
//! publishers do: each attribute signed by the publisher that owns it, a create (`POST /v2/user`)
//! followed by updates from ldap, hris, mozilliansorg and access_provider
//! (`POST /v2/user?user_id=`), a few requests at a time.
//!
//! `--updates M` then sends M more updates (pre-signed, so the client's signing does not
//! count) and reports updates per second and the per-stage split the server returns in its
//! `Server-Timing` header: the Change API benchmark.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cis_crypto::Signer;
use cis_profile::{FakeOptions, attribute, attribute_mut, fake_profile, null_profile};
use futures::StreamExt as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};

use crate::Outcome;
use crate::datadir::DataDir;
use crate::input::print_json;

#[derive(clap::Args, Debug)]
pub struct SeedArgs {
    /// The `cis serve` data directory (publisher keys, issuer key, serve.json).
    #[arg(long, default_value = ".cis-data")]
    pub data_dir: PathBuf,
    /// Users to create (each then updated by its publishers).
    #[arg(long, default_value_t = 10)]
    pub users: usize,
    /// The Change API base URL (default: from serve.json).
    #[arg(long)]
    pub url: Option<String>,
    /// A bearer token with the `write` scope (default: minted from the data directory).
    #[arg(long, env = "CIS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Seed of the fake profiles (the same seed gives the same users).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// After seeding, send this many more updates over the seeded users and measure them.
    #[arg(long, default_value_t = 0)]
    pub updates: usize,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// The attributes each publisher owns (update rules) and sends in seeding and load updates.
const OWNED: [(&str, &[&str]); 4] = [
    ("ldap", &["access_information.ldap", "ssh_public_keys"]),
    (
        "hris",
        &["staff_information.title", "staff_information.team"],
    ),
    ("mozilliansorg", &["fun_title", "location", "description"]),
    ("access_provider", &["access_information.access_provider"]),
];

fn is_staff(profile: &Value) -> bool {
    profile["user_id"]["value"]
        .as_str()
        .is_some_and(|id| id.starts_with("ad|Mozilla-LDAP|"))
}

/// A new value for an attribute, distinct per `tag`.
fn new_value(attr: &serde_json::Map<String, Value>, path: &str, tag: &str) -> Value {
    if attr.contains_key("values") {
        match path {
            "access_information.ldap" => {
                json!({ format!("team_{tag}"): null, "vpn_default": null })
            }
            "access_information.access_provider" => json!({ format!("group_{tag}"): null }),
            "ssh_public_keys" => {
                json!({ format!("key-{tag}"): format!("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5{tag}") })
            }
            _ => json!({ tag: tag }),
        }
    } else {
        json!(format!("{} {tag}", path.rsplit('.').next().unwrap_or(path)))
    }
}

/// A partial profile (the null profile plus `paths`), each attribute taken from `base` with a
/// new value, claimed and signed by `publisher`: what a publisher posts to update a user.
pub fn update_body(
    base: &Value,
    publisher: &str,
    paths: &[&str],
    tag: &str,
    signer: &Signer,
) -> Result<Value> {
    let mut body = null_profile();
    for path in paths {
        let Some(mut attr) = attribute(base, path).cloned() else {
            bail!("the profile has no attribute {path}");
        };
        let key = if attr.contains_key("values") {
            "values"
        } else {
            "value"
        };
        let value = new_value(&attr, path, tag);
        attr.insert(key.into(), value);
        // Staff-only attributes must keep a display level the schema allows.
        if let Some(metadata) = attr.get_mut("metadata").and_then(Value::as_object_mut)
            && metadata.get("display").is_some_and(Value::is_null)
            && path.starts_with("staff_information.")
        {
            metadata.insert("display".into(), json!("staff"));
        }
        signer
            .sign_attribute(&mut attr, publisher)
            .with_context(|| format!("signing {path} as {publisher}"))?;
        let Some(slot) = attribute_mut(&mut body, path) else {
            bail!("the null profile has no attribute {path}");
        };
        *slot = attr;
    }
    Ok(body)
}

/// The publishers that update this user: all four for staff, the two that know everybody
/// otherwise (only staff are in LDAP and Workday).
fn publishers_for(profile: &Value) -> Vec<(&'static str, &'static [&'static str])> {
    OWNED
        .iter()
        .copied()
        .filter(|(p, _)| is_staff(profile) || matches!(*p, "mozilliansorg" | "access_provider"))
        .collect()
}

struct Request {
    user_id: Option<String>,
    body: Value,
}

#[derive(Default)]
struct Tally {
    created: usize,
    updated: usize,
    noop: usize,
    failed: usize,
    errors: BTreeMap<String, usize>,
    stages: BTreeMap<String, (f64, usize)>,
    latencies_ms: Vec<f64>,
}

impl Tally {
    fn summary(&mut self, seconds: f64) -> Value {
        self.latencies_ms.sort_by(f64::total_cmp);
        let pick = |q: f64| -> f64 {
            if self.latencies_ms.is_empty() {
                return 0.0;
            }
            let i = ((self.latencies_ms.len() - 1) as f64 * q).round() as usize;
            self.latencies_ms[i]
        };
        let requests = self.created + self.updated + self.noop + self.failed;
        json!({
            "requests": requests,
            "created": self.created,
            "updated": self.updated,
            "noop": self.noop,
            "failed": self.failed,
            "errors": self.errors,
            "seconds": round3(seconds),
            "requests_per_s": round3(requests as f64 / seconds.max(1e-9)),
            "latency_ms": {"p50": round3(pick(0.5)), "p90": round3(pick(0.9)), "p99": round3(pick(0.99))},
            "stages_ms": self.stages.iter()
                .map(|(k, (sum, n))| (k.clone(), json!(round3(sum / *n as f64))))
                .collect::<serde_json::Map<_, _>>(),
        })
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// `validate;dur=0.1, read;dur=0.2, …` → (name, ms).
fn parse_server_timing(header: &str) -> Vec<(String, f64)> {
    header
        .split(',')
        .filter_map(|part| {
            let mut fields = part.trim().split(';');
            let name = fields.next()?.trim();
            let dur = fields.find_map(|f| f.trim().strip_prefix("dur="))?;
            Some((name.to_owned(), dur.parse().ok()?))
        })
        .collect()
}

struct Client {
    http: reqwest::Client,
    url: String,
    auth: String,
}

/// What one POST came back with.
enum Answer {
    Done {
        condition: String,
        timing: Option<String>,
    },
    Failed(String),
}

impl Client {
    async fn post(&self, request: &Request) -> Answer {
        let mut builder = self
            .http
            .post(format!("{}/v2/user", self.url))
            .header("authorization", &self.auth)
            .json(&request.body);
        if let Some(user_id) = &request.user_id {
            builder = builder.query(&[("user_id", user_id)]);
        }
        let response = match builder.send().await {
            Ok(r) => r,
            Err(e) => return Answer::Failed(format!("http: {}", e.without_url())),
        };
        let status = response.status();
        let timing = response
            .headers()
            .get("server-timing")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            Answer::Done {
                condition: body["condition"].as_str().unwrap_or("?").to_owned(),
                timing,
            }
        } else {
            Answer::Failed(format!(
                "{} {}",
                status.as_u16(),
                body["code"].as_str().unwrap_or("unknown")
            ))
        }
    }
}

async fn run_phase(
    client: &Client,
    requests: Vec<Request>,
    concurrency: usize,
    bar: &ProgressBar,
) -> (Tally, f64) {
    let started = Instant::now();
    let mut tally = Tally::default();
    let mut answers = futures::stream::iter(requests.iter().map(|r| async move {
        let sent = Instant::now();
        let answer = client.post(r).await;
        (answer, sent.elapsed())
    }))
    .buffer_unordered(concurrency.max(1));
    while let Some((answer, elapsed)) = answers.next().await {
        bar.inc(1);
        tally.latencies_ms.push(elapsed.as_secs_f64() * 1000.0);
        match answer {
            Answer::Done { condition, timing } => {
                match condition.as_str() {
                    "create" => tally.created += 1,
                    "update" => tally.updated += 1,
                    _ => tally.noop += 1,
                }
                if condition == "update"
                    && let Some(timing) = timing
                {
                    for (name, ms) in parse_server_timing(&timing) {
                        let entry = tally.stages.entry(name).or_insert((0.0, 0));
                        entry.0 += ms;
                        entry.1 += 1;
                    }
                }
            }
            Answer::Failed(reason) => {
                tally.failed += 1;
                *tally.errors.entry(reason).or_insert(0) += 1;
            }
        }
    }
    (tally, started.elapsed().as_secs_f64())
}

pub fn run(args: SeedArgs) -> Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(seed(args))
}

async fn seed(args: SeedArgs) -> Result<Outcome> {
    let dir = DataDir::new(&args.data_dir);
    let signer = Arc::new(dir.signer()?);
    let (url, token) = match (&args.url, &args.token) {
        (Some(url), Some(token)) => (url.clone(), token.clone()),
        _ => {
            let serve = dir.serve_urls()?;
            let token = match &args.token {
                Some(t) => t.clone(),
                None => crate::token::mint(
                    &dir,
                    Some(&serve.issuer_url),
                    "cis-seed@clients",
                    &serve.audience,
                    &["write"],
                    Duration::from_secs(6 * 3600),
                )?,
            };
            (args.url.clone().unwrap_or(serve.change_url), token)
        }
    };
    let client = Client {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .context("HTTP client")?,
        url: url.trim_end_matches('/').to_owned(),
        auth: format!("Bearer {token}"),
    };

    // The users, as their access provider first sends them: no uuid, no primary_username.
    let opts = FakeOptions {
        uuid_username: false,
        ..FakeOptions::default()
    };
    let mut profiles = Vec::with_capacity(args.users);
    for i in 0..args.users {
        let mut profile = fake_profile(
            args.seed.wrapping_mul(1_000_003).wrapping_add(i as u64),
            &opts,
        );
        signer
            .sign_profile(&mut profile, None)
            .context("signing a fake profile")?;
        profiles.push(profile);
    }
    let mut seen = std::collections::HashSet::new();
    profiles.retain(|p| seen.insert(p["user_id"]["value"].clone()));

    let mut updates = Vec::new();
    for profile in &profiles {
        let user_id = profile["user_id"]["value"].as_str().map(str::to_owned);
        for (publisher, paths) in publishers_for(profile) {
            updates.push(Request {
                user_id: user_id.clone(),
                body: update_body(
                    profile,
                    publisher,
                    paths,
                    &format!("s{}", args.seed),
                    &signer,
                )?,
            });
        }
    }
    let mut load = Vec::with_capacity(args.updates);
    if args.updates > 0 && !profiles.is_empty() {
        for k in 0..args.updates {
            let profile = &profiles[k % profiles.len()];
            let publishers = publishers_for(profile);
            let (publisher, paths) = publishers[(k / profiles.len()) % publishers.len()];
            let path = paths[k % paths.len()];
            load.push(Request {
                user_id: profile["user_id"]["value"].as_str().map(str::to_owned),
                body: update_body(profile, publisher, &[path], &format!("l{k}"), &signer)?,
            });
        }
    }

    let total = (profiles.len() + updates.len() + load.len()) as u64;
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{msg:8} [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec})",
        ) {
            bar.set_style(style);
        }
        bar
    };
    let creates: Vec<Request> = profiles
        .into_iter()
        .map(|body| Request {
            user_id: None,
            body,
        })
        .collect();
    bar.set_message("create");
    let (mut create_tally, create_s) = run_phase(&client, creates, args.concurrency, &bar).await;
    bar.set_message("update");
    let (mut update_tally, update_s) = run_phase(&client, updates, args.concurrency, &bar).await;
    let mut load_summary = Value::Null;
    let mut failed = create_tally.failed + update_tally.failed;
    if !load.is_empty() {
        bar.set_message("load");
        let (mut load_tally, load_s) = run_phase(&client, load, args.concurrency, &bar).await;
        failed += load_tally.failed;
        let updates_per_s = load_tally.updated as f64 / load_s.max(1e-9);
        load_summary = load_tally.summary(load_s);
        load_summary["updates_per_s"] = json!(round3(updates_per_s));
        load_summary["concurrency"] = json!(args.concurrency);
    }
    bar.finish_and_clear();

    print_json(&json!({
        "url": client.url,
        "users": create_tally.created,
        "creates": create_tally.summary(create_s),
        "updates": update_tally.summary(update_s),
        "load": load_summary,
    }))?;
    Ok(if failed == 0 {
        Outcome::Ok
    } else {
        Outcome::Rejected
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_bodies_pass_the_publisher_rules_and_schema() {
        let signer = crate::dev_keys::dev_signer().unwrap();
        let keys = crate::dev_keys::dev_publisher_keys().unwrap();
        let rules = cis_profile::PublisherRules::bundled();
        let opts = FakeOptions {
            uuid_username: false,
            login_method: Some(cis_profile::LoginMethod::MozillaLdap),
            ..FakeOptions::default()
        };
        let mut profile = fake_profile(3, &opts);
        signer.sign_profile(&mut profile, None).unwrap();
        assert!(is_staff(&profile));
        assert_eq!(publishers_for(&profile).len(), 4);
        for (publisher, paths) in publishers_for(&profile) {
            let body = update_body(&profile, publisher, paths, "t1", &signer).unwrap();
            cis_profile::validate(&body).unwrap_or_else(|v| panic!("{publisher}: {v:?}"));
            for path in paths {
                let new = attribute(&body, path).unwrap();
                let old = attribute(&profile, path).unwrap();
                assert_ne!(new, old, "{path} changes");
                keys.verify_attribute(new).unwrap();
                cis_profile::check_attribute(path, new, Some(old), rules)
                    .unwrap_or_else(|v| panic!("{publisher} {path}: {v:?}"));
            }
        }
    }

    #[test]
    fn server_timing_is_parsed() {
        let parsed =
            parse_server_timing("validate;dur=0.125, write;dur=2.000, attempts;desc=\"1\"");
        assert_eq!(
            parsed,
            vec![("validate".to_owned(), 0.125), ("write".to_owned(), 2.0)]
        );
    }
}
