//! The e2e harness: starts `cis serve` on free ports with a fresh data directory, reads the URLs
//! it prints, and gives tests signed profiles, tokens and an HTTP client. The process is killed
//! when the [`CisServer`] is dropped.
//!
//! The binary is `$CIS_BIN`, else `<target dir>/debug/cis`; build it first with
//! `cargo build -p cis` (ci/test.sh does).

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod rp;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cis_crypto::Signer;
use cis_http::DevIssuer;
use cis_profile::{FakeOptions, LoginMethod, attribute, attribute_mut, fake_profile, null_profile};
use serde_json::{Value, json};

/// The `cis` binary under test.
pub fn cis_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("CIS_BIN") {
        return PathBuf::from(bin);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let bin = target.join("debug/cis");
    assert!(
        bin.exists(),
        "{} does not exist: run `cargo build -p cis` first (or set CIS_BIN)",
        bin.display()
    );
    bin
}

/// How to run `cis serve`: extra arguments and environment variables, kept for restarts.
#[derive(Clone, Debug, Default)]
pub struct ServeOptions {
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl ServeOptions {
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_owned());
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }
}

/// A running `cis serve`.
pub struct CisServer {
    child: Option<Child>,
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    pub urls: Value,
    pub http: reqwest::Client,
    options: ServeOptions,
}

impl Drop for CisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

impl CisServer {
    /// A server on a fresh temporary data directory.
    pub fn start(extra: &[&str]) -> Self {
        Self::start_with(ServeOptions {
            args: extra.iter().map(|a| (*a).to_owned()).collect(),
            env: Vec::new(),
        })
    }

    /// A server on a fresh temporary data directory, with `options`.
    pub fn start_with(options: ServeOptions) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let mut server = Self::start_in_with(&dir, options);
        server._tmp = Some(tmp);
        server
    }

    /// A server on `data_dir` (kept after the server stops).
    pub fn start_in(data_dir: &Path, extra: &[&str]) -> Self {
        Self::start_in_with(
            data_dir,
            ServeOptions {
                args: extra.iter().map(|a| (*a).to_owned()).collect(),
                env: Vec::new(),
            },
        )
    }

    /// A server on `data_dir` with `options`, on free ports.
    pub fn start_in_with(data_dir: &Path, options: ServeOptions) -> Self {
        let (child, urls) = spawn(data_dir, &options, [0, 0, 0]);
        Self {
            child: Some(child),
            data_dir: data_dir.to_owned(),
            _tmp: None,
            urls,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .unwrap(),
            options,
        }
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Ends the process at once (SIGKILL: no shutdown code runs, as in a crash).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Asks the process to stop (SIGTERM) and waits for it, killing it after `deadline`.
    /// `true` if it exited by itself.
    pub fn stop(&mut self, deadline: Duration) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        let until = Instant::now() + deadline;
        while sent && Instant::now() < until {
            if let Ok(Some(_)) = child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// Starts the server again on the same data directory, options and ports (so the issuer,
    /// and with it the tokens' `iss`, stay the same). Kills the current process first if it
    /// still runs.
    pub fn restart(&mut self) {
        self.kill();
        let ports = ["change_url", "person_url", "issuer_url"].map(|name| port_of(&self.url(name)));
        let (child, urls) = spawn(&self.data_dir, &self.options, ports);
        self.child = Some(child);
        self.urls = urls;
    }

    /// Runs `cis <args> --data-dir <this data dir>`; (exit code, stdout as JSON or a string).
    pub fn cli(&self, args: &[&str]) -> (i32, Value) {
        let out = Command::new(cis_bin())
            .args(args)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.stderr.is_empty() {
            eprintln!("cis {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        (out.status.code().unwrap_or(-1), parse(&stdout))
    }

    /// What an RP of this server trusts, from the data directory's `serve.json`.
    pub fn rp_trust(&self) -> rp::Trust {
        let text = std::fs::read_to_string(self.data_dir.join("serve.json")).unwrap();
        let serve: Value = serde_json::from_str(&text).unwrap();
        rp_trust_from(&serve)
    }

    pub fn url(&self, name: &str) -> String {
        self.urls[name].as_str().unwrap().to_owned()
    }

    pub fn change(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.url("change_url"))
    }

    pub fn person(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.url("person_url"))
    }

    /// The data directory's publisher keys (what `cis serve` trusts).
    pub fn signer(&self) -> Signer {
        Signer::from_dir(&self.data_dir.join("keys")).unwrap()
    }

    /// The data directory's dev issuer, to craft tokens (also bad ones).
    pub fn issuer(&self) -> DevIssuer {
        let pem = std::fs::read_to_string(self.data_dir.join("issuer.pem")).unwrap();
        DevIssuer::from_pem(&self.url("issuer_url"), &pem).unwrap()
    }

    /// A token minted by `cis token` (the command under test too).
    pub fn token(&self, scopes: &str) -> String {
        let out = Command::new(cis_bin())
            .args(["token", "--raw", "--data-dir"])
            .arg(&self.data_dir)
            .args(["--scopes", scopes])
            .output()
            .unwrap();
        assert!(out.status.success(), "cis token: {out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// `Bearer <token with write>`.
    pub fn writer(&self) -> String {
        format!("Bearer {}", self.token("write"))
    }

    /// `Bearer <token that reads everything>` for the Person API.
    pub fn reader(&self) -> String {
        format!(
            "Bearer {}",
            self.token("read:fullprofile display:all classification:public classification:mozilla_confidential classification:workgroup classification:workgroup:staff_only classification:individual")
        )
    }

    /// POST a JSON body to a Change API path with `auth`; (status, JSON body).
    pub async fn post(&self, path: &str, auth: Option<&str>, body: &Value) -> (u16, Value) {
        let mut req = self.http.post(self.change(path)).json(body);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, parse(&text))
    }

    /// Any method, no body.
    pub async fn call(&self, method: &str, url: &str, auth: Option<&str>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(method, url);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, parse(&text))
    }

    /// The stored profile as the Person API returns it to a full-profile reader (`{}` if none).
    pub async fn read_user(&self, user_id: &str) -> Value {
        let (status, body) = self
            .call(
                "GET",
                &self.person(&format!("/v2/user/user_id/{}", encode(user_id))),
                Some(&self.reader()),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

/// Starts `cis serve` on `ports` (change, person, issuer; 0 = any) and reads the URLs it prints.
fn spawn(data_dir: &Path, options: &ServeOptions, ports: [u16; 3]) -> (Child, Value) {
    let [change, person, issuer] = ports.map(|p| p.to_string());
    let mut child = Command::new(cis_bin())
        .args(["serve", "--data-dir"])
        .arg(data_dir)
        .args([
            "--change-port",
            &change,
            "--person-port",
            &person,
            "--issuer-port",
            &issuer,
        ])
        .args(&options.args)
        .env("RUST_LOG", "warn")
        .envs(options.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("cannot start cis serve");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let urls = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && v.get("change_url").is_some()
                {
                    break v;
                }
            }
            _ => {
                let status = child.wait();
                panic!("cis serve ended before printing its URLs: {status:?}");
            }
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, urls)
}

/// The issuer, JWKS and audience an RP needs, as `cis serve` writes them in `serve.json`.
pub fn rp_trust_from(serve: &Value) -> rp::Trust {
    let field = |name: &str| {
        serve["notifier"][name]
            .as_str()
            .unwrap_or_else(|| panic!("serve.json has no notifier.{name}: {serve}"))
            .to_owned()
    };
    rp::Trust {
        issuer: field("issuer"),
        jwks_url: field("jwks_url"),
        audience: field("audience"),
    }
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no port in {url}"))
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// Percent-encodes everything but unreserved characters (user_ids hold `|`).
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A staff user as its access provider first sends it (no uuid, no primary_username), signed.
pub fn new_user(seed: u64, signer: &Signer) -> Value {
    let opts = FakeOptions {
        uuid_username: false,
        login_method: Some(LoginMethod::MozillaLdap),
        ..FakeOptions::default()
    };
    let mut profile = fake_profile(seed, &opts);
    signer.sign_profile(&mut profile, None).unwrap();
    profile
}

pub fn user_id_of(profile: &Value) -> String {
    profile["user_id"]["value"].as_str().unwrap().to_owned()
}

/// A new value for `path` of `base`, distinct per `tag`.
pub fn new_value(base: &Value, path: &str, tag: &str) -> Value {
    let attr = attribute(base, path).unwrap();
    if attr.contains_key("values") {
        json!({ format!("{tag}"): null })
    } else {
        json!(format!("{path} {tag}"))
    }
}

/// A partial update: the null profile with `path` taken from `base`, set to `value`, claimed and
/// signed by `publisher` (as a publisher sends one attribute).
pub fn change(base: &Value, path: &str, value: Value, publisher: &str, signer: &Signer) -> Value {
    let mut body = null_profile();
    add_change(&mut body, base, path, value, publisher, signer);
    body
}

/// Adds one more signed attribute to a partial update.
pub fn add_change(
    body: &mut Value,
    base: &Value,
    path: &str,
    value: Value,
    publisher: &str,
    signer: &Signer,
) {
    let mut attr = attribute(base, path).unwrap().clone();
    let key = if attr.contains_key("values") {
        "values"
    } else {
        "value"
    };
    attr.insert(key.into(), value);
    signer.sign_attribute(&mut attr, publisher).unwrap();
    *attribute_mut(body, path).unwrap() = attr;
}
