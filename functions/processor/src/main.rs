//! The ingest processor Lambda: wiring only (cis-aws builds the change pipeline from the same
//! environment as the Change API function, and the ingest outcome table of
//! `CIS_INGEST_STATUS_TABLE` or `<CIS_ENVIRONMENT>-cis-ingest-status`; the handler lives in the
//! library). Start-up fails with an error naming the bad setting or missing table (B11).

use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use aws_lambda_events::kinesis::KinesisEvent;
use cis_fn_processor::handle_kinesis_event_until;
use cis_vault_dynamodb::IngestStatusTable;
use lambda_runtime::{LambdaEvent, service_fn};

/// Kept free at the end of an invocation for building the response.
const DEADLINE_MARGIN: Duration = Duration::from_secs(2);

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    cis_aws::lambda::init_tracing();
    let (service, outcomes) = match start().await {
        Ok(started) => started,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "start-up failed");
            return Err(error.into());
        }
    };
    let service = &service;
    let outcomes = &outcomes;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<KinesisEvent>| async move {
            let remaining = event
                .context
                .deadline()
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO)
                .saturating_sub(DEADLINE_MARGIN);
            let deadline = tokio::time::Instant::now() + remaining;
            Ok::<_, lambda_runtime::Error>(
                handle_kinesis_event_until(service, outcomes, event.payload, Some(deadline)).await,
            )
        },
    ))
    .await
}

async fn start() -> anyhow::Result<(cis_core::ChangeService, IngestStatusTable)> {
    let mut settings = cis_config::ChangeSettings::from_env().context("reading the settings")?;
    // `CIS_STREAM_BYPASS` chooses how the Change API hands changes over; this function is the
    // receiving end of the stream and integrates directly whatever the flag says.
    settings.stream_bypass = true;
    let outcomes = cis_aws::ingest_status_table(&settings.common)
        .await
        .context("the ingest outcome table")?;
    cis_aws::kinesis::check_ingest_status_table(&outcomes)
        .await
        .context("the ingest outcome table")?;
    let service = cis_aws::build_change_service(&settings)
        .await
        .context("building the change pipeline")?;
    Ok((service, outcomes))
}
