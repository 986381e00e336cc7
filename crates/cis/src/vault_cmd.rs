//! `cis vault ensure`: the curator's routine from the command line, for local and moto use.

use anyhow::{Context, Result};
use cis_vault_dynamodb::{DynamoVaultConfig, VaultTableSpec, build_client, ensure_vault};

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

/// Ensures the vault table, its four GSIs, the KEYS_ONLY stream and the tags; prints what it
/// created or changed (`"unchanged": true` when nothing was needed).
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
        ensure_vault(&client, &spec).await
    });
    let report = report.with_context(|| format!("cannot ensure table {}", config.table_name))?;
    print_json(&serde_json::to_value(&report).context("cannot render the report")?)?;
    Ok(Outcome::Ok)
}
