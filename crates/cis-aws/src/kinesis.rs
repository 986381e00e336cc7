//! The Kinesis side of queued ingest (DECISIONS C2, change-api-and-vault §6): with
//! `CIS_STREAM_BYPASS=false` the Change API submits each validated profile to the
//! `cis-input-<env>` stream ([`KinesisChangeQueue`]); the `processor` Lambda integrates it and
//! records the outcome in the ingest outcome table, which `/v2/status` reads back.
//!
//! * Record: partition key = the user_id (so one user's changes land on one shard, in order),
//!   data = [`record_data`], the form `cis_core::ingest::integrate_record_data` reads.
//! * Id: the record's Kinesis sequence number.
//! * Status: the outcome the processor recorded; nothing recorded reads as pending. Kinesis
//!   cannot say whether a sequence number was ever issued, so an unknown (or mistyped) number
//!   also reads as pending, and so does one whose outcome expired from the table (7 days).
//!   Only a value that cannot be a Kinesis sequence number (not all digits) is `NotFound`, so the
//!   Change API falls back to its vault lookup.
//! * Throttling (`ProvisionedThroughputExceededException`, KMS throttling) and transient network
//!   failures are retried by the SDK's standard retry with exponential backoff and jitter
//!   ([`KinesisRetry`]); what is left after that is a retryable `Unavailable`. A missing stream,
//!   refused access or KMS key problems are non-retryable `Unavailable` errors naming the stream.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_sdk_kinesis::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kinesis::primitives::Blob;
use cis_vault::{BoxFuture, ChangeQueue, IngestId, IngestStatus, VaultError, VaultResult};
use cis_vault_dynamodb::IngestStatusTable;
use serde_json::{Value, json};

/// The most a record's data plus partition key may weigh (Kinesis: 1 MiB).
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// The longest partition key Kinesis accepts, in Unicode characters.
pub const MAX_PARTITION_KEY_CHARS: usize = 256;

/// Retry policy of the Kinesis client (the SDK's standard mode: exponential backoff with full
/// jitter, throttling errors included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KinesisRetry {
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for KinesisRetry {
    /// Up to 6 attempts, 100 ms doubling to 2 s: about 5 s of backoff at most, well inside an
    /// API Gateway request.
    fn default() -> Self {
        Self {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        }
    }
}

/// A Kinesis client on `shared` (endpoint, region and credentials of the SDK chain) with the
/// retry policy `retry`.
pub fn kinesis_client(shared: &SdkConfig, retry: KinesisRetry) -> aws_sdk_kinesis::Client {
    let config = aws_sdk_kinesis::config::Builder::from(shared)
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(retry.max_attempts.max(1))
                .with_initial_backoff(retry.initial_backoff)
                .with_max_backoff(retry.max_backoff),
        )
        .build();
    aws_sdk_kinesis::Client::from_conf(config)
}

/// The data of the record for `profile`: `{"profile": <profile>, "user_id": "<user_id>"}`. The
/// user_id travels with the profile because the Change API may have taken it from `?user_id=`
/// rather than from the profile.
pub fn record_data(user_id: &str, profile: Value) -> VaultResult<Vec<u8>> {
    serde_json::to_vec(&json!({ "profile": profile, "user_id": user_id }))
        .map_err(|e| VaultError::invalid("profile", format!("cannot serialise it: {e}")))
}

/// Checks that the outcome table exists, naming it when it does not (start-up checks, B11).
pub async fn check_ingest_status_table(table: &IngestStatusTable) -> VaultResult<()> {
    table
        .client()
        .describe_table()
        .table_name(table.table_name())
        .send()
        .await
        .map_err(|e| {
            VaultError::unavailable(
                false,
                format!(
                    "ingest outcome table {} (CIS_INGEST_STATUS_TABLE): {}",
                    table.table_name(),
                    aws_sdk_dynamodb::error::DisplayErrorContext(&e)
                ),
            )
        })?;
    Ok(())
}

/// [`ChangeQueue`] on a Kinesis stream, with the processor's outcome table for the status.
#[derive(Clone, Debug)]
pub struct KinesisChangeQueue {
    client: aws_sdk_kinesis::Client,
    stream_name: String,
    outcomes: IngestStatusTable,
}

impl KinesisChangeQueue {
    pub fn new(
        client: aws_sdk_kinesis::Client,
        stream_name: impl Into<String>,
        outcomes: IngestStatusTable,
    ) -> Self {
        Self {
            client,
            stream_name: stream_name.into(),
            outcomes,
        }
    }

    pub fn stream_name(&self) -> &str {
        &self.stream_name
    }

    pub fn outcomes(&self) -> &IngestStatusTable {
        &self.outcomes
    }

    /// Checks that the stream exists and the outcome table is reachable, so a misconfigured
    /// function fails at start-up naming what is missing (B11).
    pub async fn check(&self) -> VaultResult<()> {
        self.client
            .describe_stream_summary()
            .stream_name(&self.stream_name)
            .send()
            .await
            .map_err(|e| kinesis_error("DescribeStreamSummary", &self.stream_name, &e))?;
        check_ingest_status_table(&self.outcomes).await?;
        Ok(())
    }

    async fn put(&self, user_id: &str, profile: Value) -> VaultResult<IngestId> {
        if user_id.is_empty() {
            return Err(VaultError::invalid("user_id", "empty"));
        }
        if user_id.chars().count() > MAX_PARTITION_KEY_CHARS {
            return Err(VaultError::invalid(
                "user_id",
                format!(
                    "longer than {MAX_PARTITION_KEY_CHARS} characters, the most a Kinesis \
                     partition key may have"
                ),
            ));
        }
        let data = record_data(user_id, profile)?;
        if data.len() + user_id.len() > MAX_RECORD_BYTES {
            return Err(VaultError::invalid(
                "profile",
                format!(
                    "{} bytes with its user_id, more than the {MAX_RECORD_BYTES} bytes of a \
                     Kinesis record",
                    data.len() + user_id.len()
                ),
            ));
        }
        let out = self
            .client
            .put_record()
            .stream_name(&self.stream_name)
            .partition_key(user_id)
            .data(Blob::new(data))
            .send()
            .await
            .map_err(|e| kinesis_error("PutRecord", &self.stream_name, &e))?;
        tracing::info!(
            user_id,
            stream = %self.stream_name,
            shard = out.shard_id(),
            sequence_number = out.sequence_number(),
            "profile queued on Kinesis"
        );
        Ok(IngestId::new(out.sequence_number()))
    }

    async fn status(&self, id: &IngestId) -> VaultResult<IngestStatus> {
        let number = id.as_str();
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(VaultError::not_found(number));
        }
        Ok(self
            .outcomes
            .get_outcome(number)
            .await?
            .map_or(IngestStatus::Pending, |recorded| recorded.status))
    }
}

impl ChangeQueue for KinesisChangeQueue {
    fn submit<'a>(
        &'a self,
        user_id: &'a str,
        profile: Value,
    ) -> BoxFuture<'a, VaultResult<IngestId>> {
        Box::pin(self.put(user_id, profile))
    }

    fn submission_status<'a>(
        &'a self,
        id: &'a IngestId,
    ) -> BoxFuture<'a, VaultResult<IngestStatus>> {
        Box::pin(self.status(id))
    }
}

/// Error codes after which the same call may succeed later; the SDK's retries are spent.
const RETRYABLE_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "KMSThrottlingException",
    "LimitExceededException",
    "ThrottlingException",
    "InternalFailure",
    "ServiceUnavailable",
];

/// Maps a failed Kinesis call to the port's error, naming the stream.
fn kinesis_error<E, R>(operation: &str, stream: &str, error: &SdkError<E, R>) -> VaultError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let code = error.code();
    let detail = DisplayErrorContext(error);
    match (error, code) {
        (_, Some("ResourceNotFoundException")) => VaultError::unavailable(
            false,
            format!("Kinesis stream {stream} not found ({operation}): {detail}"),
        ),
        (_, Some("InvalidArgumentException" | "ValidationException")) => VaultError::invalid(
            "record",
            format!("Kinesis {operation} on {stream} refused it: {detail}"),
        ),
        (
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_),
            _,
        ) => VaultError::unavailable(
            true,
            format!("Kinesis {operation} on {stream} did not complete: {detail}"),
        ),
        (_, Some(code)) if RETRYABLE_CODES.contains(&code) => VaultError::unavailable(
            true,
            format!("Kinesis {operation} on {stream} still throttled after retries: {detail}"),
        ),
        _ => VaultError::unavailable(
            false,
            format!("Kinesis {operation} on {stream} failed: {detail}"),
        ),
    }
}
