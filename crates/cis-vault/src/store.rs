//! The storage port, split by concern so a backend can implement what its platform offers: the
//! DynamoDB backend implements [`ProfileStore`] (its change feed is the table's stream, its queue
//! is Kinesis), the embedded backends implement all four.
//!
//! Methods return boxed futures rather than using `async fn` so the traits stay dyn-compatible:
//! the HTTP layer and the use cases hold `Arc<dyn ProfileStore>`.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::error::VaultResult;
use crate::model::{
    AttributeQuery, ChangeCursor, ChangeEvent, DeadLetter, DeadLetterFilter, DeadLetterId,
    IngestId, IngestItem, IngestOutcome, IngestStatus, NewDeadLetter, Page, PageRequest,
    ProfileRecord, SequenceNumber, StoredProfile, UserIdEntry, UserIdFilter, WriteOp,
};

/// A `Send` boxed future, the return type of every port method.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The identity vault: profiles and their indexes.
///
/// Reads are as fresh as the backend allows (DynamoDB: strongly consistent on the table,
/// eventually consistent on the secondary indexes); conditional writes are what keep concurrent
/// publishers from losing each other's updates.
pub trait ProfileStore: Send + Sync {
    /// The stored profile with this user_id, or `None`.
    fn get_by_user_id<'a>(
        &'a self,
        user_id: &'a str,
    ) -> BoxFuture<'a, VaultResult<Option<StoredProfile>>>;

    /// Every profile with this uuid, ordered by user_id (normally at most one).
    fn find_by_uuid<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, VaultResult<Vec<StoredProfile>>>;

    /// Every profile with this primary email, ordered by user_id: several accounts (`ad|…`,
    /// `email|…`) often share one, and the Person API picks among them.
    fn find_by_primary_email<'a>(
        &'a self,
        primary_email: &'a str,
    ) -> BoxFuture<'a, VaultResult<Vec<StoredProfile>>>;

    /// Every profile with this primary username, ordered by user_id.
    fn find_by_primary_username<'a>(
        &'a self,
        primary_username: &'a str,
    ) -> BoxFuture<'a, VaultResult<Vec<StoredProfile>>>;

    /// The profile whose last write stored this sequence number (the original `/v2/status`).
    fn find_by_sequence_number<'a>(
        &'a self,
        sequence_number: &'a SequenceNumber,
    ) -> BoxFuture<'a, VaultResult<Option<StoredProfile>>>;

    /// Stores a new user. `Conflict` if the user_id exists. Returns the new sequence number.
    fn create(&self, record: ProfileRecord) -> BoxFuture<'_, VaultResult<SequenceNumber>>;

    /// Replaces a user's profile if its stored sequence number is still `expected`.
    /// `NotFound` if the user is gone, `Conflict` (with the current number) if someone else
    /// wrote in between. Returns the new sequence number.
    fn update<'a>(
        &'a self,
        record: ProfileRecord,
        expected: &'a SequenceNumber,
    ) -> BoxFuture<'a, VaultResult<SequenceNumber>>;

    /// Applies the ops in order, each with its own condition, sequence number and result
    /// (DECISIONS B6). One op failing does not stop the others.
    fn write_batch(&self, ops: Vec<WriteOp>) -> BoxFuture<'_, Vec<VaultResult<SequenceNumber>>>;

    /// Removes a user. `NotFound` if absent; with `expected`, `Conflict` if the stored sequence
    /// number differs.
    fn delete<'a>(
        &'a self,
        user_id: &'a str,
        expected: Option<&'a SequenceNumber>,
    ) -> BoxFuture<'a, VaultResult<()>>;

    /// One page of full profiles. Following `next` until `None` visits every matching profile
    /// exactly once (writes during the walk may or may not be seen).
    fn list_profiles(
        &self,
        request: PageRequest,
    ) -> BoxFuture<'_, VaultResult<Page<StoredProfile>>>;

    /// Every matching user's ids, complete or an error: never a silently partial list
    /// (DECISIONS B14). Order is unspecified.
    fn list_user_ids(&self, filter: UserIdFilter) -> BoxFuture<'_, VaultResult<Vec<UserIdEntry>>>;

    /// One page of profiles whose flat profile satisfies every criterion (the Person API's
    /// `by_attribute_contains`).
    fn find_by_attributes(
        &self,
        query: AttributeQuery,
    ) -> BoxFuture<'_, VaultResult<Page<StoredProfile>>>;

    /// The profile of `user_id` as the JSON text the backend holds, for readers that filter and
    /// write it out without building a `Value` (the Person API). When `unless` is the stored
    /// sequence number the text is not read (`json` is `None`): the caller's copy is current.
    /// `None` from backends that keep no such text (the default); callers then use
    /// [`ProfileStore::get_by_user_id`].
    fn get_json_by_user_id<'a>(
        &'a self,
        _user_id: &'a str,
        _unless: Option<&'a SequenceNumber>,
    ) -> Option<BoxFuture<'a, VaultResult<Option<StoredProfileJson>>>> {
        None
    }
}

/// What [`ProfileStore::get_json_by_user_id`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredProfileJson {
    pub active: bool,
    pub sequence_number: SequenceNumber,
    /// The stored JSON text; `None` when the caller already holds this sequence number.
    pub json: Option<String>,
}

/// Committed writes in commit order, for the local notifier. Each event is written in the same
/// transaction as its profile write, so a write and its event are never separated.
pub trait ChangeFeed: Send + Sync {
    /// Up to `limit` events with a cursor greater than `after` (all events when `None`).
    fn read_changes(
        &self,
        after: Option<ChangeCursor>,
        limit: usize,
    ) -> BoxFuture<'_, VaultResult<Vec<ChangeEvent>>>;

    /// Where a named consumer (e.g. the notifier) got to, so it resumes there after a restart.
    fn load_checkpoint<'a>(
        &'a self,
        consumer: &'a str,
    ) -> BoxFuture<'a, VaultResult<Option<ChangeCursor>>>;

    fn save_checkpoint<'a>(
        &'a self,
        consumer: &'a str,
        cursor: ChangeCursor,
    ) -> BoxFuture<'a, VaultResult<()>>;

    /// A signal that changes whenever this process commits a write, so that a local consumer
    /// waits for work instead of polling for it; `None` where the backend has none (then the
    /// consumer polls).
    fn commits(&self) -> Option<CommitSignal> {
        None
    }
}

/// Changes (the count of commits) whenever the store commits a write in this process. Writes
/// by other processes are not signalled: consumers still poll, only less often.
pub type CommitSignal = tokio::sync::watch::Receiver<u64>;

/// The durable queue of the processor path (DECISIONS C2): the Change API enqueues validated
/// profiles, the processor claims and integrates them.
pub trait IngestQueue: Send + Sync {
    fn enqueue<'a>(
        &'a self,
        user_id: &'a str,
        profile: serde_json::Value,
    ) -> BoxFuture<'a, VaultResult<IngestId>>;

    /// Leases up to `limit` items for `lease`. Per-user order is kept: only the oldest
    /// unfinished item of a user is ever handed out, and not while another claim on it is
    /// leased. An item whose lease expired without an ack is handed out again.
    fn claim(&self, limit: usize, lease: Duration) -> BoxFuture<'_, VaultResult<Vec<IngestItem>>>;

    /// Finishes an item. `NotFound` for an unknown id. Acking an already finished item keeps the
    /// first outcome (a late duplicate ack is harmless).
    fn ack<'a>(
        &'a self,
        id: &'a IngestId,
        outcome: IngestOutcome,
    ) -> BoxFuture<'a, VaultResult<()>>;

    /// Gives a claimed item back at once (a retryable failure), instead of waiting for its lease.
    fn release<'a>(&'a self, id: &'a IngestId) -> BoxFuture<'a, VaultResult<()>>;

    /// `NotFound` for an id the queue never issued.
    fn status<'a>(&'a self, id: &'a IngestId) -> BoxFuture<'a, VaultResult<IngestStatus>>;

    /// See [`ChangeFeed::commits`].
    fn commits(&self) -> Option<CommitSignal> {
        None
    }
}

/// The producing side of queued ingest (DECISIONS C2): what the Change API needs when
/// `CIS_STREAM_BYPASS=false`. Every [`IngestQueue`] is one (the embedded queue); in AWS the
/// Kinesis producer is one, with the processor's recorded outcomes for the status.
pub trait ChangeQueue: Send + Sync {
    /// Queues a validated profile; the id is the ticket `/v2/status` answers for.
    fn submit<'a>(
        &'a self,
        user_id: &'a str,
        profile: serde_json::Value,
    ) -> BoxFuture<'a, VaultResult<IngestId>>;

    /// Pending, integrated or rejected (with the reason). `NotFound` for an id this queue
    /// cannot know about.
    fn submission_status<'a>(
        &'a self,
        id: &'a IngestId,
    ) -> BoxFuture<'a, VaultResult<IngestStatus>>;
}

impl<T: IngestQueue + ?Sized> ChangeQueue for T {
    fn submit<'a>(
        &'a self,
        user_id: &'a str,
        profile: serde_json::Value,
    ) -> BoxFuture<'a, VaultResult<IngestId>> {
        self.enqueue(user_id, profile)
    }

    fn submission_status<'a>(
        &'a self,
        id: &'a IngestId,
    ) -> BoxFuture<'a, VaultResult<IngestStatus>> {
        self.status(id)
    }
}

/// Webhook deliveries that exhausted their retries, kept for `cis notify replay` (C4).
pub trait DeadLetterStore: Send + Sync {
    fn put_dead_letter(&self, letter: NewDeadLetter) -> BoxFuture<'_, VaultResult<DeadLetterId>>;

    /// Matching letters in id order, at most `filter.limit`.
    fn list_dead_letters(
        &self,
        filter: DeadLetterFilter,
    ) -> BoxFuture<'_, VaultResult<Vec<DeadLetter>>>;

    /// `NotFound` for an unknown id.
    fn mark_replayed(&self, id: DeadLetterId, at_ms: i64) -> BoxFuture<'_, VaultResult<()>>;

    /// `NotFound` for an unknown id.
    fn remove_dead_letter(&self, id: DeadLetterId) -> BoxFuture<'_, VaultResult<()>>;
}

/// Everything the embedded (local-mode) backends offer, for callers that want one handle.
pub trait Vault: ProfileStore + ChangeFeed + IngestQueue + DeadLetterStore {}

impl<T: ProfileStore + ChangeFeed + IngestQueue + DeadLetterStore> Vault for T {}
