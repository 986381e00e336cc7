//! Prepared profiles for the Person API's single-user lookups by user_id.
//!
//! Parsing the stored JSON costs more than everything else in a lookup together, so the parsed
//! form ([`PreparedProfile`]: canonical bytes plus where each attribute is) is kept per user_id
//! with the vault sequence number it was read at. Each lookup still asks the vault for the
//! user's current sequence number (one indexed probe that skips the profile text when it
//! matches), so an answer is never older than the vault: a profile changed by another process
//! is re-read at once. The cache holds unfiltered profiles only; every answer is filtered for
//! the caller's own scopes, so no scope set ever sees what another was given.

use std::sync::Arc;

use cis_profile::PreparedProfile;
use cis_vault::SequenceNumber;
use quick_cache::Weighter;
use quick_cache::sync::Cache;

/// A stored profile as prepared at one vault sequence number.
#[derive(Debug)]
pub struct CachedProfile {
    pub sequence_number: SequenceNumber,
    pub active: bool,
    pub prepared: PreparedProfile,
}

#[derive(Clone, Copy, Debug)]
struct ByMemory;

impl Weighter<String, Arc<CachedProfile>> for ByMemory {
    fn weight(&self, user_id: &String, cached: &Arc<CachedProfile>) -> u64 {
        (user_id.len() + cached.prepared.memory_size() + cached.sequence_number.as_str().len())
            as u64
    }
}

/// A memory-bounded map user_id → [`CachedProfile`], safe to share between request tasks.
pub struct PreparedProfileCache {
    entries: Cache<String, Arc<CachedProfile>, ByMemory>,
}

impl std::fmt::Debug for PreparedProfileCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedProfileCache")
            .field("entries", &self.entries.len())
            .field("bytes", &self.entries.weight())
            .finish()
    }
}

/// A real profile prepares to roughly 1.3 times its JSON (5–25 KB): 256 MiB holds about 15,000.
pub const DEFAULT_CACHE_BYTES: u64 = 256 * 1024 * 1024;
const TYPICAL_ENTRY_BYTES: u64 = 16 * 1024;

impl PreparedProfileCache {
    /// A cache of at most `capacity_bytes` of prepared profiles (0 disables caching).
    pub fn new(capacity_bytes: u64) -> Self {
        let estimated_items = (capacity_bytes / TYPICAL_ENTRY_BYTES).max(1) as usize;
        Self {
            entries: Cache::with_weighter(estimated_items, capacity_bytes, ByMemory),
        }
    }

    pub fn get(&self, user_id: &str) -> Option<Arc<CachedProfile>> {
        self.entries.get(user_id)
    }

    pub fn insert(&self, user_id: &str, cached: Arc<CachedProfile>) {
        self.entries.insert(user_id.to_owned(), cached);
    }

    pub fn remove(&self, user_id: &str) {
        self.entries.remove(user_id);
    }

    /// How many profiles are held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl Default for PreparedProfileCache {
    fn default() -> Self {
        Self::new(DEFAULT_CACHE_BYTES)
    }
}
