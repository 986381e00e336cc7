use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use cis_vault::{VaultError, VaultResult};
use tokio::task::JoinSet;

use crate::error::vault_error;
use crate::item::Item;

/// A Scan split into `segments` segments run concurrently, each followed to its end (§7.7).
/// Unlike the Python CIS (B14), a segment that fails fails the whole scan: the result is the
/// complete table or an error.
#[derive(Clone, Debug, Default)]
pub struct ParallelScan {
    pub table_name: String,
    pub segments: u32,
    pub projection: Option<String>,
    pub filter: Option<String>,
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttributeValue>,
}

impl ParallelScan {
    pub fn new(table_name: impl Into<String>, segments: u32) -> Self {
        Self {
            table_name: table_name.into(),
            segments: segments.max(1),
            ..Self::default()
        }
    }

    /// Every matching item, mapped by `map` inside the segment tasks (so whole pages of raw
    /// items are not kept around). The first failing segment or `map` error aborts the other
    /// segments and is returned.
    pub async fn run<T, F>(&self, client: &Client, map: F) -> VaultResult<Vec<T>>
    where
        T: Send + 'static,
        F: Fn(Item) -> VaultResult<T> + Send + Sync + 'static,
    {
        let map = Arc::new(map);
        let shared = Arc::new(self.clone());
        let total = i32::try_from(self.segments.max(1))
            .map_err(|_| VaultError::invalid("scan_segments", "too many segments"))?;
        let mut tasks = JoinSet::new();
        for segment in 0..total {
            let client = client.clone();
            let map = Arc::clone(&map);
            let scan = Arc::clone(&shared);
            tasks.spawn(async move { scan.segment(&client, segment, total, &*map).await });
        }
        let mut all = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let result = joined.map_err(|e| {
                VaultError::unavailable(false, format!("scan segment task failed: {e}"))
            })?;
            // Returning drops `tasks`, which aborts the segments still running.
            all.extend(result?);
        }
        Ok(all)
    }

    async fn segment<T>(
        &self,
        client: &Client,
        segment: i32,
        total: i32,
        map: &(dyn Fn(Item) -> VaultResult<T> + Send + Sync),
    ) -> VaultResult<Vec<T>> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut request = client
                .scan()
                .table_name(&self.table_name)
                .segment(segment)
                .total_segments(total)
                .set_projection_expression(self.projection.clone())
                .set_filter_expression(self.filter.clone())
                .set_exclusive_start_key(start.take());
            if !self.names.is_empty() {
                request = request.set_expression_attribute_names(Some(self.names.clone()));
            }
            if !self.values.is_empty() {
                request = request.set_expression_attribute_values(Some(self.values.clone()));
            }
            let page = request
                .send()
                .await
                .map_err(|e| match vault_error("Scan", &e) {
                    VaultError::Unavailable { retryable, message } => VaultError::unavailable(
                        retryable,
                        format!("scan segment {segment}/{total}: {message}"),
                    ),
                    other => other,
                })?;
            let last = page.last_evaluated_key().cloned();
            for item in page.items.unwrap_or_default() {
                out.push(map(item)?);
            }
            match last {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(out),
            }
        }
    }
}
