//! The queued ingest path (DECISIONS C2, change-api-and-vault §6): the Change API prechecks and
//! enqueues a profile, a processor integrates it later with the same pipeline as the direct
//! path ([`ChangeService::integrate`]).
//!
//! Two transports share the classification of [`ChangeError`]s into "retry" and "reject":
//! * the embedded [`IngestQueue`] (local mode, `cis serve`): [`Processor`] and
//!   [`run_local_processor`];
//! * Kinesis (the `cis-fn-processor` Lambda): [`integrate_record_data`] handles one record's
//!   payload, the Lambda maps the outcomes to `batchItemFailures`.
//!
//! Unlike the Python `cis_processor` (§6.3), which overwrote the stored profile with the incoming
//! one, a queued profile is merged exactly like a direct `POST /v2/user`: the queue changes when a
//! change is applied, never what it does.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use cis_vault::{ChangeQueue, IngestId, IngestItem, IngestOutcome, IngestQueue, VaultError};
use futures::{FutureExt as _, StreamExt as _};
use serde_json::Value;

use crate::{BATCH_CONCURRENCY, ChangeError, ChangeOutcome, ChangeRequest, ChangeService};

/// Whether the same change may succeed later without the publisher doing anything: lost races,
/// unreachable publisher keys, a throttled or unavailable vault. Everything else (schema,
/// publisher rules, signatures, a refused new user without uuid salt, non-retryable storage
/// failures) would fail the same way again, so retrying it would only block the user's later
/// changes.
pub fn is_retryable(error: &ChangeError) -> bool {
    match error {
        ChangeError::Conflict { .. } | ChangeError::KeysUnavailable(_) => true,
        ChangeError::Storage(e) => e.is_retryable(),
        _ => false,
    }
}

/// The reason stored for a rejected item and shown by `/v2/status`: the error's `code` and
/// `description`, which carry no profile values.
pub fn rejection_reason(error: &ChangeError) -> String {
    format!("{}: {}", error.code(), error.description())
}

/// Prechecks a change (body shape, user_id, schema; authentication is the caller's job) and
/// queues it for the processor. A dry run is never queued: it writes nothing, so the caller
/// must run it directly with [`ChangeService::integrate`].
pub async fn enqueue_change(
    service: &ChangeService,
    queue: &dyn ChangeQueue,
    request: ChangeRequest,
) -> Result<IngestId, ChangeError> {
    if request.dry_run {
        return Err(ChangeError::BadRequest(
            "a dry run is answered directly and is never queued".into(),
        ));
    }
    let (profile, user_id) = service.precheck(&request)?;
    queue
        .submit(&user_id, profile)
        .await
        .map_err(ChangeError::Storage)
}

/// What one [`Processor`] run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcessReport {
    pub integrated: usize,
    pub rejected: usize,
    /// Released after a retryable failure (or left to their lease when even the release or the
    /// ack failed); they are claimed again later.
    pub retried: usize,
}

impl ProcessReport {
    fn add(&mut self, other: Self) {
        self.integrated += other.integrated;
        self.rejected += other.rejected;
        self.retried += other.retried;
    }

    /// Whether some item was finished for good.
    pub fn progressed(&self) -> bool {
        self.integrated + self.rejected > 0
    }
}

/// Integrates queued profiles. Per-user order comes from the queue: `claim` hands out only the
/// oldest unfinished item of a user, so the items of one claim belong to different users and
/// are integrated concurrently.
pub struct Processor {
    pub service: Arc<ChangeService>,
    pub queue: Arc<dyn IngestQueue>,
    /// How long a claimed item stays invisible to other processors. An item whose processor
    /// died is handed out again after it; integrating it again is a no-op (§5.11).
    pub lease: Duration,
    /// Claims of one item after which a retryable failure is turned into a rejection, so that a
    /// change that never succeeds does not block its user's later changes forever.
    pub max_attempts: u32,
    /// Items per claim in [`run_local_processor`].
    pub batch_size: usize,
}

impl std::fmt::Debug for Processor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Processor")
            .field("lease", &self.lease)
            .field("max_attempts", &self.max_attempts)
            .field("batch_size", &self.batch_size)
            .finish_non_exhaustive()
    }
}

impl Processor {
    pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);
    pub const DEFAULT_MAX_ATTEMPTS: u32 = 20;
    pub const DEFAULT_BATCH_SIZE: usize = 100;

    pub fn new(service: Arc<ChangeService>, queue: Arc<dyn IngestQueue>) -> Self {
        Self {
            service,
            queue,
            lease: Self::DEFAULT_LEASE,
            max_attempts: Self::DEFAULT_MAX_ATTEMPTS,
            batch_size: Self::DEFAULT_BATCH_SIZE,
        }
    }

    /// One claim of at most `limit` items, each integrated and acked (or released).
    pub async fn process_batch(&self, limit: usize) -> Result<ProcessReport, VaultError> {
        let items = self.queue.claim(limit.max(1), self.lease).await?;
        let reports: Vec<ProcessReport> = futures::stream::iter(items)
            .map(|item| self.process_item(item))
            .buffer_unordered(BATCH_CONCURRENCY)
            .collect()
            .await;
        let mut total = ProcessReport::default();
        for report in reports {
            total.add(report);
        }
        Ok(total)
    }

    /// Claims and integrates until the queue has nothing more to hand out (or only items that
    /// keep failing retryably), `limit` items per claim.
    pub async fn process_available(&self, limit: usize) -> Result<ProcessReport, VaultError> {
        let mut total = ProcessReport::default();
        loop {
            let round = self.process_batch(limit).await?;
            total.add(round);
            if !round.progressed() {
                return Ok(total);
            }
        }
    }

    async fn process_item(&self, item: IngestItem) -> ProcessReport {
        let IngestItem {
            id,
            user_id,
            profile,
            attempts,
            ..
        } = item;
        let request = ChangeRequest::new(profile).with_user_id(user_id.clone());
        let outcome = match self.service.integrate(request).await {
            Ok(outcome) => IngestOutcome::Integrated {
                sequence_number: outcome.sequence_number,
            },
            Err(error) if is_retryable(&error) && attempts < self.max_attempts => {
                tracing::warn!(
                    ingest_id = %id, user_id = %user_id, attempts, code = error.code(),
                    error = error.log_detail(), "queued change failed; will retry"
                );
                if let Err(e) = self.queue.release(&id).await {
                    tracing::warn!(ingest_id = %id, error = %e, "release failed; the lease will expire");
                }
                return ProcessReport {
                    retried: 1,
                    ..ProcessReport::default()
                };
            }
            Err(error) => {
                let mut reason = rejection_reason(&error);
                if is_retryable(&error) {
                    reason = format!("gave up after {attempts} attempts: {reason}");
                }
                tracing::info!(
                    ingest_id = %id, user_id = %user_id, code = error.code(),
                    error = error.log_detail(), "queued change rejected"
                );
                IngestOutcome::Rejected { reason }
            }
        };
        let rejected = matches!(outcome, IngestOutcome::Rejected { .. });
        match self.queue.ack(&id, outcome).await {
            Ok(()) if rejected => ProcessReport {
                rejected: 1,
                ..ProcessReport::default()
            },
            Ok(()) => ProcessReport {
                integrated: 1,
                ..ProcessReport::default()
            },
            // The change may already be stored; when the lease expires the item is integrated
            // again, which is then a no-op, and acked.
            Err(e) => {
                tracing::warn!(ingest_id = %id, error = %e, "ack failed; the lease will expire");
                ProcessReport {
                    retried: 1,
                    ..ProcessReport::default()
                }
            }
        }
    }
}

/// The local-mode processor loop for `cis serve`: drains the queue, then polls every
/// `poll_interval`, until `shutdown` completes. A claim in progress is finished (acked) before
/// stopping, so a clean shutdown leaves no item waiting for its lease.
pub async fn run_local_processor(
    processor: Arc<Processor>,
    poll_interval: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let shutdown = shutdown.fuse();
    futures::pin_mut!(shutdown);
    let mut commits = processor.queue.commits();
    loop {
        // Marked seen before claiming, so an enqueue after the claim wakes the wait below.
        if let Some(commits) = commits.as_mut() {
            commits.borrow_and_update();
        }
        let progressed = match processor.process_batch(processor.batch_size).await {
            Ok(report) => report.progressed(),
            Err(error) => {
                tracing::warn!(%error, "ingest queue claim failed");
                false
            }
        };
        if progressed {
            if (&mut shutdown).now_or_never().is_some() {
                break;
            }
            continue;
        }
        let commit = async {
            match commits.as_mut() {
                Some(commits) => {
                    if commits.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(poll_interval) => {}
            () = commit => {}
        }
    }
    tracing::info!("local ingest processor stopped");
}

/// What became of one Kinesis record.
#[derive(Debug)]
pub enum RecordOutcome {
    Integrated(Box<ChangeOutcome>),
    /// Refused for good: the record must not be retried (it would fail the same way).
    Rejected {
        user_id: Option<String>,
        code: &'static str,
        reason: String,
    },
    /// Failed in a way that may pass later: the record must be redelivered.
    Retry {
        user_id: Option<String>,
        error: ChangeError,
    },
}

/// Integrates one Kinesis record's payload. The data is the UTF-8 JSON of either
/// `{"profile": <profile>}` (the shape of a `/v2/user` body), `{"profile": <profile>,
/// "user_id": "<id>"}` (what the Kinesis queue of the Change API writes: the user_id it resolved,
/// maybe from `?user_id=`, applied like that parameter) or the bare profile. An object with a
/// `profile` member and no `user_id` member, or a string one, is the wrapped form (a bare
/// profile's `user_id` is an attribute object). Data that is not JSON is rejected for good.
pub async fn integrate_record_data(service: &ChangeService, data: &[u8]) -> RecordOutcome {
    let (profile, user_id_param) = match serde_json::from_slice::<Value>(data) {
        Ok(Value::Object(mut map))
            if map.contains_key("profile") && map.get("user_id").is_none_or(Value::is_string) =>
        {
            let user_id = match map.remove("user_id") {
                Some(Value::String(user_id)) => Some(user_id),
                _ => None,
            };
            (map.remove("profile").unwrap_or(Value::Null), user_id)
        }
        Ok(value) => (value, None),
        Err(e) => {
            return RecordOutcome::Rejected {
                user_id: None,
                code: "invalid_request",
                reason: format!("the record data is not JSON: {e}"),
            };
        }
    };
    let user_id = user_id_param.clone().or_else(|| {
        profile
            .pointer("/user_id/value")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    let mut request = ChangeRequest::new(profile);
    if let Some(user_id) = user_id_param {
        request = request.with_user_id(user_id);
    }
    match service.integrate(request).await {
        Ok(outcome) => RecordOutcome::Integrated(Box::new(outcome)),
        Err(error) if is_retryable(&error) => RecordOutcome::Retry { user_id, error },
        Err(error) => RecordOutcome::Rejected {
            user_id,
            code: error.code(),
            reason: rejection_reason(&error),
        },
    }
}
