use std::collections::HashMap;
use std::time::Instant;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    BillingMode, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndexUpdate, IndexStatus,
    KeySchemaElement, StreamViewType, TableDescription, TableStatus,
};
use serde::{Deserialize, Serialize};

use crate::error::DynamoVaultError;
use crate::layout::{INDEXED_ATTRIBUTES, VaultTableSpec, index_name, projection_all};

/// What one [`ensure_vault`] run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnsureReport {
    pub table_name: String,
    pub created_table: bool,
    /// GSIs created by this run (all four when the table was created).
    pub created_indexes: Vec<String>,
    /// The KEYS_ONLY stream was enabled by this run.
    pub enabled_stream: bool,
    /// Tag keys written by this run (missing or with another value before).
    pub tags_set: Vec<String>,
    /// Nothing was created or changed.
    pub unchanged: bool,
    /// Differences found and deliberately left alone: the curator never rebuilds a GSI with
    /// another key schema nor switches a consumer's stream to another view type.
    pub warnings: Vec<String>,
}

/// Idempotently ensures the vault table of `spec` (§8): creates it with the four GSIs, a
/// KEYS_ONLY stream and the tags when it is missing; on an existing table creates missing GSIs
/// (one at a time, as DynamoDB requires), enables the stream if it is off and (re)writes
/// missing or different tags. A second run changes nothing and says so.
///
/// Unlike the Python curator, the table is found by DescribeTable on its name (no 100-table
/// listing, §12-Q26), and errors are returned rather than logged and swallowed.
pub async fn ensure_vault(
    client: &Client,
    spec: &VaultTableSpec,
) -> Result<EnsureReport, DynamoVaultError> {
    let mut report = EnsureReport {
        table_name: spec.table_name.clone(),
        ..EnsureReport::default()
    };
    if describe(client, &spec.table_name).await?.is_none() && create_table(client, spec).await? {
        tracing::info!(table = %spec.table_name, "created the vault table");
        report.created_table = true;
        report.created_indexes = spec.index_names();
        report.enabled_stream = true;
        report.tags_set = spec.tags().iter().map(|(k, _)| (*k).to_owned()).collect();
    }
    let mut table = wait_active(client, spec).await?;

    for attribute in INDEXED_ATTRIBUTES {
        let name = index_name(&spec.table_name, attribute);
        let existing = table
            .global_secondary_indexes()
            .iter()
            .find(|gsi| gsi.index_name() == Some(name.as_str()));
        match existing {
            Some(gsi) => {
                let expected = VaultTableSpec::index_key_schema(attribute)?;
                if !same_key_schema(gsi.key_schema(), &expected) {
                    report.warnings.push(format!(
                        "index {name} has another key schema than {}; left as it is",
                        describe_schema(&expected)
                    ));
                }
            }
            None => {
                create_index(client, spec, &table, attribute).await?;
                tracing::info!(table = %spec.table_name, index = %name, "created a vault index");
                report.created_indexes.push(name);
                table = wait_active(client, spec).await?;
            }
        }
    }

    let stream = table.stream_specification();
    match stream {
        Some(s) if s.stream_enabled() => {
            if s.stream_view_type() != Some(&StreamViewType::KeysOnly) {
                report.warnings.push(format!(
                    "stream view type is {:?}, not KEYS_ONLY; left as it is",
                    s.stream_view_type()
                ));
            }
        }
        _ => {
            client
                .update_table()
                .table_name(&spec.table_name)
                .stream_specification(VaultTableSpec::stream_specification()?)
                .send()
                .await
                .map_err(|e| DynamoVaultError::aws("UpdateTable(stream)", &e))?;
            tracing::info!(table = %spec.table_name, "enabled the KEYS_ONLY stream");
            report.enabled_stream = true;
            table = wait_active(client, spec).await?;
        }
    }

    let arn = table.table_arn().ok_or_else(|| DynamoVaultError::Aws {
        operation: "DescribeTable",
        retryable: true,
        message: format!("table {} has no ARN", spec.table_name),
    })?;
    let present = list_tags(client, arn).await?;
    let missing: Vec<_> = spec
        .tags()
        .into_iter()
        .filter(|(k, v)| present.get(*k) != Some(v))
        .collect();
    if !missing.is_empty() {
        client
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(VaultTableSpec::sdk_tags(&missing)?))
            .send()
            .await
            .map_err(|e| DynamoVaultError::aws("TagResource", &e))?;
        for (key, _) in missing {
            tracing::info!(table = %spec.table_name, tag = key, "tagged the vault table");
            if !report.tags_set.iter().any(|k| k == key) {
                report.tags_set.push(key.to_owned());
            }
        }
    }

    report.unchanged = !report.created_table
        && report.created_indexes.is_empty()
        && !report.enabled_stream
        && report.tags_set.is_empty();
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

/// Returns false when another curator created the table in between (ResourceInUse).
async fn create_table(client: &Client, spec: &VaultTableSpec) -> Result<bool, DynamoVaultError> {
    let indexes = INDEXED_ATTRIBUTES
        .iter()
        .map(|attribute| spec.global_secondary_index(attribute))
        .collect::<Result<Vec<_>, _>>()?;
    let result = client
        .create_table()
        .table_name(&spec.table_name)
        .set_attribute_definitions(Some(spec.attribute_definitions()?))
        .set_key_schema(Some(VaultTableSpec::table_key_schema()?))
        .set_global_secondary_indexes(Some(indexes))
        .billing_mode(spec.billing_mode())
        .set_provisioned_throughput(spec.throughput()?)
        .stream_specification(VaultTableSpec::stream_specification()?)
        .set_tags(Some(VaultTableSpec::sdk_tags(&spec.tags())?))
        .send()
        .await;
    match result {
        Ok(_) => Ok(true),
        Err(e) if e.code() == Some("ResourceInUseException") => Ok(false),
        Err(e) => Err(DynamoVaultError::aws("CreateTable", &e)),
    }
}

async fn create_index(
    client: &Client,
    spec: &VaultTableSpec,
    table: &TableDescription,
    attribute: &str,
) -> Result<(), DynamoVaultError> {
    // A GSI on a provisioned table needs its own throughput; on an on-demand table it must
    // have none. What counts is how the existing table is billed, not the spec.
    let on_demand = table
        .billing_mode_summary()
        .and_then(|b| b.billing_mode())
        .is_some_and(|mode| *mode == BillingMode::PayPerRequest);
    let throughput = if on_demand {
        None
    } else {
        match spec.throughput()? {
            Some(t) => Some(t),
            None => VaultTableSpec::for_table(&spec.table_name, "").throughput()?,
        }
    };
    let action = CreateGlobalSecondaryIndexAction::builder()
        .index_name(index_name(&spec.table_name, attribute))
        .set_key_schema(Some(VaultTableSpec::index_key_schema(attribute)?))
        .projection(projection_all())
        .set_provisioned_throughput(throughput)
        .build()
        .map_err(|e| DynamoVaultError::build("CreateGlobalSecondaryIndexAction", e))?;
    client
        .update_table()
        .table_name(&spec.table_name)
        .set_attribute_definitions(Some(spec.attribute_definitions()?))
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder().create(action).build(),
        )
        .send()
        .await
        .map_err(|e| DynamoVaultError::aws("UpdateTable(create index)", &e))?;
    Ok(())
}

/// Waits until the table and every GSI are ACTIVE; UpdateTable is refused before that.
async fn wait_active(
    client: &Client,
    spec: &VaultTableSpec,
) -> Result<TableDescription, DynamoVaultError> {
    let started = Instant::now();
    loop {
        if let Some(table) = describe(client, &spec.table_name).await? {
            let table_active = table.table_status() == Some(&TableStatus::Active);
            let indexes_active = table
                .global_secondary_indexes()
                .iter()
                .all(|gsi| gsi.index_status().is_none_or(|s| *s == IndexStatus::Active));
            if table_active && indexes_active {
                return Ok(table);
            }
        }
        if started.elapsed() >= spec.max_wait {
            return Err(DynamoVaultError::NotActive {
                table: spec.table_name.clone(),
                waited_secs: started.elapsed().as_secs(),
            });
        }
        tokio::time::sleep(spec.poll_interval).await;
    }
}

async fn list_tags(
    client: &Client,
    arn: &str,
) -> Result<HashMap<String, String>, DynamoVaultError> {
    let mut tags = HashMap::new();
    let mut next: Option<String> = None;
    loop {
        let out = client
            .list_tags_of_resource()
            .resource_arn(arn)
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| DynamoVaultError::aws("ListTagsOfResource", &e))?;
        for tag in out.tags() {
            tags.insert(tag.key().to_owned(), tag.value().to_owned());
        }
        match out.next_token {
            Some(token) if !token.is_empty() => next = Some(token),
            _ => return Ok(tags),
        }
    }
}

fn same_key_schema(actual: &[KeySchemaElement], expected: &[KeySchemaElement]) -> bool {
    actual.len() == expected.len()
        && expected.iter().all(|e| {
            actual
                .iter()
                .any(|a| a.attribute_name() == e.attribute_name() && a.key_type() == e.key_type())
        })
}

fn describe_schema(schema: &[KeySchemaElement]) -> String {
    schema
        .iter()
        .map(|k| format!("{} {}", k.key_type().as_str(), k.attribute_name()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What one [`ensure_vault_tables`] run did to each table: the curator Lambda's answer and the
/// output of `cis vault ensure`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CuratorReport {
    pub vault: EnsureReport,
    pub dead_letters: crate::DeadLetterTableReport,
    pub ingest_status: crate::IngestStatusReport,
    /// Nothing was created or changed on any table.
    pub unchanged: bool,
}

/// The curator's whole routine: the vault of `spec` ([`ensure_vault`]), the notifier's
/// dead-letter table and the ingest outcome table, each idempotently.
pub async fn ensure_vault_tables(
    client: &Client,
    spec: &VaultTableSpec,
    dead_letter_table: &str,
    ingest_status_table: &str,
) -> Result<CuratorReport, DynamoVaultError> {
    let vault = ensure_vault(client, spec).await?;
    let dead_letters = crate::ensure_dead_letter_table(client, dead_letter_table).await?;
    let ingest_status = crate::ensure_ingest_status_table(client, ingest_status_table).await?;
    let unchanged = vault.unchanged && dead_letters.unchanged && ingest_status.unchanged;
    Ok(CuratorReport {
        vault,
        dead_letters,
        ingest_status,
        unchanged,
    })
}
