use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_dynamodb::Client;

use crate::error::DynamoVaultError;

/// Default number of parallel scan segments. The Python CIS used 128 threads (§7.7); tasks are
/// cheap here, but each segment is a separate request stream, and 32 already saturates a Lambda's
/// network on the tables CIS has. Override with `CIS_DYNAMODB_SCAN_SEGMENTS`.
pub const DEFAULT_SCAN_SEGMENTS: u32 = 32;

/// Attempts per DynamoDB call, retried by the SDK with exponential backoff and jitter on
/// throttling and transient errors (the Python CIS relied on botocore's legacy 5).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;

/// Where the vault lives and how to talk to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DynamoVaultConfig {
    pub table_name: String,
    /// Segments of the parallel scans (`list_user_ids`); at least 1.
    pub scan_segments: u32,
    /// Endpoint override (moto, DynamoDB Local). `AWS_ENDPOINT_URL` is honoured by the SDK
    /// without this.
    pub endpoint_url: Option<String>,
    /// Region override; `None` means the standard AWS chain (DECISIONS B12).
    pub region: Option<String>,
    pub max_attempts: u32,
}

impl DynamoVaultConfig {
    pub fn new(table_name: impl Into<String>) -> Self {
        Self {
            table_name: table_name.into(),
            scan_segments: DEFAULT_SCAN_SEGMENTS,
            endpoint_url: None,
            region: None,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }

    /// The table of `environment`: the name in `CIS_DYNAMODB_ARN` when it is set (and not the
    /// literal `None` the original deployments used), `<environment>-identity-vault` otherwise.
    /// `CIS_DYNAMODB_SCAN_SEGMENTS`, `CIS_DYNAMODB_ENDPOINT_URL` and `CIS_REGION_NAME` /
    /// `CIS_DYNAMODB_REGION` are read too.
    pub fn from_env(environment: &str) -> Result<Self, DynamoVaultError> {
        Self::from_lookup(environment, |key| std::env::var(key).ok())
    }

    /// [`Self::from_env`] with the variables coming from `lookup` (tests, TOML layers).
    pub fn from_lookup(
        environment: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, DynamoVaultError> {
        let set = |key: &str| {
            lookup(key)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty() && v != "None")
        };
        let table_name = match set("CIS_DYNAMODB_ARN") {
            Some(arn) => table_name_from_arn(&arn)?,
            None if environment.trim().is_empty() => {
                return Err(DynamoVaultError::Config(
                    "CIS_ENVIRONMENT is empty and CIS_DYNAMODB_ARN is unset: no table name".into(),
                ));
            }
            None => format!("{}-identity-vault", environment.trim()),
        };
        let mut config = Self::new(table_name);
        if let Some(segments) = set("CIS_DYNAMODB_SCAN_SEGMENTS") {
            config.scan_segments = segments
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=1_000_000).contains(n))
                .ok_or_else(|| {
                    DynamoVaultError::Config(format!(
                        "CIS_DYNAMODB_SCAN_SEGMENTS must be an integer from 1 to 1000000, got `{segments}`"
                    ))
                })?;
        }
        config.endpoint_url = set("CIS_DYNAMODB_ENDPOINT_URL");
        config.region = set("CIS_REGION_NAME").or_else(|| set("CIS_DYNAMODB_REGION"));
        Ok(config)
    }
}

/// The table name of a DynamoDB table ARN (`arn:aws:dynamodb:<region>:<account>:table/<name>`,
/// possibly followed by `/stream/...`). A bare name is accepted as it is.
pub fn table_name_from_arn(arn: &str) -> Result<String, DynamoVaultError> {
    let arn = arn.trim();
    let name = match arn.split_once(":table/") {
        Some((_, rest)) => rest.split('/').next().unwrap_or_default(),
        None if arn.starts_with("arn:") => "",
        None => arn,
    };
    let valid = (3..=255).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if valid {
        Ok(name.to_owned())
    } else {
        Err(DynamoVaultError::Config(format!(
            "CIS_DYNAMODB_ARN `{arn}` does not name a DynamoDB table"
        )))
    }
}

/// A DynamoDB client from the standard AWS chain (env, profile, container/instance role), with
/// the config's region and endpoint overrides and SDK retries on throttling.
pub async fn build_client(config: &DynamoVaultConfig) -> Client {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &config.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    let shared = loader.load().await;
    let mut builder = aws_sdk_dynamodb::config::Builder::from(&shared).retry_config(
        RetryConfig::standard()
            .with_max_attempts(config.max_attempts.max(1))
            .with_initial_backoff(Duration::from_millis(50))
            .with_max_backoff(Duration::from_secs(5)),
    );
    if let Some(url) = &config.endpoint_url {
        builder = builder.endpoint_url(url);
    }
    Client::from_conf(builder.build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |key| map.get(key).cloned()
    }

    #[test]
    fn table_name_defaults_to_environment() {
        let config = DynamoVaultConfig::from_lookup("development", lookup(&[])).unwrap();
        assert_eq!(config.table_name, "development-identity-vault");
        assert_eq!(config.scan_segments, DEFAULT_SCAN_SEGMENTS);
        assert_eq!(config.endpoint_url, None);
    }

    #[test]
    fn arn_wins_and_none_means_unset() {
        let arn = "arn:aws:dynamodb:us-west-2:320464205386:table/production-identity-vault";
        let config =
            DynamoVaultConfig::from_lookup("testing", lookup(&[("CIS_DYNAMODB_ARN", arn)]))
                .unwrap();
        assert_eq!(config.table_name, "production-identity-vault");
        let config =
            DynamoVaultConfig::from_lookup("testing", lookup(&[("CIS_DYNAMODB_ARN", "None")]))
                .unwrap();
        assert_eq!(config.table_name, "testing-identity-vault");
    }

    #[test]
    fn stream_arns_and_bad_arns() {
        assert_eq!(
            table_name_from_arn(
                "arn:aws:dynamodb:us-west-2:1:table/development-identity-vault/stream/2019-03-05T10:34:05.322"
            )
            .unwrap(),
            "development-identity-vault"
        );
        assert_eq!(
            table_name_from_arn("local-identity-vault").unwrap(),
            "local-identity-vault"
        );
        assert!(table_name_from_arn("arn:aws:dynamodb:us-west-2:1:stream/x").is_err());
        assert!(table_name_from_arn("arn:aws:dynamodb:us-west-2:1:table/").is_err());
        assert!(table_name_from_arn("bad name!").is_err());
    }

    #[test]
    fn segments_and_overrides_are_read_and_checked() {
        let config = DynamoVaultConfig::from_lookup(
            "local",
            lookup(&[
                ("CIS_DYNAMODB_SCAN_SEGMENTS", "4"),
                ("CIS_DYNAMODB_ENDPOINT_URL", "http://127.0.0.1:5000"),
                ("CIS_REGION_NAME", "eu-west-1"),
            ]),
        )
        .unwrap();
        assert_eq!(config.scan_segments, 4);
        assert_eq!(
            config.endpoint_url.as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(config.region.as_deref(), Some("eu-west-1"));
        let err =
            DynamoVaultConfig::from_lookup("local", lookup(&[("CIS_DYNAMODB_SCAN_SEGMENTS", "0")]))
                .unwrap_err();
        assert!(
            err.to_string().contains("CIS_DYNAMODB_SCAN_SEGMENTS"),
            "{err}"
        );
        assert!(DynamoVaultConfig::from_lookup(" ", lookup(&[])).is_err());
    }
}
