//! The Person API Lambda: wiring only (cis-aws builds the router from the environment, cis-http
//! serves it). Start-up fails with an error naming the bad setting (DECISIONS B11).

use anyhow::Context as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    cis_aws::lambda::init_tracing();
    let router = match start().await {
        Ok(router) => router,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "start-up failed");
            return Err(error);
        }
    };
    cis_aws::lambda::run(router)
        .await
        .map_err(|e| anyhow::anyhow!(e))
}

async fn start() -> anyhow::Result<cis_aws::Router> {
    let settings = cis_config::PersonSettings::from_env().context("reading the settings")?;
    cis_aws::build_person_router(&settings)
        .await
        .context("building the Person API")
}
