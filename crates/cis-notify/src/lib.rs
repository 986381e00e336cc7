//! The webhook notifier (DECISIONS A11, B16, B17, C4): change events become
//! `{"operation","id","time"}` POSTs with a client-credentials bearer token to every configured
//! relying party, each RP with its own timeout, retries with backoff and jitter, and a
//! dead letter when it keeps failing; `replay` redelivers dead letters.
//!
//! Two drivers run the same [`Notifier`]: [`handle_stream_event`] for the `webhook-notifier`
//! Lambda (DynamoDB stream, partial batch failures) and [`run_local_notifier`] for `cis serve`
//! (the embedded change feed from a persisted checkpoint).
//!
//! This is the "notifier fan-out" of cis-core in ARCHITECTURE.md, in its own crate so that it
//! could be built alongside cis-core.

mod error;
mod lambda;
mod local;
mod notifier;
mod token;

pub use error::NotifyError;
pub use lambda::{handle_stream_event, handle_stream_event_until};
pub use local::{LOCAL_CONSUMER, run_local_notifier};
pub use notifier::{
    DeliveryReport, Notification, Notifier, ReplayFailure, ReplayFilter, ReplayReport, RetryPolicy,
    RpOutcome, RpResult, is_retryable_status,
};
pub use token::{BearerToken, ClientCredentials, Clock, DEFAULT_REFRESH_MARGIN, TokenProvider};
