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
pub use store::{
    BoxFuture, ChangeFeed, ChangeQueue, CommitSignal, DeadLetterStore, IngestQueue, ProfileStore,
    StoredProfileJson, Vault,
};

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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn one_vault_handle_serves_every_port() {
        // Local mode builds one store and hands each layer the port it needs.
        let vault: Arc<dyn Vault> = Arc::new(MemoryVault::new());
        let profiles: Arc<dyn ProfileStore> = vault.clone();
        let feed: Arc<dyn ChangeFeed> = vault.clone();
        let queue: Arc<dyn IngestQueue> = vault.clone();
        let letters: Arc<dyn DeadLetterStore> = vault;
        let record = conformance_free_record();
        let sn = profiles.create(record).await.unwrap();
        let events = feed.read_changes(None, 10).await.unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].sequence_number.as_ref(), Some(&sn));
        let id = queue
            .enqueue("email|a", serde_json::json!({}))
            .await
            .unwrap();
        assert_eq!(queue.status(&id).await.unwrap(), IngestStatus::Pending);
        let listed = letters
            .list_dead_letters(DeadLetterFilter::default())
            .await
            .unwrap();
        assert!(listed.is_empty());
    }

    fn conformance_free_record() -> ProfileRecord {
        ProfileRecord {
            user_id: "email|a".to_owned(),
            uuid: "u".to_owned(),
            primary_email: "a@example.com".to_owned(),
            primary_username: "r--a".to_owned(),
            active: true,
            profile: serde_json::json!({"user_id": {"value": "email|a"}}),
            flat_profile: serde_json::Map::new(),
        }
    }
}
