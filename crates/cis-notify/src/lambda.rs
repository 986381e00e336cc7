//! The `webhook-notifier` Lambda's handler: a KEYS_ONLY DynamoDB stream batch in, partial batch
//! failures out (`ReportBatchItemFailures` on the event source mapping).

use std::collections::HashMap;

use aws_lambda_events::dynamodb::Event;
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use cis_vault_dynamodb::decode_stream_record;
use futures::StreamExt;

use crate::Notifier;
use crate::notifier::{DeliveryReport, RpOutcome, RpResult};

/// Delivers every record of the batch and reports the records not settled for every RP.
///
/// * Records of one user are delivered in stream order; different users concurrently (at most
///   [`Notifier::with_stream_concurrency`] at a time), so one slow RP does not serialize the
///   batch.
/// * An RP whose retries are exhausted is dead-lettered when the notifier has a store; then the
///   record is settled. Without a store (or when the store fails), the record is reported in
///   `batchItemFailures` by its stream `SequenceNumber`, as Lambda expects for DynamoDB
///   streams; Lambda then retries from the lowest reported record.
/// * RPs that already got a record are remembered per container (see `DeliveredMemo`), so the
///   retry only notifies the RPs that failed.
/// * A record that cannot be decoded (unknown `eventName`, no `Keys.id.S`) is logged and
///   skipped: retrying it can never succeed and would block the shard for 24 hours.
pub async fn handle_stream_event(notifier: &Notifier, event: Event) -> DynamoDbEventResponse {
    handle_stream_event_until(notifier, event, None).await
}

/// [`handle_stream_event`] that starts no POST which could outlast `deadline` (the invocation's
/// deadline less a safety margin): RPs cut short leave their records as batch item failures,
/// without dead letters, and what was delivered is remembered. Without this a hanging RP makes
/// the invocation time out and Lambda retries the whole batch.
pub async fn handle_stream_event_until(
    notifier: &Notifier,
    event: Event,
    deadline: Option<tokio::time::Instant>,
) -> DynamoDbEventResponse {
    // Group record positions by user, keeping stream order inside each group.
    let mut chains: Vec<Vec<usize>> = Vec::new();
    let mut chain_of_user: HashMap<String, usize> = HashMap::new();
    let mut decoded = Vec::with_capacity(event.records.len());
    for (position, record) in event.records.iter().enumerate() {
        match decode_stream_record(record) {
            Ok(change) => {
                let chain = *chain_of_user
                    .entry(change.user_id.clone())
                    .or_insert_with(|| {
                        chains.push(Vec::new());
                        chains.len() - 1
                    });
                if let Some(c) = chains.get_mut(chain) {
                    c.push(position);
                }
                decoded.push(Some(change));
            }
            Err(e) => {
                tracing::error!(event_id = %record.event_id, error = %e, "skipping undecodable stream record");
                decoded.push(None);
            }
        }
    }

    let decoded = &decoded;
    let records = &event.records;
    let settled: Vec<(usize, bool)> = futures::stream::iter(chains)
        .map(|chain| async move {
            let mut results = Vec::with_capacity(chain.len());
            for position in chain {
                let (Some(Some(change)), Some(record)) =
                    (decoded.get(position), records.get(position))
                else {
                    continue;
                };
                let report = deliver_record(notifier, &record.event_id, change, deadline).await;
                results.push((position, report.is_settled()));
            }
            results
        })
        .buffer_unordered(notifier.stream_concurrency)
        .flat_map(futures::stream::iter)
        .collect()
        .await;

    let mut failed: Vec<usize> = settled
        .into_iter()
        .filter(|(_, ok)| !ok)
        .map(|(position, _)| position)
        .collect();
    failed.sort_unstable();

    let mut response = DynamoDbEventResponse::default();
    for position in failed {
        let Some(record) = records.get(position) else {
            continue;
        };
        // An identifier Lambda does not recognise makes it retry the whole batch, which is the
        // safe fallback for a record without a sequence number.
        let id = record
            .change
            .sequence_number
            .clone()
            .unwrap_or_else(|| record.event_id.clone());
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = Some(id);
        response.batch_item_failures.push(failure);
    }
    response
}

/// Delivers one record to the RPs that do not have it yet and remembers the new successes.
async fn deliver_record(
    notifier: &Notifier,
    event_id: &str,
    change: &cis_vault::ChangeEvent,
    deadline: Option<tokio::time::Instant>,
) -> DeliveryReport {
    let (pending, done): (Vec<String>, Vec<String>) = {
        let memo = notifier.memo.lock().unwrap_or_else(|p| p.into_inner());
        notifier
            .rp_urls()
            .iter()
            .cloned()
            .partition(|rp| !memo.contains(event_id, rp))
    };
    let mut report = notifier.deliver_to_until(change, &pending, deadline).await;
    {
        let mut memo = notifier.memo.lock().unwrap_or_else(|p| p.into_inner());
        for outcome in &report.per_rp {
            // Dead-lettered counts too: the letter is durable, a retry must not add another.
            if outcome.is_settled() {
                memo.insert(event_id, &outcome.rp_url);
            }
        }
    }
    report
        .per_rp
        .extend(done.into_iter().map(|rp_url| RpOutcome {
            rp_url,
            attempts: 0,
            result: RpResult::AlreadyDelivered,
        }));
    report
}
