use aws_lambda_events::dynamodb::{Event, EventRecord};
use cis_vault::{ChangeCursor, ChangeEvent, ChangeOperation};

use crate::error::DynamoVaultError;

/// One record of the vault's KEYS_ONLY stream as a change event: INSERT, MODIFY and REMOVE are
/// create, update and delete of the user in `Keys.id`.
///
/// The stream carries no vault sequence number (KEYS_ONLY), so `sequence_number` is `None`;
/// `time_ms` is the record's `ApproximateCreationDateTime`. The stream's own `SequenceNumber`
/// (up to 40 digits) does not fit a [`ChangeCursor`]; ordering is Lambda's business (per shard,
/// in batch order), so `cursor` is 0 here and the position in the batch from
/// [`decode_stream_event`].
pub fn decode_stream_record(record: &EventRecord) -> Result<ChangeEvent, DynamoVaultError> {
    let operation = match record.event_name.as_str() {
        "INSERT" => ChangeOperation::Create,
        "MODIFY" => ChangeOperation::Update,
        "REMOVE" => ChangeOperation::Delete,
        other => {
            return Err(DynamoVaultError::StreamRecord(format!(
                "event {}: unknown eventName `{other}`",
                record.event_id
            )));
        }
    };
    // serde_dynamo's attribute type is not re-exported by aws_lambda_events; its JSON form is
    // the wire form `{"id": {"S": "..."}}`.
    let keys = serde_json::to_value(&record.change.keys)
        .map_err(|e| DynamoVaultError::StreamRecord(format!("event {}: {e}", record.event_id)))?;
    let user_id = keys
        .get("id")
        .and_then(|id| id.get("S"))
        .and_then(|id| id.as_str())
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            DynamoVaultError::StreamRecord(format!(
                "event {}: no string `id` in Keys",
                record.event_id
            ))
        })?;
    Ok(ChangeEvent {
        cursor: ChangeCursor(0),
        operation,
        user_id: user_id.to_owned(),
        sequence_number: None,
        time_ms: record
            .change
            .approximate_creation_date_time
            .timestamp_millis(),
    })
}

/// Every record of a stream batch, in order, `cursor` being the position in the batch. A record
/// that cannot be decoded is reported in place; the others are still decoded.
pub fn decode_stream_event(event: &Event) -> Vec<Result<ChangeEvent, DynamoVaultError>> {
    event
        .records
        .iter()
        .zip(0u64..)
        .map(|(record, position)| {
            decode_stream_record(record).map(|mut change| {
                change.cursor = ChangeCursor(position);
                change
            })
        })
        .collect()
}
