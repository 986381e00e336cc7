//! The curator Lambda (change-api-and-vault §8): on its schedule it ensures the identity vault
//! table, its GSIs, the KEYS_ONLY stream and the tags, plus the two tables the port added: the
//! notifier's dead letters and the Kinesis ingest outcomes. It returns what it did. The vault
//! logic is [`cis_vault_dynamodb::ensure_vault`], which `cis vault ensure` runs too.

use aws_lambda_events::cloudwatch_events::CloudWatchEvent;
use aws_sdk_dynamodb::Client;
use cis_vault_dynamodb::{
    DEAD_LETTER_TABLE_VAR, DynamoVaultConfig, DynamoVaultError, INGEST_STATUS_TABLE_VAR,
    VaultTableSpec, dead_letter_table_name, ingest_status_table_name,
};

/// What the function works on, read once at start-up.
#[derive(Clone, Debug)]
pub struct CuratorSettings {
    pub config: DynamoVaultConfig,
    pub spec: VaultTableSpec,
    /// `CIS_DEAD_LETTER_TABLE`, default `<env>-cis-notifier-dead-letters` (the notifier reads
    /// the same variable).
    pub dead_letter_table: String,
    /// `CIS_INGEST_STATUS_TABLE`, default `<env>-cis-ingest-status` (the processor and the
    /// Change API read the same variable).
    pub ingest_status_table: String,
}

impl CuratorSettings {
    /// `CIS_ENVIRONMENT` (required: it names the tables and the `cis_environment` tag), the
    /// vault variables of [`DynamoVaultConfig::from_lookup`] (`CIS_DYNAMODB_ARN`, ...) and the
    /// two table-name overrides.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, DynamoVaultError> {
        let set = |key: &str| {
            lookup(key)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let environment = set("CIS_ENVIRONMENT")
            .ok_or_else(|| DynamoVaultError::Config("CIS_ENVIRONMENT is not set".into()))?;
        let dead_letter_table =
            set(DEAD_LETTER_TABLE_VAR).unwrap_or_else(|| dead_letter_table_name(&environment));
        let ingest_status_table =
            set(INGEST_STATUS_TABLE_VAR).unwrap_or_else(|| ingest_status_table_name(&environment));
        let config = DynamoVaultConfig::from_lookup(&environment, lookup)?;
        let spec = VaultTableSpec::for_table(config.table_name.clone(), &environment);
        Ok(Self {
            config,
            spec,
            dead_letter_table,
            ingest_status_table,
        })
    }

    pub fn from_env() -> Result<Self, DynamoVaultError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }
}

pub use cis_vault_dynamodb::CuratorReport;

/// One scheduled run. The event's content does not matter (any schedule or manual invoke
/// triggers the same idempotent ensure); its id is logged to tie the run to the trigger.
pub async fn handle(
    client: &Client,
    settings: &CuratorSettings,
    event: CloudWatchEvent,
) -> Result<CuratorReport, DynamoVaultError> {
    tracing::info!(
        event_id = event.id.as_deref().unwrap_or("-"),
        table = %settings.spec.table_name,
        "ensuring the identity vault"
    );
    let report = cis_vault_dynamodb::ensure_vault_tables(
        client,
        &settings.spec,
        &settings.dead_letter_table,
        &settings.ingest_status_table,
    )
    .await?;
    let vault = &report.vault;
    for warning in &vault.warnings {
        tracing::warn!(table = %vault.table_name, "{warning}");
    }
    tracing::info!(
        table = %vault.table_name,
        created_table = vault.created_table,
        created_indexes = vault.created_indexes.len(),
        enabled_stream = vault.enabled_stream,
        tags_set = vault.tags_set.len(),
        unchanged = vault.unchanged,
        "identity vault ensured"
    );
    let letters = &report.dead_letters;
    log_table(&letters.table_name, !letters.unchanged, &letters.warnings);
    let outcomes = &report.ingest_status;
    log_table(
        &outcomes.table_name,
        !outcomes.unchanged,
        &outcomes.warnings,
    );
    Ok(report)
}

fn log_table(table: &str, changed: bool, warnings: &[String]) {
    for warning in warnings {
        tracing::warn!(table, "{warning}");
    }
    tracing::info!(table, changed, "table ensured");
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
        assert_eq!(
            settings.dead_letter_table,
            "development-cis-notifier-dead-letters"
        );
        assert_eq!(
            settings.ingest_status_table,
            "development-cis-ingest-status"
        );
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
        let settings = CuratorSettings::from_lookup(|key| match key {
            "CIS_ENVIRONMENT" => Some("testing".into()),
            "CIS_DEAD_LETTER_TABLE" => Some(" letters ".into()),
            "CIS_INGEST_STATUS_TABLE" => Some("outcomes".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(settings.dead_letter_table, "letters");
        assert_eq!(settings.ingest_status_table, "outcomes");
    }
}
