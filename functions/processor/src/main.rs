//! The ingest processor Lambda: wiring only (cis-aws builds the change pipeline from the same
//! environment as the Change API function; the handler lives in the library). Start-up fails
//! with an error naming the bad setting (DECISIONS B11).

use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use aws_lambda_events::kinesis::KinesisEvent;
use cis_fn_processor::handle_kinesis_event_until;
use lambda_runtime::{LambdaEvent, service_fn};

/// Kept free at the end of an invocation for building the response.
const DEADLINE_MARGIN: Duration = Duration::from_secs(2);

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    cis_aws::lambda::init_tracing();
    let service = match start().await {
        Ok(service) => service,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "start-up failed");
            return Err(error.into());
        }
    };
    let service = &service;
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
                handle_kinesis_event_until(service, event.payload, Some(deadline)).await,
            )
        },
    ))
    .await
}

async fn start() -> anyhow::Result<cis_core::ChangeService> {
    let mut settings = cis_config::ChangeSettings::from_env().context("reading the settings")?;
    // `CIS_STREAM_BYPASS` chooses how the Change API hands changes over; this function is the
    // receiving end of the stream and integrates directly whatever the flag says.
    settings.stream_bypass = true;
    cis_aws::build_change_service(&settings)
        .await
        .context("building the change pipeline")
}
