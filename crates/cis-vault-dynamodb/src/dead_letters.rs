//! The notifier's dead letters on DynamoDB (DECISIONS B16, C4): webhook deliveries that
//! exhausted their retries, kept in `<env>-cis-notifier-dead-letters` for `cis notify replay`.
//!
//! Layout: every letter lives in one partition (`pk` = `"dead-letter"`) with its id as the
//! numeric sort key, so "letters in id order after X" is a single Query. Dead letters are rare
//! (an RP down for a while, at most one per change and RP); one partition takes 1,000 writes a
//! second, far beyond what CIS produces.
//!
//! Ids are time-based: the microsecond (since the Unix epoch) at which the letter was stored,
//! bumped by one when that id is taken (a conditional put makes them unique across Lambda
//! containers) and strictly increasing within a process. So id order is storage order within
//! one container, and storage-time order across containers up to their clock skew. They stay
//! below 2^53 (exact in JSON numbers) until the year 2255.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TableDescription, TableStatus,
};
use cis_vault::{
    BoxFuture, ChangeOperation, DeadLetter, DeadLetterFilter, DeadLetterId, DeadLetterStore,
    NewDeadLetter, VaultError, VaultResult,
};
use serde::{Deserialize, Serialize};

use crate::error::{DynamoVaultError, vault_error};
use crate::item::Item;

/// The environment variable naming the dead-letter table (new); both the notifier and the
/// curator read it. Unset: [`dead_letter_table_name`] of `CIS_ENVIRONMENT`.
pub const DEAD_LETTER_TABLE_VAR: &str = "CIS_DEAD_LETTER_TABLE";

/// The partition every letter is stored in.
const PARTITION: &str = "dead-letter";
const PK: &str = "pk";
const ID: &str = "id";
/// Fresh ids tried when the time-based one is already taken by another container.
const MAX_ID_COLLISIONS: u32 = 16;

/// `<environment>-cis-notifier-dead-letters`, the default table name.
pub fn dead_letter_table_name(environment: &str) -> String {
    format!("{}-cis-notifier-dead-letters", environment.trim())
}

/// [`DeadLetterStore`] on a DynamoDB table made by [`ensure_dead_letter_table`].
#[derive(Debug)]
pub struct DynamoDeadLetterStore {
    client: Client,
    table_name: String,
    last_id: AtomicU64,
}

impl DynamoDeadLetterStore {
    pub fn new(client: Client, table_name: impl Into<String>) -> Self {
        Self {
            client,
            table_name: table_name.into(),
            last_id: AtomicU64::new(0),
        }
    }

    pub fn table_name(&self) -> &str {
        &self.table_name
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The current microsecond, or one past the last id this process issued.
    fn next_id(&self) -> u64 {
        let now_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX / 2));
        let mut issued = now_us;
        // fetch_update only fails when the closure returns None, which it never does.
        let _ = self
            .last_id
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
                issued = now_us.max(last + 1);
                Some(issued)
            });
        issued
    }

    async fn put(&self, letter: NewDeadLetter) -> VaultResult<DeadLetterId> {
        for _ in 0..MAX_ID_COLLISIONS {
            let id = self.next_id();
            let item = letter_to_item(id, &letter);
            let result = self
                .client
                .put_item()
                .table_name(&self.table_name)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(#id)")
                .expression_attribute_names("#id", ID)
                .send()
                .await;
            match result {
                Ok(_) => return Ok(DeadLetterId(id)),
                Err(e) if e.code() == Some("ConditionalCheckFailedException") => {
                    // Another container stored a letter in the same microsecond: the next
                    // id is one later.
                    continue;
                }
                Err(e) => return Err(vault_error("PutItem(dead letter)", &e)),
            }
        }
        Err(VaultError::unavailable(
            true,
            format!(
                "no free dead-letter id after {MAX_ID_COLLISIONS} tries in {}",
                self.table_name
            ),
        ))
    }

    async fn list(&self, filter: DeadLetterFilter) -> VaultResult<Vec<DeadLetter>> {
        let mut letters = Vec::new();
        if filter.limit == 0 {
            return Ok(letters);
        }
        let mut names = HashMap::from([("#pk".to_owned(), PK.to_owned())]);
        let mut values = HashMap::from([(":pk".to_owned(), AttributeValue::S(PARTITION.into()))]);
        let mut key_condition = "#pk = :pk".to_owned();
        if let Some(after) = filter.after {
            names.insert("#id".into(), ID.into());
            values.insert(":after".into(), AttributeValue::N(after.0.to_string()));
            key_condition.push_str(" AND #id > :after");
        }
        let mut conditions = Vec::new();
        if let Some(rp_url) = &filter.rp_url {
            names.insert("#rp".into(), "rp_url".into());
            values.insert(":rp".into(), AttributeValue::S(rp_url.clone()));
            conditions.push("#rp = :rp");
        }
        if let Some(user_id) = &filter.user_id {
            names.insert("#user".into(), "user_id".into());
            values.insert(":user".into(), AttributeValue::S(user_id.clone()));
            conditions.push("#user = :user");
        }
        if !filter.include_replayed {
            names.insert("#replayed".into(), "replayed_at_ms".into());
            conditions.push("attribute_not_exists(#replayed)");
        }
        let filter_expression = (!conditions.is_empty()).then(|| conditions.join(" AND "));
        let mut start: Option<Item> = None;
        loop {
            let remaining = filter.limit - letters.len();
            let mut query = self
                .client
                .query()
                .table_name(&self.table_name)
                .consistent_read(true)
                .scan_index_forward(true)
                .key_condition_expression(&key_condition)
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .set_filter_expression(filter_expression.clone())
                .set_exclusive_start_key(start.take());
            // DynamoDB applies Limit before the filter; with a filter, let it fill 1 MB pages.
            if filter_expression.is_none() {
                query = query.limit(i32::try_from(remaining.min(1000)).unwrap_or(1000));
            }
            let page = query
                .send()
                .await
                .map_err(|e| vault_error("Query(dead letters)", &e))?;
            for item in page.items() {
                letters.push(item_to_letter(item)?);
                if letters.len() == filter.limit {
                    return Ok(letters);
                }
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(letters),
            }
        }
    }

    async fn mark(&self, id: DeadLetterId, at_ms: i64) -> VaultResult<()> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table_name)
            .set_key(Some(key(id)))
            .update_expression("SET #replayed = :at")
            .condition_expression("attribute_exists(#id)")
            .expression_attribute_names("#replayed", "replayed_at_ms")
            .expression_attribute_names("#id", ID)
            .expression_attribute_values(":at", AttributeValue::N(at_ms.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => {
                Err(VaultError::not_found(id.0.to_string()))
            }
            Err(e) => Err(vault_error("UpdateItem(dead letter)", &e)),
        }
    }

    async fn remove(&self, id: DeadLetterId) -> VaultResult<()> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table_name)
            .set_key(Some(key(id)))
            .condition_expression("attribute_exists(#id)")
            .expression_attribute_names("#id", ID)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => {
                Err(VaultError::not_found(id.0.to_string()))
            }
            Err(e) => Err(vault_error("DeleteItem(dead letter)", &e)),
        }
    }
}

impl DeadLetterStore for DynamoDeadLetterStore {
    fn put_dead_letter(&self, letter: NewDeadLetter) -> BoxFuture<'_, VaultResult<DeadLetterId>> {
        Box::pin(self.put(letter))
    }

    fn list_dead_letters(
        &self,
        filter: DeadLetterFilter,
    ) -> BoxFuture<'_, VaultResult<Vec<DeadLetter>>> {
        Box::pin(self.list(filter))
    }

    fn mark_replayed(&self, id: DeadLetterId, at_ms: i64) -> BoxFuture<'_, VaultResult<()>> {
        Box::pin(self.mark(id, at_ms))
    }

    fn remove_dead_letter(&self, id: DeadLetterId) -> BoxFuture<'_, VaultResult<()>> {
        Box::pin(self.remove(id))
    }
}

fn key(id: DeadLetterId) -> Item {
    HashMap::from([
        (PK.to_owned(), AttributeValue::S(PARTITION.to_owned())),
        (ID.to_owned(), AttributeValue::N(id.0.to_string())),
    ])
}

fn letter_to_item(id: u64, letter: &NewDeadLetter) -> Item {
    let mut item = key(DeadLetterId(id));
    let mut put = |name: &str, value: AttributeValue| {
        item.insert(name.to_owned(), value);
    };
    put(
        "operation",
        AttributeValue::S(letter.operation.as_str().into()),
    );
    put("user_id", AttributeValue::S(letter.user_id.clone()));
    put(
        "event_time_ms",
        AttributeValue::N(letter.event_time_ms.to_string()),
    );
    put("rp_url", AttributeValue::S(letter.rp_url.clone()));
    if let Some(status) = letter.last_status {
        put("last_status", AttributeValue::N(status.to_string()));
    }
    put("error", AttributeValue::S(letter.error.clone()));
    put("attempts", AttributeValue::N(letter.attempts.to_string()));
    put(
        "failed_at_ms",
        AttributeValue::N(letter.failed_at_ms.to_string()),
    );
    item
}

fn item_to_letter(item: &Item) -> VaultResult<DeadLetter> {
    let raw_id = match item.get(ID) {
        Some(AttributeValue::N(n)) => n.clone(),
        _ => return Err(VaultError::corrupt("dead letter", "no numeric `id`")),
    };
    let key = raw_id.clone();
    let corrupt = |reason: String| VaultError::corrupt(format!("dead letter {key}"), reason);
    let id = raw_id
        .parse::<u64>()
        .map_err(|e| corrupt(format!("`id`: {e}")))?;
    let string = |name: &str| match item.get(name) {
        Some(AttributeValue::S(s)) => Ok(s.clone()),
        _ => Err(corrupt(format!("`{name}` is missing or not a string"))),
    };
    fn number<T: std::str::FromStr>(item: &Item, name: &str) -> Result<Option<T>, String>
    where
        T::Err: std::fmt::Display,
    {
        match item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::N(n)) => n
                .parse::<T>()
                .map(Some)
                .map_err(|e| format!("`{name}`: {e}")),
            Some(_) => Err(format!("`{name}` is not a number")),
        }
    }
    let required = |name: &str| -> VaultResult<i64> {
        number::<i64>(item, name)
            .map_err(&corrupt)?
            .ok_or_else(|| corrupt(format!("`{name}` is missing")))
    };
    let operation_word = string("operation")?;
    let operation = ChangeOperation::parse(&operation_word)
        .ok_or_else(|| corrupt(format!("unknown operation `{operation_word}`")))?;
    let attempts = number::<u32>(item, "attempts")
        .map_err(&corrupt)?
        .ok_or_else(|| corrupt("`attempts` is missing".into()))?;
    Ok(DeadLetter {
        id: DeadLetterId(id),
        letter: NewDeadLetter {
            operation,
            user_id: string("user_id")?,
            event_time_ms: required("event_time_ms")?,
            rp_url: string("rp_url")?,
            last_status: number::<u16>(item, "last_status").map_err(&corrupt)?,
            error: string("error")?,
            attempts,
            failed_at_ms: required("failed_at_ms")?,
        },
        replayed_at_ms: number::<i64>(item, "replayed_at_ms").map_err(&corrupt)?,
    })
}

/// What one [`ensure_dead_letter_table`] run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterTableReport {
    pub table_name: String,
    pub created_table: bool,
    /// Nothing was created or changed.
    pub unchanged: bool,
    /// Differences found and left alone (an existing table with another key schema).
    pub warnings: Vec<String>,
}

/// How long [`ensure_dead_letter_table`] waits for a new table to become ACTIVE.
const ACTIVE_WAIT: Duration = Duration::from_secs(300);
const ACTIVE_POLL: Duration = Duration::from_millis(500);

/// Idempotently ensures the dead-letter table: creates it (on demand billing, `pk` S hash key,
/// `id` N range key) when missing and waits until it is ACTIVE; an existing table is left as it
/// is, with a warning when its key schema is not the expected one. A second run changes nothing.
pub async fn ensure_dead_letter_table(
    client: &Client,
    table_name: &str,
) -> Result<DeadLetterTableReport, DynamoVaultError> {
    let mut report = DeadLetterTableReport {
        table_name: table_name.to_owned(),
        ..DeadLetterTableReport::default()
    };
    if describe(client, table_name).await?.is_none() {
        report.created_table = create(client, table_name).await?;
        if report.created_table {
            tracing::info!(table = %table_name, "created the dead-letter table");
        }
    }
    let table = wait_active(client, table_name).await?;
    let expected = [(PK, KeyType::Hash), (ID, KeyType::Range)];
    let schema = table.key_schema();
    let same = schema.len() == expected.len()
        && expected.iter().all(|(name, kind)| {
            schema
                .iter()
                .any(|k| k.attribute_name() == *name && k.key_type() == kind)
        });
    if !same {
        report.warnings.push(format!(
            "table {table_name} does not have the key schema HASH {PK}, RANGE {ID}; left as it is"
        ));
    }
    report.unchanged = !report.created_table;
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

/// False when another curator created it in between.
async fn create(client: &Client, table_name: &str) -> Result<bool, DynamoVaultError> {
    let attribute = |name: &str, kind: ScalarAttributeType| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(kind)
            .build()
            .map_err(|e| DynamoVaultError::build("AttributeDefinition", e))
    };
    let key_element = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(|e| DynamoVaultError::build("KeySchemaElement", e))
    };
    let result = client
        .create_table()
        .table_name(table_name)
        .attribute_definitions(attribute(PK, ScalarAttributeType::S)?)
        .attribute_definitions(attribute(ID, ScalarAttributeType::N)?)
        .key_schema(key_element(PK, KeyType::Hash)?)
        .key_schema(key_element(ID, KeyType::Range)?)
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
        if started.elapsed() >= ACTIVE_WAIT {
            return Err(DynamoVaultError::NotActive {
                table: table_name.to_owned(),
                waited_secs: started.elapsed().as_secs(),
            });
        }
        tokio::time::sleep(ACTIVE_POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter() -> NewDeadLetter {
        NewDeadLetter {
            operation: ChangeOperation::Delete,
            user_id: "ad|Mozilla-LDAP|jdoe".into(),
            event_time_ms: 1_551_868_482_000,
            rp_url: "https://rp.example.com/events/update".into(),
            last_status: None,
            error: "timed out".into(),
            attempts: 3,
            failed_at_ms: 1_551_868_490_000,
        }
    }

    #[test]
    fn items_round_trip() {
        let item = letter_to_item(42, &letter());
        let back = item_to_letter(&item).unwrap();
        assert_eq!(back.id, DeadLetterId(42));
        assert_eq!(back.letter, letter());
        assert_eq!(back.replayed_at_ms, None);
        let mut with_status = letter();
        with_status.last_status = Some(503);
        let back = item_to_letter(&letter_to_item(7, &with_status)).unwrap();
        assert_eq!(back.letter.last_status, Some(503));
    }

    #[test]
    fn a_damaged_item_is_corrupt_and_named() {
        let mut item = letter_to_item(42, &letter());
        item.insert("operation".into(), AttributeValue::S("foxy".into()));
        let err = item_to_letter(&item).unwrap_err();
        assert!(
            matches!(&err, VaultError::Corrupt { key, reason } if key == "dead letter 42" && reason.contains("foxy")),
            "{err:?}"
        );
        let mut item = letter_to_item(43, &letter());
        item.remove("attempts");
        assert!(matches!(
            item_to_letter(&item),
            Err(VaultError::Corrupt { .. })
        ));
    }

    #[test]
    fn ids_strictly_increase_and_follow_the_clock() {
        let client = Client::from_conf(
            aws_sdk_dynamodb::Config::builder()
                .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
                .build(),
        );
        let store = DynamoDeadLetterStore::new(client, "t");
        let now_us = u64::try_from(cis_vault::now_ms()).unwrap() * 1000;
        let ids: Vec<u64> = (0..1000).map(|_| store.next_id()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        assert!(ids[0] >= now_us && ids[0] < now_us + 60_000_000);
        assert!(ids[999] < 1u64 << 53);
    }

    #[test]
    fn default_table_name() {
        assert_eq!(
            dead_letter_table_name("production"),
            "production-cis-notifier-dead-letters"
        );
    }
}
