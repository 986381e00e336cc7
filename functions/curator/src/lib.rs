//! The vault curator Lambda (change-api-and-vault §8): on its schedule it ensures the identity
//! vault table, its GSIs, the KEYS_ONLY stream and the tags, and returns what it did. The logic
//! is [`cis_vault_dynamodb::ensure_vault`], which `cis vault ensure` runs too.

use aws_lambda_events::cloudwatch_events::CloudWatchEvent;
use aws_sdk_dynamodb::Client;
use cis_vault_dynamodb::{DynamoVaultConfig, DynamoVaultError, EnsureReport, VaultTableSpec};

/// What the function works on, read once at start-up.
#[derive(Clone, Debug)]
pub struct CuratorSettings {
    pub config: DynamoVaultConfig,
    pub spec: VaultTableSpec,
}

impl CuratorSettings {
    /// `CIS_ENVIRONMENT` (required: it names the table and the `cis_environment` tag) and the
    /// vault variables of [`DynamoVaultConfig::from_lookup`] (`CIS_DYNAMODB_ARN`, ...).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, DynamoVaultError> {
        let environment = lookup("CIS_ENVIRONMENT")
            .map(|e| e.trim().to_owned())
            .filter(|e| !e.is_empty())
            .ok_or_else(|| DynamoVaultError::Config("CIS_ENVIRONMENT is not set".into()))?;
        let config = DynamoVaultConfig::from_lookup(&environment, lookup)?;
        let spec = VaultTableSpec::for_table(config.table_name.clone(), &environment);
        Ok(Self { config, spec })
    }

    pub fn from_env() -> Result<Self, DynamoVaultError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }
}

/// One scheduled run. The event's content does not matter (any schedule or manual invoke
/// triggers the same idempotent ensure); its id is logged to tie the run to the trigger.
pub async fn handle(
    client: &Client,
    spec: &VaultTableSpec,
    event: CloudWatchEvent,
) -> Result<EnsureReport, DynamoVaultError> {
    tracing::info!(
        event_id = event.id.as_deref().unwrap_or("-"),
        table = %spec.table_name,
        "ensuring the identity vault"
    );
    let report = ensure_and_log(client, spec).await?;
    Ok(report)
}

async fn ensure_and_log(
    client: &Client,
    spec: &VaultTableSpec,
) -> Result<EnsureReport, DynamoVaultError> {
    let report = cis_vault_dynamodb::ensure_vault(client, spec).await?;
    for warning in &report.warnings {
        tracing::warn!(table = %spec.table_name, "{warning}");
    }
    tracing::info!(
        table = %spec.table_name,
        created_table = report.created_table,
        created_indexes = report.created_indexes.len(),
        enabled_stream = report.enabled_stream,
        tags_set = report.tags_set.len(),
        unchanged = report.unchanged,
        "identity vault ensured"
    );
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_need_an_environment_and_honour_the_arn() {
        assert!(CuratorSettings::from_lookup(|_| None).is_err());
        let settings = CuratorSettings::from_lookup(|key| match key {
            "CIS_ENVIRONMENT" => Some("development".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(settings.spec.table_name, "development-identity-vault");
        assert_eq!(settings.spec.environment, "development");
        let settings = CuratorSettings::from_lookup(|key| match key {
            "CIS_ENVIRONMENT" => Some("testing".into()),
            "CIS_DYNAMODB_ARN" => {
                Some("arn:aws:dynamodb:us-west-2:1:table/other-identity-vault".into())
            }
            _ => None,
        })
        .unwrap();
        assert_eq!(settings.spec.table_name, "other-identity-vault");
        assert_eq!(settings.spec.tags()[0].1, "testing");
    }
}
