//! `cis serve` propagation end to end, with real processes and sockets: queued ingest
//! (`CIS_STREAM_BYPASS=false`), the webhook notifier posting to local relying parties that verify
//! its bearer tokens (RS256 against the serve's JWKS, `exp`/`aud`/`iss`), its checkpoint across
//! restarts, and `cis notify status` / `cis notify replay` on the dead letters of a failing RP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use cis_crypto::Signer;
use cis_profile::{FakeOptions, LoginMethod, fake_profile};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

/// Long enough for a loaded 2-core CI machine; the tests poll, they never sleep to synchronise.
const DEADLINE: Duration = Duration::from_secs(120);

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .try_into()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// `cis serve` as a child process

struct Serve {
    child: Option<Child>,
    dir: PathBuf,
    env: Vec<(String, String)>,
    urls: Value,
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Serve {
    fn start(dir: &Path, env: &[(&str, &str)]) -> Self {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let (child, urls) = spawn_serve(dir, &env, [0, 0, 0]);
        Self {
            child: Some(child),
            dir: dir.to_owned(),
            env,
            urls,
        }
    }

    fn url(&self, name: &str) -> String {
        self.urls[name].as_str().unwrap().to_owned()
    }

    /// SIGTERM, then waits for the exit (the notifier finishes its event in flight first).
    fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let until = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > until {
                let _ = child.kill();
                panic!("cis serve did not stop within {DEADLINE:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts again on the same data directory, environment and ports (the tokens' `iss` and
    /// the RPs' trust stay valid).
    fn restart(&mut self) {
        assert!(self.child.is_none(), "stop first");
        let ports = ["change_url", "person_url", "issuer_url"].map(|name| {
            self.url(name)
                .rsplit(':')
                .next()
                .unwrap()
                .parse::<u16>()
                .unwrap()
        });
        let (child, urls) = spawn_serve(&self.dir, &self.env, ports);
        self.child = Some(child);
        self.urls = urls;
    }

    fn serve_json(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.dir.join("serve.json")).unwrap())
            .unwrap()
    }

    fn trust(&self) -> Trust {
        let notifier = &self.serve_json()["notifier"];
        let field = |name: &str| notifier[name].as_str().unwrap().to_owned();
        Trust {
            issuer: field("issuer"),
            jwks_url: field("jwks_url"),
            audience: field("audience"),
        }
    }

    fn writer(&self) -> String {
        let out = cis(
            &["token", "--raw", "--scopes", "write", "--data-dir"],
            &self.dir,
        );
        assert!(out.status.success(), "{out:?}");
        format!("Bearer {}", String::from_utf8(out.stdout).unwrap().trim())
    }

    fn signer(&self) -> Signer {
        Signer::from_dir(&self.dir.join("keys")).unwrap()
    }
}

fn spawn_serve(dir: &Path, env: &[(String, String)], ports: [u16; 3]) -> (Child, Value) {
    let [change, person, issuer] = ports.map(|p| p.to_string());
    let mut child = Command::new(env!("CARGO_BIN_EXE_cis"))
        .args(["serve", "--data-dir"])
        .arg(dir)
        .args(["--change-port", &change, "--person-port", &person])
        .args(["--issuer-port", &issuer])
        .env_remove("CIS_RP_URLS")
        .env_remove("CIS_STREAM_BYPASS")
        .env("RUST_LOG", "warn")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let urls = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && v.get("change_url").is_some()
                {
                    break v;
                }
            }
            _ => panic!(
                "cis serve ended before printing its URLs: {:?}",
                child.wait()
            ),
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, urls)
}

/// Runs the `cis` binary with `args` followed by `dir`.
fn cis(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cis"))
        .args(args)
        .arg(dir)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

/// `cis` off the async workers (it may wait on an RP served by this test's runtime).
async fn cis_async(args: Vec<String>) -> (i32, Value, String) {
    tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_cis"))
            .args(&args)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let json = serde_json::from_str(stdout.trim()).unwrap_or(Value::Null);
        (out.status.code().unwrap_or(-1), json, stderr)
    })
    .await
    .unwrap()
}

async fn notify(command: &str, dir: &Path, extra: &[&str]) -> (i32, Value, String) {
    let mut args = vec![
        "notify".to_owned(),
        command.to_owned(),
        "--data-dir".to_owned(),
        dir.display().to_string(),
    ];
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    cis_async(args).await
}

fn http() -> reqwest::Client {
    // No pooled connections: a restarted serve listens on the same ports.
    reqwest::Client::builder()
        .timeout(DEADLINE)
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

async fn post_json(url: &str, auth: &str, body: &Value) -> (u16, Value) {
    let resp = http()
        .post(url)
        .header("authorization", auth)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

async fn get_json(url: &str) -> Value {
    http().get(url).send().await.unwrap().json().await.unwrap()
}

fn new_user(seed: u64, signer: &Signer) -> Value {
    let opts = FakeOptions {
        uuid_username: false,
        login_method: Some(LoginMethod::MozillaLdap),
        ..FakeOptions::default()
    };
    let mut profile = fake_profile(seed, &opts);
    signer.sign_profile(&mut profile, None).unwrap();
    profile
}

fn user_id_of(profile: &Value) -> String {
    profile["user_id"]["value"].as_str().unwrap().to_owned()
}

async fn poll_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = Instant::now() + DEADLINE;
    while !check().await {
        assert!(Instant::now() < until, "{what}: not within {DEADLINE:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// A relying party that verifies the notifier's tokens

#[derive(Clone, Debug)]
struct Trust {
    issuer: String,
    jwks_url: String,
    audience: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Healthy,
    /// 503 to every request with a valid token.
    Failing,
    /// 200 after this pause.
    Slow(Duration),
}

#[derive(Clone, Debug)]
struct Hit {
    body: Value,
    status: u16,
    /// The verified claims, or why the token was refused.
    token: Result<Value, String>,
}

struct RpState {
    trust: Mutex<Option<Trust>>,
    mode: Mutex<Mode>,
    hits: Mutex<Vec<Hit>>,
    http: reqwest::Client,
}

struct Rp {
    url: String,
    state: Arc<RpState>,
}

impl Rp {
    async fn start(mode: Mode) -> Self {
        let state = Arc::new(RpState {
            trust: Mutex::new(None),
            mode: Mutex::new(mode),
            hits: Mutex::new(Vec::new()),
            http: http(),
        });
        let router = Router::new()
            .route("/events/update", post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/events/update", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self { url, state }
    }

    fn trust(&self, trust: Trust) {
        *self.state.trust.lock().unwrap() = Some(trust);
    }

    fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    fn hits(&self) -> Vec<Hit> {
        self.state.hits.lock().unwrap().clone()
    }

    /// Accepted notifications per user id.
    fn accepted_per_user(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for hit in self.hits().iter().filter(|h| h.status == 200) {
            *counts
                .entry(hit.body["id"].as_str().unwrap_or_default().to_owned())
                .or_insert(0) += 1;
        }
        counts
    }
}

async fn receive(State(state): State<Arc<RpState>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let trust = state.trust.lock().unwrap().clone();
    let token = match trust {
        Some(trust) => verify(&state.http, &trust, &headers).await,
        None => Err("the RP does not know whom to trust yet".to_owned()),
    };
    let mode = *state.mode.lock().unwrap();
    let status = match (&token, mode) {
        (Err(_), _) => StatusCode::UNAUTHORIZED,
        (Ok(_), Mode::Failing) => StatusCode::SERVICE_UNAVAILABLE,
        (Ok(_), Mode::Healthy) => StatusCode::OK,
        (Ok(_), Mode::Slow(pause)) => {
            tokio::time::sleep(pause).await;
            StatusCode::OK
        }
    };
    state.hits.lock().unwrap().push(Hit {
        body,
        status: status.as_u16(),
        token,
    });
    status
}

/// What an RP of CIS does (notifier spec §1.1): the bearer token, RS256 with a key of the
/// issuer's JWKS fetched over HTTP, `exp`, `aud` and `iss` checked.
async fn verify(
    http: &reqwest::Client,
    trust: &Trust,
    headers: &HeaderMap,
) -> Result<Value, String> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or("no bearer token")?;
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    if header.alg != Algorithm::RS256 {
        return Err(format!("alg {:?}", header.alg));
    }
    let kid = header.kid.ok_or("no kid")?;
    let jwks: Value = http
        .get(&trust.jwks_url)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let key = jwks["keys"]
        .as_array()
        .ok_or("no keys")?
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .ok_or("kid not in the JWKS")?;
    let key = DecodingKey::from_rsa_components(
        key["n"].as_str().ok_or("no n")?,
        key["e"].as_str().ok_or("no e")?,
    )
    .map_err(|e| e.to_string())?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[&trust.audience]);
    validation.set_issuer(&[&trust.issuer]);
    validation.set_required_spec_claims(&["exp", "aud", "iss"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|e| format!("token rejected: {e}"))
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queued_writes_are_integrated_in_order_and_reported_by_status() {
    let tmp = tempfile::tempdir().unwrap();
    let mut serve = Serve::start(&tmp.path().join("data"), &[("CIS_STREAM_BYPASS", "false")]);
    let serve_json = serve.serve_json();
    assert_eq!(serve_json["stream_bypass"], false);
    assert_eq!(
        serve_json["notifier"]["rp_urls"],
        json!([]),
        "no CIS_RP_URLS: no notifier, never the deployed default RP"
    );
    assert_eq!(
        serve_json["notifier"]["audience"],
        "hook.dev.sso.allizom.org"
    );

    let signer = serve.signer();
    let a = new_user(1, &signer);
    let b = new_user(2, &signer);
    let mut a_renamed = a.clone();
    a_renamed["first_name"]["value"] = json!("Renamed");
    signer
        .sign_path(&mut a_renamed, "first_name", "mozilliansorg")
        .unwrap();
    let (status, body) = post_json(
        &format!("{}/v2/users", serve.url("change_url")),
        &serve.writer(),
        &json!([a, b, a_renamed]),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let tickets: Vec<String> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["condition"], "queued", "{r}");
            r["sequence_number"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(tickets.len(), 3);
    let (status, body) = post_json(
        &format!("{}/v2/user", serve.url("change_url")),
        &serve.writer(),
        &new_user(3, &signer),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["condition"], "queued");

    let change_url = serve.url("change_url");
    for ticket in &tickets {
        let url = format!("{change_url}/v2/status?sequenceNumber={ticket}");
        poll_until("queued profile integrated", || async {
            get_json(&url).await["status"] == "integrated"
        })
        .await;
        assert_eq!(get_json(&url).await["identity_vault"], true);
    }
    // The last change of `a` was applied last: the Person API shows it.
    let reader = cis(
        &[
            "token",
            "--raw",
            "--scopes",
            "read:fullprofile display:all classification:public",
            "--data-dir",
        ],
        &serve.dir,
    );
    let reader = String::from_utf8(reader.stdout).unwrap();
    let profile: Value = http()
        .get(format!(
            "{}/v2/user/user_id/{}",
            serve.url("person_url"),
            user_id_of(&a).replace('|', "%7C")
        ))
        .header("authorization", format!("Bearer {}", reader.trim()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(profile["first_name"]["value"], "Renamed", "{profile}");
    assert!(serve.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_rp_gets_a_dead_letter_that_replay_delivers_once() {
    let healthy = Rp::start(Mode::Healthy).await;
    let failing = Rp::start(Mode::Failing).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let rp_urls = format!("{},{}", healthy.url, failing.url);
    let mut serve = Serve::start(
        &dir,
        &[
            ("CIS_RP_URLS", &rp_urls),
            ("CIS_NOTIFIER_MAX_ATTEMPTS", "2"),
            ("CIS_NOTIFIER_TIMEOUT_SECONDS", "5"),
        ],
    );
    let trust = serve.trust();
    healthy.trust(trust.clone());
    failing.trust(trust);

    // Nothing failed yet.
    let (code, status, _) = notify("status", &dir, &[]).await;
    assert_eq!(code, 0);
    assert_eq!(
        status,
        json!({"count": 0, "unreplayed": 0, "dead_letters": []})
    );

    let started = now_secs();
    let user = new_user(7, &serve.signer());
    let user_id = user_id_of(&user);
    let (code, body) = post_json(
        &format!("{}/v2/user", serve.url("change_url")),
        &serve.writer(),
        &user,
    )
    .await;
    assert_eq!(code, 200, "{body}");

    poll_until("the failing RP's dead letter", || async {
        notify("status", &dir, &[]).await.1["count"] == 1
    })
    .await;
    let status = notify("status", &dir, &[]).await.1;
    let letter = &status["dead_letters"][0];
    assert_eq!(letter["rp"], failing.url.as_str(), "{letter}");
    assert_eq!(letter["operation"], "create");
    assert_eq!(letter["user_id"], user_id.as_str());
    assert_eq!(letter["status"], 503);
    assert_eq!(letter["attempts"], 2);
    assert_eq!(letter["replayed"], false);
    let time = letter["time"].as_i64().unwrap();
    assert!((started - 1..=now_secs() + 1).contains(&time), "{letter}");
    assert!(letter["failed_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(status["unreplayed"], 1);
    // The healthy RP got it once, with a valid token; the failing one twice (no more).
    assert_eq!(
        healthy.accepted_per_user(),
        HashMap::from([(user_id.clone(), 1)])
    );
    let failed_hits = failing.hits();
    assert_eq!(failed_hits.len(), 2);
    assert!(
        failed_hits
            .iter()
            .all(|h| h.status == 503 && h.token.is_ok())
    );
    let (_, only_healthy, _) = notify("status", &dir, &["--rp", &healthy.url]).await;
    assert_eq!(only_healthy["count"], 0);

    // Still failing: replay reports it and exits 1; the letter stays.
    let (code, report, stderr) = notify("replay", &dir, &[]).await;
    assert_eq!(code, 1, "{report} {stderr}");
    assert_eq!(report["delivered_count"], 0, "{report}");
    assert_eq!(report["failed_count"], 1);
    assert_eq!(report["still_failing"][0]["rp"], failing.url.as_str());
    assert_eq!(report["still_failing"][0]["user_id"], user_id.as_str());
    assert_eq!(
        failing.hits().len(),
        4,
        "replay used the serve's 2 attempts"
    );
    assert_eq!(notify("status", &dir, &[]).await.1["unreplayed"], 1);

    // Fixed: replay delivers it, once, with the original notification.
    failing.set_mode(Mode::Healthy);
    let since = (started - 60).to_string();
    let (code, report, stderr) =
        notify("replay", &dir, &["--rp", &failing.url, "--since", &since]).await;
    assert_eq!(code, 0, "{report} {stderr}");
    assert_eq!(report["matched"], 1);
    assert_eq!(report["delivered_count"], 1);
    assert_eq!(report["delivered"][0]["user_id"], user_id.as_str());
    let accepted: Vec<Hit> = failing
        .hits()
        .into_iter()
        .filter(|h| h.status == 200)
        .collect();
    assert_eq!(accepted.len(), 1);
    assert_eq!(
        accepted[0].body,
        json!({"operation": "create", "id": user_id, "time": time})
    );
    let claims = accepted[0].token.as_ref().unwrap();
    assert_eq!(claims["sub"], "cis-webhook-notifier@clients");
    assert_eq!(
        healthy.hits().len(),
        1,
        "the healthy RP is not called again"
    );

    let (_, status, _) = notify("status", &dir, &[]).await;
    assert_eq!(status["count"], 1);
    assert_eq!(status["unreplayed"], 0);
    assert_eq!(status["dead_letters"][0]["replayed"], true);
    assert!(status["dead_letters"][0]["replayed_at"].is_string());
    let (code, report, _) = notify("replay", &dir, &[]).await;
    assert_eq!((code, &report["matched"]), (0, &json!(0)), "nothing left");

    // Usage and I/O errors exit 2 with a message.
    let (code, _, stderr) = notify("replay", &dir, &["--since", "last tuesday"]).await;
    assert_eq!(code, 2);
    assert!(stderr.contains("RFC 3339"), "{stderr}");
    let (code, _, stderr) = notify("status", &tmp.path().join("nowhere"), &[]).await;
    assert_eq!(code, 2);
    assert!(stderr.contains("no vault"), "{stderr}");
    assert!(serve.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn notifications_carry_verified_tokens_and_survive_restarts_without_repeats() {
    let rp = Rp::start(Mode::Healthy).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut serve = Serve::start(&dir, &[("CIS_RP_URLS", &rp.url)]);
    let trust = serve.trust();
    assert_eq!(trust.audience, "hook.dev.sso.allizom.org");
    assert_eq!(trust.issuer, format!("{}/", serve.url("issuer_url")));
    rp.trust(trust.clone());
    let signer = serve.signer();
    let change_url = format!("{}/v2/user", serve.url("change_url"));

    // A change reaches the RP as {"operation","id","time"} with a token it verifies.
    let before = now_secs();
    let first = new_user(100, &signer);
    let (code, body) = post_json(&change_url, &serve.writer(), &first).await;
    assert_eq!(code, 200, "{body}");
    poll_until("the first notification", || async { !rp.hits().is_empty() }).await;
    let hit = rp.hits()[0].clone();
    assert_eq!(hit.status, 200, "{hit:?}");
    assert_eq!(hit.body["operation"], "create");
    assert_eq!(hit.body["id"], user_id_of(&first).as_str());
    assert_eq!(hit.body.as_object().unwrap().len(), 3, "{}", hit.body);
    let time = hit.body["time"].as_i64().unwrap();
    assert!((before - 1..=now_secs() + 1).contains(&time));
    let claims = hit.token.unwrap();
    assert_eq!(claims["aud"], trust.audience.as_str());
    assert_eq!(claims["iss"], trust.issuer.as_str());
    assert_eq!(claims["sub"], "cis-webhook-notifier@clients");

    // A clean stop and start: nothing is sent again.
    assert!(serve.stop().success());
    serve.restart();
    let second = new_user(101, &signer);
    let (code, body) = post_json(&change_url, &serve.writer(), &second).await;
    assert_eq!(code, 200, "{body}");
    let second_id = user_id_of(&second);
    poll_until("the second notification", || async {
        rp.accepted_per_user().contains_key(&second_id)
    })
    .await;
    assert_eq!(
        rp.accepted_per_user(),
        HashMap::from([(user_id_of(&first), 1), (second_id, 1)]),
        "the first event was not repeated after the restart"
    );

    // Stopped in the middle of a burst (a slow RP): the rest is delivered after the restart,
    // and none twice.
    rp.set_mode(Mode::Slow(Duration::from_millis(300)));
    let burst: Vec<Value> = (200..220).map(|seed| new_user(seed, &signer)).collect();
    let (code, body) = post_json(
        &format!("{}/v2/users", serve.url("change_url")),
        &serve.writer(),
        &json!(burst),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["failed"], 0, "{body}");
    let status = serve.stop();
    assert!(status.success(), "{status:?}");
    let burst_ids: Vec<String> = burst.iter().map(user_id_of).collect();
    let delivered_before = burst_ids
        .iter()
        .filter(|id| rp.accepted_per_user().contains_key(*id))
        .count();
    assert!(
        delivered_before < burst_ids.len(),
        "the stop came before the slow RP had everything ({delivered_before})"
    );
    rp.set_mode(Mode::Healthy);
    serve.restart();
    poll_until("the rest of the burst after the restart", || async {
        let seen = rp.accepted_per_user();
        burst_ids.iter().all(|id| seen.contains_key(id))
    })
    .await;
    let seen = rp.accepted_per_user();
    assert_eq!(seen.len(), 2 + burst_ids.len());
    assert!(
        seen.values().all(|n| *n == 1),
        "no event delivered twice: {seen:?}"
    );
    assert!(rp.hits().iter().all(|h| h.status == 200 && h.token.is_ok()));
    assert!(serve.stop().success());
}
