//! `cis vault ensure`: the curator's routine from the command line, for local and moto use.

use anyhow::{Context, Result};
use cis_vault_dynamodb::{
    DEAD_LETTER_TABLE_VAR, DynamoVaultConfig, INGEST_STATUS_TABLE_VAR, VaultTableSpec,
    build_client, dead_letter_table_name, ensure_vault_tables, ingest_status_table_name,
};

use crate::Outcome;
use crate::input::print_json;

#[derive(clap::Args, Debug)]
pub struct EnsureArgs {
    /// The environment (`CIS_ENVIRONMENT`): the table is `<env>-identity-vault` unless
    /// `CIS_DYNAMODB_ARN` names another.
    #[arg(long, env = "CIS_ENVIRONMENT")]
    pub environment: String,
    /// A DynamoDB endpoint, e.g. a local moto server (`AWS_ENDPOINT_URL` also works).
    #[arg(long)]
    pub endpoint_url: Option<String>,
}

/// Ensures the vault table (four GSIs, KEYS_ONLY stream, tags), the notifier's dead-letter table
/// and the ingest outcome table (`CIS_DEAD_LETTER_TABLE` / `CIS_INGEST_STATUS_TABLE`, defaults by
/// environment), exactly as the curator does; prints its report (`"unchanged": true` when
/// nothing was needed).
pub fn ensure(args: EnsureArgs) -> Result<Outcome> {
    let mut config = DynamoVaultConfig::from_env(&args.environment)
        .context("cannot configure the DynamoDB vault")?;
    if let Some(endpoint) = args.endpoint_url {
        config.endpoint_url = Some(endpoint);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = runtime.block_on(async {
        let client = build_client(&config).await;
        let spec = VaultTableSpec::for_table(config.table_name.clone(), &args.environment);
        let table = |var: &str, default: fn(&str) -> String| {
            std::env::var(var)
                .ok()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default(&args.environment))
        };
        ensure_vault_tables(
            &client,
            &spec,
            &table(DEAD_LETTER_TABLE_VAR, dead_letter_table_name),
            &table(INGEST_STATUS_TABLE_VAR, ingest_status_table_name),
        )
        .await
    });
    let report = report.with_context(|| format!("cannot ensure table {}", config.table_name))?;
    print_json(&serde_json::to_value(&report).context("cannot render the report")?)?;
    Ok(Outcome::Ok)
}
