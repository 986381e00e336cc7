use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{VaultError, VaultResult};

/// The version stamp of a stored profile.
///
/// An opaque decimal string: the Python CIS stores `str(uuid4().int)` (up to 39 digits) and the
/// historical processor stored Kinesis sequence numbers (56 digits), so existing DynamoDB items
/// do not fit any integer type. Backends only compare it for equality; each write gets a fresh,
/// unique one (the embedded backends use a monotonic counter, DynamoDB a uuid4 integer).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SequenceNumber(String);

impl SequenceNumber {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl From<u64> for SequenceNumber {
    fn from(value: u64) -> Self {
        Self(value.to_string())
    }
}

impl fmt::Display for SequenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the change flow hands to the store: the profile plus the index keys derived from it.
///
/// `flat_profile` is the sanitised, collapsed view of the profile (`cis_profile::flat_profile`)
/// as plain JSON (`"first_name": "Jane"`, `"access_information": {"ldap": {"group": null}}`); the
/// DynamoDB backend converts it to its typed `M` form. The store never validates the profile.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfileRecord {
    pub user_id: String,
    pub uuid: String,
    pub primary_email: String,
    pub primary_username: String,
    pub active: bool,
    pub profile: Value,
    pub flat_profile: Map<String, Value>,
}

impl ProfileRecord {
    /// Takes the index keys from a profile v2 document (`user_id.value`, `uuid.value`,
    /// `primary_email.value`, `primary_username.value`, `active.value`).
    pub fn from_profile(profile: Value, flat_profile: Map<String, Value>) -> VaultResult<Self> {
        let text = |field: &'static str| -> VaultResult<String> {
            profile
                .get(field)
                .and_then(|attribute| attribute.get("value"))
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| VaultError::invalid(field, "`value` must be a string"))
        };
        let active = profile
            .get("active")
            .and_then(|attribute| attribute.get("value"))
            .and_then(Value::as_bool)
            .ok_or_else(|| VaultError::invalid("active", "`value` must be a boolean"))?;
        let record = Self {
            user_id: text("user_id")?,
            uuid: text("uuid")?,
            primary_email: text("primary_email")?,
            primary_username: text("primary_username")?,
            active,
            profile,
            flat_profile,
        };
        record.validate()?;
        Ok(record)
    }

    /// Every index key must be a non-empty string: DynamoDB refuses empty GSI keys, and the
    /// embedded backends refuse them too so no backend stores what another would reject.
    pub fn validate(&self) -> VaultResult<()> {
        for (field, value) in [
            ("user_id", &self.user_id),
            ("uuid", &self.uuid),
            ("primary_email", &self.primary_email),
            ("primary_username", &self.primary_username),
        ] {
            if value.is_empty() {
                return Err(VaultError::invalid(field, "must not be empty"));
            }
        }
        Ok(())
    }
}

/// A profile as read back from the store.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredProfile {
    pub user_id: String,
    pub uuid: String,
    pub primary_email: String,
    pub primary_username: String,
    pub active: bool,
    pub sequence_number: SequenceNumber,
    pub profile: Value,
}

/// One conditional write of a batch (DECISIONS B6: each op has its own condition, its own
/// sequence number and its own result; ops are applied in order, duplicates included).
#[derive(Clone, Debug, PartialEq)]
pub enum WriteOp {
    /// Fails with `Conflict` if the user exists.
    Create(ProfileRecord),
    /// Fails with `NotFound` if the user is gone, `Conflict` if the stored sequence number is not
    /// `expected` (DECISIONS B5).
    Update {
        record: ProfileRecord,
        expected: SequenceNumber,
    },
}

impl WriteOp {
    pub fn user_id(&self) -> &str {
        match self {
            Self::Create(record) | Self::Update { record, .. } => &record.user_id,
        }
    }
}

/// Continuation of a paged listing. It holds the last user_id of the previous page, which is
/// what DynamoDB's `LastEvaluatedKey` `{"id": ..}` holds too, so the Person API can render it in
/// the original `nextPage` shapes (A9). Clients must treat it as opaque.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PageToken(String);

impl PageToken {
    pub fn new(last_user_id: impl Into<String>) -> Self {
        Self(last_user_id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// One page of a listing. `next` is `Some` when more items may follow; a page may be short (even
/// empty) while `next` is `Some`, so callers follow `next` until it is `None`.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<PageToken>,
}

/// A request for one page of full profiles.
#[derive(Clone, Debug, PartialEq)]
pub struct PageRequest {
    pub after: Option<PageToken>,
    /// The page holds at most this many items (backends may clamp it to their own maximum).
    pub limit: usize,
    /// `Some(b)`: only users whose `active` is `b`; `None`: everyone.
    pub active: Option<bool>,
}

/// Which users `list_user_ids` returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserIdFilter {
    /// Only user_ids starting with this string. The Person API passes `connectionMethod` here;
    /// the Python CIS matched it as a plain prefix (`ad` also matches `adfoo|…`), so any
    /// separator is the caller's choice.
    pub user_id_prefix: Option<String>,
    pub active: Option<bool>,
}

/// One entry of the id listing (the Person API's `/v2/users/id/all` item).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UserIdEntry {
    pub user_id: String,
    pub uuid: String,
    pub primary_email: String,
    pub active: bool,
}

/// One condition on the flat profile. `path` walks nested objects of the flat profile, e.g.
/// `["staff_information", "staff"]` or `["access_information", "ldap", "<group>"]` (a group name
/// is one segment even if it contains dots).
#[derive(Clone, Debug, PartialEq)]
pub enum AttributeCriterion {
    /// The value at `path` exists and equals `value` (JSON equality).
    Equals { path: Vec<String>, value: Value },
    /// Not `Equals`: the value differs or is absent.
    NotEquals { path: Vec<String>, value: Value },
    /// Something (even `null`) is stored at `path`: group membership.
    Exists { path: Vec<String> },
    /// Nothing is stored at `path`: not a member of the group (or no groups at all).
    NotExists { path: Vec<String> },
}

impl AttributeCriterion {
    /// Whether a flat profile satisfies this criterion. Every backend must agree with this.
    pub fn matches(&self, flat_profile: &Map<String, Value>) -> bool {
        match self {
            Self::Equals { path, value } => lookup(flat_profile, path) == Some(value),
            Self::NotEquals { path, value } => lookup(flat_profile, path) != Some(value),
            Self::Exists { path } => lookup(flat_profile, path).is_some(),
            Self::NotExists { path } => lookup(flat_profile, path).is_none(),
        }
    }

    pub fn path(&self) -> &[String] {
        match self {
            Self::Equals { path, .. }
            | Self::NotEquals { path, .. }
            | Self::Exists { path }
            | Self::NotExists { path } => path,
        }
    }
}

fn lookup<'a>(flat_profile: &'a Map<String, Value>, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let mut current = flat_profile.get(first)?;
    for segment in rest {
        current = current.as_object()?.get(segment)?;
    }
    Some(current)
}

/// A page of users matching every criterion (ANDed, DECISIONS B15).
#[derive(Clone, Debug, PartialEq)]
pub struct AttributeQuery {
    pub criteria: Vec<AttributeCriterion>,
    pub active: Option<bool>,
    pub after: Option<PageToken>,
    pub limit: usize,
}

impl AttributeQuery {
    pub fn matches(&self, active: bool, flat_profile: &Map<String, Value>) -> bool {
        self.active.is_none_or(|wanted| wanted == active)
            && self.criteria.iter().all(|c| c.matches(flat_profile))
    }

    pub fn validate(&self) -> VaultResult<()> {
        if self.criteria.is_empty() {
            return Err(VaultError::invalid("criteria", "at least one is required"));
        }
        if self.criteria.iter().any(|c| c.path().is_empty()) {
            return Err(VaultError::invalid("criteria", "a path must not be empty"));
        }
        Ok(())
    }
}

/// What happened to a user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeOperation {
    Create,
    Update,
    Delete,
}

impl ChangeOperation {
    /// The webhook's `operation` word (A11).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
        }
    }

    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "create" => Some(Self::Create),
            "update" => Some(Self::Update),
            "delete" => Some(Self::Delete),
            _ => None,
        }
    }
}

/// Position in the change feed; events after it have a greater cursor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChangeCursor(pub u64);

/// One committed write, in commit order. Written in the same transaction as the profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeEvent {
    pub cursor: ChangeCursor,
    pub operation: ChangeOperation,
    pub user_id: String,
    /// The sequence number the write stored (`None` for deletes).
    pub sequence_number: Option<SequenceNumber>,
    /// Commit time, milliseconds since the Unix epoch.
    pub time_ms: i64,
}

/// Id of an ingest-queue item, as reported by `/v2/status?sequenceNumber=` (C2). Opaque: the
/// embedded queue renders a counter, a Kinesis-backed one would use the record's sequence number.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IngestId(String);

impl IngestId {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IngestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A profile waiting in the ingest queue, handed out by `claim`.
#[derive(Clone, Debug, PartialEq)]
pub struct IngestItem {
    pub id: IngestId,
    pub user_id: String,
    pub profile: Value,
    pub enqueued_ms: i64,
    /// How many times it was claimed before, this claim included.
    pub attempts: u32,
}

/// How the processor finished with a queue item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum IngestOutcome {
    /// Written (or a no-op); `sequence_number` is the vault's, when a write happened.
    Integrated {
        sequence_number: Option<SequenceNumber>,
    },
    /// Refused for good (bad signature, publisher rule, schema); the reason is for the publisher.
    Rejected { reason: String },
}

/// What `/v2/status` reports for a queue item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum IngestStatus {
    Pending,
    Integrated {
        sequence_number: Option<SequenceNumber>,
    },
    Rejected {
        reason: String,
    },
}

impl From<IngestOutcome> for IngestStatus {
    fn from(outcome: IngestOutcome) -> Self {
        match outcome {
            IngestOutcome::Integrated { sequence_number } => Self::Integrated { sequence_number },
            IngestOutcome::Rejected { reason } => Self::Rejected { reason },
        }
    }
}

/// A webhook delivery that exhausted its retries (DECISIONS B16, C4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewDeadLetter {
    pub operation: ChangeOperation,
    pub user_id: String,
    /// The notification's `time`, milliseconds since the Unix epoch.
    pub event_time_ms: i64,
    pub rp_url: String,
    /// The last HTTP status the RP answered, if it answered at all.
    pub last_status: Option<u16>,
    /// Why the last attempt failed; no tokens or profile values.
    pub error: String,
    pub attempts: u32,
    pub failed_at_ms: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeadLetterId(pub u64);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub id: DeadLetterId,
    #[serde(flatten)]
    pub letter: NewDeadLetter,
    /// Set once `cis notify replay` delivered it.
    pub replayed_at_ms: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeadLetterFilter {
    pub rp_url: Option<String>,
    pub user_id: Option<String>,
    /// Also list letters already replayed.
    pub include_replayed: bool,
    /// List letters with an id greater than this (paging).
    pub after: Option<DeadLetterId>,
    pub limit: usize,
}

impl DeadLetterFilter {
    pub fn matches(&self, letter: &DeadLetter) -> bool {
        self.after.is_none_or(|after| letter.id > after)
            && (self.include_replayed || letter.replayed_at_ms.is_none())
            && self
                .rp_url
                .as_ref()
                .is_none_or(|url| *url == letter.letter.rp_url)
            && self
                .user_id
                .as_ref()
                .is_none_or(|id| *id == letter.letter.user_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn flat() -> Map<String, Value> {
        json!({
            "first_name": "Jane",
            "staff_information": {"staff": true, "title": "Engineer"},
            "access_information": {"ldap": {"team.moco": null, "vpn": null}}
        })
        .as_object()
        .cloned()
        .unwrap()
    }

    fn path(segments: &[&str]) -> Vec<String> {
        segments.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn criteria_follow_nested_paths_and_dotted_group_names() {
        let flat = flat();
        let staff = path(&["staff_information", "staff"]);
        let group = path(&["access_information", "ldap", "team.moco"]);
        let missing = path(&["access_information", "ldap", "admins"]);
        assert!(
            AttributeCriterion::Equals {
                path: staff.clone(),
                value: json!(true)
            }
            .matches(&flat)
        );
        assert!(
            !AttributeCriterion::Equals {
                path: staff.clone(),
                value: json!(false)
            }
            .matches(&flat)
        );
        assert!(
            AttributeCriterion::NotEquals {
                path: staff,
                value: json!(false)
            }
            .matches(&flat)
        );
        assert!(
            AttributeCriterion::Exists {
                path: group.clone()
            }
            .matches(&flat)
        );
        assert!(!AttributeCriterion::NotExists { path: group }.matches(&flat));
        assert!(AttributeCriterion::NotExists { path: missing }.matches(&flat));
        // A path through a scalar finds nothing instead of panicking.
        assert!(
            AttributeCriterion::NotExists {
                path: path(&["first_name", "x"])
            }
            .matches(&flat)
        );
    }

    #[test]
    fn record_from_profile_requires_every_index_key() {
        let profile = json!({
            "user_id": {"value": "ad|Mozilla-LDAP|jdoe"},
            "uuid": {"value": "u-1"},
            "primary_email": {"value": "jdoe@example.com"},
            "primary_username": {"value": "r--abc"},
            "active": {"value": true}
        });
        let record = ProfileRecord::from_profile(profile.clone(), Map::new()).unwrap();
        assert_eq!(record.user_id, "ad|Mozilla-LDAP|jdoe");
        assert!(record.active);

        let mut no_email = profile.clone();
        no_email["primary_email"]["value"] = json!("");
        let err = ProfileRecord::from_profile(no_email, Map::new()).unwrap_err();
        assert!(
            matches!(
                err,
                VaultError::InvalidInput {
                    field: "primary_email",
                    ..
                }
            ),
            "{err}"
        );

        let mut null_active = profile;
        null_active["active"]["value"] = Value::Null;
        let err = ProfileRecord::from_profile(null_active, Map::new()).unwrap_err();
        assert!(matches!(
            err,
            VaultError::InvalidInput {
                field: "active",
                ..
            }
        ));
    }
}
