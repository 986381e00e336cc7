//! Fan-out of one change event to every relying party, each RP retried on its own
//! (DECISIONS A11, B16, C4).

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cis_config::{NotifierSettings, Secret};
use cis_vault::{
    ChangeEvent, ChangeOperation, DeadLetter, DeadLetterFilter, DeadLetterId, DeadLetterStore,
    NewDeadLetter, now_ms,
};
use futures::future::join_all;
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};

use crate::NotifyError;
use crate::token::{BearerToken, ClientCredentials, TokenProvider, describe_reqwest_error};

/// The webhook body, exactly the original's keys in the original's order (A11). `time` is whole
/// epoch seconds: the original forwarded the stream's float (`1551868482.0`); an integer is the
/// same instant and parses in every consumer that accepted the float.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub operation: ChangeOperation,
    pub id: String,
    pub time: i64,
}

impl Notification {
    pub fn from_event(event: &ChangeEvent) -> Self {
        Self {
            operation: event.operation,
            id: event.user_id.clone(),
            time: event.time_ms.div_euclid(1000),
        }
    }
}

/// How hard to try one RP for one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per (event, RP), the first included. At least 1.
    pub max_attempts: u32,
    /// Delay before the second attempt; doubled for each further one, capped at `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Bound on one POST, connect to last byte: a hanging RP costs at most this per attempt.
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The pause after failed attempt number `attempt` (1-based): exponential, with "equal
    /// jitter" (uniform in the upper half) so RPs recovering from an outage are not hit by every
    /// notifier container in lockstep.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
        let capped = exp.min(self.max_delay);
        let half = capped / 2;
        let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        half + Duration::from_millis(rand::random_range(0..=jitter_ms))
    }
}

/// Statuses worth another attempt: the RP is overloaded, restarting or timing out (408, 425,
/// 429, 5xx), or rejected the token (401: the cached token is dropped first). Any other 4xx
/// (and any 3xx: redirects are not followed, so the token never goes elsewhere) would fail the
/// same way again, so it goes straight to the dead letters for an operator to look at.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 401 | 408 | 425 | 429) || (500..=599).contains(&status)
}

/// What happened to one event at one RP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RpResult {
    /// The RP answered 2xx.
    Delivered { status: u16 },
    /// An earlier invocation already delivered this stream record here (Lambda retries).
    AlreadyDelivered,
    /// Retries exhausted (or a non-retryable answer); kept in the dead-letter store.
    DeadLettered {
        id: DeadLetterId,
        last_status: Option<u16>,
        error: String,
    },
    /// Retries exhausted and nowhere to keep it (no dead-letter store, or the store failed).
    /// The event is not settled for this RP.
    Failed {
        last_status: Option<u16>,
        error: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpOutcome {
    pub rp_url: String,
    /// POSTs made for this event in this delivery (0 for `AlreadyDelivered`).
    pub attempts: u32,
    pub result: RpResult,
}

impl RpOutcome {
    /// Nothing more to do for this RP: delivered, or durably kept for replay.
    pub fn is_settled(&self) -> bool {
        !matches!(self.result, RpResult::Failed { .. })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryReport {
    pub user_id: String,
    pub per_rp: Vec<RpOutcome>,
}

impl DeliveryReport {
    pub fn is_settled(&self) -> bool {
        self.per_rp.iter().all(RpOutcome::is_settled)
    }

    /// RPs that still need this event.
    pub fn unsettled_rps(&self) -> Vec<String> {
        self.per_rp
            .iter()
            .filter(|o| !o.is_settled())
            .map(|o| o.rp_url.clone())
            .collect()
    }

    pub fn outcome(&self, rp_url: &str) -> Option<&RpOutcome> {
        self.per_rp.iter().find(|o| o.rp_url == rp_url)
    }
}

/// Which dead letters `cis notify replay` redelivers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplayFilter {
    pub rp_url: Option<String>,
    pub user_id: Option<String>,
    /// Only letters that failed at or after this time (ms since the epoch).
    pub since_ms: Option<i64>,
    /// At most this many letters (all when `None`).
    pub limit: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayFailure {
    pub id: DeadLetterId,
    pub rp_url: String,
    pub reason: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Delivered and marked replayed.
    pub delivered: Vec<DeadLetterId>,
    /// Still failing (or not deliverable); left in the store unchanged.
    pub failed: Vec<ReplayFailure>,
}

/// The last failed attempt at one RP.
struct AttemptFailure {
    status: Option<u16>,
    error: String,
}

enum Attempts {
    Delivered {
        status: u16,
        attempts: u32,
    },
    Exhausted {
        failure: AttemptFailure,
        attempts: u32,
    },
    /// Stopped before the caller's deadline with attempts left: not a dead letter, the caller
    /// tries again later.
    OutOfTime {
        failure: AttemptFailure,
        attempts: u32,
    },
}

/// Remembers which (stream record, RP) pairs this process delivered, so a Lambda retry of a
/// batch does not re-notify RPs that already have the record. In memory, per container: a retry
/// landing on a fresh container re-notifies (at-least-once), which RPs must tolerate anyway
/// since a notification only says "re-read this user".
pub(crate) struct DeliveredMemo {
    capacity: usize,
    order: VecDeque<(String, String)>,
    set: HashSet<(String, String)>,
}

impl DeliveredMemo {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            order: VecDeque::new(),
            set: HashSet::new(),
        }
    }

    pub(crate) fn contains(&self, record: &str, rp: &str) -> bool {
        self.set.contains(&(record.to_owned(), rp.to_owned()))
    }

    pub(crate) fn insert(&mut self, record: &str, rp: &str) {
        let key = (record.to_owned(), rp.to_owned());
        if self.set.insert(key.clone()) {
            self.order.push_back(key);
        }
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }
}

/// (stream record, RP) pairs remembered per container; 100-record batches to 6 RPs use 600.
const MEMO_CAPACITY: usize = 20_000;

/// Posts change notifications to the configured RPs with a client-credentials bearer token.
pub struct Notifier {
    rp_urls: Vec<String>,
    token: TokenProvider,
    http: reqwest::Client,
    policy: RetryPolicy,
    dead_letters: Option<Arc<dyn DeadLetterStore>>,
    pub(crate) memo: Mutex<DeliveredMemo>,
    pub(crate) stream_concurrency: usize,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("rp_urls", &self.rp_urls)
            .field("policy", &self.policy)
            .field("dead_letters", &self.dead_letters.is_some())
            .finish_non_exhaustive()
    }
}

impl Notifier {
    /// Every URL must parse; an empty list is allowed (nothing to notify).
    pub fn new(
        rp_urls: Vec<String>,
        token: TokenProvider,
        policy: RetryPolicy,
        dead_letters: Option<Arc<dyn DeadLetterStore>>,
    ) -> Result<Self, NotifyError> {
        for url in &rp_urls {
            reqwest::Url::parse(url)
                .map_err(|e| NotifyError::Config(format!("RP URL `{url}`: {e}")))?;
        }
        if policy.max_attempts == 0 {
            return Err(NotifyError::Config(
                "max_attempts must be at least 1".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(policy.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| NotifyError::Config(format!("HTTP client: {e}")))?;
        Ok(Self {
            rp_urls,
            token,
            http,
            policy,
            dead_letters,
            memo: Mutex::new(DeliveredMemo::new(MEMO_CAPACITY)),
            stream_concurrency: 10,
        })
    }

    /// The notifier the settings describe, with the client credentials already resolved (from
    /// the settings locally, from SSM in AWS) and the default backoff.
    pub fn from_settings(
        settings: &NotifierSettings,
        client_id: String,
        client_secret: Secret<String>,
        dead_letters: Option<Arc<dyn DeadLetterStore>>,
    ) -> Result<Self, NotifyError> {
        let token = TokenProvider::new(
            ClientCredentials {
                token_url: settings.token_url.clone(),
                audience: settings.audience.clone(),
                client_id,
                client_secret,
            },
            settings.request_timeout,
        )?;
        let policy = RetryPolicy {
            max_attempts: settings.max_attempts,
            request_timeout: settings.request_timeout,
            ..RetryPolicy::default()
        };
        Self::new(settings.rp_urls.clone(), token, policy, dead_letters)
    }

    /// How many users' records a stream batch delivers at once (records of one user always go
    /// in order). Default 10.
    pub fn with_stream_concurrency(mut self, n: usize) -> Self {
        self.stream_concurrency = n.max(1);
        self
    }

    pub fn rp_urls(&self) -> &[String] {
        &self.rp_urls
    }

    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    pub fn token_provider(&self) -> &TokenProvider {
        &self.token
    }

    pub fn dead_letter_store(&self) -> Option<&Arc<dyn DeadLetterStore>> {
        self.dead_letters.as_ref()
    }

    /// Notifies every configured RP of `event`, concurrently, each retried independently.
    pub async fn deliver(&self, event: &ChangeEvent) -> DeliveryReport {
        self.deliver_to(event, &self.rp_urls).await
    }

    /// Notifies only `rps` (a subset of the configured RPs, e.g. those still unsettled).
    pub async fn deliver_to(&self, event: &ChangeEvent, rps: &[String]) -> DeliveryReport {
        self.deliver_to_until(event, rps, None).await
    }

    /// Like [`Self::deliver_to`], but no attempt (or backoff pause) is started that could run
    /// past `deadline`: an RP cut short that way is `Failed` ("out of time"), not dead-lettered,
    /// since it still had attempts left. The Lambda passes its invocation deadline, so a slow
    /// RP makes a record a batch item failure instead of timing out the whole invocation.
    pub async fn deliver_to_until(
        &self,
        event: &ChangeEvent,
        rps: &[String],
        deadline: Option<tokio::time::Instant>,
    ) -> DeliveryReport {
        let notification = Notification::from_event(event);
        let per_rp = join_all(
            rps.iter()
                .map(|rp| self.deliver_one(event, &notification, rp, deadline)),
        )
        .await;
        DeliveryReport {
            user_id: event.user_id.clone(),
            per_rp,
        }
    }

    async fn deliver_one(
        &self,
        event: &ChangeEvent,
        notification: &Notification,
        rp: &str,
        deadline: Option<tokio::time::Instant>,
    ) -> RpOutcome {
        match self.attempt(rp, notification, deadline).await {
            Attempts::Delivered { status, attempts } => {
                tracing::info!(
                    user_id = %event.user_id,
                    rp = %rp_host(rp),
                    status,
                    attempts,
                    "notification delivered"
                );
                RpOutcome {
                    rp_url: rp.to_owned(),
                    attempts,
                    result: RpResult::Delivered { status },
                }
            }
            Attempts::Exhausted { failure, attempts } => {
                let result = self.keep_failed(event, rp, failure, attempts).await;
                RpOutcome {
                    rp_url: rp.to_owned(),
                    attempts,
                    result,
                }
            }
            Attempts::OutOfTime { failure, attempts } => {
                tracing::warn!(
                    user_id = %event.user_id,
                    rp = %rp_host(rp),
                    status = ?failure.status,
                    attempts,
                    "notification not delivered before the deadline"
                );
                RpOutcome {
                    rp_url: rp.to_owned(),
                    attempts,
                    result: RpResult::Failed {
                        last_status: failure.status,
                        error: format!("out of time after: {}", failure.error),
                    },
                }
            }
        }
    }

    async fn keep_failed(
        &self,
        event: &ChangeEvent,
        rp: &str,
        failure: AttemptFailure,
        attempts: u32,
    ) -> RpResult {
        let Some(store) = &self.dead_letters else {
            tracing::warn!(
                user_id = %event.user_id,
                rp = %rp_host(rp),
                status = ?failure.status,
                attempts,
                error = %failure.error,
                "notification failed; no dead-letter store"
            );
            return RpResult::Failed {
                last_status: failure.status,
                error: failure.error,
            };
        };
        let letter = NewDeadLetter {
            operation: event.operation,
            user_id: event.user_id.clone(),
            event_time_ms: event.time_ms,
            rp_url: rp.to_owned(),
            last_status: failure.status,
            error: failure.error.clone(),
            attempts,
            failed_at_ms: now_ms(),
        };
        match store.put_dead_letter(letter).await {
            Ok(id) => {
                tracing::warn!(
                    user_id = %event.user_id,
                    rp = %rp_host(rp),
                    status = ?failure.status,
                    attempts,
                    dead_letter = id.0,
                    error = %failure.error,
                    "notification dead-lettered"
                );
                RpResult::DeadLettered {
                    id,
                    last_status: failure.status,
                    error: failure.error,
                }
            }
            Err(e) => {
                tracing::error!(
                    user_id = %event.user_id,
                    rp = %rp_host(rp),
                    error = %e,
                    "could not store a dead letter"
                );
                RpResult::Failed {
                    last_status: failure.status,
                    error: format!("{}; dead letter not stored: {e}", failure.error),
                }
            }
        }
    }

    /// Up to `max_attempts` POSTs of `notification` to `rp`, none started unless it can finish
    /// (or time out) before `deadline`.
    async fn attempt(
        &self,
        rp: &str,
        notification: &Notification,
        deadline: Option<tokio::time::Instant>,
    ) -> Attempts {
        let fits = |pause: Duration| {
            deadline.is_none_or(|d| {
                tokio::time::Instant::now() + pause + self.policy.request_timeout <= d
            })
        };
        if !fits(Duration::ZERO) {
            return Attempts::OutOfTime {
                failure: AttemptFailure {
                    status: None,
                    error: "no attempt".into(),
                },
                attempts: 0,
            };
        }
        let mut attempts = 0;
        loop {
            attempts += 1;
            let (failure, retry_after) = match self.post_once(rp, notification).await {
                PostResult::Success(status) => return Attempts::Delivered { status, attempts },
                PostResult::Final(failure) => return Attempts::Exhausted { failure, attempts },
                PostResult::Retry(failure, retry_after) => (failure, retry_after),
            };
            if attempts >= self.policy.max_attempts {
                return Attempts::Exhausted { failure, attempts };
            }
            let delay = retry_after
                .map(|d| d.min(self.policy.max_delay))
                .unwrap_or_else(|| self.policy.backoff(attempts));
            if !fits(delay) {
                return Attempts::OutOfTime { failure, attempts };
            }
            tracing::debug!(
                rp = %rp_host(rp),
                status = ?failure.status,
                attempts,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "notification attempt failed; retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }

    async fn post_once(&self, rp: &str, notification: &Notification) -> PostResult {
        let token = match self.token.bearer().await {
            Ok(token) => token,
            Err(e) => {
                return PostResult::Retry(
                    AttemptFailure {
                        status: None,
                        error: format!("no bearer token: {e}"),
                    },
                    None,
                );
            }
        };
        let sent = self
            .http
            .post(rp)
            .timeout(self.policy.request_timeout)
            .bearer_auth(token.expose())
            .json(notification)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => {
                return PostResult::Retry(
                    AttemptFailure {
                        status: None,
                        error: describe_reqwest_error(&e),
                    },
                    None,
                );
            }
        };
        let status = response.status();
        let code = status.as_u16();
        if status.is_success() {
            return PostResult::Success(code);
        }
        let failure = AttemptFailure {
            status: Some(code),
            error: format!("HTTP {code}"),
        };
        if !is_retryable_status(code) {
            return PostResult::Final(failure);
        }
        if status == StatusCode::UNAUTHORIZED {
            self.drop_token(&token).await;
        }
        PostResult::Retry(failure, retry_after(&response))
    }

    async fn drop_token(&self, token: &BearerToken) {
        self.token.invalidate(token).await;
    }

    /// Dead letters matching `filter` (for `cis notify status`).
    pub async fn dead_letters(
        &self,
        filter: DeadLetterFilter,
    ) -> Result<Vec<DeadLetter>, NotifyError> {
        let store = self.require_store()?;
        Ok(store.list_dead_letters(filter).await?)
    }

    /// Redelivers the unreplayed dead letters matching `filter`, each only to the RP that failed
    /// it, with the usual retries; a delivered letter is marked replayed, a failing one is left
    /// as it is (no second letter). A letter whose RP is no longer configured is not sent (the
    /// token is only ever presented to configured RPs). Once an RP fails in a run, its remaining
    /// letters are skipped rather than each waiting out the retries.
    pub async fn replay(&self, filter: &ReplayFilter) -> Result<ReplayReport, NotifyError> {
        let store = self.require_store()?;
        let mut report = ReplayReport::default();
        let mut down: HashSet<String> = HashSet::new();
        let mut after = None;
        let mut budget = filter.limit.unwrap_or(usize::MAX);
        while budget > 0 {
            let page = store
                .list_dead_letters(DeadLetterFilter {
                    rp_url: filter.rp_url.clone(),
                    user_id: filter.user_id.clone(),
                    include_replayed: false,
                    after,
                    limit: 100,
                })
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            for letter in page {
                if budget == 0 {
                    break;
                }
                if filter
                    .since_ms
                    .is_some_and(|since| letter.letter.failed_at_ms < since)
                {
                    continue;
                }
                budget -= 1;
                let rp = letter.letter.rp_url.clone();
                if !self.rp_urls.contains(&rp) {
                    report.failed.push(ReplayFailure {
                        id: letter.id,
                        rp_url: rp,
                        reason: "RP is no longer configured".into(),
                    });
                    continue;
                }
                if down.contains(&rp) {
                    report.failed.push(ReplayFailure {
                        id: letter.id,
                        rp_url: rp,
                        reason: "skipped: RP failed earlier in this replay".into(),
                    });
                    continue;
                }
                let notification = Notification {
                    operation: letter.letter.operation,
                    id: letter.letter.user_id.clone(),
                    time: letter.letter.event_time_ms.div_euclid(1000),
                };
                match self.attempt(&rp, &notification, None).await {
                    Attempts::Delivered { status, attempts } => {
                        store.mark_replayed(letter.id, now_ms()).await?;
                        tracing::info!(
                            user_id = %letter.letter.user_id,
                            rp = %rp_host(&rp),
                            status,
                            attempts,
                            dead_letter = letter.id.0,
                            "dead letter replayed"
                        );
                        report.delivered.push(letter.id);
                    }
                    Attempts::Exhausted { failure, .. } | Attempts::OutOfTime { failure, .. } => {
                        down.insert(rp.clone());
                        report.failed.push(ReplayFailure {
                            id: letter.id,
                            rp_url: rp,
                            reason: failure.error,
                        });
                    }
                }
            }
        }
        Ok(report)
    }

    fn require_store(&self) -> Result<&Arc<dyn DeadLetterStore>, NotifyError> {
        self.dead_letters
            .as_ref()
            .ok_or_else(|| NotifyError::Config("no dead-letter store configured".into()))
    }
}

enum PostResult {
    Success(u16),
    Retry(AttemptFailure, Option<Duration>),
    Final(AttemptFailure),
}

/// `Retry-After` in seconds (the HTTP-date form is rare for webhooks and ignored).
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// What logs may say about an RP: its host, never the path or query.
pub(crate) fn rp_host(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "<invalid url>".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notification_has_the_original_keys_in_order() {
        let event = ChangeEvent {
            cursor: cis_vault::ChangeCursor(1),
            operation: ChangeOperation::Create,
            user_id: "google-oauth2|2749".into(),
            sequence_number: None,
            time_ms: 1_551_868_482_999,
        };
        let body = serde_json::to_string(&Notification::from_event(&event)).unwrap();
        assert_eq!(
            body,
            r#"{"operation":"create","id":"google-oauth2|2749","time":1551868482}"#
        );
    }

    #[test]
    fn backoff_doubles_within_jitter_and_caps() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            request_timeout: Duration::from_secs(1),
        };
        for _ in 0..50 {
            let first = policy.backoff(1);
            assert!((Duration::from_millis(50)..=Duration::from_millis(100)).contains(&first));
            let third = policy.backoff(3);
            assert!((Duration::from_millis(200)..=Duration::from_millis(400)).contains(&third));
            let late = policy.backoff(30);
            assert!((Duration::from_millis(500)..=Duration::from_millis(1000)).contains(&late));
        }
    }

    #[test]
    fn retryable_statuses() {
        for s in [401, 408, 425, 429, 500, 502, 503, 504] {
            assert!(is_retryable_status(s), "{s}");
        }
        for s in [301, 400, 403, 404, 410, 413, 422] {
            assert!(!is_retryable_status(s), "{s}");
        }
    }

    #[test]
    fn memo_forgets_oldest_beyond_capacity() {
        let mut memo = DeliveredMemo::new(2);
        memo.insert("a", "rp");
        memo.insert("b", "rp");
        memo.insert("a", "rp");
        memo.insert("c", "rp");
        assert!(!memo.contains("a", "rp"));
        assert!(memo.contains("b", "rp") && memo.contains("c", "rp"));
    }

    #[test]
    fn rp_host_hides_path_and_query() {
        assert_eq!(
            rp_host("https://people.mozilla.org/events/update?x=1"),
            "people.mozilla.org"
        );
    }
}
