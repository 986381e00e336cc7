//! Lambda entry point of the webhook notifier: wiring only. The handler
//! (`cis_notify::handle_stream_event`) is tested in cis-notify.
//!
//! Configure the DynamoDB stream event source mapping with `FunctionResponseTypes:
//! ReportBatchItemFailures`, otherwise a reported record fails the whole batch. There is no
//! dead-letter store in AWS yet: an RP that exhausts its retries makes its record a batch item
//! failure, retried by Lambda (RPs that already have it are not re-notified while the container
//! lives); bound that with the mapping's `MaximumRetryAttempts` and an on-failure destination.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use aws_lambda_events::dynamodb::Event;
use cis_config::{ClientCredentialsSource, NotifierSettings, Secret};
use cis_notify::{Notifier, handle_stream_event_until};
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
    let notifier = Arc::new(
        Notifier::from_settings(&settings, client_id, client_secret, None)
            .context("notifier setup")?,
    );
    tracing::info!(rps = settings.rp_urls.len(), "webhook notifier ready");
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
