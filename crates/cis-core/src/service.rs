//! The change pipeline: one code path for `/v2/user`, `/v2/users`, the queued processor and the
//! dry run (change-api-and-vault §5 with DECISIONS B4–B10, C3).
//!
//! Per profile, in this order:
//! 1. the body must be a JSON object (a JSON string holding one is parsed once more, as the
//!    Python API did);
//! 2. resolve the user_id: `?user_id=` (empty counts as absent) or `user_id.value`; both set and
//!    different → [`ChangeError::UserIdMismatch`];
//! 3. JSON-schema validation of the **incoming** profile (B4). The merge only ever copies whole
//!    incoming attributes into the stored profile, so a valid incoming profile over a valid
//!    stored one gives a valid result; validating the incoming document instead of the result
//!    keeps a legacy stored profile that fails the schema (the Python CIS never validated) from
//!    blocking every later update of its user, and points the violations at what the publisher
//!    sent;
//! 4. read the stored profile (a read error is an error, never "new user");
//! 5. existing user: merge (profile-and-crypto §7.2); no-op when nothing was taken, when only
//!    `user_id` was taken, or when only `active` was taken with an unchanged value (§5.4);
//!    new user: the null profile with the incoming attributes in place; a set `uuid` or
//!    `primary_username` → [`ChangeError::UuidOrUsernameSet`]; no salt →
//!    [`ChangeError::NoUuidSalt`] (B10); uuid and primary_username derived and signed as `cis`;
//! 6. publisher rules (if `verify_publishers`): a new user's whole profile against the null
//!    profile, as the Python CIS did; for an update only the attributes the merge took, against
//!    the stored ones (every other attribute is the stored one, which the rules always allow).
//!    `active` may be changed by `ldap`, `hris`, `access_provider` or `cis` (B9), nobody else:
//!    the Python "active-only update skips the rules" bypass is gone;
//! 7. signatures (if `verify_signatures`): every attribute the change takes from the incoming
//!    profile must carry a valid signature of the publisher it names. Attributes left as stored
//!    are not re-verified: they were checked when they were written, and re-verifying ~50 RSA
//!    signatures per update would cost more than the rest of the pipeline. A stored `active`
//!    still signed by ldap/hris/access_provider (legacy data) is verified before CIS re-signs it.
//!    On a failure with a well-known key source the keys are refetched once (rate-limited) in
//!    case a publisher rotated its key;
//! 8. CIS-owned attributes (§5.7): `last_modified` (value and `metadata.last_modified` = now)
//!    signed as `cis` on every write; `active` re-signed as `cis` when its publisher is ldap,
//!    hris or access_provider. Timestamps of the publisher's attributes are left as sent: they
//!    are covered by the publisher's signature;
//! 9. the vault record (index keys, flat profile); then, unless dry run, the conditional write:
//!    create only if absent, update only if the stored sequence number is still the one read
//!    (B5). A lost race re-reads, re-merges and re-checks everything, at most
//!    `max_conflict_retries` times, then [`ChangeError::Conflict`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cis_crypto::{PublisherKeys, Signer};
use cis_profile::{
    PublisherRules, PublisherViolation, SchemaValidator, attribute, attribute_mut, check_attribute,
    check_publishers, derive_uuid_and_username, format_timestamp, null_profile_ref, publisher_name,
    python_eq, value_is_set,
};
use cis_vault::{ProfileRecord, ProfileStore, SequenceNumber, VaultError};
use futures::StreamExt;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::clock::{Clock, SystemClock};
use crate::error::{ChangeError, SignatureFailure};
use crate::keys::KeySource;
use crate::profile_ops::{Taken, merge, new_profile};

/// The publishers that may change `active` (DECISIONS B9).
pub const ACTIVE_PUBLISHERS: [&str; 4] = ["ldap", "hris", "access_provider", "cis"];

/// Whose `active` CIS re-signs as `cis` (§5.7).
const RESIGNED_ACTIVE_PUBLISHERS: [&str; 3] = ["ldap", "hris", "access_provider"];

const CIS: &str = "cis";

/// One profile of a batch, queued behind its user's earlier ones: (input index, profile, dry
/// run).
type BatchItem = (usize, Value, bool);

/// Users of one batch integrated at the same time.
pub const BATCH_CONCURRENCY: usize = 8;

/// The uuid salt. Its `Debug` never shows the value.
#[derive(Clone)]
pub struct UuidSalt(String);

impl UuidSalt {
    pub fn new(salt: impl Into<String>) -> Self {
        Self(salt.into())
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for UuidSalt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UuidSalt([redacted])")
    }
}

/// Switches of the pipeline (`CIS_VERIFY_SIGNATURES`, `CIS_VERIFY_PUBLISHERS`,
/// `CIS_ALLOW_DELETE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSettings {
    pub verify_signatures: bool,
    pub verify_publishers: bool,
    /// Conditional writes lost in a row before answering [`ChangeError::Conflict`].
    pub max_conflict_retries: u32,
    pub allow_delete: bool,
}

impl Default for ChangeSettings {
    fn default() -> Self {
        Self {
            verify_signatures: true,
            verify_publishers: true,
            max_conflict_retries: 16,
            allow_delete: false,
        }
    }
}

/// One profile to integrate.
#[derive(Debug, Clone)]
pub struct ChangeRequest {
    /// The profile v2 document (or a JSON string holding one).
    pub profile: Value,
    /// `?user_id=`; `None` or `""` means "take it from the profile".
    pub user_id_param: Option<String>,
    /// `?dryRun=true`: run every check, write nothing.
    pub dry_run: bool,
}

impl ChangeRequest {
    pub fn new(profile: Value) -> Self {
        Self {
            profile,
            user_id_param: None,
            dry_run: false,
        }
    }

    pub fn with_user_id(mut self, user_id: impl Into<String>) -> Self {
        self.user_id_param = Some(user_id.into());
        self
    }

    pub fn with_dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }
}

/// What happened (or, in a dry run, would happen) to the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Condition {
    Create,
    Update,
    Noop,
}

impl Condition {
    /// The body's `condition`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Noop => "noop",
        }
    }

    /// The body's `status_code` (a no-op is HTTP 200 with `status_code: 202`, A8).
    pub fn status_code(self) -> u16 {
        match self {
            Self::Create | Self::Update => 200,
            Self::Noop => 202,
        }
    }
}

/// Time spent per stage, summed over conflict retries (for the bench and debug logs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StageTimings {
    /// Body normalisation, user_id resolution, schema validation.
    pub validate: Duration,
    pub read: Duration,
    /// Merge, or building a new user's profile (uuid derivation and signing included).
    pub merge: Duration,
    pub publishers: Duration,
    pub signatures: Duration,
    /// `last_modified` and `active` signed as `cis`.
    pub cis_attributes: Duration,
    /// Flat profile and index keys.
    pub record: Duration,
    pub write: Duration,
    /// Backoff sleeps between lost conditional writes.
    pub backoff: Duration,
    pub total: Duration,
    /// 1 + conditional writes lost.
    pub attempts: u32,
}

/// The verdict on one profile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeOutcome {
    pub user_id: String,
    pub condition: Condition,
    /// The stored sequence number; `None` for a no-op and in a dry run.
    pub sequence_number: Option<SequenceNumber>,
    /// Paths (`name`, `group.child`) of the attributes taken from the incoming profile, in its
    /// document order. CIS's own changes (`last_modified`, a new user's uuid and
    /// primary_username, `active` re-signed) are not listed.
    pub changed: Vec<String>,
    pub dry_run: bool,
    pub timings: StageTimings,
}

impl ChangeOutcome {
    /// The `/v2/user` answer (A8): `{"condition", "sequence_number", "status_code"}`; a dry run
    /// adds `"dry_run": true` and the `changed` paths.
    pub fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert("condition".into(), Value::from(self.condition.as_str()));
        body.insert(
            "sequence_number".into(),
            self.sequence_number
                .as_ref()
                .map_or(Value::Null, |s| Value::from(s.as_str())),
        );
        body.insert(
            "status_code".into(),
            Value::from(self.condition.status_code()),
        );
        if self.dry_run {
            body.insert("dry_run".into(), Value::Bool(true));
            body.insert(
                "changed".into(),
                Value::Array(
                    self.changed
                        .iter()
                        .map(|p| Value::from(p.as_str()))
                        .collect(),
                ),
            );
        }
        Value::Object(body)
    }
}

/// DELETE `/v2/user`: the user_id from the query or the body (B8).
#[derive(Debug, Clone, Default)]
pub struct DeleteRequest {
    pub user_id_param: Option<String>,
    pub profile: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeleteOutcome {
    pub user_id: String,
}

/// The change pipeline over a vault.
pub struct ChangeService {
    store: Arc<dyn ProfileStore>,
    keys: KeySource,
    cis_signer: Arc<Signer>,
    uuid_salt: Option<UuidSalt>,
    settings: ChangeSettings,
    clock: Arc<dyn Clock>,
    rules: Arc<PublisherRules>,
    schema: &'static SchemaValidator,
    writer_locks: Arc<WriterLocks>,
}

/// Serialises writes to one user within this process. Concurrent writers of one user would
/// otherwise race each other's conditional writes and burn their retries (twenty publishers
/// updating one profile at once lost nine rounds in a row on a loaded CI machine); across
/// processes (several Lambdas) the conditional write and its bounded retries still decide.
/// Striped rather than keyed so that it needs no clean-up: two users sharing a stripe merely
/// wait for each other.
struct WriterLocks {
    stripes: Vec<tokio::sync::Mutex<()>>,
}

impl WriterLocks {
    const STRIPES: usize = 1024;

    fn new() -> Self {
        Self {
            stripes: (0..Self::STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
        }
    }

    fn stripe(&self, user_id: &str) -> &tokio::sync::Mutex<()> {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(user_id);
        // The modulo keeps the index below `STRIPES`, so it fits in usize on every target.
        let index = usize::try_from(hash % Self::STRIPES as u64).unwrap_or(0);
        &self.stripes[index]
    }
}

impl std::fmt::Debug for ChangeService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeService")
            .field("keys", &self.keys)
            .field("uuid_salt", &self.uuid_salt)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// A failed attempt: either lost a race (retry) or a final answer.
enum AttemptError {
    Lost,
    Fail(ChangeError),
}

impl From<ChangeError> for AttemptError {
    fn from(e: ChangeError) -> Self {
        Self::Fail(e)
    }
}

impl ChangeService {
    /// `cis_signer` must hold the `cis` key: every write signs `last_modified` with it.
    pub fn new(
        store: Arc<dyn ProfileStore>,
        keys: KeySource,
        cis_signer: Arc<Signer>,
        uuid_salt: Option<UuidSalt>,
        settings: ChangeSettings,
    ) -> Result<Self, ChangeError> {
        if !cis_signer.has_key(CIS) {
            return Err(ChangeError::Misconfigured(
                "the signer has no key for publisher `cis`".into(),
            ));
        }
        if uuid_salt.is_none() {
            tracing::warn!("no uuid salt configured: new users will be refused (B10)");
        }
        Ok(Self {
            store,
            keys,
            cis_signer,
            uuid_salt,
            settings,
            clock: Arc::new(SystemClock),
            rules: Arc::new(PublisherRules::bundled().clone()),
            schema: SchemaValidator::bundled(),
            writer_locks: Arc::new(WriterLocks::new()),
        })
    }

    /// Replaces the clock (tests fix time).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Replaces the bundled publisher rules.
    pub fn with_rules(mut self, rules: PublisherRules) -> Self {
        self.rules = Arc::new(rules);
        self
    }

    pub fn settings(&self) -> &ChangeSettings {
        &self.settings
    }

    pub fn store(&self) -> &Arc<dyn ProfileStore> {
        &self.store
    }

    /// The checks that need no stored state: body shape, user_id resolution, schema. The queued
    /// path (C2) runs this before enqueueing so a publisher hears about a bad profile at once;
    /// [`Self::integrate`] runs it again. Returns the normalised profile and its user_id.
    pub fn precheck(&self, request: &ChangeRequest) -> Result<(Value, String), ChangeError> {
        let profile = normalize(request.profile.clone())?;
        let user_id = resolve_user_id(&profile, request.user_id_param.as_deref())?;
        self.schema
            .validate(&profile)
            .map_err(ChangeError::SchemaInvalid)?;
        Ok((profile, user_id))
    }

    /// Integrates one profile: the whole pipeline of the module docs.
    pub async fn integrate(&self, request: ChangeRequest) -> Result<ChangeOutcome, ChangeError> {
        let started = Instant::now();
        let (profile, user_id) = prepare(request.profile, request.user_id_param.as_deref())?;
        self.integrate_prepared(&profile, &user_id, request.dry_run, started)
            .await
    }

    /// [`Self::integrate`] after the body is normalised and the user_id resolved.
    async fn integrate_prepared(
        &self,
        profile: &Value,
        user_id: &str,
        dry_run: bool,
        started: Instant,
    ) -> Result<ChangeOutcome, ChangeError> {
        let mut timings = StageTimings::default();
        let result = self
            .integrate_resolved(profile, user_id, dry_run, &mut timings, started)
            .await;
        match &result {
            Ok(outcome) => tracing::info!(
                user_id = %user_id,
                condition = outcome.condition.as_str(),
                changed = outcome.changed.len(),
                attempts = outcome.timings.attempts,
                dry_run,
                "profile integrated"
            ),
            Err(error) => tracing::info!(
                user_id = %user_id,
                code = error.code(),
                status = error.status(),
                dry_run,
                "profile rejected"
            ),
        }
        result
    }

    async fn integrate_resolved(
        &self,
        profile: &Value,
        user_id: &str,
        dry_run: bool,
        timings: &mut StageTimings,
        started: Instant,
    ) -> Result<ChangeOutcome, ChangeError> {
        self.schema
            .validate(profile)
            .map_err(ChangeError::SchemaInvalid)?;
        timings.validate = started.elapsed();
        let _serialised = if dry_run {
            None
        } else {
            Some(self.writer_locks.stripe(user_id).lock().await)
        };
        loop {
            timings.attempts += 1;
            match self.attempt(profile, user_id, dry_run, timings).await {
                Ok((condition, sequence_number, changed)) => {
                    timings.total = started.elapsed();
                    return Ok(ChangeOutcome {
                        user_id: user_id.to_owned(),
                        condition,
                        sequence_number,
                        changed,
                        dry_run,
                        timings: *timings,
                    });
                }
                Err(AttemptError::Fail(error)) => return Err(error),
                Err(AttemptError::Lost) => {
                    if timings.attempts > self.settings.max_conflict_retries {
                        tracing::warn!(
                            user_id = %user_id,
                            attempts = timings.attempts,
                            "giving up after losing every conditional write"
                        );
                        return Err(ChangeError::Conflict {
                            user_id: user_id.to_owned(),
                            attempts: timings.attempts,
                        });
                    }
                    tracing::debug!(user_id = %user_id, attempt = timings.attempts, "conditional write lost; retrying");
                    let pause = backoff(timings.attempts);
                    let slept = Instant::now();
                    tokio::time::sleep(pause).await;
                    timings.backoff += slept.elapsed();
                }
            }
        }
    }

    /// One read-merge-check-write round.
    async fn attempt(
        &self,
        incoming: &Value,
        user_id: &str,
        dry_run: bool,
        timings: &mut StageTimings,
    ) -> Result<(Condition, Option<SequenceNumber>, Vec<String>), AttemptError> {
        let mut stage = Instant::now();
        let stored = self
            .store
            .get_by_user_id(user_id)
            .await
            .map_err(ChangeError::Storage)?;
        lap(&mut stage, &mut timings.read);

        let now = format_timestamp(self.clock.now());
        let (mut merged, changed, expected) = match stored {
            Some(stored) => {
                let mut merged = stored.profile;
                let taken = merge(&mut merged, incoming);
                lap(&mut stage, &mut timings.merge);
                if is_noop(&taken, &merged) {
                    return Ok((Condition::Noop, None, Vec::new()));
                }
                if self.settings.verify_publishers {
                    self.check_update_publishers(&merged, &taken)?;
                }
                lap(&mut stage, &mut timings.publishers);
                let changed: Vec<String> = taken.into_iter().map(|t| t.path).collect();
                (merged, changed, Some(stored.sequence_number))
            }
            None => {
                let (merged, changed) = self.new_user_profile(incoming, &now)?;
                lap(&mut stage, &mut timings.merge);
                if self.settings.verify_publishers {
                    let violations = allow_active_publishers(check_publishers(
                        &merged,
                        null_profile_ref(),
                        &self.rules,
                    ));
                    if !violations.is_empty() {
                        return Err(ChangeError::InvalidPublisher(violations).into());
                    }
                }
                lap(&mut stage, &mut timings.publishers);
                (merged, changed, None)
            }
        };

        let resign_active = attribute(&merged, "active")
            .filter(|a| value_is_set(a) == Some(true))
            .and_then(publisher_name)
            .is_some_and(|p| RESIGNED_ACTIVE_PUBLISHERS.contains(&p));
        if self.settings.verify_signatures {
            self.verify_signatures(&merged, &changed, resign_active)
                .await?;
        }
        lap(&mut stage, &mut timings.signatures);

        self.sign_cis_attributes(&mut merged, &now, resign_active)?;
        lap(&mut stage, &mut timings.cis_attributes);

        // Plain JSON: the DynamoDB backend types it itself.
        let flat = match cis_profile::sanitized_profile(&merged) {
            Value::Object(flat) => flat,
            _ => Map::new(),
        };
        let record = ProfileRecord::from_profile(merged, flat).map_err(|e| match e {
            VaultError::InvalidInput { field, reason } => ChangeError::BadRequest(format!(
                "the profile cannot be stored: `{field}`: {reason}"
            )),
            other => ChangeError::Storage(other),
        })?;
        lap(&mut stage, &mut timings.record);

        let condition = if expected.is_some() {
            Condition::Update
        } else {
            Condition::Create
        };
        if dry_run {
            return Ok((condition, None, changed));
        }
        let written = match &expected {
            Some(expected) => self.store.update(record, expected).await,
            None => self.store.create(record).await,
        };
        lap(&mut stage, &mut timings.write);
        match written {
            Ok(sequence_number) => Ok((condition, Some(sequence_number), changed)),
            // Someone wrote (or created, or deleted) the user since we read it.
            Err(VaultError::Conflict { .. }) => Err(AttemptError::Lost),
            Err(VaultError::NotFound { .. }) if expected.is_some() => Err(AttemptError::Lost),
            Err(other) => Err(ChangeError::Storage(other).into()),
        }
    }

    /// §5.5: a new user's profile with CIS's uuid and primary_username, signed as `cis`.
    fn new_user_profile(
        &self,
        incoming: &Value,
        now: &str,
    ) -> Result<(Value, Vec<String>), ChangeError> {
        let preset =
            |name: &str| attribute(incoming, name).is_some_and(|a| value_is_set(a) == Some(true));
        if preset("uuid") || preset("primary_username") {
            return Err(ChangeError::UuidOrUsernameSet);
        }
        let Some(salt) = &self.uuid_salt else {
            return Err(ChangeError::NoUuidSalt);
        };
        // CIS cannot sign a user_id for the publisher, so a new profile must bring its own.
        let Some(user_id) = attribute(incoming, "user_id")
            .and_then(|a| a.get("value"))
            .and_then(Value::as_str)
        else {
            return Err(ChangeError::BadRequest(
                "a new profile must carry `user_id.value`, signed by its publisher".into(),
            ));
        };
        if !attribute(incoming, "active")
            .and_then(|a| a.get("value"))
            .is_some_and(Value::is_boolean)
        {
            return Err(ChangeError::BadRequest(
                "a new profile must set `active.value` to true or false".into(),
            ));
        }
        let (mut profile, changed) = new_profile(incoming);
        let (uuid, username) = derive_uuid_and_username(salt.expose(), user_id);
        for (path, value) in [("uuid", uuid), ("primary_username", username)] {
            let attr = attribute_slot(&mut profile, path)?;
            attr.insert("value".into(), Value::String(value));
            set_metadata(attr, "created", now);
            set_metadata(attr, "last_modified", now);
            self.cis_signer
                .sign_attribute(attr, CIS)
                .map_err(ChangeError::Signing)?;
        }
        Ok((profile, changed))
    }

    /// Publisher rules for the attributes an update takes, against the ones they replace.
    fn check_update_publishers(&self, merged: &Value, taken: &[Taken]) -> Result<(), ChangeError> {
        let mut violations = Vec::new();
        for t in taken {
            let Some(new) = attribute(merged, &t.path) else {
                continue;
            };
            let previous = t
                .previous
                .as_ref()
                .and_then(Value::as_object)
                .or_else(|| attribute(null_profile_ref(), &t.path));
            if let Err(v) = check_attribute(&t.path, new, previous, &self.rules) {
                violations.push(v);
            }
        }
        let violations = allow_active_publishers(violations);
        if violations.is_empty() {
            Ok(())
        } else {
            Err(ChangeError::InvalidPublisher(violations))
        }
    }

    /// Every changed attribute (and a legacy `active` about to be re-signed) must verify.
    async fn verify_signatures(
        &self,
        merged: &Value,
        changed: &[String],
        resign_active: bool,
    ) -> Result<(), ChangeError> {
        let mut paths: Vec<&str> = changed.iter().map(String::as_str).collect();
        if resign_active && !paths.contains(&"active") {
            paths.push("active");
        }
        if paths.is_empty() {
            return Ok(());
        }
        let keys = self
            .keys
            .current()
            .await
            .map_err(ChangeError::KeysUnavailable)?;
        let failures = verify_paths(&keys, merged, paths.iter().copied());
        if failures.is_empty() {
            return Ok(());
        }
        let failures = match self.keys.refreshed().await {
            Some(fresh) => verify_paths(&fresh, merged, failures.iter().map(|f| f.path.as_str())),
            None => failures,
        };
        if failures.is_empty() {
            Ok(())
        } else {
            Err(ChangeError::SignatureInvalid(failures))
        }
    }

    /// §5.7: `last_modified` = now, signed as `cis`; `active` re-signed as `cis` when an
    /// ldap/hris/access_provider signature vouches for it.
    fn sign_cis_attributes(
        &self,
        profile: &mut Value,
        now: &str,
        resign_active: bool,
    ) -> Result<(), ChangeError> {
        let last_modified = attribute_slot(profile, "last_modified")?;
        last_modified.insert("value".into(), Value::String(now.to_owned()));
        set_metadata(last_modified, "last_modified", now);
        self.cis_signer
            .sign_attribute(last_modified, CIS)
            .map_err(ChangeError::Signing)?;
        if resign_active && let Some(active) = attribute_mut(profile, "active") {
            self.cis_signer
                .sign_attribute(active, CIS)
                .map_err(ChangeError::Signing)?;
        }
        Ok(())
    }

    /// Integrates every profile of a batch, each on its own (B6): its own result (in input
    /// order), its own sequence number, any number of profiles, one failure affecting nothing
    /// else. Profiles of one user are applied one after the other in input order (a duplicate
    /// sees what the earlier one stored); different users proceed concurrently, at most
    /// [`BATCH_CONCURRENCY`] at a time, so a batch against a remote vault overlaps its round
    /// trips.
    pub async fn integrate_batch(
        &self,
        requests: Vec<ChangeRequest>,
    ) -> Vec<Result<ChangeOutcome, ChangeError>> {
        let mut results: Vec<Option<Result<ChangeOutcome, ChangeError>>> =
            std::iter::repeat_with(|| None)
                .take(requests.len())
                .collect();
        let mut groups: Vec<(String, Vec<BatchItem>)> = Vec::new();
        let mut group_of: HashMap<String, usize> = HashMap::new();
        for (index, request) in requests.into_iter().enumerate() {
            match prepare(request.profile, request.user_id_param.as_deref()) {
                Ok((profile, user_id)) => {
                    let group = *group_of.entry(user_id.clone()).or_insert_with(|| {
                        groups.push((user_id, Vec::new()));
                        groups.len() - 1
                    });
                    groups[group].1.push((index, profile, request.dry_run));
                }
                Err(error) => results[index] = Some(Err(error)),
            }
        }
        let done: Vec<Vec<(usize, Result<ChangeOutcome, ChangeError>)>> =
            futures::stream::iter(groups.into_iter().map(|(user_id, items)| async move {
                let mut out = Vec::with_capacity(items.len());
                for (index, profile, dry_run) in items {
                    let started = Instant::now();
                    let result = self
                        .integrate_prepared(&profile, &user_id, dry_run, started)
                        .await;
                    out.push((index, result));
                }
                out
            }))
            .buffer_unordered(BATCH_CONCURRENCY)
            .collect()
            .await;
        for (index, result) in done.into_iter().flatten() {
            results[index] = Some(result);
        }
        results
            .into_iter()
            .map(|r| {
                // Every index was filled above, either at preparation or by its group.
                r.unwrap_or_else(|| Err(ChangeError::BadRequest("profile not processed".into())))
            })
            .collect()
    }

    /// DELETE `/v2/user` (B8): needs only the user_id, from the query or the body. The store
    /// records the delete in its change feed, which is what notifies relying parties.
    pub async fn delete(&self, request: DeleteRequest) -> Result<DeleteOutcome, ChangeError> {
        if !self.settings.allow_delete {
            return Err(ChangeError::DeleteDisabled);
        }
        let profile = request.profile.map(normalize).transpose()?;
        let user_id = match &profile {
            Some(profile) => resolve_user_id(profile, request.user_id_param.as_deref())?,
            None => request
                .user_id_param
                .filter(|id| !id.is_empty())
                .ok_or_else(|| {
                    ChangeError::BadRequest("give the user_id as `?user_id=` or in the body".into())
                })?,
        };
        match self.store.delete(&user_id, None).await {
            Ok(()) => {
                tracing::info!(user_id = %user_id, "profile deleted");
                Ok(DeleteOutcome { user_id })
            }
            Err(VaultError::NotFound { .. }) => Err(ChangeError::NotFound { user_id }),
            Err(other) => Err(ChangeError::Storage(other)),
        }
    }
}

fn lap(stage: &mut Instant, into: &mut Duration) {
    let now = Instant::now();
    *into += now.duration_since(*stage);
    *stage = now;
}

/// Randomised exponential backoff (1, 2, 4 … 64 ms ceiling), so racing writers spread out.
fn backoff(attempt: u32) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let ceiling_ms = 1u64 << attempt.min(6);
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    Duration::from_micros(random % (ceiling_ms * 1000) + 200)
}

fn prepare(profile: Value, user_id_param: Option<&str>) -> Result<(Value, String), ChangeError> {
    let profile = normalize(profile)?;
    let user_id = resolve_user_id(&profile, user_id_param)?;
    Ok((profile, user_id))
}

fn normalize(profile: Value) -> Result<Value, ChangeError> {
    let profile = match profile {
        // The Python API accepted a double-encoded body (a JSON string holding the profile).
        Value::String(text) => serde_json::from_str(&text).map_err(|_| {
            ChangeError::BadRequest("the profile is a string that does not hold JSON".into())
        })?,
        other => other,
    };
    if profile.is_object() {
        Ok(profile)
    } else {
        Err(ChangeError::BadRequest(
            "the profile must be a JSON object".into(),
        ))
    }
}

/// §5.2 step 2: the query wins; a set body `user_id.value` (an empty string counts as set) must
/// equal it.
fn resolve_user_id(profile: &Value, param: Option<&str>) -> Result<String, ChangeError> {
    let body = profile
        .get("user_id")
        .and_then(|a| a.get("value"))
        .filter(|v| !v.is_null());
    match (param.filter(|p| !p.is_empty()), body) {
        (Some(param), Some(body)) if body.as_str() != Some(param) => {
            Err(ChangeError::UserIdMismatch)
        }
        (Some(param), _) => Ok(param.to_owned()),
        (None, Some(Value::String(body))) if !body.is_empty() => Ok(body.clone()),
        (None, Some(_)) => Err(ChangeError::BadRequest(
            "`user_id.value` must be a non-empty string".into(),
        )),
        (None, None) => Err(ChangeError::BadRequest(
            "no user_id: give `?user_id=` or set `user_id.value` in the profile".into(),
        )),
    }
}

/// §5.4 no-op rules: nothing taken, only `user_id` taken (its value is the key, so only its
/// metadata differs), or only `active` taken with the value unchanged.
fn is_noop(taken: &[Taken], merged: &Value) -> bool {
    match taken {
        [] => true,
        [only] if only.path == "user_id" => true,
        [only] if only.path == "active" => {
            let before = only.previous.as_ref().and_then(|p| p.get("value"));
            let after = attribute(merged, "active").and_then(|a| a.get("value"));
            matches!((before, after), (Some(b), Some(a)) if python_eq(b, a))
        }
        _ => false,
    }
}

/// B9: the rules name only `cis` as updater of `active`; ldap, hris and access_provider may
/// change it too (their signature is verified, then CIS re-signs it).
fn allow_active_publishers(violations: Vec<PublisherViolation>) -> Vec<PublisherViolation> {
    violations
        .into_iter()
        .filter(|v| !(v.path == "active" && ACTIVE_PUBLISHERS.contains(&v.publisher.as_str())))
        .collect()
}

fn verify_paths<'a>(
    keys: &PublisherKeys,
    profile: &Value,
    paths: impl Iterator<Item = &'a str>,
) -> Vec<SignatureFailure> {
    paths
        .filter_map(|path| {
            let Some(attr) = attribute(profile, path) else {
                return Some(SignatureFailure {
                    path: path.to_owned(),
                    publisher: None,
                    reason: "not an attribute".into(),
                });
            };
            keys.verify_attribute(attr)
                .err()
                .map(|error| SignatureFailure {
                    path: path.to_owned(),
                    publisher: publisher_name(attr).map(str::to_owned),
                    reason: error.to_string(),
                })
        })
        .collect()
}

/// The attribute at `path`, put back from the null profile first if the document lacks it
/// (older stored profiles, partial new ones).
fn attribute_slot<'a>(
    profile: &'a mut Value,
    path: &str,
) -> Result<&'a mut Map<String, Value>, ChangeError> {
    if attribute(profile, path).is_none() {
        let template = attribute(null_profile_ref(), path)
            .cloned()
            .unwrap_or_default();
        if let Some(root) = profile.as_object_mut() {
            match path.split_once('.') {
                Some((group, child)) => {
                    let group = root
                        .entry(group.to_owned())
                        .or_insert_with(|| Value::Object(Map::new()));
                    if let Some(group) = group.as_object_mut() {
                        group.insert(child.to_owned(), Value::Object(template));
                    }
                }
                None => {
                    root.insert(path.to_owned(), Value::Object(template));
                }
            }
        }
    }
    attribute_mut(profile, path).ok_or_else(|| {
        ChangeError::BadRequest(format!("the profile has no usable `{path}` attribute"))
    })
}

fn set_metadata(attr: &mut Map<String, Value>, field: &str, now: &str) {
    let metadata = attr
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !metadata.is_object() {
        *metadata = Value::Object(Map::new());
    }
    if let Some(metadata) = metadata.as_object_mut() {
        metadata.insert(field.to_owned(), Value::String(now.to_owned()));
    }
}
