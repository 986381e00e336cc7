//! An in-memory vault for unit tests of the layers above. It keeps the same semantics as the
//! durable backends (it passes the same conformance suite), including storing profiles as JSON
//! text so a corrupt record can be planted and must be reported.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::error::{VaultError, VaultResult};
use crate::model::{
    AttributeQuery, ChangeCursor, ChangeEvent, ChangeOperation, DeadLetter, DeadLetterFilter,
    DeadLetterId, IngestId, IngestItem, IngestOutcome, IngestStatus, NewDeadLetter, Page,
    PageRequest, PageToken, ProfileRecord, SequenceNumber, StoredProfile, UserIdEntry,
    UserIdFilter, WriteOp,
};
use crate::store::{BoxFuture, ChangeFeed, DeadLetterStore, IngestQueue, ProfileStore};
use crate::{now_ms, parse_ingest_id};

#[derive(Clone)]
struct Row {
    uuid: String,
    primary_email: String,
    primary_username: String,
    active: bool,
    sequence_number: SequenceNumber,
    profile_json: String,
    flat_profile: Map<String, Value>,
}

impl Row {
    fn to_stored(&self, user_id: &str) -> VaultResult<StoredProfile> {
        let profile = serde_json::from_str(&self.profile_json)
            .map_err(|e| VaultError::corrupt(user_id, format!("profile is not JSON: {e}")))?;
        Ok(StoredProfile {
            user_id: user_id.to_owned(),
            uuid: self.uuid.clone(),
            primary_email: self.primary_email.clone(),
            primary_username: self.primary_username.clone(),
            active: self.active,
            sequence_number: self.sequence_number.clone(),
            profile,
        })
    }
}

struct QueueRow {
    user_id: String,
    profile: Value,
    enqueued_ms: i64,
    attempts: u32,
    leased_until_ms: Option<i64>,
    finished: Option<IngestOutcome>,
}

#[derive(Default)]
struct State {
    profiles: BTreeMap<String, Row>,
    changes: Vec<ChangeEvent>,
    last_cursor: u64,
    checkpoints: HashMap<String, ChangeCursor>,
    queue: BTreeMap<u64, QueueRow>,
    last_queue_id: u64,
    dead_letters: BTreeMap<u64, DeadLetter>,
    last_dead_letter_id: u64,
}

impl State {
    /// Records the change event and returns its cursor, which doubles as the write's sequence
    /// number (unique and monotonic, like the SQLite backend).
    fn record_change(
        &mut self,
        operation: ChangeOperation,
        user_id: &str,
        with_sequence_number: bool,
    ) -> u64 {
        self.last_cursor += 1;
        let cursor = self.last_cursor;
        self.changes.push(ChangeEvent {
            cursor: ChangeCursor(cursor),
            operation,
            user_id: user_id.to_owned(),
            sequence_number: with_sequence_number.then(|| SequenceNumber::from(cursor)),
            time_ms: now_ms(),
        });
        cursor
    }

    fn apply(&mut self, op: WriteOp) -> VaultResult<SequenceNumber> {
        let (record, expected, operation) = match op {
            WriteOp::Create(record) => (record, None, ChangeOperation::Create),
            WriteOp::Update { record, expected } => {
                (record, Some(expected), ChangeOperation::Update)
            }
        };
        record.validate()?;
        match (self.profiles.get(&record.user_id), &expected) {
            (Some(existing), None) => {
                return Err(VaultError::Conflict {
                    user_id: record.user_id,
                    current: Some(existing.sequence_number.clone()),
                });
            }
            (None, Some(_)) => return Err(VaultError::not_found(record.user_id)),
            (Some(existing), Some(expected)) if existing.sequence_number != *expected => {
                return Err(VaultError::Conflict {
                    user_id: record.user_id,
                    current: Some(existing.sequence_number.clone()),
                });
            }
            _ => {}
        }
        let profile_json = serde_json::to_string(&record.profile)
            .map_err(|e| VaultError::invalid("profile", e.to_string()))?;
        let cursor = self.record_change(operation, &record.user_id, true);
        let sequence_number = SequenceNumber::from(cursor);
        self.profiles.insert(
            record.user_id,
            Row {
                uuid: record.uuid,
                primary_email: record.primary_email,
                primary_username: record.primary_username,
                active: record.active,
                sequence_number: sequence_number.clone(),
                profile_json,
                flat_profile: record.flat_profile,
            },
        );
        Ok(sequence_number)
    }

    fn find_by(&self, key: impl Fn(&Row) -> bool) -> VaultResult<Vec<StoredProfile>> {
        self.profiles
            .iter()
            .filter(|(_, row)| key(row))
            .map(|(user_id, row)| row.to_stored(user_id))
            .collect()
    }

    fn page(
        &self,
        after: Option<&PageToken>,
        limit: usize,
        keep: impl Fn(&Row) -> bool,
    ) -> VaultResult<Page<StoredProfile>> {
        if limit == 0 {
            return Err(VaultError::invalid("limit", "must be at least 1"));
        }
        let start = match after {
            Some(token) => Bound::Excluded(token.as_str().to_owned()),
            None => Bound::Unbounded,
        };
        let mut matching = self
            .profiles
            .range((start, Bound::Unbounded))
            .filter(|(_, row)| keep(row));
        let mut items = Vec::new();
        for (user_id, row) in matching.by_ref().take(limit) {
            items.push(row.to_stored(user_id)?);
        }
        let next = match (matching.next(), items.last()) {
            (Some(_), Some(last)) => Some(PageToken::new(last.user_id.clone())),
            _ => None,
        };
        Ok(Page { items, next })
    }
}

/// The in-memory vault. Cheap to create; everything is lost on drop.
#[derive(Default)]
pub struct MemoryVault {
    state: Mutex<State>,
}

impl MemoryVault {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> VaultResult<MutexGuard<'_, State>> {
        self.state
            .lock()
            .map_err(|_| VaultError::unavailable(false, "in-memory vault lock poisoned"))
    }

    /// Replaces a stored profile's JSON with arbitrary text, to test that corrupt records are
    /// reported. Returns false if the user does not exist.
    pub fn plant_corrupt_profile(&self, user_id: &str, text: &str) -> bool {
        match self.lock() {
            Ok(mut state) => match state.profiles.get_mut(user_id) {
                Some(row) => {
                    row.profile_json = text.to_owned();
                    true
                }
                None => false,
            },
            Err(_) => false,
        }
    }
}

fn ready<'a, T: Send + 'a>(value: T) -> BoxFuture<'a, T> {
    Box::pin(std::future::ready(value))
}

impl ProfileStore for MemoryVault {
    fn get_by_user_id<'a>(
        &'a self,
        user_id: &'a str,
    ) -> BoxFuture<'a, VaultResult<Option<StoredProfile>>> {
        ready(self.lock().and_then(|state| {
            state
                .profiles
                .get(user_id)
                .map(|row| row.to_stored(user_id))
                .transpose()
        }))
    }

    fn find_by_uuid<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, VaultResult<Vec<StoredProfile>>> {
        ready(
            self.lock()
                .and_then(|state| state.find_by(|row| row.uuid == uuid)),
        )
    }

    fn find_by_primary_email<'a>(
        &'a self,
        primary_email: &'a str,
    ) -> BoxFuture<'a, VaultResult<Vec<StoredProfile>>> {
        ready(
            self.lock()
                .and_then(|state| state.find_by(|row| row.primary_email == primary_email)),
        )
    }

    fn find_by_primary_username<'a>(
        &'a self,
        primary_username: &'a str,
    ) -> BoxFuture<'a, VaultResult<Vec<StoredProfile>>> {
        ready(
            self.lock()
                .and_then(|state| state.find_by(|row| row.primary_username == primary_username)),
        )
    }

    fn find_by_sequence_number<'a>(
        &'a self,
        sequence_number: &'a SequenceNumber,
    ) -> BoxFuture<'a, VaultResult<Option<StoredProfile>>> {
        ready(self.lock().and_then(|state| {
            state
                .find_by(|row| row.sequence_number == *sequence_number)
                .map(|found| found.into_iter().next())
        }))
    }

    fn create(&self, record: ProfileRecord) -> BoxFuture<'_, VaultResult<SequenceNumber>> {
        ready(
            self.lock()
                .and_then(|mut state| state.apply(WriteOp::Create(record))),
        )
    }

    fn update<'a>(
        &'a self,
        record: ProfileRecord,
        expected: &'a SequenceNumber,
    ) -> BoxFuture<'a, VaultResult<SequenceNumber>> {
        ready(self.lock().and_then(|mut state| {
            state.apply(WriteOp::Update {
                record,
                expected: expected.clone(),
            })
        }))
    }

    fn write_batch(&self, ops: Vec<WriteOp>) -> BoxFuture<'_, Vec<VaultResult<SequenceNumber>>> {
        let results = match self.lock() {
            Ok(mut state) => ops.into_iter().map(|op| state.apply(op)).collect(),
            Err(_) => ops
                .iter()
                .map(|_| {
                    Err(VaultError::unavailable(
                        false,
                        "in-memory vault lock poisoned",
                    ))
                })
                .collect(),
        };
        ready(results)
    }

    fn delete<'a>(
        &'a self,
        user_id: &'a str,
        expected: Option<&'a SequenceNumber>,
    ) -> BoxFuture<'a, VaultResult<()>> {
        ready(self.lock().and_then(|mut state| {
            let Some(existing) = state.profiles.get(user_id) else {
                return Err(VaultError::not_found(user_id));
            };
            if let Some(expected) = expected
                && existing.sequence_number != *expected
            {
                return Err(VaultError::Conflict {
                    user_id: user_id.to_owned(),
                    current: Some(existing.sequence_number.clone()),
                });
            }
            state.profiles.remove(user_id);
            state.record_change(ChangeOperation::Delete, user_id, false);
            Ok(())
        }))
    }

    fn list_profiles(
        &self,
        request: PageRequest,
    ) -> BoxFuture<'_, VaultResult<Page<StoredProfile>>> {
        ready(self.lock().and_then(|state| {
            state.page(request.after.as_ref(), request.limit, |row| {
                request.active.is_none_or(|active| row.active == active)
            })
        }))
    }

    fn list_user_ids(&self, filter: UserIdFilter) -> BoxFuture<'_, VaultResult<Vec<UserIdEntry>>> {
        ready(self.lock().map(|state| {
            state
                .profiles
                .iter()
                .filter(|(user_id, row)| {
                    filter
                        .user_id_prefix
                        .as_ref()
                        .is_none_or(|prefix| user_id.starts_with(prefix.as_str()))
                        && filter.active.is_none_or(|active| row.active == active)
                })
                .map(|(user_id, row)| UserIdEntry {
                    user_id: user_id.clone(),
                    uuid: row.uuid.clone(),
                    primary_email: row.primary_email.clone(),
                    active: row.active,
                })
                .collect()
        }))
    }

    fn find_by_attributes(
        &self,
        query: AttributeQuery,
    ) -> BoxFuture<'_, VaultResult<Page<StoredProfile>>> {
        ready(query.validate().and_then(|()| {
            self.lock().and_then(|state| {
                state.page(query.after.as_ref(), query.limit, |row| {
                    query.matches(row.active, &row.flat_profile)
                })
            })
        }))
    }
}

impl ChangeFeed for MemoryVault {
    fn read_changes(
        &self,
        after: Option<ChangeCursor>,
        limit: usize,
    ) -> BoxFuture<'_, VaultResult<Vec<ChangeEvent>>> {
        ready(self.lock().map(|state| {
            state
                .changes
                .iter()
                .filter(|event| after.is_none_or(|after| event.cursor > after))
                .take(limit)
                .cloned()
                .collect()
        }))
    }

    fn load_checkpoint<'a>(
        &'a self,
        consumer: &'a str,
    ) -> BoxFuture<'a, VaultResult<Option<ChangeCursor>>> {
        ready(
            self.lock()
                .map(|state| state.checkpoints.get(consumer).copied()),
        )
    }

    fn save_checkpoint<'a>(
        &'a self,
        consumer: &'a str,
        cursor: ChangeCursor,
    ) -> BoxFuture<'a, VaultResult<()>> {
        ready(self.lock().map(|mut state| {
            state.checkpoints.insert(consumer.to_owned(), cursor);
        }))
    }
}

impl IngestQueue for MemoryVault {
    fn enqueue<'a>(
        &'a self,
        user_id: &'a str,
        profile: Value,
    ) -> BoxFuture<'a, VaultResult<IngestId>> {
        ready(self.lock().map(|mut state| {
            state.last_queue_id += 1;
            let id = state.last_queue_id;
            state.queue.insert(
                id,
                QueueRow {
                    user_id: user_id.to_owned(),
                    profile,
                    enqueued_ms: now_ms(),
                    attempts: 0,
                    leased_until_ms: None,
                    finished: None,
                },
            );
            IngestId::new(id.to_string())
        }))
    }

    fn claim(&self, limit: usize, lease: Duration) -> BoxFuture<'_, VaultResult<Vec<IngestItem>>> {
        ready(self.lock().map(|mut state| {
            let now = now_ms();
            let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
            let mut heads: HashMap<&str, u64> = HashMap::new();
            for (id, row) in state.queue.iter().filter(|(_, row)| row.finished.is_none()) {
                heads.entry(row.user_id.as_str()).or_insert(*id);
            }
            let mut claimable: Vec<u64> = heads
                .into_values()
                .filter(|id| {
                    state.queue[id]
                        .leased_until_ms
                        .is_none_or(|until| until <= now)
                })
                .collect();
            claimable.sort_unstable();
            claimable.truncate(limit);
            claimable
                .into_iter()
                .filter_map(|id| {
                    let row = state.queue.get_mut(&id)?;
                    row.attempts += 1;
                    row.leased_until_ms = Some(now.saturating_add(lease_ms));
                    Some(IngestItem {
                        id: IngestId::new(id.to_string()),
                        user_id: row.user_id.clone(),
                        profile: row.profile.clone(),
                        enqueued_ms: row.enqueued_ms,
                        attempts: row.attempts,
                    })
                })
                .collect()
        }))
    }

    fn ack<'a>(
        &'a self,
        id: &'a IngestId,
        outcome: IngestOutcome,
    ) -> BoxFuture<'a, VaultResult<()>> {
        ready(parse_ingest_id(id).and_then(|key| {
            let mut state = self.lock()?;
            let row = state
                .queue
                .get_mut(&key)
                .ok_or_else(|| VaultError::not_found(id.as_str()))?;
            if row.finished.is_none() {
                row.finished = Some(outcome);
                row.leased_until_ms = None;
            }
            Ok(())
        }))
    }

    fn release<'a>(&'a self, id: &'a IngestId) -> BoxFuture<'a, VaultResult<()>> {
        ready(parse_ingest_id(id).and_then(|key| {
            let mut state = self.lock()?;
            let row = state
                .queue
                .get_mut(&key)
                .ok_or_else(|| VaultError::not_found(id.as_str()))?;
            row.leased_until_ms = None;
            Ok(())
        }))
    }

    fn status<'a>(&'a self, id: &'a IngestId) -> BoxFuture<'a, VaultResult<IngestStatus>> {
        ready(parse_ingest_id(id).and_then(|key| {
            let state = self.lock()?;
            let row = state
                .queue
                .get(&key)
                .ok_or_else(|| VaultError::not_found(id.as_str()))?;
            Ok(row
                .finished
                .clone()
                .map_or(IngestStatus::Pending, IngestStatus::from))
        }))
    }
}

impl DeadLetterStore for MemoryVault {
    fn put_dead_letter(&self, letter: NewDeadLetter) -> BoxFuture<'_, VaultResult<DeadLetterId>> {
        ready(self.lock().map(|mut state| {
            state.last_dead_letter_id += 1;
            let id = DeadLetterId(state.last_dead_letter_id);
            state.dead_letters.insert(
                id.0,
                DeadLetter {
                    id,
                    letter,
                    replayed_at_ms: None,
                },
            );
            id
        }))
    }

    fn list_dead_letters(
        &self,
        filter: DeadLetterFilter,
    ) -> BoxFuture<'_, VaultResult<Vec<DeadLetter>>> {
        ready(self.lock().map(|state| {
            state
                .dead_letters
                .values()
                .filter(|letter| filter.matches(letter))
                .take(filter.limit)
                .cloned()
                .collect()
        }))
    }

    fn mark_replayed(&self, id: DeadLetterId, at_ms: i64) -> BoxFuture<'_, VaultResult<()>> {
        ready(self.lock().and_then(|mut state| {
            let letter = state
                .dead_letters
                .get_mut(&id.0)
                .ok_or_else(|| VaultError::not_found(id.0.to_string()))?;
            letter.replayed_at_ms = Some(at_ms);
            Ok(())
        }))
    }

    fn remove_dead_letter(&self, id: DeadLetterId) -> BoxFuture<'_, VaultResult<()>> {
        ready(self.lock().and_then(|mut state| {
            state
                .dead_letters
                .remove(&id.0)
                .map(|_| ())
                .ok_or_else(|| VaultError::not_found(id.0.to_string()))
        }))
    }
}
