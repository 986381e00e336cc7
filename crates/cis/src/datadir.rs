//! The local-mode data directory (`cis serve`, `cis token`, `cis seed`):
//!
//! ```text
//! <dir>/vault.sqlite          the SQLite vault (profiles, change feed, queue, dead letters)
//! <dir>/keys/<publisher>.pem  publisher signing keys (ldap, hris, mozilliansorg, access_provider, cis)
//! <dir>/issuer.pem            the dev token issuer's RSA key
//! <dir>/uuid_salt             the uuid salt (random at first start)
//! <dir>/clients.json          client-credentials clients of the dev issuer (the local API client
//!                             and the webhook notifier's client)
//! <dir>/serve.json            URLs of the running (or last) `cis serve`, for `cis token`/`cis seed`,
//!                             and the notifier settings `cis notify replay` reuses
//! ```
//!
//! The publisher keys are copies of the compiled-in DEV keys (`well-known/dev-keys/`): profiles
//! that `cis profile fake` signs are then accepted by a local `cis serve` as they are, and
//! `cis profile verify --well-known dev` checks what it stores. They are files so an operator
//! can drop in other keys; `serve` publishes whatever is there in its well-known document.
//! The issuer key, the salt and the client secret are generated per directory: they are what
//! a token or a uuid depends on, and nothing outside the directory needs them.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cis_crypto::{PublisherKeys, Signer, SigningKey};
use serde::{Deserialize, Serialize};

use crate::dev_keys::DEV_KEYS;

/// The audience of both local APIs (the dev stage's, so clients configured for dev work).
pub const LOCAL_AUDIENCE: &str = "api.dev.sso.allizom.org";

/// The client-credentials client `cis serve` registers at first start.
pub const LOCAL_CLIENT_ID: &str = "cis-local-client";

/// The client-credentials client the webhook notifier gets its bearer tokens with (the
/// `webhook_notifier` client of the deployed notifier, here registered with the dev issuer).
pub const NOTIFIER_CLIENT_ID: &str = "cis-webhook-notifier";

/// Every scope the CIS APIs know (well-known/scopes.json) plus the Person API's search scope.
pub const ALL_SCOPES: [&str; 16] = [
    "read:fullprofile",
    "write",
    "classification:public",
    "classification:mozilla_confidential",
    "classification:workgroup:staff_only",
    "classification:workgroup",
    "classification:individual",
    "display:all",
    "display:private",
    "display:staff",
    "display:ndaed",
    "display:vouched",
    "display:authenticated",
    "display:public",
    "display:none",
    "search:all",
];

/// One client of the dev issuer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientEntry {
    pub client_id: String,
    pub client_secret: String,
    pub audiences: Vec<String>,
    pub scopes: Vec<String>,
}

/// What `cis serve` wrote at start: where everything listens.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServeUrls {
    pub change_url: String,
    pub person_url: String,
    pub issuer_url: String,
    pub well_known_url: String,
    pub token_url: String,
    pub jwks_url: String,
    pub audience: String,
    pub data_dir: String,
    /// `CIS_STREAM_BYPASS`: `true` = direct writes, `false` = writes queued and integrated by the
    /// local processor.
    #[serde(default = "default_true")]
    pub stream_bypass: bool,
    /// The webhook notifier: what an RP verifies its tokens against, and the settings
    /// `cis notify replay` delivers with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifier: Option<NotifierInfo>,
}

fn default_true() -> bool {
    true
}

/// The notifier part of `serve.json`. No secret: the client secret stays in clients.json.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NotifierInfo {
    /// `CIS_RP_URLS`; empty = the notifier does not run.
    pub rp_urls: Vec<String>,
    /// The `iss` of the notifier's tokens (with Auth0's trailing `/`).
    pub issuer: String,
    pub jwks_url: String,
    /// The `aud` of the notifier's tokens (`CIS_API_IDENTIFIER`).
    pub audience: String,
    pub token_url: String,
    /// The clients.json client the tokens are issued to.
    pub client_id: String,
    pub max_attempts: u32,
    pub request_timeout_seconds: u64,
}

#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

/// Writes a file readable only by its owner (keys, salt, client secret).
fn write_private(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn vault_path(&self) -> PathBuf {
        self.root.join("vault.sqlite")
    }

    pub fn keys_dir(&self) -> PathBuf {
        self.root.join("keys")
    }

    fn issuer_path(&self) -> PathBuf {
        self.root.join("issuer.pem")
    }

    fn salt_path(&self) -> PathBuf {
        self.root.join("uuid_salt")
    }

    fn clients_path(&self) -> PathBuf {
        self.root.join("clients.json")
    }

    fn serve_path(&self) -> PathBuf {
        self.root.join("serve.json")
    }

    /// Creates whatever is missing; never replaces an existing file. Returns what was created.
    /// The issuer key is created by [`DataDir::issuer_pem_or_create`] (it needs the issuer).
    pub fn init(&self) -> Result<Vec<String>> {
        let mut created = Vec::new();
        std::fs::create_dir_all(self.keys_dir())
            .with_context(|| format!("cannot create the data directory {}", self.root.display()))?;
        for (publisher, pem) in DEV_KEYS {
            let path = self.keys_dir().join(format!("{publisher}.pem"));
            if !path.exists() {
                write_private(&path, pem)?;
                created.push(format!("keys/{publisher}.pem"));
            }
        }
        if !self.salt_path().exists() {
            write_private(&self.salt_path(), &random_hex(32))?;
            created.push("uuid_salt".into());
        }
        if !self.clients_path().exists() {
            let clients = vec![ClientEntry {
                client_id: LOCAL_CLIENT_ID.into(),
                client_secret: random_hex(24),
                audiences: vec![LOCAL_AUDIENCE.into()],
                scopes: ALL_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            }];
            write_private(
                &self.clients_path(),
                &serde_json::to_string_pretty(&clients)?,
            )?;
            created.push("clients.json".into());
        }
        Ok(created)
    }

    /// The issuer key PEM; `generate` makes one (and it is stored) when there is none yet.
    pub fn issuer_pem_or_create(
        &self,
        generate: impl FnOnce() -> Result<String>,
    ) -> Result<(String, bool)> {
        let path = self.issuer_path();
        if path.exists() {
            return Ok((self.issuer_pem()?, false));
        }
        let pem = generate()?;
        write_private(&path, &pem)?;
        Ok((pem, true))
    }

    pub fn issuer_pem(&self) -> Result<String> {
        let path = self.issuer_path();
        std::fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read {} (start `cis serve --data-dir {}` once to create it)",
                path.display(),
                self.root.display()
            )
        })
    }

    pub fn uuid_salt(&self) -> Result<String> {
        let salt = std::fs::read_to_string(self.salt_path())
            .with_context(|| format!("cannot read {}", self.salt_path().display()))?;
        let salt = salt.trim().to_owned();
        if salt.is_empty() {
            bail!("{} is empty", self.salt_path().display());
        }
        Ok(salt)
    }

    /// The client `client_id`, allowed to ask for `audience`: added to clients.json with a new
    /// secret when missing, or given the audience when it lacks it (the notifier's audience
    /// follows `CIS_API_IDENTIFIER`).
    pub fn ensure_client(&self, client_id: &str, audience: &str) -> Result<ClientEntry> {
        let mut clients = self.clients()?;
        let index = match clients.iter().position(|c| c.client_id == client_id) {
            Some(index) => {
                if clients[index].audiences.iter().any(|a| a == audience) {
                    return Ok(clients[index].clone());
                }
                clients[index].audiences.push(audience.to_owned());
                index
            }
            None => {
                clients.push(ClientEntry {
                    client_id: client_id.to_owned(),
                    client_secret: random_hex(24),
                    audiences: vec![audience.to_owned()],
                    scopes: Vec::new(),
                });
                clients.len() - 1
            }
        };
        // Written aside and renamed, so a crash never leaves a half-written client list.
        let path = self.clients_path();
        let staging = self.root.join("clients.json.new");
        if staging.exists() {
            std::fs::remove_file(&staging)
                .with_context(|| format!("cannot remove {}", staging.display()))?;
        }
        write_private(&staging, &serde_json::to_string_pretty(&clients)?)?;
        std::fs::rename(&staging, &path)
            .with_context(|| format!("cannot replace {}", path.display()))?;
        Ok(clients[index].clone())
    }

    /// The secret of the clients.json client `client_id`.
    pub fn client(&self, client_id: &str) -> Result<ClientEntry> {
        self.clients()?
            .into_iter()
            .find(|c| c.client_id == client_id)
            .with_context(|| {
                format!(
                    "{} has no client `{client_id}` (start `cis serve --data-dir {}` once)",
                    self.clients_path().display(),
                    self.root.display()
                )
            })
    }

    pub fn clients(&self) -> Result<Vec<ClientEntry>> {
        let text = std::fs::read_to_string(self.clients_path())
            .with_context(|| format!("cannot read {}", self.clients_path().display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a client list", self.clients_path().display()))
    }

    /// `(publisher, pem)` for every `keys/<publisher>.pem`, sorted by publisher.
    pub fn publisher_pems(&self) -> Result<Vec<(String, String)>> {
        let dir = self.keys_dir();
        let mut out = Vec::new();
        let entries =
            std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("pem") {
                continue;
            }
            let Some(publisher) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            let pem = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            out.push((publisher.to_owned(), pem));
        }
        out.sort();
        Ok(out)
    }

    /// A signer with every publisher key of the directory.
    pub fn signer(&self) -> Result<Signer> {
        let mut signer = Signer::new();
        for (publisher, pem) in self.publisher_pems()? {
            let key = SigningKey::from_pem(&pem)
                .with_context(|| format!("keys/{publisher}.pem is not an RSA private key"))?;
            signer.insert(publisher, key);
        }
        Ok(signer)
    }

    /// The public halves, by publisher (what the change service verifies against).
    pub fn publisher_keys(&self) -> Result<PublisherKeys> {
        let mut keys = PublisherKeys::new();
        for (publisher, pem) in self.publisher_pems()? {
            let key = SigningKey::from_pem(&pem)
                .with_context(|| format!("keys/{publisher}.pem is not an RSA private key"))?;
            let kid = cis_crypto::default_kid(&publisher);
            keys.insert(publisher.clone(), key.verifying_key(Some(kid))?);
        }
        Ok(keys)
    }

    pub fn write_serve_urls(&self, urls: &ServeUrls) -> Result<()> {
        let path = self.serve_path();
        std::fs::write(&path, serde_json::to_string_pretty(urls)?)
            .with_context(|| format!("cannot write {}", path.display()))
    }

    pub fn serve_urls(&self) -> Result<ServeUrls> {
        let path = self.serve_path();
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read {} (is `cis serve --data-dir {}` running?)",
                path.display(),
                self.root.display()
            )
        })?;
        serde_json::from_str(&text).with_context(|| format!("{} is not valid", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_creates_once_and_keeps_what_exists() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::new(tmp.path().join("data"));
        let created = dir.init().unwrap();
        assert!(created.contains(&"uuid_salt".to_owned()));
        assert!(created.contains(&"keys/cis.pem".to_owned()));
        let salt = dir.uuid_salt().unwrap();
        assert_eq!(salt.len(), 64);
        let secret = dir.clients().unwrap()[0].client_secret.clone();
        // A second start reuses everything.
        assert!(dir.init().unwrap().is_empty());
        assert_eq!(dir.uuid_salt().unwrap(), salt);
        assert_eq!(dir.clients().unwrap()[0].client_secret, secret);
        let (pem, fresh) = dir.issuer_pem_or_create(|| Ok("PEM".into())).unwrap();
        assert!(fresh);
        let (again, fresh) = dir
            .issuer_pem_or_create(|| panic!("must not regenerate"))
            .unwrap();
        assert!(!fresh);
        assert_eq!(pem, again);

        // The notifier's client is added once, then only gains audiences.
        let notifier = dir
            .ensure_client(NOTIFIER_CLIENT_ID, "hook.dev.sso.allizom.org")
            .unwrap();
        let again = dir
            .ensure_client(NOTIFIER_CLIENT_ID, "hook.dev.sso.allizom.org")
            .unwrap();
        assert_eq!(again.client_secret, notifier.client_secret);
        let widened = dir.ensure_client(NOTIFIER_CLIENT_ID, "hook.test").unwrap();
        assert_eq!(widened.client_secret, notifier.client_secret);
        assert_eq!(widened.audiences, ["hook.dev.sso.allizom.org", "hook.test"]);
        assert_eq!(dir.clients().unwrap().len(), 2);
        assert_eq!(dir.clients().unwrap()[0].client_secret, secret);
        assert_eq!(
            dir.client(NOTIFIER_CLIENT_ID).unwrap().audiences,
            widened.audiences
        );
        assert!(dir.client("nobody").is_err());
        let signer = dir.signer().unwrap();
        for publisher in cis_crypto::PUBLISHERS {
            assert!(signer.has_key(publisher), "{publisher}");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(tmp.path().join("data/uuid_salt"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "secrets are private");
            let mode = std::fs::metadata(tmp.path().join("data/clients.json"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the rewritten client list stays private");
        }
    }
}
