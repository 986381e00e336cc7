use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use cis_vault::{
    AttributeCriterion, AttributeQuery, BoxFuture, Page, PageRequest, PageToken, ProfileRecord,
    ProfileStore, SequenceNumber, StoredProfile, UserIdEntry, UserIdFilter, VaultError,
    VaultResult, WriteOp,
};
use serde_json::Value;

use crate::config::{DynamoVaultConfig, build_client};
use crate::error::vault_error;
use crate::item::{
    Item, active_attr, attribute_value_to_json, item_to_stored_profile, json_to_attribute_value,
    new_sequence_number, record_to_item, string_attr,
};
use crate::layout::index_name;
use crate::retry::backoff;
use crate::scan::ParallelScan;

/// AWS caps a transaction at 100 actions and 4 MB; the size is estimated, so keep a margin.
const MAX_TRANSACTION_ITEMS: usize = 100;
const MAX_TRANSACTION_BYTES: usize = 3 * 1024 * 1024;
/// Rounds of a transaction cancelled only by conflicts or throttling before giving up.
const MAX_TRANSACTION_ROUNDS: u32 = 8;
/// Upper bound of one page of `list_profiles` / `find_by_attributes`.
const MAX_PAGE: usize = 1000;

const UPDATE_EXPRESSION: &str = "SET #profile = :profile, #primary_email = :primary_email, \
     #sequence_number = :sequence_number, #user_uuid = :user_uuid, \
     #primary_username = :primary_username, #active = :active, #flat_profile = :flat_profile";

/// The identity vault on DynamoDB (§7): one item per user in `<env>-identity-vault`, the four
/// GSIs for lookups, conditional writes on `sequence_number` (DECISIONS B5).
#[derive(Clone, Debug)]
pub struct DynamoVault {
    client: Client,
    table_name: String,
    scan_segments: u32,
}

impl DynamoVault {
    pub fn new(client: Client, config: &DynamoVaultConfig) -> Self {
        Self {
            client,
            table_name: config.table_name.clone(),
            scan_segments: config.scan_segments.max(1),
        }
    }

    /// Builds the client from the standard AWS chain and the config's overrides.
    pub async fn connect(config: &DynamoVaultConfig) -> Self {
        Self::new(build_client(config).await, config)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table_name(&self) -> &str {
        &self.table_name
    }

    async fn get(&self, user_id: &str) -> VaultResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table_name)
            .key("id", AttributeValue::S(user_id.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| vault_error("GetItem", &e))?;
        Ok(out.item.filter(|item| !item.is_empty()))
    }

    /// Every item of a GSI partition, following `LastEvaluatedKey` to the end, sorted by id.
    async fn query_index(&self, attribute: &str, value: &str) -> VaultResult<Vec<StoredProfile>> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table_name)
                .index_name(index_name(&self.table_name, attribute))
                .key_condition_expression("#k = :v")
                .expression_attribute_names("#k", attribute)
                .expression_attribute_values(":v", AttributeValue::S(value.to_owned()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| vault_error("Query", &e))?;
            let last = page.last_evaluated_key().cloned();
            for item in page.items() {
                out.push(item_to_stored_profile(item)?);
            }
            match last {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        out.sort_by(|a, b| a.user_id.cmp(&b.user_id));
        Ok(out)
    }

    /// What a failed condition means: `NotFound` when the user is gone (`must_exist`),
    /// `Conflict` with the stored sequence number otherwise. `old` is the item DynamoDB returned
    /// with the failure (ALL_OLD); emulators that do not return it cost one extra read.
    async fn condition_failed(
        &self,
        user_id: &str,
        old: Option<&Item>,
        must_exist: bool,
    ) -> VaultError {
        let current = match old.filter(|item| !item.is_empty()) {
            Some(item) => Some(item.clone()),
            None => match self.get(user_id).await {
                Ok(item) => item,
                Err(err) => return err,
            },
        };
        match current {
            None if must_exist => VaultError::not_found(user_id),
            item => VaultError::Conflict {
                user_id: user_id.to_owned(),
                current: item
                    .as_ref()
                    .and_then(|i| string_attr(i, "sequence_number"))
                    .map(SequenceNumber::new),
            },
        }
    }

    async fn put_new(&self, record: ProfileRecord) -> VaultResult<SequenceNumber> {
        let sequence_number = new_sequence_number();
        let item = record_to_item(&record, &sequence_number)?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table_name)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(id)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(sequence_number),
            Err(SdkError::ServiceError(service)) => match service.err() {
                PutItemError::ConditionalCheckFailedException(ccf) => Err(self
                    .condition_failed(&record.user_id, ccf.item(), false)
                    .await),
                _ => Err(vault_error("PutItem", &SdkError::ServiceError(service))),
            },
            Err(e) => Err(vault_error("PutItem", &e)),
        }
    }

    async fn update_existing(
        &self,
        record: ProfileRecord,
        expected: &SequenceNumber,
    ) -> VaultResult<SequenceNumber> {
        let sequence_number = new_sequence_number();
        let (names, values) = update_parts(&record, &sequence_number, expected)?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table_name)
            .key("id", AttributeValue::S(record.user_id.clone()))
            .update_expression(UPDATE_EXPRESSION)
            .condition_expression(UPDATE_CONDITION)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(sequence_number),
            Err(SdkError::ServiceError(service)) => match service.err() {
                UpdateItemError::ConditionalCheckFailedException(ccf) => Err(self
                    .condition_failed(&record.user_id, ccf.item(), true)
                    .await),
                _ => Err(vault_error("UpdateItem", &SdkError::ServiceError(service))),
            },
            Err(e) => Err(vault_error("UpdateItem", &e)),
        }
    }

    async fn remove(&self, user_id: &str, expected: Option<&SequenceNumber>) -> VaultResult<()> {
        if user_id.is_empty() {
            return Err(VaultError::invalid("user_id", "must not be empty"));
        }
        let mut request = self
            .client
            .delete_item()
            .table_name(&self.table_name)
            .key("id", AttributeValue::S(user_id.to_owned()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        request = match expected {
            Some(expected) => request
                .condition_expression("attribute_exists(#id) AND #sn = :expected")
                .expression_attribute_names("#id", "id")
                .expression_attribute_names("#sn", "sequence_number")
                .expression_attribute_values(
                    ":expected",
                    AttributeValue::S(expected.as_str().to_owned()),
                ),
            None => request
                .condition_expression("attribute_exists(#id)")
                .expression_attribute_names("#id", "id"),
        };
        match request.send().await {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(service)) => match service.err() {
                DeleteItemError::ConditionalCheckFailedException(ccf) => {
                    Err(self.condition_failed(user_id, ccf.item(), true).await)
                }
                _ => Err(vault_error("DeleteItem", &SdkError::ServiceError(service))),
            },
            Err(e) => Err(vault_error("DeleteItem", &e)),
        }
    }

    /// Applies `ops` in order: consecutive ops are grouped into transactions of at most 100
    /// actions (and about 3 MB), never with the same user twice, so duplicates are applied one
    /// after the other (DECISIONS B6).
    async fn batch(&self, ops: Vec<WriteOp>) -> Vec<VaultResult<SequenceNumber>> {
        let mut results: Vec<Option<VaultResult<SequenceNumber>>> =
            (0..ops.len()).map(|_| None).collect();
        let mut chunk: Vec<Prepared> = Vec::new();
        let mut chunk_users: HashSet<String> = HashSet::new();
        let mut chunk_bytes = 0usize;
        for (index, op) in ops.into_iter().enumerate() {
            let prepared = match self.prepare(index, op) {
                Ok(prepared) => prepared,
                Err(err) => {
                    results[index] = Some(Err(err));
                    continue;
                }
            };
            let full = chunk.len() >= MAX_TRANSACTION_ITEMS
                || (!chunk.is_empty() && chunk_bytes + prepared.bytes > MAX_TRANSACTION_BYTES)
                || chunk_users.contains(&prepared.user_id);
            if full {
                self.run_transaction(std::mem::take(&mut chunk), &mut results)
                    .await;
                chunk_users.clear();
                chunk_bytes = 0;
            }
            chunk_users.insert(prepared.user_id.clone());
            chunk_bytes += prepared.bytes;
            chunk.push(prepared);
        }
        self.run_transaction(chunk, &mut results).await;
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| Err(VaultError::unavailable(false, "write was not attempted")))
            })
            .collect()
    }

    fn prepare(&self, index: usize, op: WriteOp) -> VaultResult<Prepared> {
        let sequence_number = new_sequence_number();
        let (record, action, must_exist) = match op {
            WriteOp::Create(record) => {
                let item = record_to_item(&record, &sequence_number)?;
                let put = Put::builder()
                    .table_name(&self.table_name)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(id)")
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    )
                    .build()
                    .map_err(|e| VaultError::invalid("profile", e.to_string()))?;
                (record, TransactWriteItem::builder().put(put).build(), false)
            }
            WriteOp::Update { record, expected } => {
                let (names, values) = update_parts(&record, &sequence_number, &expected)?;
                let update = Update::builder()
                    .table_name(&self.table_name)
                    .key("id", AttributeValue::S(record.user_id.clone()))
                    .update_expression(UPDATE_EXPRESSION)
                    .condition_expression(UPDATE_CONDITION)
                    .set_expression_attribute_names(Some(names))
                    .set_expression_attribute_values(Some(values))
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    )
                    .build()
                    .map_err(|e| VaultError::invalid("profile", e.to_string()))?;
                (
                    record,
                    TransactWriteItem::builder().update(update).build(),
                    true,
                )
            }
        };
        // The profile is stored twice (JSON text and flat map); a rough but safe estimate.
        let bytes = 2 * serde_json::to_string(&record.profile).map_or(0, |s| s.len()) + 1024;
        Ok(Prepared {
            index,
            user_id: record.user_id,
            sequence_number,
            action,
            must_exist,
            bytes,
        })
    }

    /// One chunk: a transaction, repeated without the actions that failed their condition (and
    /// after a backoff when conflicts or throttling cancelled it) until it commits or nothing is
    /// left.
    async fn run_transaction(
        &self,
        mut pending: Vec<Prepared>,
        results: &mut [Option<VaultResult<SequenceNumber>>],
    ) {
        let mut round = 0u32;
        while !pending.is_empty() {
            let items = pending.iter().map(|p| p.action.clone()).collect();
            let outcome = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await;
            let cancel = match outcome {
                Ok(_) => {
                    for p in pending.drain(..) {
                        results[p.index] = Some(Ok(p.sequence_number));
                    }
                    return;
                }
                Err(SdkError::ServiceError(service)) => match service.err() {
                    TransactWriteItemsError::TransactionCanceledException(tce) => {
                        tce.cancellation_reasons().to_vec()
                    }
                    // One oversized or malformed action fails the whole request; applied one
                    // by one, only that action fails (DECISIONS B6).
                    _ if pending.len() > 1
                        && service.err().code() == Some("ValidationException") =>
                    {
                        for p in pending.drain(..) {
                            let index = p.index;
                            results[index] = Some(self.apply_single(p).await);
                        }
                        return;
                    }
                    _ => {
                        let err = SdkError::ServiceError(service);
                        fail_all(&mut pending, results, |_| {
                            vault_error("TransactWriteItems", &err)
                        });
                        return;
                    }
                },
                Err(e) => {
                    fail_all(&mut pending, results, |_| {
                        vault_error("TransactWriteItems", &e)
                    });
                    return;
                }
            };
            if cancel.len() != pending.len() {
                // Without per-action reasons (some emulators) the actions are applied one by
                // one, which gives each its own result all the same.
                for p in pending.drain(..) {
                    let index = p.index;
                    results[index] = Some(self.apply_single(p).await);
                }
                return;
            }
            let mut again = Vec::new();
            let mut transient = false;
            for (p, reason) in pending.drain(..).zip(cancel) {
                match reason.code() {
                    None | Some("None") => again.push(p),
                    Some("ConditionalCheckFailed") => {
                        let err = self
                            .condition_failed(&p.user_id, reason.item(), p.must_exist)
                            .await;
                        results[p.index] = Some(Err(err));
                    }
                    Some(
                        "TransactionConflict"
                        | "ThrottlingError"
                        | "ProvisionedThroughputExceeded"
                        | "RequestLimitExceeded",
                    ) => {
                        transient = true;
                        again.push(p);
                    }
                    Some(code) => {
                        let message = format!(
                            "transaction action refused: {code}: {}",
                            reason.message().unwrap_or("")
                        );
                        results[p.index] = Some(Err(VaultError::unavailable(false, message)));
                    }
                }
            }
            pending = again;
            if transient {
                round += 1;
                if round > MAX_TRANSACTION_ROUNDS {
                    fail_all(&mut pending, results, |_| {
                        VaultError::unavailable(true, "transaction kept conflicting or throttled")
                    });
                    return;
                }
                tokio::time::sleep(backoff(round)).await;
            }
        }
    }

    async fn apply_single(&self, p: Prepared) -> VaultResult<SequenceNumber> {
        let result = self
            .client
            .transact_write_items()
            .transact_items(p.action)
            .send()
            .await;
        match result {
            Ok(_) => Ok(p.sequence_number),
            Err(e) if e.code() == Some("TransactionCanceledException") => {
                let old = match &e {
                    SdkError::ServiceError(service) => match service.err() {
                        TransactWriteItemsError::TransactionCanceledException(tce) => tce
                            .cancellation_reasons()
                            .first()
                            .and_then(|r| r.item().cloned()),
                        _ => None,
                    },
                    _ => None,
                };
                Err(self
                    .condition_failed(&p.user_id, old.as_ref(), p.must_exist)
                    .await)
            }
            Err(e) => Err(vault_error("TransactWriteItems", &e)),
        }
    }

    /// One page of a filtered scan from `after`, kept items mapped by `keep`. Stops at `limit`
    /// kept items; the token is then the id of the last one, which is a valid
    /// `ExclusiveStartKey` (as the Python `nextPage` was).
    async fn scan_page(
        &self,
        filter: Option<Filter>,
        after: Option<PageToken>,
        limit: usize,
        keep: impl Fn(&Item) -> VaultResult<Option<StoredProfile>>,
    ) -> VaultResult<Page<StoredProfile>> {
        if limit == 0 {
            return Err(VaultError::invalid("limit", "must be at least 1"));
        }
        let limit = limit.min(MAX_PAGE);
        let mut items = Vec::new();
        let mut start =
            after.map(|t| HashMap::from([("id".to_owned(), AttributeValue::S(t.into_string()))]));
        loop {
            let mut request = self
                .client
                .scan()
                .table_name(&self.table_name)
                .set_exclusive_start_key(start.take());
            match &filter {
                Some(f) => {
                    request = request
                        .filter_expression(&f.expression)
                        .set_expression_attribute_names(Some(f.names.clone()))
                        .set_expression_attribute_values(Some(f.values.clone()));
                }
                // Without a filter every evaluated item is kept, so DynamoDB can stop exactly.
                None => {
                    request = request.limit(i32::try_from(limit - items.len()).unwrap_or(i32::MAX));
                }
            }
            let page = request.send().await.map_err(|e| vault_error("Scan", &e))?;
            let last = page.last_evaluated_key().cloned().filter(|k| !k.is_empty());
            let page_items = page.items.unwrap_or_default();
            let count = page_items.len();
            for (position, item) in page_items.into_iter().enumerate() {
                let Some(profile) = keep(&item)? else {
                    continue;
                };
                let user_id = profile.user_id.clone();
                items.push(profile);
                if items.len() == limit {
                    let at_end = position + 1 == count && last.is_none();
                    let next = (!at_end).then(|| PageToken::new(user_id));
                    return Ok(Page { items, next });
                }
            }
            match last {
                Some(key) => start = Some(key),
                None => return Ok(Page { items, next: None }),
            }
        }
    }
}

const UPDATE_CONDITION: &str = "attribute_exists(#id) AND #sequence_number = :expected";

fn update_parts(
    record: &ProfileRecord,
    sequence_number: &SequenceNumber,
    expected: &SequenceNumber,
) -> VaultResult<(HashMap<String, String>, HashMap<String, AttributeValue>)> {
    let mut item = record_to_item(record, sequence_number)?;
    item.remove("id");
    let mut names: HashMap<String, String> = HashMap::from([("#id".to_owned(), "id".to_owned())]);
    let mut values = HashMap::from([(
        ":expected".to_owned(),
        AttributeValue::S(expected.as_str().to_owned()),
    )]);
    for (name, value) in item {
        names.insert(format!("#{name}"), name.clone());
        values.insert(format!(":{name}"), value);
    }
    Ok((names, values))
}

fn fail_all(
    pending: &mut Vec<Prepared>,
    results: &mut [Option<VaultResult<SequenceNumber>>],
    err: impl Fn(&Prepared) -> VaultError,
) {
    for p in pending.drain(..) {
        results[p.index] = Some(Err(err(&p)));
    }
}

struct Prepared {
    index: usize,
    user_id: String,
    sequence_number: SequenceNumber,
    action: TransactWriteItem,
    must_exist: bool,
    bytes: usize,
}

#[derive(Clone, Debug, Default)]
struct Filter {
    expression: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Filter {
    fn and(&mut self, clause: String) {
        if self.expression.is_empty() {
            self.expression = clause;
        } else {
            self.expression = format!("{} AND {clause}", self.expression);
        }
    }

    fn active(&mut self, active: Option<bool>) {
        if let Some(active) = active {
            self.names.insert("#active".into(), "active".into());
            self.values
                .insert(":active".into(), AttributeValue::Bool(active));
            self.and("#active = :active".into());
        }
    }

    fn build(self) -> Option<Self> {
        (!self.expression.is_empty()).then_some(self)
    }
}

/// The server-side part of an attribute query: every criterion on a scalar becomes a filter
/// clause on `flat_profile`. Results are checked again with [`AttributeQuery::matches`], which
/// stays the definition (JSON equality, maps and lists).
fn attribute_filter(query: &AttributeQuery) -> Option<Filter> {
    let mut filter = Filter::default();
    filter.names.insert("#fp".into(), "flat_profile".into());
    for (i, criterion) in query.criteria.iter().enumerate() {
        let mut path = String::from("#fp");
        for (j, segment) in criterion.path().iter().enumerate() {
            let name = format!("#c{i}_{j}");
            path.push('.');
            path.push_str(&name);
            filter.names.insert(name, segment.clone());
        }
        let value_name = format!(":c{i}");
        let scalar = |v: &Value| !matches!(v, Value::Object(_) | Value::Array(_));
        let clause = match criterion {
            // Equality with NULL is spelled as a type test, which DynamoDB documents.
            AttributeCriterion::Equals {
                value: Value::Null, ..
            } => {
                filter
                    .values
                    .insert(":null_type".into(), AttributeValue::S("NULL".into()));
                format!("attribute_type({path}, :null_type)")
            }
            AttributeCriterion::NotEquals {
                value: Value::Null, ..
            } => {
                filter
                    .values
                    .insert(":null_type".into(), AttributeValue::S("NULL".into()));
                format!("NOT attribute_type({path}, :null_type)")
            }
            AttributeCriterion::Equals { value, .. } if scalar(value) => {
                filter
                    .values
                    .insert(value_name.clone(), json_to_attribute_value(value));
                format!("{path} = {value_name}")
            }
            AttributeCriterion::NotEquals { value, .. } if scalar(value) => {
                filter
                    .values
                    .insert(value_name.clone(), json_to_attribute_value(value));
                format!("(attribute_not_exists({path}) OR {path} <> {value_name})")
            }
            AttributeCriterion::Exists { .. } => format!("attribute_exists({path})"),
            AttributeCriterion::NotExists { .. } => format!("attribute_not_exists({path})"),
            _ => continue,
        };
        filter.and(clause);
    }
    filter.active(query.active);
    if filter.expression.is_empty() {
        return None;
    }
    // Names only referenced by skipped criteria would make DynamoDB refuse the request.
    let used: HashSet<String> = filter
        .expression
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '#' || c == '_'))
        .filter(|t| t.starts_with('#'))
        .map(str::to_owned)
        .collect();
    filter.names.retain(|k, _| used.contains(k));
    Some(filter)
}

impl ProfileStore for DynamoVault {
    fn get_by_user_id<'a>(
        &'a self,
        user_id: &'a str,
    ) -> BoxFuture<'a, VaultResult<Option<StoredProfile>>> {
        Box::pin(async move {
            if user_id.is_empty() {
                return Ok(None);
            }
            self.get(user_id)
                .await?
                .as_ref()
                .map(item_to_stored_profile)
                .transpose()
        })
    }

    fn find_by_uuid<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, VaultResult<Vec<StoredProfile>>> {
        Box::pin(self.lookup("user_uuid", uuid))
    }

    fn find_by_primary_email<'a>(
        &'a self,
        primary_email: &'a str,
    ) -> BoxFuture<'a, VaultResult<Vec<StoredProfile>>> {
        Box::pin(self.lookup("primary_email", primary_email))
    }

    fn find_by_primary_username<'a>(
        &'a self,
        primary_username: &'a str,
    ) -> BoxFuture<'a, VaultResult<Vec<StoredProfile>>> {
        Box::pin(self.lookup("primary_username", primary_username))
    }

    fn find_by_sequence_number<'a>(
        &'a self,
        sequence_number: &'a SequenceNumber,
    ) -> BoxFuture<'a, VaultResult<Option<StoredProfile>>> {
        Box::pin(async move {
            Ok(self
                .lookup("sequence_number", sequence_number.as_str())
                .await?
                .into_iter()
                .next())
        })
    }

    fn create(&self, record: ProfileRecord) -> BoxFuture<'_, VaultResult<SequenceNumber>> {
        Box::pin(self.put_new(record))
    }

    fn update<'a>(
        &'a self,
        record: ProfileRecord,
        expected: &'a SequenceNumber,
    ) -> BoxFuture<'a, VaultResult<SequenceNumber>> {
        Box::pin(self.update_existing(record, expected))
    }

    fn write_batch(&self, ops: Vec<WriteOp>) -> BoxFuture<'_, Vec<VaultResult<SequenceNumber>>> {
        Box::pin(self.batch(ops))
    }

    fn delete<'a>(
        &'a self,
        user_id: &'a str,
        expected: Option<&'a SequenceNumber>,
    ) -> BoxFuture<'a, VaultResult<()>> {
        Box::pin(self.remove(user_id, expected))
    }

    fn list_profiles(
        &self,
        request: PageRequest,
    ) -> BoxFuture<'_, VaultResult<Page<StoredProfile>>> {
        Box::pin(async move {
            let mut filter = Filter::default();
            filter.active(request.active);
            self.scan_page(filter.build(), request.after, request.limit, |item| {
                item_to_stored_profile(item).map(Some)
            })
            .await
        })
    }

    fn list_user_ids(&self, filter: UserIdFilter) -> BoxFuture<'_, VaultResult<Vec<UserIdEntry>>> {
        Box::pin(async move {
            let mut scan = ParallelScan::new(&self.table_name, self.scan_segments);
            // Only the four small attributes: the profile is what makes a full scan slow.
            scan.projection = Some("#id, #user_uuid, #primary_email, #active".into());
            let mut f = Filter::default();
            for name in ["id", "user_uuid", "primary_email", "active"] {
                f.names.insert(format!("#{name}"), name.into());
            }
            if let Some(prefix) = filter.user_id_prefix.filter(|p| !p.is_empty()) {
                f.values.insert(":prefix".into(), AttributeValue::S(prefix));
                f.and("begins_with(#id, :prefix)".into());
            }
            f.active(filter.active);
            scan.names = f.names;
            scan.values = f.values;
            scan.filter = (!f.expression.is_empty()).then_some(f.expression);
            scan.run(&self.client, |item| user_id_entry(&item)).await
        })
    }

    fn find_by_attributes(
        &self,
        query: AttributeQuery,
    ) -> BoxFuture<'_, VaultResult<Page<StoredProfile>>> {
        Box::pin(async move {
            query.validate()?;
            let filter = attribute_filter(&query);
            self.scan_page(filter, query.after.clone(), query.limit, |item| {
                let flat = match item.get("flat_profile").and_then(attribute_value_to_json) {
                    Some(Value::Object(map)) => map,
                    _ => serde_json::Map::new(),
                };
                if query.matches(active_attr(item), &flat) {
                    item_to_stored_profile(item).map(Some)
                } else {
                    Ok(None)
                }
            })
            .await
        })
    }
}

impl DynamoVault {
    async fn lookup(&self, attribute: &str, value: &str) -> VaultResult<Vec<StoredProfile>> {
        // An empty key is not a valid GSI key; nothing can be stored under it.
        if value.is_empty() {
            return Ok(Vec::new());
        }
        self.query_index(attribute, value).await
    }
}

fn user_id_entry(item: &Item) -> VaultResult<UserIdEntry> {
    let user_id = string_attr(item, "id")
        .ok_or_else(|| VaultError::corrupt("<unknown>", "no string `id` attribute"))?;
    let text = |name: &str| {
        string_attr(item, name)
            .map(str::to_owned)
            .ok_or_else(|| VaultError::corrupt(user_id, format!("no string `{name}` attribute")))
    };
    Ok(UserIdEntry {
        user_id: user_id.to_owned(),
        uuid: text("user_uuid")?,
        primary_email: text("primary_email")?,
        active: active_attr(item),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn attribute_filters_name_every_path_segment() {
        let query = AttributeQuery {
            criteria: vec![
                AttributeCriterion::Equals {
                    path: vec!["staff_information".into(), "staff".into()],
                    value: json!(true),
                },
                AttributeCriterion::NotExists {
                    path: vec![
                        "access_information".into(),
                        "ldap".into(),
                        "team.moco".into(),
                    ],
                },
                AttributeCriterion::Equals {
                    path: vec!["tags".into()],
                    value: json!(["a"]),
                },
            ],
            active: Some(true),
            after: None,
            limit: 10,
        };
        let filter = attribute_filter(&query).unwrap();
        assert_eq!(
            filter.expression,
            "#fp.#c0_0.#c0_1 = :c0 AND attribute_not_exists(#fp.#c1_0.#c1_1.#c1_2) AND #active = :active"
        );
        assert_eq!(filter.names["#c1_2"], "team.moco");
        assert!(
            !filter.names.contains_key("#c2_0"),
            "unused names are dropped"
        );
        assert_eq!(filter.values[":c0"], AttributeValue::Bool(true));
    }

    #[test]
    fn update_sets_every_attribute_but_the_key() {
        let profile = json!({
            "user_id": {"value": "u|1"}, "uuid": {"value": "x"},
            "primary_email": {"value": "e@x"}, "primary_username": {"value": "r--x"},
            "active": {"value": false}
        });
        let record = ProfileRecord::from_profile(profile, serde_json::Map::new()).unwrap();
        let (names, values) = update_parts(
            &record,
            &SequenceNumber::new("2"),
            &SequenceNumber::new("1"),
        )
        .unwrap();
        for name in names.keys() {
            assert!(
                UPDATE_EXPRESSION.contains(name.as_str())
                    || UPDATE_CONDITION.contains(name.as_str()),
                "{name}"
            );
        }
        assert_eq!(values.len(), 8);
        assert_eq!(values[":expected"], AttributeValue::S("1".into()));
        assert_eq!(values[":sequence_number"], AttributeValue::S("2".into()));
        assert_eq!(values[":active"], AttributeValue::Bool(false));
    }
}
