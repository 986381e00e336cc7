//! CIS use cases. For now: the change pipeline (change-api-and-vault §5, DECISIONS A8, B4–B10,
//! C3), one code path for single, batch and queued changes. No HTTP, no concrete backend: the
//! HTTP layer turns a [`ChangeRequest`] into a call here and a [`ChangeError`] into
//! `(status(), code(), description())`.

mod clock;
mod error;
mod keys;
mod profile_ops;
mod service;

pub mod ingest;
pub mod person;
pub mod person_cache;

pub use clock::{Clock, FixedClock, SystemClock};
pub use error::{ChangeError, SignatureFailure};
pub use keys::KeySource;
pub use service::{
    ACTIVE_PUBLISHERS, BATCH_CONCURRENCY, ChangeOutcome, ChangeRequest, ChangeService,
    ChangeSettings, Condition, DeleteOutcome, DeleteRequest, StageTimings, UuidSalt,
};
