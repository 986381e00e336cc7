//! Lambda entry point of the vault curator: wiring only, see the library.

use aws_lambda_events::cloudwatch_events::CloudWatchEvent;
use cis_fn_curator::{CuratorSettings, handle};
use lambda_runtime::{LambdaEvent, service_fn};

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
    let settings = CuratorSettings::from_env().map_err(anyhow::Error::from)?;
    let client = cis_vault_dynamodb::build_client(&settings.config).await;
    let settings = &settings;
    let client = &client;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<CloudWatchEvent>| async move {
            handle(client, settings, event.payload)
                .await
                .map_err(lambda_runtime::Error::from)
        },
    ))
    .await
}
