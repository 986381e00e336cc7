//! The ingest outcome table of the Kinesis path (DECISIONS C2): the processor Lambda records
//! what became of each stream record, keyed by its Kinesis sequence number, and the Change API
//! answers `/v2/status?sequenceNumber=` from it.
//!
//! Table `<env>-cis-ingest-status` (the name is configurable), hash key `sequence_number` (S),
//! on demand. Item attributes:
//!
//! | attribute | type | meaning |
//! |---|---|---|
//! | `sequence_number` | S | the Kinesis sequence number of the record |
//! | `status` | S | `integrated` or `rejected` |
//! | `reason` | S | why it was rejected (error code and description, never profile values) |
//! | `vault_sequence_number` | S | the vault's sequence number of the write (absent for a no-op) |
//! | `user_id` | S | the profile's user_id, when the record carried one |
//! | `recorded_at` | N | milliseconds since the Unix epoch |
//! | `expires_at` | N | seconds since the Unix epoch; the table's TTL attribute |
//!
//! Outcomes are kept for [`DEFAULT_OUTCOME_TTL`] (DynamoDB deletes expired items within a few
//! days after `expires_at`; until then they still read back). The first recorded outcome of a
//! record wins: Lambda redelivers a batch whose checkpoint was not saved, and the second pass
//! integrates an already integrated profile as a no-op, which must not replace the vault
//! sequence number the first pass recorded.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TableDescription, TableStatus, TimeToLiveSpecification, TimeToLiveStatus,
};
use cis_vault::{IngestOutcome, IngestStatus, SequenceNumber, VaultError, VaultResult};
use serde::{Deserialize, Serialize};

use crate::error::{DynamoVaultError, vault_error};

/// The environment variable naming the outcome table (new); the Change API and processor
/// functions and the curator read it. Unset: [`ingest_status_table_name`] of `CIS_ENVIRONMENT`.
pub const INGEST_STATUS_TABLE_VAR: &str = "CIS_INGEST_STATUS_TABLE";

/// How long an outcome is kept after it was recorded.
pub const DEFAULT_OUTCOME_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// The key attribute.
pub const OUTCOME_KEY: &str = "sequence_number";

/// The TTL attribute.
pub const OUTCOME_TTL_ATTRIBUTE: &str = "expires_at";

/// Longest rejection reason stored; a longer one is cut (an item may not exceed 400 KB, and a
/// publisher needs the first lines of a reason, not all of them).
const MAX_REASON_CHARS: usize = 4096;

/// How long [`ensure_ingest_status_table`] waits for a new table to become ACTIVE.
const MAX_WAIT: Duration = Duration::from_secs(120);
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// The default table name of an environment: `<env>-cis-ingest-status`.
pub fn ingest_status_table_name(environment: &str) -> String {
    format!("{}-cis-ingest-status", environment.trim())
}

/// One recorded outcome, as read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedOutcome {
    /// `Integrated` or `Rejected`, never `Pending`.
    pub status: IngestStatus,
    pub user_id: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub recorded_at_ms: i64,
    /// Seconds since the Unix epoch.
    pub expires_at: i64,
}

/// The outcome table of one environment.
#[derive(Clone, Debug)]
pub struct IngestStatusTable {
    client: Client,
    table_name: String,
    ttl: Duration,
}

impl IngestStatusTable {
    pub fn new(client: Client, table_name: impl Into<String>) -> Self {
        Self {
            client,
            table_name: table_name.into(),
            ttl: DEFAULT_OUTCOME_TTL,
        }
    }

    /// Keeps outcomes for `ttl` instead of [`DEFAULT_OUTCOME_TTL`].
    #[must_use]
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    pub fn table_name(&self) -> &str {
        &self.table_name
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Records what became of the record `kinesis_sequence_number`. An outcome already recorded
    /// for it is kept (see the module docs) and this call succeeds.
    pub async fn record_outcome(
        &self,
        kinesis_sequence_number: &str,
        user_id: Option<&str>,
        outcome: &IngestOutcome,
    ) -> VaultResult<()> {
        if kinesis_sequence_number.is_empty() {
            return Err(VaultError::invalid(
                "sequence_number",
                "the Kinesis sequence number is empty",
            ));
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        let recorded_at_ms = i64::try_from(now.as_millis()).unwrap_or(i64::MAX);
        let expires_at = i64::try_from(now.saturating_add(self.ttl).as_secs()).unwrap_or(i64::MAX);
        let mut item = HashMap::from([
            (OUTCOME_KEY.to_owned(), s(kinesis_sequence_number)),
            ("recorded_at".to_owned(), n(recorded_at_ms)),
            (OUTCOME_TTL_ATTRIBUTE.to_owned(), n(expires_at)),
        ]);
        if let Some(user_id) = user_id.filter(|u| !u.is_empty()) {
            item.insert("user_id".to_owned(), s(user_id));
        }
        match outcome {
            IngestOutcome::Integrated { sequence_number } => {
                item.insert("status".to_owned(), s("integrated"));
                if let Some(sequence_number) = sequence_number {
                    item.insert(
                        "vault_sequence_number".to_owned(),
                        s(sequence_number.as_str()),
                    );
                }
            }
            IngestOutcome::Rejected { reason } => {
                item.insert("status".to_owned(), s("rejected"));
                item.insert("reason".to_owned(), s(&truncate(reason, MAX_REASON_CHARS)));
            }
        }
        let result = self
            .client
            .put_item()
            .table_name(&self.table_name)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#key)")
            .expression_attribute_names("#key", OUTCOME_KEY)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => {
                tracing::debug!(
                    sequence_number = kinesis_sequence_number,
                    "outcome already recorded; the first one is kept"
                );
                Ok(())
            }
            Err(e) => Err(vault_error("PutItem(ingest outcome)", &e)),
        }
    }

    /// The recorded outcome of `kinesis_sequence_number`, `None` when nothing was recorded (yet).
    pub async fn get_outcome(
        &self,
        kinesis_sequence_number: &str,
    ) -> VaultResult<Option<RecordedOutcome>> {
        if kinesis_sequence_number.is_empty() {
            return Err(VaultError::invalid(
                "sequence_number",
                "the Kinesis sequence number is empty",
            ));
        }
        let out = self
            .client
            .get_item()
            .table_name(&self.table_name)
            .key(OUTCOME_KEY, s(kinesis_sequence_number))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| vault_error("GetItem(ingest outcome)", &e))?;
        out.item
            .map(|item| decode(kinesis_sequence_number, &item))
            .transpose()
    }
}

fn decode(key: &str, item: &HashMap<String, AttributeValue>) -> VaultResult<RecordedOutcome> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let number = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
    };
    let status = match text("status").as_deref() {
        Some("integrated") => IngestStatus::Integrated {
            sequence_number: text("vault_sequence_number").map(SequenceNumber::new),
        },
        Some("rejected") => IngestStatus::Rejected {
            reason: text("reason").unwrap_or_default(),
        },
        Some(other) => {
            return Err(VaultError::corrupt(
                key,
                format!("unknown status {other:?} (expected integrated or rejected)"),
            ));
        }
        None => return Err(VaultError::corrupt(key, "no `status` string attribute")),
    };
    Ok(RecordedOutcome {
        status,
        user_id: text("user_id"),
        recorded_at_ms: number("recorded_at").unwrap_or(0),
        expires_at: number(OUTCOME_TTL_ATTRIBUTE).unwrap_or(0),
    })
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// What one [`ensure_ingest_status_table`] run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestStatusReport {
    pub table_name: String,
    pub created_table: bool,
    /// Time to live on `expires_at` was enabled by this run.
    pub enabled_ttl: bool,
    /// Nothing was created or changed.
    pub unchanged: bool,
    /// Differences found and left alone (another key schema, TTL on another attribute).
    pub warnings: Vec<String>,
}

/// Idempotently ensures the outcome table `table_name`: creates it (on demand, key
/// `sequence_number`) when missing, waits until it is ACTIVE and enables TTL on `expires_at`
/// when it is off. A second run changes nothing and says so. For the curator, next to
/// [`crate::ensure_vault`].
pub async fn ensure_ingest_status_table(
    client: &Client,
    table_name: &str,
) -> Result<IngestStatusReport, DynamoVaultError> {
    let mut report = IngestStatusReport {
        table_name: table_name.to_owned(),
        ..IngestStatusReport::default()
    };
    if describe(client, table_name).await?.is_none() && create_table(client, table_name).await? {
        tracing::info!(table = table_name, "created the ingest outcome table");
        report.created_table = true;
    }
    let table = wait_active(client, table_name).await?;
    let key_ok = matches!(
        table.key_schema(),
        [key] if key.attribute_name() == OUTCOME_KEY && *key.key_type() == KeyType::Hash
    );
    if !key_ok {
        report.warnings.push(format!(
            "table {table_name} is not keyed by the hash key {OUTCOME_KEY}; left as it is"
        ));
    }

    let ttl = client
        .describe_time_to_live()
        .table_name(table_name)
        .send()
        .await
        .map_err(|e| DynamoVaultError::aws("DescribeTimeToLive", &e))?;
    let description = ttl.time_to_live_description();
    let status = description.and_then(|d| d.time_to_live_status());
    let attribute = description.and_then(|d| d.attribute_name());
    match status {
        Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling) => {
            if attribute != Some(OUTCOME_TTL_ATTRIBUTE) {
                report.warnings.push(format!(
                    "time to live is on {attribute:?}, not {OUTCOME_TTL_ATTRIBUTE}; left as it is"
                ));
            }
        }
        _ => {
            let specification = TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(OUTCOME_TTL_ATTRIBUTE)
                .build()
                .map_err(|e| DynamoVaultError::build("TimeToLiveSpecification", e))?;
            client
                .update_time_to_live()
                .table_name(table_name)
                .time_to_live_specification(specification)
                .send()
                .await
                .map_err(|e| DynamoVaultError::aws("UpdateTimeToLive", &e))?;
            tracing::info!(
                table = table_name,
                "enabled time to live on {OUTCOME_TTL_ATTRIBUTE}"
            );
            report.enabled_ttl = true;
        }
    }
    report.unchanged = !report.created_table && !report.enabled_ttl;
    Ok(report)
}

async fn describe(
    client: &Client,
    table_name: &str,
) -> Result<Option<TableDescription>, DynamoVaultError> {
    match client.describe_table().table_name(table_name).send().await {
        Ok(out) => Ok(out.table),
        Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
        Err(e) => Err(DynamoVaultError::aws("DescribeTable", &e)),
    }
}

/// Returns false when someone else created the table in between (ResourceInUse).
async fn create_table(client: &Client, table_name: &str) -> Result<bool, DynamoVaultError> {
    let definition = AttributeDefinition::builder()
        .attribute_name(OUTCOME_KEY)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| DynamoVaultError::build("AttributeDefinition", e))?;
    let key = KeySchemaElement::builder()
        .attribute_name(OUTCOME_KEY)
        .key_type(KeyType::Hash)
        .build()
        .map_err(|e| DynamoVaultError::build("KeySchemaElement", e))?;
    let result = client
        .create_table()
        .table_name(table_name)
        .attribute_definitions(definition)
        .key_schema(key)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await;
    match result {
        Ok(_) => Ok(true),
        Err(e) if e.code() == Some("ResourceInUseException") => Ok(false),
        Err(e) => Err(DynamoVaultError::aws("CreateTable", &e)),
    }
}

async fn wait_active(
    client: &Client,
    table_name: &str,
) -> Result<TableDescription, DynamoVaultError> {
    let started = Instant::now();
    loop {
        if let Some(table) = describe(client, table_name).await?
            && table.table_status() == Some(&TableStatus::Active)
        {
            return Ok(table);
        }
        if started.elapsed() >= MAX_WAIT {
            return Err(DynamoVaultError::NotActive {
                table: table_name.to_owned(),
                waited_secs: started.elapsed().as_secs(),
            });
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_reasons_are_cut_on_a_character_boundary() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("ééééé", 3), "ééé…");
    }

    #[test]
    fn the_default_name_follows_the_environment() {
        assert_eq!(
            ingest_status_table_name("production"),
            "production-cis-ingest-status"
        );
    }

    #[test]
    fn unknown_statuses_are_reported_as_corrupt_naming_the_record() {
        let item = HashMap::from([("status".to_owned(), s("maybe"))]);
        let error = decode("4951", &item).unwrap_err();
        assert!(
            matches!(&error, VaultError::Corrupt { key, .. } if key == "4951"),
            "{error}"
        );
        let item = HashMap::from([
            ("status".to_owned(), s("integrated")),
            ("user_id".to_owned(), s("ad|a")),
            ("recorded_at".to_owned(), n(5)),
        ]);
        let outcome = decode("4952", &item).unwrap();
        assert_eq!(
            outcome.status,
            IngestStatus::Integrated {
                sequence_number: None
            }
        );
        assert_eq!(outcome.user_id.as_deref(), Some("ad|a"));
        assert_eq!(outcome.recorded_at_ms, 5);
    }
}
