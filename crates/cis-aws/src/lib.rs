//! AWS wiring shared by the CIS Lambda functions and the CLI (ARCHITECTURE: a function's `main`
//! only wires). From the typed settings of `cis-config` it builds:
//!
//! * [`sdk_config`]: the standard AWS chain (DECISIONS B12) plus the optional
//!   `CIS_ASSUME_ROLE_ARN` (session `cis-aws-library`, as the Python `cis_aws` named it);
//! * [`Secrets`]: SSM `GetParameter` with decryption, values kept as [`Secret`]s (A12);
//! * [`cis_signer`], [`uuid_salt`], [`publisher_key_source`], [`notifier_credentials`]: the key
//!   material the services need, from SSM or files;
//! * [`dynamo_vault`]: the DynamoDB vault of `CIS_ENVIRONMENT` / `CIS_DYNAMODB_ARN`;
//! * [`build_change_router`], [`build_person_router`]: the `cis-http` routers over DynamoDB;
//!   with `CIS_STREAM_BYPASS=false` the Change API queues on Kinesis ([`kinesis`]) and answers
//!   `/v2/status` from the processor's outcome table ([`ingest_status_table`]).
//!
//! Everything fails at start-up with an error naming the variable or parameter (B11); no error
//! or log line carries a secret value.

pub mod kinesis;
#[cfg(feature = "lambda")]
pub mod lambda;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::SharedCredentialsProvider;
use cis_config::{
    ChangeSettings, ClientCredentialsSource, CommonSettings, ConfigError, PersonSettings, Secret,
    SecretManagerKind, UuidSaltSource, WellKnownMode,
};
use cis_core::person::{PersonOptions, PersonService};
use cis_core::{ChangeError, ChangeService, KeySource, UuidSalt};
use cis_crypto::{CryptoError, PUBLISHERS, PublisherKeys, Signer, VerifyingKey, WellKnownSource};
use cis_http::change_api::{self, ChangeApiSettings, ChangeApiState};
use cis_http::person_api::{self, PersonApiState};
use cis_http::{ApiError, Validator};
use cis_vault::ProfileStore;
use cis_vault_dynamodb::{
    DynamoVault, DynamoVaultConfig, DynamoVaultError, INGEST_STATUS_TABLE_VAR, IngestStatusTable,
    VaultTableSpec,
};
use kinesis::{KinesisChangeQueue, KinesisRetry};

pub use axum::Router;

/// The publisher whose key signs the attributes CIS owns (`<CIS_SECRET_MANAGER_SSM_PATH>/cis`).
pub const CIS_PUBLISHER: &str = "cis";

/// Session name of the assumed role, as the Python `cis_aws` used.
const ASSUME_ROLE_SESSION: &str = "cis-aws-library";

/// Everything that can stop a service from starting.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("SSM parameter {name}: {reason}")]
    Ssm { name: String, reason: String },
    #[error("signing key for `{publisher}` from {location}: {error}")]
    SigningKey {
        publisher: String,
        location: String,
        error: CryptoError,
    },
    #[error("publisher keys from {location}: {error}")]
    PublisherKeys {
        location: String,
        error: CryptoError,
    },
    #[error("key file {location}: {reason}")]
    KeyFile { location: String, reason: String },
    #[error("vault: {0}")]
    Vault(#[from] DynamoVaultError),
    #[error("change service: {0}")]
    Change(#[from] ChangeError),
    #[error("token validation: {0}")]
    Auth(ApiError),
    #[error("not supported: {0}")]
    Unsupported(String),
    #[error("Kinesis ingest (CIS_STREAM_BYPASS=false): {0}")]
    Ingest(cis_vault::VaultError),
}

// ---------------------------------------------------------------------------------------------
// AWS SDK configuration.

/// The shared SDK configuration: the standard chain (env, profile, container or instance role;
/// `AWS_ENDPOINT_URL` is honoured by the SDK), `region` if given, and the role of
/// `CIS_ASSUME_ROLE_ARN` when set.
pub async fn sdk_config(common: &CommonSettings, region: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = region.or(common.region.as_deref()) {
        loader = loader.region(Region::new(region.to_owned()));
    }
    let base = loader.load().await;
    match &common.assume_role_arn {
        None => base,
        Some(role) => {
            let provider = AssumeRoleProvider::builder(role.clone())
                .session_name(ASSUME_ROLE_SESSION)
                .configure(&base)
                .build()
                .await;
            base.into_builder()
                .credentials_provider(SharedCredentialsProvider::new(provider))
                .build()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SSM secrets.

/// SSM Parameter Store reads (SecureString, decrypted).
#[derive(Clone, Debug)]
pub struct Secrets {
    client: aws_sdk_ssm::Client,
}

impl Secrets {
    pub fn new(client: aws_sdk_ssm::Client) -> Self {
        Self { client }
    }

    /// A client in `CIS_SECRET_MANAGER_SSM_REGION` (else the common region chain).
    pub async fn from_settings(common: &CommonSettings) -> Self {
        let config = sdk_config(common, common.secret_manager.ssm_region.as_deref()).await;
        Self::new(aws_sdk_ssm::Client::new(&config))
    }

    /// The decrypted value of the parameter `name`.
    pub async fn get(&self, name: &str) -> Result<Secret<String>, AwsError> {
        match cis_crypto::ssm::secure_parameter(&self.client, name).await {
            Ok(value) => Ok(Secret::new(value)),
            Err(cis_crypto::CryptoError::SecretFetch { name, reason }) => {
                Err(AwsError::Ssm { name, reason })
            }
            Err(other) => Err(AwsError::Ssm {
                name: name.to_owned(),
                reason: other.to_string(),
            }),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Key material.

/// A signer holding the `cis` key: SSM `<CIS_SECRET_MANAGER_SSM_PATH>/cis` with
/// `CIS_SECRET_MANAGER=aws-ssm` (PEM or private JWK JSON), else the first of `cis.pem`,
/// `cis.priv.pem`, `cis.jwk` in `CIS_SECRET_MANAGER_FILE_PATH`.
pub async fn cis_signer(
    common: &CommonSettings,
    secrets: Option<&Secrets>,
) -> Result<Signer, AwsError> {
    let key_error = |location: String, error: CryptoError| AwsError::SigningKey {
        publisher: CIS_PUBLISHER.to_owned(),
        location,
        error,
    };
    match (common.secret_manager.kind, secrets) {
        (SecretManagerKind::AwsSsm, Some(secrets)) => {
            let name = common.secret_manager.ssm_parameter(CIS_PUBLISHER);
            let text = secrets.get(&name).await?;
            Signer::new()
                .with_key_text(CIS_PUBLISHER, text.expose())
                .map_err(|e| key_error(format!("SSM parameter {name}"), e))
        }
        (SecretManagerKind::AwsSsm, None) => Err(AwsError::Unsupported(
            "CIS_SECRET_MANAGER=aws-ssm needs an SSM client".into(),
        )),
        (SecretManagerKind::File, _) => {
            let dir = &common.secret_manager.file_path;
            let path = first_existing(
                dir,
                &["cis.pem", "cis.priv.pem", "cis.jwk"],
            )
            .ok_or_else(|| AwsError::KeyFile {
                location: dir.display().to_string(),
                reason: "none of cis.pem, cis.priv.pem, cis.jwk exists (CIS_SECRET_MANAGER_FILE_PATH)"
                    .into(),
            })?;
            Signer::new()
                .with_key_file(CIS_PUBLISHER, &path)
                .map_err(|e| key_error(path.display().to_string(), e))
        }
    }
}

fn first_existing(dir: &Path, names: &[&str]) -> Option<PathBuf> {
    names.iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

/// The uuid salt: the value given, or the SSM parameter read now. `None` only when none is
/// configured; the service then refuses to create users and says why (B10). A configured
/// parameter that cannot be read fails start-up rather than running without a salt.
pub async fn uuid_salt(
    source: &UuidSaltSource,
    secrets: Option<&Secrets>,
) -> Result<Option<UuidSalt>, AwsError> {
    match source {
        UuidSaltSource::Value(salt) => Ok(Some(UuidSalt::new(salt.expose().clone()))),
        UuidSaltSource::Ssm { parameter } => {
            let secrets = secrets.ok_or_else(|| {
                AwsError::Unsupported(format!(
                    "the uuid salt is in SSM ({parameter}) but no SSM client was built"
                ))
            })?;
            let salt = secrets.get(parameter).await?;
            Ok(Some(UuidSalt::new(salt.into_inner())))
        }
        UuidSaltSource::Missing => Ok(None),
    }
}

/// The publisher public keys (`CIS_WELL_KNOWN_MODE`): `http`/`https` use the well-known document
/// at `CIS_DISCOVERY_URL` (TTL cache); `file` trusts one PEM, `<CIS_SECRET_MANAGER_FILE_PATH>/
/// <CIS_PUBLIC_KEY_NAME>` (`.pub.pem`, `.pem` or the bare name), for every publisher, as the
/// Python file mode did.
pub fn publisher_key_source(common: &CommonSettings) -> Result<KeySource, AwsError> {
    let well_known = &common.well_known;
    match well_known.mode {
        WellKnownMode::Http | WellKnownMode::Https => {
            let source = WellKnownSource::new(&well_known.discovery_url).map_err(|error| {
                AwsError::PublisherKeys {
                    location: well_known.discovery_url.clone(),
                    error,
                }
            })?;
            Ok(KeySource::well_known(Arc::new(source)))
        }
        WellKnownMode::File => {
            let name = well_known
                .public_key_name
                .as_deref()
                .unwrap_or("access-file-key");
            let dir = &common.secret_manager.file_path;
            let candidates = [
                format!("{name}.pub.pem"),
                format!("{name}.pem"),
                name.to_owned(),
            ];
            let names: Vec<&str> = candidates.iter().map(String::as_str).collect();
            let path = first_existing(dir, &names).ok_or_else(|| AwsError::KeyFile {
                location: dir.join(name).display().to_string(),
                reason: "no such file (CIS_SECRET_MANAGER_FILE_PATH, CIS_PUBLIC_KEY_NAME)".into(),
            })?;
            let pem = std::fs::read_to_string(&path).map_err(|e| AwsError::KeyFile {
                location: path.display().to_string(),
                reason: e.to_string(),
            })?;
            let key =
                VerifyingKey::from_pem(&pem, None).map_err(|error| AwsError::PublisherKeys {
                    location: path.display().to_string(),
                    error,
                })?;
            let mut keys = PublisherKeys::new();
            keys.insert_shared(&PUBLISHERS, key);
            Ok(KeySource::fixed(keys))
        }
    }
}

/// The notifier's OAuth2 client id and secret, given directly or read from SSM.
pub async fn notifier_credentials(
    source: &ClientCredentialsSource,
    secrets: Option<&Secrets>,
) -> Result<(String, Secret<String>), AwsError> {
    match source {
        ClientCredentialsSource::Direct {
            client_id,
            client_secret,
        } => Ok((client_id.clone(), client_secret.clone())),
        ClientCredentialsSource::Ssm {
            client_id_parameter,
            client_secret_parameter,
        } => {
            let secrets = secrets.ok_or_else(|| {
                AwsError::Unsupported(
                    "the notifier credentials are in SSM but no SSM client was built".into(),
                )
            })?;
            let client_id = secrets.get(client_id_parameter).await?.into_inner();
            let client_secret = secrets.get(client_secret_parameter).await?;
            Ok((client_id, client_secret))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The vault.

/// The vault configuration: the table of [`CommonSettings::table_name`], the local endpoint of
/// `CIS_DYNALITE_HOST`/`PORT` or `CIS_DYNAMODB_ENDPOINT_URL`, and `CIS_DYNAMODB_SCAN_SEGMENTS`
/// read through `lookup`.
pub fn vault_config(
    common: &CommonSettings,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<DynamoVaultConfig, AwsError> {
    let mut config = DynamoVaultConfig::from_lookup(&common.environment, lookup)?;
    config.table_name = common.table_name();
    if config.endpoint_url.is_none() {
        config.endpoint_url = common.dynamodb_endpoint.clone();
    }
    if config.region.is_none() {
        config.region = common.region.clone();
    }
    Ok(config)
}

/// A DynamoDB client for `config` on top of [`sdk_config`] (so an assumed role applies).
pub async fn dynamodb_client(
    common: &CommonSettings,
    config: &DynamoVaultConfig,
) -> aws_sdk_dynamodb::Client {
    let shared = sdk_config(common, config.region.as_deref()).await;
    let mut builder = aws_sdk_dynamodb::config::Builder::from(&shared).retry_config(
        RetryConfig::standard()
            .with_max_attempts(config.max_attempts.max(1))
            .with_initial_backoff(Duration::from_millis(50))
            .with_max_backoff(Duration::from_secs(5)),
    );
    if let Some(url) = &config.endpoint_url {
        builder = builder.endpoint_url(url);
    }
    aws_sdk_dynamodb::Client::from_conf(builder.build())
}

/// The vault of these settings, variables read from the process environment.
pub async fn dynamo_vault(common: &CommonSettings) -> Result<DynamoVault, AwsError> {
    let config = vault_config(common, |key| std::env::var(key).ok())?;
    let client = dynamodb_client(common, &config).await;
    tracing::info!(table = %config.table_name, "identity vault");
    Ok(DynamoVault::new(client, &config))
}

// ---------------------------------------------------------------------------------------------
// The services and routers.

/// The SSM client, built only when some setting lives in SSM.
async fn secrets_if_needed(common: &CommonSettings, needed: bool) -> Option<Secrets> {
    if needed || common.secret_manager.kind == SecretManagerKind::AwsSsm {
        Some(Secrets::from_settings(common).await)
    } else {
        None
    }
}

/// The change pipeline on the DynamoDB vault with keys and salt from SSM or files. The same
/// whatever `CIS_STREAM_BYPASS` says: the processor integrates queued profiles with it too.
pub async fn build_change_service(settings: &ChangeSettings) -> Result<ChangeService, AwsError> {
    let common = &settings.common;
    let salt_in_ssm = matches!(settings.uuid_salt, UuidSaltSource::Ssm { .. });
    let secrets = secrets_if_needed(common, salt_in_ssm).await;
    let signer = cis_signer(common, secrets.as_ref()).await?;
    let salt = uuid_salt(&settings.uuid_salt, secrets.as_ref()).await?;
    let keys = publisher_key_source(common)?;
    warm_up(&keys).await;
    let store: Arc<dyn ProfileStore> = Arc::new(dynamo_vault(common).await?);
    let core_settings = cis_core::ChangeSettings {
        verify_signatures: settings.verify_signatures,
        verify_publishers: settings.verify_publishers,
        allow_delete: settings.allow_delete,
        ..cis_core::ChangeSettings::default()
    };
    Ok(ChangeService::new(
        store,
        keys,
        Arc::new(signer),
        salt,
        core_settings,
    )?)
}

/// Fetches the well-known document once at start-up so the first request does not pay for it.
/// A failure is not fatal: the source fetches again on use and the request then fails clearly.
async fn warm_up(keys: &KeySource) {
    if let Err(error) = keys.current().await {
        tracing::warn!(%error, "publisher keys not available at start-up; retried on use");
    }
}

/// The Change API router over DynamoDB. With `CIS_STREAM_BYPASS=false` writes are queued on
/// the Kinesis stream ([`kinesis_change_queue`]); the stream and the outcome table must exist.
pub async fn build_change_router(settings: &ChangeSettings) -> Result<Router, AwsError> {
    let queue = if settings.stream_bypass {
        None
    } else {
        Some(kinesis_change_queue(settings).await?)
    };
    let service = build_change_service(settings).await?;
    let validator = Validator::new(settings.auth.clone()).map_err(AwsError::Auth)?;
    let mut state = ChangeApiState::new(
        Arc::new(service),
        Arc::new(validator),
        ChangeApiSettings::from_config(settings),
    );
    if let Some(queue) = queue {
        state = state.with_queue(Arc::new(queue));
    }
    Ok(change_api::router(state))
}

// ---------------------------------------------------------------------------------------------
// Kinesis ingest (DECISIONS C2).

/// The outcome table's name: `CIS_INGEST_STATUS_TABLE` read through `lookup`, else
/// `<CIS_ENVIRONMENT>-cis-ingest-status`.
pub fn ingest_status_table_name(
    common: &CommonSettings,
    lookup: impl Fn(&str) -> Option<String>,
) -> String {
    lookup(INGEST_STATUS_TABLE_VAR)
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| cis_vault_dynamodb::ingest_status_table_name(&common.environment))
}

/// The ingest outcome table of these settings, on the vault's DynamoDB endpoint and region;
/// variables read from the process environment.
pub async fn ingest_status_table(common: &CommonSettings) -> Result<IngestStatusTable, AwsError> {
    let lookup = |key: &str| std::env::var(key).ok();
    let config = vault_config(common, lookup)?;
    let name = ingest_status_table_name(common, lookup);
    let client = dynamodb_client(common, &config).await;
    tracing::info!(table = %name, "ingest outcome table");
    Ok(IngestStatusTable::new(client, name))
}

/// The Change API's Kinesis queue: the stream of `CIS_KINESIS_ARN` (else `cis-input-<env>`) and
/// the outcome table, both checked to exist.
pub async fn kinesis_change_queue(
    settings: &ChangeSettings,
) -> Result<KinesisChangeQueue, AwsError> {
    let common = &settings.common;
    let shared = sdk_config(common, None).await;
    let client = kinesis::kinesis_client(&shared, KinesisRetry::default());
    let stream = settings.kinesis_stream_name();
    let queue = KinesisChangeQueue::new(client, &stream, ingest_status_table(common).await?);
    queue.check().await.map_err(AwsError::Ingest)?;
    tracing::info!(%stream, "changes are queued on Kinesis");
    Ok(queue)
}

/// The Person API service over a store.
pub fn person_service(store: Arc<dyn ProfileStore>) -> PersonService {
    PersonService::new(store, PersonOptions::default())
}

/// The Person API router over DynamoDB. With `PERSON_API_INITIALIZE_VAULT=true` in the `local`
/// environment the table is ensured first (the original created it there only).
pub async fn build_person_router(settings: &PersonSettings) -> Result<Router, AwsError> {
    let common = &settings.common;
    let vault = dynamo_vault(common).await?;
    if settings.initialize_vault {
        if common.is_local() {
            let spec = VaultTableSpec::for_table(vault.table_name(), &common.environment);
            cis_vault_dynamodb::ensure_vault(vault.client(), &spec).await?;
        } else {
            tracing::warn!("PERSON_API_INITIALIZE_VAULT is honoured only in the local environment");
        }
    }
    if settings.seed_api_data {
        tracing::warn!("CIS_SEED_API_DATA is not supported by the Lambda; ignored");
    }
    let store: Arc<dyn ProfileStore> = Arc::new(vault);
    let validator = Validator::new(settings.auth.clone()).map_err(AwsError::Auth)?;
    let mut state = PersonApiState::new(Arc::new(person_service(store)), Some(Arc::new(validator)));
    state.public_metadata = settings.public_metadata;
    state.advanced_search = settings.advanced_search;
    Ok(person_api::router(state))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use cis_config::Source;

    fn common(vars: &[(&str, &str)]) -> CommonSettings {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        CommonSettings::from_source(&Source::from_map(vars)).unwrap()
    }

    fn dev_keys() -> String {
        format!("{}/../../well-known/dev-keys", env!("CARGO_MANIFEST_DIR"))
    }

    #[test]
    fn vault_config_follows_the_arn_and_the_dynalite_endpoint() {
        let settings = common(&[
            ("CIS_ENVIRONMENT", "testing"),
            (
                "CIS_DYNAMODB_ARN",
                "arn:aws:dynamodb:us-west-2:1:table/production-identity-vault",
            ),
            ("CIS_DYNALITE_HOST", "127.0.0.1"),
            ("CIS_DYNALITE_PORT", "4567"),
            ("CIS_REGION_NAME", "eu-west-1"),
        ]);
        let config = vault_config(&settings, |_| None).unwrap();
        assert_eq!(config.table_name, "production-identity-vault");
        assert_eq!(
            config.endpoint_url.as_deref(),
            Some("http://127.0.0.1:4567")
        );
        assert_eq!(config.region.as_deref(), Some("eu-west-1"));

        let settings = common(&[("CIS_ENVIRONMENT", "development")]);
        let config = vault_config(&settings, |key| {
            (key == "CIS_DYNAMODB_SCAN_SEGMENTS").then(|| "3".to_owned())
        })
        .unwrap();
        assert_eq!(config.table_name, "development-identity-vault");
        assert_eq!(config.endpoint_url, None);
        assert_eq!(config.scan_segments, 3);
        let bad = vault_config(&settings, |key| {
            (key == "CIS_DYNAMODB_SCAN_SEGMENTS").then(|| "zero".to_owned())
        });
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("CIS_DYNAMODB_SCAN_SEGMENTS")
        );
    }

    #[tokio::test]
    async fn file_mode_reads_the_cis_key_and_one_public_key() {
        let dir = dev_keys();
        let settings = common(&[
            ("CIS_ENVIRONMENT", "local"),
            ("CIS_SECRET_MANAGER", "file"),
            ("CIS_SECRET_MANAGER_FILE_PATH", &dir),
            ("CIS_WELL_KNOWN_MODE", "file"),
            ("CIS_PUBLIC_KEY_NAME", "cis"),
        ]);
        let signer = cis_signer(&settings, None).await.unwrap();
        assert!(signer.has_key("cis"));
        // The one file key verifies what its private half signs, for every publisher.
        let keys = publisher_key_source(&settings)
            .unwrap()
            .current()
            .await
            .unwrap();
        let jws = signer.sign_bytes("cis", b"{}").unwrap();
        for publisher in PUBLISHERS {
            keys.verify_token(publisher, &jws).unwrap();
        }

        let missing = common(&[
            ("CIS_ENVIRONMENT", "local"),
            ("CIS_SECRET_MANAGER_FILE_PATH", "/nonexistent-cis-keys"),
            ("CIS_WELL_KNOWN_MODE", "file"),
        ]);
        let error = cis_signer(&missing, None).await.unwrap_err().to_string();
        assert!(error.contains("CIS_SECRET_MANAGER_FILE_PATH"), "{error}");
        let error = publisher_key_source(&missing).err().unwrap().to_string();
        assert!(error.contains("access-file-key"), "{error}");
    }

    #[tokio::test]
    async fn ssm_mode_without_a_client_is_an_error_not_a_default() {
        let settings = common(&[
            ("CIS_ENVIRONMENT", "testing"),
            ("CIS_SECRET_MANAGER", "aws-ssm"),
        ]);
        assert!(matches!(
            cis_signer(&settings, None).await,
            Err(AwsError::Unsupported(_))
        ));
        let ssm = UuidSaltSource::Ssm {
            parameter: "/iam/cis/testing/uuid_salt".into(),
        };
        assert!(uuid_salt(&ssm, None).await.is_err());
        assert!(
            uuid_salt(&UuidSaltSource::Missing, None)
                .await
                .unwrap()
                .is_none()
        );
        let value = UuidSaltSource::Value(Secret::new("salt".into()));
        let salt = uuid_salt(&value, None).await.unwrap().unwrap();
        assert!(
            format!("{salt:?}").contains("redacted"),
            "the salt is never printed"
        );
    }

    #[test]
    fn the_outcome_table_name_follows_the_environment_unless_named() {
        let settings = common(&[("CIS_ENVIRONMENT", "production")]);
        assert_eq!(
            ingest_status_table_name(&settings, |_| None),
            "production-cis-ingest-status"
        );
        let named = ingest_status_table_name(&settings, |key| {
            (key == "CIS_INGEST_STATUS_TABLE").then(|| "outcomes".to_owned())
        });
        assert_eq!(named, "outcomes");
    }
}
