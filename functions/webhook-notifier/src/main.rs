//! Lambda entry point of the webhook notifier: wiring only. The handler
//! (`cis_notify::handle_stream_event_until`) is tested in cis-notify; this binary is tested under
//! the Lambda runtime emulator in `tests/`.
//!
//! Configure the DynamoDB stream event source mapping with `FunctionResponseTypes:
//! ReportBatchItemFailures` (infra/ does). An RP that exhausts its retries is kept as a dead
//! letter in the DynamoDB table `CIS_DEAD_LETTER_TABLE` (default
//! `<CIS_ENVIRONMENT>-cis-notifier-dead-letters`, made by the curator) and the record is settled;
//! only when that table cannot be written, or the invocation runs out of time, is a record
//! reported as a batch item failure and retried by Lambda (RPs that already have it are not
//! re-notified while the container lives). Bound those retries with the mapping's
//! `MaximumRetryAttempts`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use aws_lambda_events::dynamodb::Event;
use cis_config::{ClientCredentialsSource, NotifierSettings, Secret};
use cis_notify::{Notifier, handle_stream_event_until};
use cis_vault::DeadLetterStore;
use cis_vault_dynamodb::{
    DEAD_LETTER_TABLE_VAR, DynamoDeadLetterStore, DynamoVaultConfig, dead_letter_table_name,
};
use lambda_runtime::{LambdaEvent, service_fn};

/// Kept free at the end of an invocation for building the response.
const DEADLINE_MARGIN: Duration = Duration::from_secs(2);

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(false)
        .without_time()
        .init();
    let settings = NotifierSettings::from_env().context("notifier configuration")?;
    let (client_id, client_secret) = client_credentials(&settings).await?;
    let dead_letters = dead_letter_store(&settings).await;
    let dead_letter_table = dead_letters.table_name().to_owned();
    let dead_letters: Arc<dyn DeadLetterStore> = Arc::new(dead_letters);
    let notifier = Arc::new(
        Notifier::from_settings(&settings, client_id, client_secret, Some(dead_letters))
            .context("notifier setup")?,
    );
    tracing::info!(
        rps = settings.rp_urls.len(),
        dead_letter_table = %dead_letter_table,
        "webhook notifier ready"
    );
    let notifier = &notifier;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        // Stop starting POSTs a little before Lambda would kill the invocation, so the records
        // not yet delivered come back as batch item failures rather than a timed-out batch.
        let remaining = event
            .context
            .deadline()
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
            .saturating_sub(DEADLINE_MARGIN);
        let deadline = tokio::time::Instant::now() + remaining;
        Ok::<_, lambda_runtime::Error>(
            handle_stream_event_until(notifier, event.payload, Some(deadline)).await,
        )
    }))
    .await
}

/// The dead letters' table: `CIS_DEAD_LETTER_TABLE`, else the environment's default name, in
/// the vault's region and endpoint. Not checked here: while it cannot be written, records whose
/// RPs give up are batch item failures (retried by Lambda), never lost.
async fn dead_letter_store(settings: &NotifierSettings) -> DynamoDeadLetterStore {
    let table = std::env::var(DEAD_LETTER_TABLE_VAR)
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| dead_letter_table_name(&settings.common.environment));
    let mut config = DynamoVaultConfig::new(table.clone());
    config.region = settings.common.region.clone();
    config.endpoint_url = settings.common.dynamodb_endpoint.clone();
    let client = cis_vault_dynamodb::build_client(&config).await;
    DynamoDeadLetterStore::new(client, table)
}

/// The client id and secret, from the settings when given directly, else from SSM (A12), read
/// once per container.
async fn client_credentials(
    settings: &NotifierSettings,
) -> anyhow::Result<(String, Secret<String>)> {
    match &settings.credentials {
        ClientCredentialsSource::Direct {
            client_id,
            client_secret,
        } => Ok((client_id.clone(), client_secret.clone())),
        ClientCredentialsSource::Ssm {
            client_id_parameter,
            client_secret_parameter,
        } => {
            let region = settings
                .common
                .secret_manager
                .ssm_region
                .clone()
                .or_else(|| settings.common.region.clone());
            let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
            if let Some(region) = region {
                loader = loader.region(aws_config::Region::new(region));
            }
            let ssm = aws_sdk_ssm::Client::new(&loader.load().await);
            let client_id = parameter(&ssm, client_id_parameter).await?;
            let client_secret = parameter(&ssm, client_secret_parameter).await?;
            Ok((client_id, Secret::new(client_secret)))
        }
    }
}

async fn parameter(ssm: &aws_sdk_ssm::Client, name: &str) -> anyhow::Result<String> {
    let output = ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .with_context(|| format!("SSM GetParameter {name}"))?;
    output
        .parameter()
        .and_then(|p| p.value())
        .map(str::to_owned)
        .with_context(|| format!("SSM parameter {name} has no value"))
}
