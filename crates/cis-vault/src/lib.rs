//! The storage port of CIS: the identity vault (profiles and their indexes), the change feed,
//! the ingest queue and the dead-letter store, in domain words only. Backends: [`MemoryVault`]
//! (here, for tests), `cis-vault-sqlite` (embedded default), `cis-vault-dynamodb` (AWS).
//!
//! Every backend runs the same conformance suite (`conformance` feature).

mod error;
mod memory;
mod model;
mod store;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use error::{VaultError, VaultResult};
pub use memory::MemoryVault;
pub use model::{
    AttributeCriterion, AttributeQuery, ChangeCursor, ChangeEvent, ChangeOperation, DeadLetter,
    DeadLetterFilter, DeadLetterId, IngestId, IngestItem, IngestOutcome, IngestStatus,
    NewDeadLetter, Page, PageRequest, PageToken, ProfileRecord, SequenceNumber, StoredProfile,
    UserIdEntry, UserIdFilter, WriteOp,
};
pub use store::{BoxFuture, ChangeFeed, DeadLetterStore, IngestQueue, ProfileStore, Vault};

/// Milliseconds since the Unix epoch, as the embedded backends stamp events.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

/// The embedded queues render their ids as decimal counters; anything else was not issued by
/// them.
pub fn parse_ingest_id(id: &IngestId) -> VaultResult<u64> {
    id.as_str()
        .parse()
        .map_err(|_| VaultError::not_found(id.as_str()))
}
