//! The Kinesis side of the ingest path (DECISIONS C2, change-api-and-vault §6): each record of
//! the `cis-input-<env>` stream carries one profile, integrated with the Change API's pipeline
//! ([`cis_core::ingest::integrate_record_data`], which documents the record data format), and
//! its outcome is recorded in the ingest outcome table (`<env>-cis-ingest-status`, keyed by the
//! record's Kinesis sequence number) for `/v2/status?sequenceNumber=`.
//!
//! Configure the event source mapping with `FunctionResponseTypes: ReportBatchItemFailures`.
//! Records are integrated in batch order (the stream's partition key is the user_id, so that is
//! each user's order). A record that failed retryably is reported with every later record of
//! the batch: Lambda resumes the shard at the lowest reported sequence number, and integrating
//! a user's later change before the failed one would apply them out of order. A profile refused
//! for good (schema, publisher rules, signatures) is logged (user_id and code only), recorded
//! as rejected with its reason, and not reported, so it does not block the shard.
//!
//! **An outcome that could not be recorded** is reported as a failure too (with the rest of the
//! batch), so the record is delivered again and its outcome recorded then. That is safe because
//! integrating is idempotent (§5.11): the redelivered profile merges into a stored profile that
//! already holds it, which is a no-op (no write, no new vault sequence number), and a rejected
//! one is rejected again for the same reason (nothing was written, so the stored profile it is
//! checked against is unchanged). No other change of that user can slip in between: with
//! `CIS_STREAM_BYPASS=false` every change goes through the stream, and the shard does not move
//! past the reported record. Two consequences: the outcome recorded after a retry of an
//! integrated record carries no vault sequence number (the table keeps the first outcome, so
//! this happens only when the first one was never stored); and when the event source mapping's
//! retries run out, the record is skipped with no outcome, so its status stays pending.

use aws_lambda_events::kinesis::KinesisEvent;
use aws_lambda_events::streams::KinesisEventResponse;
use cis_core::ChangeService;
use cis_core::ingest::{RecordOutcome, integrate_record_data};
use cis_vault::{BoxFuture, IngestOutcome, VaultResult};
use cis_vault_dynamodb::IngestStatusTable;
use tokio::time::Instant;

/// Where the processor records what became of each record.
pub trait OutcomeLog: Send + Sync {
    fn record<'a>(
        &'a self,
        kinesis_sequence_number: &'a str,
        user_id: Option<&'a str>,
        outcome: &'a IngestOutcome,
    ) -> BoxFuture<'a, VaultResult<()>>;
}

impl OutcomeLog for IngestStatusTable {
    fn record<'a>(
        &'a self,
        kinesis_sequence_number: &'a str,
        user_id: Option<&'a str>,
        outcome: &'a IngestOutcome,
    ) -> BoxFuture<'a, VaultResult<()>> {
        Box::pin(self.record_outcome(kinesis_sequence_number, user_id, outcome))
    }
}

/// Handles one batch with no deadline.
pub async fn handle_kinesis_event(
    service: &ChangeService,
    outcomes: &dyn OutcomeLog,
    event: KinesisEvent,
) -> KinesisEventResponse {
    handle_kinesis_event_until(service, outcomes, event, None).await
}

/// Handles one batch; records not started before `deadline` are reported as failures (retried
/// by Lambda) instead of being cut off by the invocation timeout.
pub async fn handle_kinesis_event_until(
    service: &ChangeService,
    outcomes: &dyn OutcomeLog,
    event: KinesisEvent,
    deadline: Option<Instant>,
) -> KinesisEventResponse {
    let mut response = KinesisEventResponse::default();
    let mut failing = false;
    for record in event.records {
        let sequence_number = record.kinesis.sequence_number;
        if !failing && deadline.is_some_and(|d| Instant::now() >= d) {
            tracing::warn!(%sequence_number, "deadline reached; the rest of the batch is retried");
            failing = true;
        }
        if failing {
            response.add_failure(sequence_number);
            continue;
        }
        let (user_id, outcome) = match integrate_record_data(service, &record.kinesis.data.0).await
        {
            RecordOutcome::Integrated(outcome) => {
                tracing::info!(
                    %sequence_number,
                    user_id = %outcome.user_id,
                    condition = outcome.condition.as_str(),
                    "record integrated"
                );
                (
                    Some(outcome.user_id),
                    IngestOutcome::Integrated {
                        sequence_number: outcome.sequence_number,
                    },
                )
            }
            RecordOutcome::Rejected {
                user_id,
                code,
                reason,
            } => {
                tracing::warn!(
                    %sequence_number,
                    user_id = user_id.as_deref().unwrap_or("-"),
                    code,
                    "record rejected for good; not retried"
                );
                (user_id, IngestOutcome::Rejected { reason })
            }
            RecordOutcome::Retry { user_id, error } => {
                tracing::warn!(
                    %sequence_number,
                    user_id = user_id.as_deref().unwrap_or("-"),
                    code = error.code(),
                    error = error.log_detail(),
                    "record failed; it and the rest of the batch are retried"
                );
                failing = true;
                response.add_failure(sequence_number);
                continue;
            }
        };
        if let Err(error) = outcomes
            .record(&sequence_number, user_id.as_deref(), &outcome)
            .await
        {
            tracing::warn!(
                %sequence_number,
                user_id = user_id.as_deref().unwrap_or("-"),
                %error,
                "outcome not recorded; the record and the rest of the batch are retried \
                 (integrating it again is a no-op)"
            );
            failing = true;
            response.add_failure(sequence_number);
        }
    }
    response
}
