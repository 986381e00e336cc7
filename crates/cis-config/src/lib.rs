//! Typed settings for the CIS services, read once at start-up and validated there (DECISIONS B11).
//!
//! * Names are the environment variables of the Python CIS (A13), see [`keys`].
//! * Functions read the process environment only ([`ChangeSettings::from_env`], ...). Local mode
//!   may layer a TOML file underneath ([`Source::with_toml_file`]); the environment wins.
//! * Booleans are `true` or `false` in any letter case and nothing else; an empty value counts as
//!   unset. Any bad value fails with an error naming the variable.
//! * Secrets (salts, client secrets) are [`Secret`]s: their `Debug`/`Display` print `[redacted]`.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub mod keys;
mod source;

pub use source::Source;

use keys::*;

/// Everything that can go wrong while loading settings. Messages name the variable and never
/// contain the value of a secret.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{var} is required but not set")]
    Missing { var: String },
    #[error("{var}: {reason}")]
    Invalid { var: String, reason: String },
    #[error("config file {path}: {reason}")]
    File { path: String, reason: String },
}

fn invalid(var: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        var: var.to_owned(),
        reason: reason.into(),
    }
}

/// A value that must never reach a log. `Debug` and `Display` print `[redacted]`; call
/// [`Secret::expose`] at the single place the value is used.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    pub fn expose(&self) -> &T {
        &self.0
    }

    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for Secret<String> {
    fn from(value: String) -> Self {
        Self(value)
    }
}

// ---------------------------------------------------------------------------------------------
// Typed readers over a Source.

struct Reader<'a>(&'a Source);

impl Reader<'_> {
    fn raw(&self, key: &str) -> Option<String> {
        self.0.get(key)
    }

    fn string(&self, key: &str, default: &str) -> String {
        self.raw(key).unwrap_or_else(|| default.to_owned())
    }

    fn required(&self, key: &str) -> Result<String, ConfigError> {
        self.raw(key).ok_or_else(|| ConfigError::Missing {
            var: key.to_owned(),
        })
    }

    /// The Python CIS writes "no value" as the literal string `None` in deployment templates.
    fn optional_not_none(&self, key: &str) -> Option<String> {
        self.raw(key)
            .filter(|v| !v.trim().eq_ignore_ascii_case("none"))
    }

    fn bool(&self, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.raw(key) {
            None => Ok(default),
            Some(v) => parse_bool(&v)
                .ok_or_else(|| invalid(key, format!("expected true or false, got {:?}", v))),
        }
    }

    fn seconds(
        &self,
        key: &str,
        default: u64,
        min: u64,
        max: u64,
    ) -> Result<Duration, ConfigError> {
        match self.raw(key) {
            None => Ok(Duration::from_secs(default)),
            Some(v) => match v.trim().parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(Duration::from_secs(n)),
                _ => Err(invalid(
                    key,
                    format!("expected whole seconds between {min} and {max}, got {v:?}"),
                )),
            },
        }
    }

    fn url(&self, key: &str, default: &str) -> Result<String, ConfigError> {
        let v = self.string(key, default);
        check_url(key, &v)?;
        Ok(v)
    }

    fn secret(&self, key: &str) -> Option<Secret<String>> {
        self.raw(key).map(Secret::new)
    }
}

/// `true`/`false` in any letter case, surrounding whitespace ignored. Nothing else: `1`, `yes`
/// or `on` are rejected so that a typo cannot flip a security flag.
pub fn parse_bool(value: &str) -> Option<bool> {
    let v = value.trim();
    if v.eq_ignore_ascii_case("true") {
        Some(true)
    } else if v.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn check_url(key: &str, value: &str) -> Result<(), ConfigError> {
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') && !value.contains(char::is_whitespace) => {
            Ok(())
        }
        _ => Err(invalid(
            key,
            format!("expected an http:// or https:// URL, got {value:?}"),
        )),
    }
}

/// The issuer base URL from an Auth0 domain. A bare host (`auth.mozilla.auth0.com`, the original
/// form) means `https://<host>`; a value with a scheme (`http://127.0.0.1:8765`, local mode with
/// the dev issuer) is used as-is, minus a trailing `/`.
fn issuer_base(key: &str, domain: &str) -> Result<String, ConfigError> {
    let d = domain.trim();
    if d.starts_with("http://") || d.starts_with("https://") {
        check_url(key, d)?;
        return Ok(d.trim_end_matches('/').to_owned());
    }
    let host_ok = !d.is_empty()
        && d.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_'));
    if !host_ok {
        return Err(invalid(
            key,
            format!("expected a host name such as auth.mozilla.auth0.com, got {domain:?}"),
        ));
    }
    Ok(format!("https://{d}"))
}

// ---------------------------------------------------------------------------------------------
// Settings shared by the services.

/// Where signing keys (and, in the original, the uuid salt) come from: `CIS_SECRET_MANAGER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretManagerKind {
    /// `file`: PEM files in `CIS_SECRET_MANAGER_FILE_PATH`.
    File,
    /// `aws-ssm`: SecureString parameters `<CIS_SECRET_MANAGER_SSM_PATH>/<publisher>`.
    AwsSsm,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretManagerSettings {
    pub kind: SecretManagerKind,
    /// `CIS_SECRET_MANAGER_FILE_PATH`, default `~/.mozilla-iam/keys/` (`~` expanded from `HOME`).
    pub file_path: PathBuf,
    /// `CIS_SECRET_MANAGER_SSM_PATH`, default `/iam`.
    pub ssm_path: String,
    /// `CIS_SECRET_MANAGER_SSM_REGION`; unset means the standard AWS region chain (B12).
    pub ssm_region: Option<String>,
}

impl SecretManagerSettings {
    /// The SSM parameter name of `name` under the configured path (A12):
    /// `<CIS_SECRET_MANAGER_SSM_PATH>/<name>`, e.g. `/iam/cis/production/keys/cis`.
    pub fn ssm_parameter(&self, name: &str) -> String {
        format!("{}/{}", self.ssm_path.trim_end_matches('/'), name)
    }
}

/// `CIS_WELL_KNOWN_MODE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WellKnownMode {
    /// One public key from `<file_path>/<public_key_name>`.
    File,
    /// Per-publisher keys from the well-known document at `CIS_DISCOVERY_URL`.
    Http,
    Https,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WellKnownSettings {
    pub mode: WellKnownMode,
    /// `CIS_PUBLIC_KEY_NAME` (a value containing `access-file-key` selects the access-file keys).
    pub public_key_name: Option<String>,
    /// `CIS_DISCOVERY_URL`, default `https://auth.mozilla.com/.well-known/mozilla-iam`.
    pub discovery_url: String,
}

/// Settings every service reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommonSettings {
    /// `CIS_ENVIRONMENT` (required): `local`, `development`, `testing`, `production`, ...
    pub environment: String,
    /// `CIS_REGION_NAME` (or `CIS_DYNAMODB_REGION`); unset means the standard AWS chain (B12).
    pub region: Option<String>,
    /// `CIS_DYNAMODB_ARN`; `None` (unset or the literal `None`) means `<env>-identity-vault`.
    pub dynamodb_arn: Option<String>,
    /// `http://<CIS_DYNALITE_HOST>:<CIS_DYNALITE_PORT>` when either is set (local DynamoDB).
    pub dynamodb_endpoint: Option<String>,
    /// `CIS_ASSUME_ROLE_ARN` (`None` = no AssumeRole).
    pub assume_role_arn: Option<String>,
    pub secret_manager: SecretManagerSettings,
    pub well_known: WellKnownSettings,
}

impl CommonSettings {
    pub fn from_source(source: &Source) -> Result<Self, ConfigError> {
        let r = Reader(source);
        let environment = r.required(CIS_ENVIRONMENT)?;
        if !environment
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(invalid(
                CIS_ENVIRONMENT,
                "only letters, digits, '-' and '_' are allowed (it names the vault table)",
            ));
        }

        let dynamodb_arn = r.optional_not_none(CIS_DYNAMODB_ARN);
        if let Some(arn) = &dynamodb_arn
            && !(arn.starts_with("arn:") && arn.contains(":table/"))
        {
            return Err(invalid(
                CIS_DYNAMODB_ARN,
                format!("expected arn:aws:dynamodb:<region>:<account>:table/<name>, got {arn:?}"),
            ));
        }

        let dynamodb_endpoint = match (r.raw(CIS_DYNALITE_HOST), r.raw(CIS_DYNALITE_PORT)) {
            (None, None) => None,
            (host, port) => {
                let port = port.unwrap_or_else(|| "4567".to_owned());
                if port.trim().parse::<u16>().is_err() {
                    return Err(invalid(
                        CIS_DYNALITE_PORT,
                        format!("expected a port number, got {port:?}"),
                    ));
                }
                Some(format!(
                    "http://{}:{}",
                    host.unwrap_or_else(|| "localhost".to_owned()),
                    port.trim()
                ))
            }
        };

        let kind = match r.string(CIS_SECRET_MANAGER, "file").trim() {
            "file" => SecretManagerKind::File,
            "aws-ssm" => SecretManagerKind::AwsSsm,
            other => {
                return Err(invalid(
                    CIS_SECRET_MANAGER,
                    format!("expected file or aws-ssm, got {other:?}"),
                ));
            }
        };
        let file_path = r.string(CIS_SECRET_MANAGER_FILE_PATH, "~/.mozilla-iam/keys/");
        let file_path = match (file_path.strip_prefix("~/"), source.get("HOME")) {
            (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
            _ => PathBuf::from(file_path),
        };
        let ssm_path = r.string(CIS_SECRET_MANAGER_SSM_PATH, "/iam");
        if !ssm_path.starts_with('/') {
            return Err(invalid(
                CIS_SECRET_MANAGER_SSM_PATH,
                format!("an SSM path starts with '/', got {ssm_path:?}"),
            ));
        }

        let mode = match r.string(CIS_WELL_KNOWN_MODE, "file").trim() {
            "file" => WellKnownMode::File,
            "http" => WellKnownMode::Http,
            "https" => WellKnownMode::Https,
            other => {
                return Err(invalid(
                    CIS_WELL_KNOWN_MODE,
                    format!("expected file, http or https, got {other:?}"),
                ));
            }
        };

        Ok(Self {
            environment,
            region: r
                .raw(CIS_REGION_NAME)
                .or_else(|| r.raw(CIS_DYNAMODB_REGION)),
            dynamodb_arn,
            dynamodb_endpoint,
            assume_role_arn: r.optional_not_none(CIS_ASSUME_ROLE_ARN),
            secret_manager: SecretManagerSettings {
                kind,
                file_path,
                ssm_path,
                ssm_region: r.raw(CIS_SECRET_MANAGER_SSM_REGION),
            },
            well_known: WellKnownSettings {
                mode,
                public_key_name: r.raw(CIS_PUBLIC_KEY_NAME),
                discovery_url: r.url(
                    CIS_DISCOVERY_URL,
                    "https://auth.mozilla.com/.well-known/mozilla-iam",
                )?,
            },
        })
    }

    pub fn is_local(&self) -> bool {
        self.environment == "local"
    }

    /// The vault table: the part of `CIS_DYNAMODB_ARN` after `/`, else `<env>-identity-vault`.
    pub fn table_name(&self) -> String {
        self.dynamodb_arn
            .as_deref()
            .and_then(|arn| arn.split('/').nth(1))
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{}-identity-vault", self.environment))
    }
}

/// How bearer tokens of one API are checked (DECISIONS B1, B2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSettings {
    /// Expected `iss`: `https://<AUTH0_DOMAIN>/` (with the trailing slash, as Auth0 issues it).
    pub issuer: String,
    /// Expected `aud`: `*_API_IDENTIFIER`.
    pub audience: String,
    /// `https://<AUTH0_DOMAIN>/.well-known/jwks.json`, or the explicit `*_JWKS_URL`.
    pub jwks_url: String,
    /// `CIS_JWKS_TTL_SECONDS`, default 600.
    pub jwks_ttl: Duration,
    /// `CIS_JWKS_FETCH_TIMEOUT_SECONDS`, default 5.
    pub jwks_fetch_timeout: Duration,
    /// `CIS_JWKS_MIN_REFRESH_SECONDS`, default 30: an unknown `kid` refetches at most this often.
    pub jwks_min_refresh_interval: Duration,
    /// `CIS_JWT_LEEWAY_SECONDS`, default 30.
    pub leeway: Duration,
    /// False only in local mode with `*_JWT_VALIDATION=false` (the original bypass). Then
    /// signatures and claims are not checked; scopes are still read from the token if present.
    pub jwt_validation: bool,
}

impl AuthSettings {
    fn read(
        r: &Reader<'_>,
        domain_key: &str,
        domain_default: &str,
        audience_key: &str,
        audience_default: &str,
        jwks_key: &str,
    ) -> Result<Self, ConfigError> {
        let base = issuer_base(domain_key, &r.string(domain_key, domain_default))?;
        let jwks_url = match r.raw(jwks_key) {
            Some(url) => {
                check_url(jwks_key, &url)?;
                url
            }
            None => format!("{base}/.well-known/jwks.json"),
        };
        // RS256 is pinned (B2); accept the variable only when it says exactly that.
        if let Some(alg) = r.raw(CHANGE_SERVICE_ALGORITHMS)
            && alg.trim() != "RS256"
        {
            return Err(invalid(
                CHANGE_SERVICE_ALGORITHMS,
                format!("only RS256 is supported (the algorithm is pinned), got {alg:?}"),
            ));
        }
        Ok(Self {
            issuer: format!("{base}/"),
            audience: r.string(audience_key, audience_default),
            jwks_url,
            jwks_ttl: r.seconds(CIS_JWKS_TTL_SECONDS, 600, 1, 86_400)?,
            jwks_fetch_timeout: r.seconds(CIS_JWKS_FETCH_TIMEOUT_SECONDS, 5, 1, 60)?,
            jwks_min_refresh_interval: r.seconds(CIS_JWKS_MIN_REFRESH_SECONDS, 30, 0, 3_600)?,
            leeway: r.seconds(CIS_JWT_LEEWAY_SECONDS, 30, 0, 300)?,
            jwt_validation: true,
        })
    }
}

/// The original turns JWT checks off with `<X>_JWT_VALIDATION=false` in a `local` environment.
/// Outside `local` the port refuses to start instead of silently ignoring the flag.
fn jwt_validation(r: &Reader<'_>, key: &str, environment: &str) -> Result<bool, ConfigError> {
    let validate = r.bool(key, true)?;
    if !validate && environment != "local" {
        return Err(invalid(
            key,
            format!("false is only allowed when the environment is local, not {environment:?}"),
        ));
    }
    Ok(validate)
}

// ---------------------------------------------------------------------------------------------
// Change API.

/// Where the uuid salt comes from (A7, B10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UuidSaltSource {
    /// `CIS_UUID_SALT` (new; local mode and tests).
    Value(Secret<String>),
    /// The SSM parameter `CIS_SECRET_MANAGER_SSM_UUID_SALT` (default `/iam` with `aws-ssm`).
    Ssm { parameter: String },
    /// None configured: the service must refuse to create users and say why (B10).
    Missing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSettings {
    pub common: CommonSettings,
    /// `CIS_ALLOW_DELETE`, default false.
    pub allow_delete: bool,
    /// `CIS_VERIFY_SIGNATURES`, default true (B11).
    pub verify_signatures: bool,
    /// `CIS_VERIFY_PUBLISHERS`, default true (B11).
    pub verify_publishers: bool,
    /// `CIS_REQUIRE_WRITE_SCOPE` (new), default true (B3).
    pub require_write_scope: bool,
    /// `CIS_STREAM_BYPASS`, default true: write the vault directly; false enqueues on Kinesis (C2).
    pub stream_bypass: bool,
    /// `CIS_KINESIS_ARN`; `None` means `cis-input-<env>`.
    pub kinesis_arn: Option<String>,
    /// `CHANGE_SERVICE_AUTH0_DOMAIN` (default `auth-dev.mozilla.auth0.com`),
    /// `CHANGE_SERVICE_API_IDENTIFIER` (default `https://change.sso.allizom.org`),
    /// `CIS_JWT_VALIDATION`.
    pub auth: AuthSettings,
    pub uuid_salt: UuidSaltSource,
}

impl ChangeSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&Source::from_env())
    }

    pub fn from_source(source: &Source) -> Result<Self, ConfigError> {
        let common = CommonSettings::from_source(source)?;
        let r = Reader(source);
        let mut auth = AuthSettings::read(
            &r,
            CHANGE_SERVICE_AUTH0_DOMAIN,
            "auth-dev.mozilla.auth0.com",
            CHANGE_SERVICE_API_IDENTIFIER,
            "https://change.sso.allizom.org",
            CHANGE_SERVICE_JWKS_URL,
        )?;
        auth.jwt_validation = jwt_validation(&r, CIS_JWT_VALIDATION, &common.environment)?;

        let uuid_salt = if let Some(salt) = r.secret(CIS_UUID_SALT) {
            UuidSaltSource::Value(salt)
        } else if let Some(parameter) = r.raw(CIS_SECRET_MANAGER_SSM_UUID_SALT) {
            UuidSaltSource::Ssm { parameter }
        } else if common.secret_manager.kind == SecretManagerKind::AwsSsm {
            UuidSaltSource::Ssm {
                parameter: "/iam".to_owned(),
            }
        } else {
            UuidSaltSource::Missing
        };

        Ok(Self {
            allow_delete: r.bool(CIS_ALLOW_DELETE, false)?,
            verify_signatures: r.bool(CIS_VERIFY_SIGNATURES, true)?,
            verify_publishers: r.bool(CIS_VERIFY_PUBLISHERS, true)?,
            require_write_scope: r.bool(CIS_REQUIRE_WRITE_SCOPE, true)?,
            stream_bypass: r.bool(CIS_STREAM_BYPASS, true)?,
            kinesis_arn: r.optional_not_none(CIS_KINESIS_ARN),
            auth,
            uuid_salt,
            common,
        })
    }

    /// The ingest stream name: the part of `CIS_KINESIS_ARN` after `/`, else `cis-input-<env>`.
    pub fn kinesis_stream_name(&self) -> String {
        self.kinesis_arn
            .as_deref()
            .and_then(|arn| arn.split('/').nth(1))
            .map(str::to_owned)
            .unwrap_or_else(|| format!("cis-input-{}", self.common.environment))
    }
}

// ---------------------------------------------------------------------------------------------
// Person API.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonSettings {
    pub common: CommonSettings,
    /// `PERSON_API_AUTH0_DOMAIN` (default `auth-dev.mozilla.auth0.com`),
    /// `PERSON_API_API_IDENTIFIER` (default `api.dev.sso.allizom.org`),
    /// `PERSON_API_JWT_VALIDATION` with `PERSON_API_ENVIRONMENT` (default: `CIS_ENVIRONMENT`,
    /// not `local` as in the original, so the bypass cannot be reached by accident).
    pub auth: AuthSettings,
    /// `PERSON_API_ADVANCED_SEARCH`, default false: mount `by_attribute_contains`.
    pub advanced_search: bool,
    /// `PERSON_API_PUBLIC_METADATA` (new), default false: the metadata route needs a token (B13).
    pub public_metadata: bool,
    /// `PERSON_API_INITIALIZE_VAULT`, default false (local mode: create the table).
    pub initialize_vault: bool,
    /// `CIS_SEED_API_DATA`, default false (local mode: seed fake users).
    pub seed_api_data: bool,
}

impl PersonSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&Source::from_env())
    }

    pub fn from_source(source: &Source) -> Result<Self, ConfigError> {
        let common = CommonSettings::from_source(source)?;
        let r = Reader(source);
        let mut auth = AuthSettings::read(
            &r,
            PERSON_API_AUTH0_DOMAIN,
            "auth-dev.mozilla.auth0.com",
            PERSON_API_API_IDENTIFIER,
            "api.dev.sso.allizom.org",
            PERSON_API_JWKS_URL,
        )?;
        let person_env = r.string(PERSON_API_ENVIRONMENT, &common.environment);
        auth.jwt_validation = jwt_validation(&r, PERSON_API_JWT_VALIDATION, &person_env)?;
        if r.bool(PERSON_API_GRAPHQL, false)? {
            return Err(invalid(
                PERSON_API_GRAPHQL,
                "the GraphQL endpoint is not part of this port (it was broken and off); set it to false",
            ));
        }
        Ok(Self {
            advanced_search: r.bool(PERSON_API_ADVANCED_SEARCH, false)?,
            public_metadata: r.bool(PERSON_API_PUBLIC_METADATA, false)?,
            initialize_vault: r.bool(PERSON_API_INITIALIZE_VAULT, false)?,
            seed_api_data: r.bool(CIS_SEED_API_DATA, false)?,
            auth,
            common,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Webhook notifier.

/// Where the notifier's OAuth2 client credentials come from (A12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientCredentialsSource {
    /// `CIS_NOTIFIER_CLIENT_ID` and `CIS_NOTIFIER_CLIENT_SECRET` (new; local mode).
    Direct {
        client_id: String,
        client_secret: Secret<String>,
    },
    /// SSM SecureStrings `<CIS_SECRET_MANAGER_SSM_PATH>/client_id` and `.../client_secret`.
    Ssm {
        client_id_parameter: String,
        client_secret_parameter: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifierSettings {
    pub common: CommonSettings,
    /// `CIS_RP_URLS`, comma-separated (entries trimmed, empty entries dropped); default
    /// `https://dinopark.k8s.dev.sso.allizom.org/events/update` as in the original.
    pub rp_urls: Vec<String>,
    /// `CIS_API_IDENTIFIER`, the token audience, default `hook.dev.sso.allizom.org`.
    pub audience: String,
    /// `https://<CIS_AUTHZERO_TENANT>/oauth/token` (tenant default `auth.mozilla.auth0.com`; a
    /// tenant with a scheme, e.g. the local dev issuer, is used as-is).
    pub token_url: String,
    pub credentials: ClientCredentialsSource,
    /// `CIS_NOTIFIER_TIMEOUT_SECONDS` (new), default 10.
    pub request_timeout: Duration,
    /// `CIS_NOTIFIER_MAX_ATTEMPTS` (new), default 5.
    pub max_attempts: u32,
}

impl NotifierSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&Source::from_env())
    }

    pub fn from_source(source: &Source) -> Result<Self, ConfigError> {
        let common = CommonSettings::from_source(source)?;
        let r = Reader(source);
        let raw_urls = r.string(
            CIS_RP_URLS,
            "https://dinopark.k8s.dev.sso.allizom.org/events/update",
        );
        let rp_urls: Vec<String> = raw_urls
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
            .collect();
        for url in &rp_urls {
            check_url(CIS_RP_URLS, url)?;
        }
        let base = issuer_base(
            CIS_AUTHZERO_TENANT,
            &r.string(CIS_AUTHZERO_TENANT, "auth.mozilla.auth0.com"),
        )?;
        let credentials = match (
            r.raw(CIS_NOTIFIER_CLIENT_ID),
            r.secret(CIS_NOTIFIER_CLIENT_SECRET),
        ) {
            (Some(client_id), Some(client_secret)) => ClientCredentialsSource::Direct {
                client_id,
                client_secret,
            },
            (None, None) => ClientCredentialsSource::Ssm {
                client_id_parameter: common.secret_manager.ssm_parameter("client_id"),
                client_secret_parameter: common.secret_manager.ssm_parameter("client_secret"),
            },
            (Some(_), None) => {
                return Err(ConfigError::Missing {
                    var: format!(
                        "{CIS_NOTIFIER_CLIENT_SECRET} (set with {CIS_NOTIFIER_CLIENT_ID})"
                    ),
                });
            }
            (None, Some(_)) => {
                return Err(ConfigError::Missing {
                    var: format!(
                        "{CIS_NOTIFIER_CLIENT_ID} (set with {CIS_NOTIFIER_CLIENT_SECRET})"
                    ),
                });
            }
        };
        let max_attempts = match r.raw(CIS_NOTIFIER_MAX_ATTEMPTS) {
            None => 5,
            Some(v) => match v.trim().parse::<u32>() {
                Ok(n) if (1..=100).contains(&n) => n,
                _ => {
                    return Err(invalid(
                        CIS_NOTIFIER_MAX_ATTEMPTS,
                        format!("expected a whole number between 1 and 100, got {v:?}"),
                    ));
                }
            },
        };
        Ok(Self {
            rp_urls,
            audience: r.string(CIS_API_IDENTIFIER, "hook.dev.sso.allizom.org"),
            token_url: format!("{base}/oauth/token"),
            credentials,
            request_timeout: r.seconds(CIS_NOTIFIER_TIMEOUT_SECONDS, 10, 1, 300)?,
            max_attempts,
            common,
        })
    }
}
