//! The Kinesis side of the ingest path (DECISIONS C2, change-api-and-vault §6): each record of
//! the `cis-input-<env>` stream carries one profile, integrated with the Change API's pipeline
//! ([`cis_core::ingest::integrate_record_data`], which documents the record data format).
//!
//! Configure the event source mapping with `FunctionResponseTypes: ReportBatchItemFailures`.
//! Records are integrated in batch order (the stream's partition key is the user_id, so that is
//! each user's order). A record that failed retryably is reported with every later record of
//! the batch: Lambda resumes the shard at the lowest reported sequence number, and integrating
//! a user's later change before the failed one would apply them out of order. A profile refused
//! for good (schema, publisher rules, signatures) is logged (user_id and code only) and not
//! reported, so it does not block the shard.

use aws_lambda_events::kinesis::KinesisEvent;
use aws_lambda_events::streams::KinesisEventResponse;
use cis_core::ChangeService;
use cis_core::ingest::{RecordOutcome, integrate_record_data};
use tokio::time::Instant;

/// Handles one batch with no deadline.
pub async fn handle_kinesis_event(
    service: &ChangeService,
    event: KinesisEvent,
) -> KinesisEventResponse {
    handle_kinesis_event_until(service, event, None).await
}

/// Handles one batch; records not started before `deadline` are reported as failures (retried
/// by Lambda) instead of being cut off by the invocation timeout.
pub async fn handle_kinesis_event_until(
    service: &ChangeService,
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
        match integrate_record_data(service, &record.kinesis.data.0).await {
            RecordOutcome::Integrated(outcome) => tracing::info!(
                %sequence_number,
                user_id = %outcome.user_id,
                condition = outcome.condition.as_str(),
                "record integrated"
            ),
            RecordOutcome::Rejected { user_id, code, .. } => tracing::warn!(
                %sequence_number,
                user_id = user_id.as_deref().unwrap_or("-"),
                code,
                "record rejected for good; not retried"
            ),
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
            }
        }
    }
    response
}
