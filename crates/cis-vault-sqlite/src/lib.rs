//! The embedded vault: one SQLite file (WAL) holding profiles, the change feed, the ingest
//! queue and the dead letters. It is the store of local mode (`cis serve`).
//!
//! * Every profile write and its change event commit in one transaction, so the feed never
//!   misses a write nor reports one that did not happen.
//! * One writer connection (serialised by a mutex, `BEGIN IMMEDIATE`) and a small pool of
//!   reader connections: in WAL mode readers see the last commit and never wait for the writer.
//! * SQLite calls are blocking, so every operation runs on tokio's blocking pool.
//! * A write's sequence number is its change-feed cursor: unique, increasing, never reused.

mod error;
mod schema;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use cis_vault::{
    AttributeCriterion, AttributeQuery, BoxFuture, ChangeCursor, ChangeEvent, ChangeFeed,
    ChangeOperation, CommitSignal, DeadLetter, DeadLetterFilter, DeadLetterId, DeadLetterStore,
    IngestId, IngestItem, IngestOutcome, IngestQueue, IngestStatus, NewDeadLetter, Page,
    PageRequest, PageToken, ProfileRecord, ProfileStore, SequenceNumber, StoredProfile,
    StoredProfileJson, UserIdEntry, UserIdFilter, VaultError, VaultResult, WriteOp, now_ms,
    parse_ingest_id,
};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use serde_json::{Map, Value};

pub use error::Error;

use error::storage;

/// How hard a commit waits for the disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=FULL`: the WAL is synced at every commit, so an acknowledged write survives
    /// a power loss or OS crash. The default: the Change API tells publishers their write
    /// landed, and they do not re-send.
    #[default]
    Full,
    /// `synchronous=NORMAL`: still safe against a crash of the process, and the file is never
    /// corrupted, but the last commits before a power loss or OS crash may be rolled back.
    /// Faster; fine for tests, benchmarks and throwaway local stores.
    Normal,
}

#[derive(Clone, Debug)]
pub struct SqliteOptions {
    pub durability: Durability,
    /// Reads that run at once, each on its own reader connection kept open between calls;
    /// further reads wait their turn (opening connections under load made the slowest reads
    /// many times slower than the rest).
    pub readers: usize,
    /// How long a statement waits for a lock held by another process before giving up with a
    /// retryable `Unavailable`.
    pub busy_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            durability: Durability::Full,
            readers: 8,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

struct Inner {
    path: PathBuf,
    options: SqliteOptions,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    /// One permit per reader connection; see [`SqliteOptions::readers`].
    read_slots: Arc<tokio::sync::Semaphore>,
    /// Counts commits, for [`ChangeFeed::commits`].
    commits: tokio::sync::watch::Sender<u64>,
}

/// The SQLite vault. Cheap to clone (all clones share the connections).
#[derive(Clone)]
pub struct SqliteVault {
    inner: Arc<Inner>,
}

fn open_connection(path: &Path, options: &SqliteOptions) -> Result<Connection, Error> {
    let open_error = |source| Error::Open {
        path: path.to_path_buf(),
        source,
    };
    let conn = Connection::open(path).map_err(open_error)?;
    conn.busy_timeout(options.busy_timeout)
        .map_err(open_error)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(open_error)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::NoWal {
            path: path.to_path_buf(),
            mode,
        });
    }
    let synchronous = match options.durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", synchronous)
        .map_err(open_error)?;
    Ok(conn)
}

impl SqliteVault {
    /// Opens (creating if needed) the vault file with the default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        Self::open_with(path, SqliteOptions::default())
    }

    pub fn open_with(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self, Error> {
        let path = path.as_ref().to_path_buf();
        let mut writer = open_connection(&path, &options)?;
        schema::migrate(&mut writer)?;
        tracing::info!(
            path = %path.display(),
            durability = ?options.durability,
            schema_version = schema::SCHEMA_VERSION,
            "opened the SQLite vault"
        );
        let read_slots = Arc::new(tokio::sync::Semaphore::new(options.readers.max(1)));
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                options,
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
                read_slots,
                commits: tokio::sync::watch::Sender::new(0),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Replaces a stored profile's JSON with arbitrary text, so tests can check that corrupt
    /// records are reported. Returns false if the user does not exist. Blocking.
    pub fn plant_corrupt_profile(&self, user_id: &str, text: &str) -> VaultResult<bool> {
        let writer = self.inner.writer()?;
        let changed = writer
            .execute(
                "UPDATE profiles SET profile = ?2 WHERE user_id = ?1",
                params![user_id, text],
            )
            .map_err(storage)?;
        Ok(changed > 0)
    }

    /// The query plan SQLite picks for an id listing (tests check it stays an index-only
    /// scan). Blocking.
    pub fn explain_id_listing(&self, filter: &UserIdFilter) -> VaultResult<Vec<String>> {
        let (sql, conditions) = id_listing_query(filter);
        self.inner.with_reader(|conn| {
            let mut statement = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .map_err(storage)?;
            let rows = statement
                .query_map(conditions.params(), |row| row.get::<_, String>(3))
                .map_err(storage)?;
            rows.collect::<Result<_, _>>().map_err(storage)
        })
    }

    /// Runs one read on a pooled reader connection off the async executor, once a read slot is
    /// free.
    fn read<T, F>(&self, work: F) -> BoxFuture<'static, VaultResult<T>>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> VaultResult<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            let slot = Arc::clone(&inner.read_slots)
                .acquire_owned()
                .await
                .map_err(|_| VaultError::unavailable(false, "sqlite reader slots closed"))?;
            tokio::task::spawn_blocking(move || {
                let result = inner.with_reader(work);
                drop(slot);
                result
            })
            .await
            .map_err(|e| VaultError::unavailable(false, format!("sqlite task failed: {e}")))?
        })
    }

    /// Runs blocking SQLite work off the async executor.
    fn run<T, F>(&self, work: F) -> BoxFuture<'static, VaultResult<T>>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> VaultResult<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || work(&inner))
                .await
                .map_err(|e| VaultError::unavailable(false, format!("sqlite task failed: {e}")))?
        })
    }
}

impl Inner {
    fn writer(&self) -> VaultResult<MutexGuard<'_, Connection>> {
        self.writer
            .lock()
            .map_err(|_| VaultError::unavailable(false, "sqlite writer lock poisoned"))
    }

    fn with_reader<T>(&self, work: impl FnOnce(&Connection) -> VaultResult<T>) -> VaultResult<T> {
        let pooled = self.readers.lock().ok().and_then(|mut pool| pool.pop());
        let conn = match pooled {
            Some(conn) => conn,
            None => {
                let conn = open_connection(&self.path, &self.options)?;
                conn.pragma_update(None, "query_only", "ON")
                    .map_err(storage)?;
                conn
            }
        };
        let result = work(&conn);
        if let Ok(mut pool) = self.readers.lock()
            && pool.len() < self.options.readers.max(1)
        {
            pool.push(conn);
        }
        result
    }

    /// Runs `work` in one `BEGIN IMMEDIATE` transaction on the writer connection.
    fn write<T>(
        &self,
        work: impl FnOnce(&rusqlite::Transaction<'_>) -> VaultResult<T>,
    ) -> VaultResult<T> {
        let mut writer = self.writer()?;
        let changes_before = writer.total_changes();
        let tx = writer
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(storage)?;
        let value = work(&tx)?;
        tx.commit().map_err(storage)?;
        // Only commits that changed rows wake consumers: a consumer's own empty claim must not
        // wake it again.
        if writer.total_changes() != changes_before {
            self.commits
                .send_modify(|count| *count = count.wrapping_add(1));
        }
        Ok(value)
    }
}

// ---------------------------------------------------------------------------------------------
// Profiles

const PROFILE_COLUMNS: &str =
    "user_id, uuid, primary_email, primary_username, active, sequence_number, profile";

/// A WHERE clause holding only the conditions that apply. `(?1 IS NULL OR user_id > ?1)` would
/// keep SQLite from using an index range, turning every page into a scan from the start.
#[derive(Default)]
struct Conditions {
    clauses: Vec<&'static str>,
    values: Vec<rusqlite::types::Value>,
}

impl Conditions {
    fn push(&mut self, clause: &'static str, value: impl Into<rusqlite::types::Value>) {
        self.clauses.push(clause);
        self.values.push(value.into());
    }

    /// Narrows the scan with SQLite's JSON functions where that is safe: only as a necessary
    /// condition (it may let through rows the criterion rejects, never the reverse), since the
    /// criteria are still checked in Rust afterwards.
    fn push_prefilter(&mut self, criterion: &AttributeCriterion) {
        use rusqlite::types::Value as Sql;
        let Some(path) = sqlite_json_path(criterion.path()) else {
            return;
        };
        match criterion {
            AttributeCriterion::Exists { .. } => {
                self.push("json_type(flat_profile, ?) IS NOT NULL", path);
            }
            AttributeCriterion::Equals { value, .. } => {
                // json_extract gives JSON true/false as 1/0 and a JSON string unquoted.
                let bound = match value {
                    Value::String(text) => Sql::Text(text.clone()),
                    Value::Bool(flag) => Sql::Integer(i64::from(*flag)),
                    Value::Number(number) => match (number.as_i64(), number.as_f64()) {
                        (Some(integer), _) => Sql::Integer(integer),
                        (None, Some(real)) => Sql::Real(real),
                        _ => return,
                    },
                    Value::Null => {
                        self.push("json_type(flat_profile, ?) = 'null'", path);
                        return;
                    }
                    Value::Array(_) | Value::Object(_) => return,
                };
                self.clauses.push("json_extract(flat_profile, ?) = ?");
                self.values.push(Sql::Text(path));
                self.values.push(bound);
            }
            AttributeCriterion::NotEquals { .. } | AttributeCriterion::NotExists { .. } => {}
        }
    }

    fn push_active(&mut self, active: Option<bool>) {
        if let Some(active) = active {
            self.push("active = ?", i64::from(active));
        }
    }

    fn push_after(&mut self, after: Option<PageToken>) {
        if let Some(after) = after {
            self.push("user_id > ?", after.into_string());
        }
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    fn params(&self) -> rusqlite::ParamsFromIter<&Vec<rusqlite::types::Value>> {
        rusqlite::params_from_iter(&self.values)
    }
}

/// `$."a"."b"` for SQLite's JSON functions, or `None` when a segment cannot be quoted safely
/// (then the criterion is only checked in Rust).
fn sqlite_json_path(segments: &[String]) -> Option<String> {
    let mut path = String::from("$");
    for segment in segments {
        if segment.is_empty() || segment.contains(['"', '\\']) {
            return None;
        }
        path.push_str(".\"");
        path.push_str(segment);
        path.push('"');
    }
    Some(path)
}

fn id_listing_query(filter: &UserIdFilter) -> (String, Conditions) {
    let mut conditions = Conditions::default();
    if let Some(prefix) = filter.user_id_prefix.as_ref().filter(|p| !p.is_empty()) {
        conditions.push("user_id >= ?", prefix.clone());
        if let Some(upper) = prefix_upper_bound(prefix) {
            conditions.push("user_id < ?", upper);
        }
    }
    conditions.push_active(filter.active);
    let sql = format!(
        "SELECT user_id, uuid, primary_email, active FROM profiles INDEXED BY profiles_id_listing{}",
        conditions.sql()
    );
    (sql, conditions)
}

fn text_column(row: &Row<'_>, index: usize, key: &str) -> VaultResult<String> {
    match row.get_ref(index).map_err(storage)? {
        ValueRef::Text(bytes) => String::from_utf8(bytes.to_vec())
            .map_err(|_| VaultError::corrupt(key, format!("column {index} is not UTF-8"))),
        _ => Err(VaultError::corrupt(
            key,
            format!("column {index} is not text"),
        )),
    }
}

fn json_column<T: serde::de::DeserializeOwned>(
    row: &Row<'_>,
    index: usize,
    key: &str,
    what: &str,
) -> VaultResult<T> {
    match row.get_ref(index).map_err(storage)? {
        ValueRef::Text(bytes) => serde_json::from_slice(bytes)
            .map_err(|e| VaultError::corrupt(key, format!("{what} is not valid JSON: {e}"))),
        _ => Err(VaultError::corrupt(key, format!("{what} is not text"))),
    }
}

/// Decodes a row selected with [`PROFILE_COLUMNS`].
fn stored_profile(row: &Row<'_>) -> VaultResult<StoredProfile> {
    let user_id = text_column(row, 0, "<unreadable user_id>")?;
    Ok(StoredProfile {
        uuid: text_column(row, 1, &user_id)?,
        primary_email: text_column(row, 2, &user_id)?,
        primary_username: text_column(row, 3, &user_id)?,
        active: row
            .get::<_, bool>(4)
            .map_err(|_| VaultError::corrupt(&user_id, "active is not a boolean"))?,
        sequence_number: SequenceNumber::new(text_column(row, 5, &user_id)?),
        profile: json_column(row, 6, &user_id, "profile")?,
        user_id,
    })
}

fn query_profiles(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> VaultResult<Vec<StoredProfile>> {
    let mut statement = conn.prepare_cached(sql).map_err(storage)?;
    let mut rows = statement.query(params).map_err(storage)?;
    let mut profiles = Vec::new();
    while let Some(row) = rows.next().map_err(storage)? {
        profiles.push(stored_profile(row)?);
    }
    Ok(profiles)
}

fn find_by_column(conn: &Connection, column: &str, value: &str) -> VaultResult<Vec<StoredProfile>> {
    query_profiles(
        conn,
        &format!("SELECT {PROFILE_COLUMNS} FROM profiles WHERE {column} = ?1 ORDER BY user_id"),
        params![value],
    )
}

fn record_change(tx: &Connection, operation: ChangeOperation, user_id: &str) -> VaultResult<u64> {
    tx.prepare_cached("INSERT INTO changes (operation, user_id, time_ms) VALUES (?1, ?2, ?3)")
        .and_then(|mut statement| statement.execute(params![operation.as_str(), user_id, now_ms()]))
        .map_err(storage)?;
    u64::try_from(tx.last_insert_rowid())
        .map_err(|_| VaultError::unavailable(false, "sqlite returned a negative change cursor"))
}

fn stored_sequence_number(tx: &Connection, user_id: &str) -> VaultResult<Option<SequenceNumber>> {
    tx.prepare_cached("SELECT sequence_number FROM profiles WHERE user_id = ?1")
        .and_then(|mut statement| {
            statement
                .query_row(params![user_id], |row| row.get::<_, String>(0))
                .optional()
        })
        .map(|found| found.map(SequenceNumber::new))
        .map_err(storage)
}

/// Applies one conditional write inside the caller's transaction.
fn apply(tx: &Connection, op: WriteOp) -> VaultResult<SequenceNumber> {
    let (record, expected) = match op {
        WriteOp::Create(record) => (record, None),
        WriteOp::Update { record, expected } => (record, Some(expected)),
    };
    record.validate()?;
    let current = stored_sequence_number(tx, &record.user_id)?;
    match (&current, &expected) {
        (Some(_), None) => {
            return Err(VaultError::Conflict {
                user_id: record.user_id,
                current,
            });
        }
        (None, Some(_)) => return Err(VaultError::not_found(record.user_id)),
        (Some(stored), Some(expected)) if stored != expected => {
            return Err(VaultError::Conflict {
                user_id: record.user_id,
                current,
            });
        }
        _ => {}
    }
    let profile = serde_json::to_string(&record.profile)
        .map_err(|e| VaultError::invalid("profile", e.to_string()))?;
    let flat_profile = serde_json::to_string(&record.flat_profile)
        .map_err(|e| VaultError::invalid("flat_profile", e.to_string()))?;
    let operation = if expected.is_some() {
        ChangeOperation::Update
    } else {
        ChangeOperation::Create
    };
    let sequence_number = SequenceNumber::from(record_change(tx, operation, &record.user_id)?);
    let ProfileRecord {
        user_id,
        uuid,
        primary_email,
        primary_username,
        active,
        ..
    } = &record;
    let sql = if expected.is_some() {
        "UPDATE profiles SET uuid = ?2, primary_email = ?3, primary_username = ?4, active = ?5, \
         sequence_number = ?6, profile = ?7, flat_profile = ?8 WHERE user_id = ?1"
    } else {
        "INSERT INTO profiles (user_id, uuid, primary_email, primary_username, active, \
         sequence_number, profile, flat_profile) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
    };
    tx.prepare_cached(sql)
        .and_then(|mut statement| {
            statement.execute(params![
                user_id,
                uuid,
                primary_email,
                primary_username,
                active,
                sequence_number.as_str(),
                profile,
                flat_profile
            ])
        })
        .map_err(storage)?;
    Ok(sequence_number)
}

/// The smallest string greater than every string starting with `prefix`, if there is one: the
/// upper bound of an index range scan. UTF-8 byte order is code point order, so bumping the
/// last bumpable character is exact.
fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let bumped = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(bumped) = bumped {
            chars.push(bumped);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

fn non_negative(raw: i64, what: &str) -> VaultResult<u64> {
    u64::try_from(raw).map_err(|_| VaultError::corrupt(format!("{what} {raw}"), "negative"))
}

fn page_limit(limit: usize) -> VaultResult<i64> {
    if limit == 0 {
        return Err(VaultError::invalid("limit", "must be at least 1"));
    }
    Ok(i64::try_from(limit).unwrap_or(i64::MAX))
}

fn into_page(mut items: Vec<StoredProfile>, limit: usize) -> Page<StoredProfile> {
    let more = items.len() > limit;
    items.truncate(limit);
    let next = match items.last() {
        Some(last) if more => Some(PageToken::new(last.user_id.clone())),
        _ => None,
    };
    Page { items, next }
}

/// The Person API's read: `active`, the sequence number and, unless the caller's copy is
/// current, the stored text. `CASE` keeps SQLite from following the profile's overflow pages
/// when the text is not wanted, so a check that a cached copy is current costs one index probe.
fn profile_json(
    conn: &Connection,
    user_id: &str,
    unless: Option<&str>,
) -> VaultResult<Option<StoredProfileJson>> {
    let mut statement = conn
        .prepare_cached(
            "SELECT active, sequence_number, \
             CASE WHEN sequence_number = ?2 THEN NULL ELSE profile END \
             FROM profiles WHERE user_id = ?1",
        )
        .map_err(storage)?;
    let mut rows = statement.query(params![user_id, unless]).map_err(storage)?;
    let Some(row) = rows.next().map_err(storage)? else {
        return Ok(None);
    };
    let active = row
        .get::<_, bool>(0)
        .map_err(|_| VaultError::corrupt(user_id, "active is not a boolean"))?;
    let sequence_number = SequenceNumber::new(text_column(row, 1, user_id)?);
    let json = match row.get_ref(2).map_err(storage)? {
        ValueRef::Null => None,
        ValueRef::Text(bytes) => Some(
            String::from_utf8(bytes.to_vec())
                .map_err(|_| VaultError::corrupt(user_id, "profile is not UTF-8"))?,
        ),
        _ => return Err(VaultError::corrupt(user_id, "profile is not text")),
    };
    if json.is_none() && unless != Some(sequence_number.as_str()) {
        return Err(VaultError::corrupt(user_id, "profile is NULL"));
    }
    Ok(Some(StoredProfileJson {
        active,
        sequence_number,
        json,
    }))
}

impl ProfileStore for SqliteVault {
    fn get_json_by_user_id<'a>(
        &'a self,
        user_id: &'a str,
        unless: Option<&'a SequenceNumber>,
    ) -> Option<BoxFuture<'a, VaultResult<Option<StoredProfileJson>>>> {
        let user_id = user_id.to_owned();
        let unless = unless.map(|known| known.as_str().to_owned());
        Some(self.read(move |conn| profile_json(conn, &user_id, unless.as_deref())))
    }

    fn get_by_user_id<'a>(
        &'a self,
        user_id: &'a str,
    ) -> BoxFuture<'a, VaultResult<Option<StoredProfile>>> {
        let user_id = user_id.to_owned();
        self.read(move |conn| {
            find_by_column(conn, "user_id", &user_id).map(|found| found.into_iter().next())
        })
    }

    fn find_by_uuid<'a>(&'a self, uuid: &'a str) -> BoxFuture<'a, VaultResult<Vec<StoredProfile>>> {
        let uuid = uuid.to_owned();
        self.read(move |conn| find_by_column(conn, "uuid", &uuid))
    }

    fn find_by_primary_email<'a>(
        &'a self,
        primary_email: &'a str,
    ) -> BoxFuture<'a, VaultResult<Vec<StoredProfile>>> {
        let email = primary_email.to_owned();
        self.read(move |conn| find_by_column(conn, "primary_email", &email))
    }

    fn find_by_primary_username<'a>(
        &'a self,
        primary_username: &'a str,
    ) -> BoxFuture<'a, VaultResult<Vec<StoredProfile>>> {
        let username = primary_username.to_owned();
        self.read(move |conn| find_by_column(conn, "primary_username", &username))
    }

    fn find_by_sequence_number<'a>(
        &'a self,
        sequence_number: &'a SequenceNumber,
    ) -> BoxFuture<'a, VaultResult<Option<StoredProfile>>> {
        let sequence_number = sequence_number.as_str().to_owned();
        self.read(move |conn| {
            find_by_column(conn, "sequence_number", &sequence_number)
                .map(|found| found.into_iter().next())
        })
    }

    fn create(&self, record: ProfileRecord) -> BoxFuture<'_, VaultResult<SequenceNumber>> {
        self.run(move |inner| inner.write(|tx| apply(tx, WriteOp::Create(record))))
    }

    fn update<'a>(
        &'a self,
        record: ProfileRecord,
        expected: &'a SequenceNumber,
    ) -> BoxFuture<'a, VaultResult<SequenceNumber>> {
        let expected = expected.clone();
        self.run(move |inner| inner.write(|tx| apply(tx, WriteOp::Update { record, expected })))
    }

    fn write_batch(&self, ops: Vec<WriteOp>) -> BoxFuture<'_, Vec<VaultResult<SequenceNumber>>> {
        let count = ops.len();
        let batch = self.run(move |inner| {
            let mut writer = inner.writer()?;
            let mut tx = writer
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(storage)?;
            let mut results = Vec::with_capacity(ops.len());
            for op in ops {
                // A savepoint per op: a failed op leaves nothing behind, the others stay.
                let savepoint = tx.savepoint().map_err(storage)?;
                let result = apply(&savepoint, op);
                if result.is_ok() {
                    savepoint.commit().map_err(storage)?;
                }
                results.push(result);
            }
            tx.commit().map_err(storage)?;
            Ok(results)
        });
        Box::pin(async move {
            match batch.await {
                Ok(results) => results,
                // Nothing was committed: every op failed the same way.
                Err(error) => (0..count)
                    .map(|_| {
                        Err(match &error {
                            VaultError::Unavailable { retryable, message } => {
                                VaultError::unavailable(*retryable, message.clone())
                            }
                            other => VaultError::unavailable(false, other.to_string()),
                        })
                    })
                    .collect(),
            }
        })
    }

    fn delete<'a>(
        &'a self,
        user_id: &'a str,
        expected: Option<&'a SequenceNumber>,
    ) -> BoxFuture<'a, VaultResult<()>> {
        let user_id = user_id.to_owned();
        let expected = expected.cloned();
        self.run(move |inner| {
            inner.write(|tx| {
                let current = stored_sequence_number(tx, &user_id)?;
                match (&current, &expected) {
                    (None, _) => return Err(VaultError::not_found(user_id)),
                    (Some(stored), Some(expected)) if stored != expected => {
                        return Err(VaultError::Conflict { user_id, current });
                    }
                    _ => {}
                }
                tx.execute("DELETE FROM profiles WHERE user_id = ?1", params![user_id])
                    .map_err(storage)?;
                record_change(tx, ChangeOperation::Delete, &user_id)?;
                Ok(())
            })
        })
    }

    fn list_profiles(
        &self,
        request: PageRequest,
    ) -> BoxFuture<'_, VaultResult<Page<StoredProfile>>> {
        self.run(move |inner| {
            let limit = page_limit(request.limit)?;
            let mut conditions = Conditions::default();
            conditions.push_after(request.after);
            conditions.push_active(request.active);
            let sql = format!(
                "SELECT {PROFILE_COLUMNS} FROM profiles{} ORDER BY user_id LIMIT {}",
                conditions.sql(),
                limit.saturating_add(1)
            );
            let items =
                inner.with_reader(|conn| query_profiles(conn, &sql, conditions.params()))?;
            Ok(into_page(items, request.limit))
        })
    }

    fn list_user_ids(&self, filter: UserIdFilter) -> BoxFuture<'_, VaultResult<Vec<UserIdEntry>>> {
        self.run(move |inner| {
            let (sql, conditions) = id_listing_query(&filter);
            inner.with_reader(|conn| {
                let mut statement = conn.prepare_cached(&sql).map_err(storage)?;
                let mut rows = statement.query(conditions.params()).map_err(storage)?;
                let mut entries = Vec::new();
                while let Some(row) = rows.next().map_err(storage)? {
                    let user_id = text_column(row, 0, "<unreadable user_id>")?;
                    entries.push(UserIdEntry {
                        uuid: text_column(row, 1, &user_id)?,
                        primary_email: text_column(row, 2, &user_id)?,
                        active: row.get::<_, bool>(3).map_err(|_| {
                            VaultError::corrupt(&user_id, "active is not a boolean")
                        })?,
                        user_id,
                    });
                }
                Ok(entries)
            })
        })
    }

    fn find_by_attributes(
        &self,
        query: AttributeQuery,
    ) -> BoxFuture<'_, VaultResult<Page<StoredProfile>>> {
        self.run(move |inner| {
            query.validate()?;
            page_limit(query.limit)?;
            let mut conditions = Conditions::default();
            conditions.push_after(query.after.clone());
            conditions.push_active(query.active);
            for criterion in &query.criteria {
                conditions.push_prefilter(criterion);
            }
            let sql = format!(
                "SELECT user_id, active, flat_profile FROM profiles{} ORDER BY user_id",
                conditions.sql()
            );
            // The criteria are evaluated in Rust, by the same code as every other backend, over
            // the flat profiles in user_id order; only matches are decoded in full.
            let items = inner.with_reader(|conn| {
                let mut statement = conn.prepare_cached(&sql).map_err(storage)?;
                let mut rows = statement.query(conditions.params()).map_err(storage)?;
                let mut matched = Vec::new();
                while let Some(row) = rows.next().map_err(storage)? {
                    let user_id = text_column(row, 0, "<unreadable user_id>")?;
                    let active = row
                        .get::<_, bool>(1)
                        .map_err(|_| VaultError::corrupt(&user_id, "active is not a boolean"))?;
                    let flat: Map<String, Value> = json_column(row, 2, &user_id, "flat_profile")?;
                    if query.matches(active, &flat) {
                        matched.push(user_id);
                        if matched.len() > query.limit {
                            break;
                        }
                    }
                }
                let mut items = Vec::with_capacity(matched.len());
                for user_id in &matched {
                    items.extend(find_by_column(conn, "user_id", user_id)?);
                }
                Ok(items)
            })?;
            Ok(into_page(items, query.limit))
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Change feed

impl ChangeFeed for SqliteVault {
    fn commits(&self) -> Option<CommitSignal> {
        Some(self.inner.commits.subscribe())
    }

    fn read_changes(
        &self,
        after: Option<ChangeCursor>,
        limit: usize,
    ) -> BoxFuture<'_, VaultResult<Vec<ChangeEvent>>> {
        self.run(move |inner| {
            let after = after.map_or(0, |cursor| i64::try_from(cursor.0).unwrap_or(i64::MAX));
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            inner.with_reader(|conn| {
                let mut statement = conn
                    .prepare_cached(
                        "SELECT cursor, operation, user_id, time_ms FROM changes \
                         WHERE cursor > ?1 ORDER BY cursor LIMIT ?2",
                    )
                    .map_err(storage)?;
                let mut rows = statement.query(params![after, limit]).map_err(storage)?;
                let mut events = Vec::new();
                while let Some(row) = rows.next().map_err(storage)? {
                    let cursor = row
                        .get::<_, i64>(0)
                        .map_err(storage)
                        .and_then(|raw| non_negative(raw, "change cursor"))?;
                    let key = format!("change {cursor}");
                    let word = text_column(row, 1, &key)?;
                    let operation = ChangeOperation::parse(&word)
                        .ok_or_else(|| VaultError::corrupt(&key, "unknown operation"))?;
                    events.push(ChangeEvent {
                        cursor: ChangeCursor(cursor),
                        operation,
                        user_id: text_column(row, 2, &key)?,
                        sequence_number: (operation != ChangeOperation::Delete)
                            .then(|| SequenceNumber::from(cursor)),
                        time_ms: row.get(3).map_err(storage)?,
                    });
                }
                Ok(events)
            })
        })
    }

    fn load_checkpoint<'a>(
        &'a self,
        consumer: &'a str,
    ) -> BoxFuture<'a, VaultResult<Option<ChangeCursor>>> {
        let consumer = consumer.to_owned();
        self.read(move |conn| {
            conn.query_row(
                "SELECT cursor FROM checkpoints WHERE consumer = ?1",
                params![consumer],
                |row| row.get::<_, i64>(0),
            )
            .optional()
            .map_err(storage)?
            .map(|raw| non_negative(raw, "checkpoint").map(ChangeCursor))
            .transpose()
        })
    }

    fn save_checkpoint<'a>(
        &'a self,
        consumer: &'a str,
        cursor: ChangeCursor,
    ) -> BoxFuture<'a, VaultResult<()>> {
        let consumer = consumer.to_owned();
        self.run(move |inner| {
            let cursor = i64::try_from(cursor.0)
                .map_err(|_| VaultError::invalid("cursor", "out of range"))?;
            inner.write(|tx| {
                tx.execute(
                    "INSERT INTO checkpoints (consumer, cursor) VALUES (?1, ?2) \
                     ON CONFLICT (consumer) DO UPDATE SET cursor = excluded.cursor",
                    params![consumer, cursor],
                )
                .map(|_| ())
                .map_err(storage)
            })
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Ingest queue

fn queue_key(id: &IngestId) -> VaultResult<i64> {
    let key = parse_ingest_id(id)?;
    i64::try_from(key).map_err(|_| VaultError::not_found(id.as_str()))
}

impl IngestQueue for SqliteVault {
    fn commits(&self) -> Option<CommitSignal> {
        Some(self.inner.commits.subscribe())
    }

    fn enqueue<'a>(
        &'a self,
        user_id: &'a str,
        profile: Value,
    ) -> BoxFuture<'a, VaultResult<IngestId>> {
        let user_id = user_id.to_owned();
        self.run(move |inner| {
            let profile = serde_json::to_string(&profile)
                .map_err(|e| VaultError::invalid("profile", e.to_string()))?;
            inner.write(|tx| {
                tx.execute(
                    "INSERT INTO ingest_queue (user_id, profile, enqueued_ms) VALUES (?1, ?2, ?3)",
                    params![user_id, profile, now_ms()],
                )
                .map_err(storage)?;
                Ok(IngestId::new(tx.last_insert_rowid().to_string()))
            })
        })
    }

    fn claim(&self, limit: usize, lease: Duration) -> BoxFuture<'_, VaultResult<Vec<IngestItem>>> {
        self.run(move |inner| {
            let now = now_ms();
            let until = now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            inner.write(|tx| {
                // Only each user's oldest unfinished item is a candidate, which keeps per-user
                // order; it is skipped while someone else's lease on it runs.
                let mut statement = tx
                    .prepare_cached(
                        "SELECT q.id, q.user_id, q.profile, q.enqueued_ms, q.attempts \
                         FROM ingest_queue q \
                         JOIN (SELECT min(id) AS id FROM ingest_queue WHERE state = 'pending' \
                               GROUP BY user_id) head ON head.id = q.id \
                         WHERE q.leased_until_ms IS NULL OR q.leased_until_ms <= ?1 \
                         ORDER BY q.id LIMIT ?2",
                    )
                    .map_err(storage)?;
                let mut rows = statement.query(params![now, limit]).map_err(storage)?;
                let mut items = Vec::new();
                while let Some(row) = rows.next().map_err(storage)? {
                    let id: i64 = row.get(0).map_err(storage)?;
                    let key = format!("ingest {id}");
                    let attempts: u32 = row.get(4).map_err(storage)?;
                    items.push(IngestItem {
                        id: IngestId::new(id.to_string()),
                        user_id: text_column(row, 1, &key)?,
                        profile: json_column(row, 2, &key, "queued profile")?,
                        enqueued_ms: row.get(3).map_err(storage)?,
                        attempts: attempts.saturating_add(1),
                    });
                }
                drop(rows);
                drop(statement);
                let mut lease_statement = tx
                    .prepare_cached(
                        "UPDATE ingest_queue SET attempts = attempts + 1, leased_until_ms = ?2 \
                         WHERE id = ?1",
                    )
                    .map_err(storage)?;
                for item in &items {
                    lease_statement
                        .execute(params![queue_key(&item.id)?, until])
                        .map_err(storage)?;
                }
                Ok(items)
            })
        })
    }

    fn ack<'a>(
        &'a self,
        id: &'a IngestId,
        outcome: IngestOutcome,
    ) -> BoxFuture<'a, VaultResult<()>> {
        let id = id.clone();
        self.run(move |inner| {
            let key = queue_key(&id)?;
            let (state, sequence_number, reason) = match outcome {
                IngestOutcome::Integrated { sequence_number } => (
                    "integrated",
                    sequence_number.map(SequenceNumber::into_string),
                    None,
                ),
                IngestOutcome::Rejected { reason } => ("rejected", None, Some(reason)),
            };
            inner.write(|tx| {
                let exists = tx
                    .query_row(
                        "SELECT 1 FROM ingest_queue WHERE id = ?1",
                        params![key],
                        |_| Ok(()),
                    )
                    .optional()
                    .map_err(storage)?;
                if exists.is_none() {
                    return Err(VaultError::not_found(id.as_str()));
                }
                // The first outcome stands; a late duplicate ack changes nothing.
                tx.execute(
                    "UPDATE ingest_queue SET state = ?2, sequence_number = ?3, reason = ?4, \
                     leased_until_ms = NULL WHERE id = ?1 AND state = 'pending'",
                    params![key, state, sequence_number, reason],
                )
                .map_err(storage)?;
                Ok(())
            })
        })
    }

    fn release<'a>(&'a self, id: &'a IngestId) -> BoxFuture<'a, VaultResult<()>> {
        let id = id.clone();
        self.run(move |inner| {
            let key = queue_key(&id)?;
            inner.write(|tx| {
                let changed = tx
                    .execute(
                        "UPDATE ingest_queue SET leased_until_ms = NULL WHERE id = ?1",
                        params![key],
                    )
                    .map_err(storage)?;
                if changed == 0 {
                    return Err(VaultError::not_found(id.as_str()));
                }
                Ok(())
            })
        })
    }

    fn status<'a>(&'a self, id: &'a IngestId) -> BoxFuture<'a, VaultResult<IngestStatus>> {
        let id = id.clone();
        self.run(move |inner| {
            let key = queue_key(&id)?;
            inner.with_reader(|conn| {
                let found = conn
                    .query_row(
                        "SELECT state, sequence_number, reason FROM ingest_queue WHERE id = ?1",
                        params![key],
                        |row| {
                            Ok((
                                row.get::<_, String>(0)?,
                                row.get::<_, Option<String>>(1)?,
                                row.get::<_, Option<String>>(2)?,
                            ))
                        },
                    )
                    .optional()
                    .map_err(storage)?;
                match found {
                    None => Err(VaultError::not_found(id.as_str())),
                    Some((state, sequence_number, reason)) => match state.as_str() {
                        "pending" => Ok(IngestStatus::Pending),
                        "integrated" => Ok(IngestStatus::Integrated {
                            sequence_number: sequence_number.map(SequenceNumber::new),
                        }),
                        "rejected" => Ok(IngestStatus::Rejected {
                            reason: reason.unwrap_or_default(),
                        }),
                        _ => Err(VaultError::corrupt(
                            format!("ingest {key}"),
                            "unknown queue state",
                        )),
                    },
                }
            })
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Dead letters

fn dead_letter(row: &Row<'_>) -> VaultResult<DeadLetter> {
    let id = row
        .get::<_, i64>(0)
        .map_err(storage)
        .and_then(|raw| non_negative(raw, "dead-letter id"))?;
    let key = format!("dead letter {id}");
    let word = text_column(row, 1, &key)?;
    Ok(DeadLetter {
        id: DeadLetterId(id),
        letter: NewDeadLetter {
            operation: ChangeOperation::parse(&word)
                .ok_or_else(|| VaultError::corrupt(&key, "unknown operation"))?,
            user_id: text_column(row, 2, &key)?,
            event_time_ms: row.get(3).map_err(storage)?,
            rp_url: text_column(row, 4, &key)?,
            last_status: row.get(5).map_err(storage)?,
            error: text_column(row, 6, &key)?,
            attempts: row.get(7).map_err(storage)?,
            failed_at_ms: row.get(8).map_err(storage)?,
        },
        replayed_at_ms: row.get(9).map_err(storage)?,
    })
}

fn dead_letter_key(id: DeadLetterId) -> VaultResult<i64> {
    i64::try_from(id.0).map_err(|_| VaultError::not_found(id.0.to_string()))
}

impl DeadLetterStore for SqliteVault {
    fn put_dead_letter(&self, letter: NewDeadLetter) -> BoxFuture<'_, VaultResult<DeadLetterId>> {
        self.run(move |inner| {
            inner.write(|tx| {
                tx.execute(
                    "INSERT INTO dead_letters (operation, user_id, event_time_ms, rp_url, \
                     last_status, error, attempts, failed_at_ms) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        letter.operation.as_str(),
                        letter.user_id,
                        letter.event_time_ms,
                        letter.rp_url,
                        letter.last_status,
                        letter.error,
                        letter.attempts,
                        letter.failed_at_ms
                    ],
                )
                .map_err(storage)?;
                u64::try_from(tx.last_insert_rowid())
                    .map(DeadLetterId)
                    .map_err(|_| VaultError::unavailable(false, "negative dead-letter id"))
            })
        })
    }

    fn list_dead_letters(
        &self,
        filter: DeadLetterFilter,
    ) -> BoxFuture<'_, VaultResult<Vec<DeadLetter>>> {
        self.run(move |inner| {
            let after = filter.after.map_or(Ok(0), dead_letter_key)?;
            let limit = i64::try_from(filter.limit).unwrap_or(i64::MAX);
            inner.with_reader(|conn| {
                let mut statement = conn
                    .prepare_cached(
                        "SELECT id, operation, user_id, event_time_ms, rp_url, last_status, \
                         error, attempts, failed_at_ms, replayed_at_ms FROM dead_letters \
                         WHERE id > ?1 AND (?2 IS NULL OR rp_url = ?2) \
                         AND (?3 IS NULL OR user_id = ?3) AND (?4 OR replayed_at_ms IS NULL) \
                         ORDER BY id LIMIT ?5",
                    )
                    .map_err(storage)?;
                let mut rows = statement
                    .query(params![
                        after,
                        filter.rp_url,
                        filter.user_id,
                        filter.include_replayed,
                        limit
                    ])
                    .map_err(storage)?;
                let mut letters = Vec::new();
                while let Some(row) = rows.next().map_err(storage)? {
                    letters.push(dead_letter(row)?);
                }
                Ok(letters)
            })
        })
    }

    fn mark_replayed(&self, id: DeadLetterId, at_ms: i64) -> BoxFuture<'_, VaultResult<()>> {
        self.run(move |inner| {
            let key = dead_letter_key(id)?;
            inner.write(|tx| {
                let changed = tx
                    .execute(
                        "UPDATE dead_letters SET replayed_at_ms = ?2 WHERE id = ?1",
                        params![key, at_ms],
                    )
                    .map_err(storage)?;
                if changed == 0 {
                    return Err(VaultError::not_found(id.0.to_string()));
                }
                Ok(())
            })
        })
    }

    fn remove_dead_letter(&self, id: DeadLetterId) -> BoxFuture<'_, VaultResult<()>> {
        self.run(move |inner| {
            let key = dead_letter_key(id)?;
            inner.write(|tx| {
                let changed = tx
                    .execute("DELETE FROM dead_letters WHERE id = ?1", params![key])
                    .map_err(storage)?;
                if changed == 0 {
                    return Err(VaultError::not_found(id.0.to_string()));
                }
                Ok(())
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{SqliteVault, prefix_upper_bound, sqlite_json_path};
    use cis_vault::conformance::{edited, sample_record};
    use cis_vault::{ProfileStore, SequenceNumber};
    use serde_json::Value;

    #[tokio::test]
    async fn profile_json_is_the_stored_text_unless_the_callers_copy_is_current() {
        let dir = tempfile::tempdir().unwrap();
        let vault = SqliteVault::open(dir.path().join("vault.sqlite")).unwrap();
        let read = |unless: Option<SequenceNumber>| {
            let vault = vault.clone();
            async move {
                vault
                    .get_json_by_user_id("ad|json", unless.as_ref())
                    .expect("SQLite keeps the JSON text")
                    .await
                    .unwrap()
            }
        };
        assert_eq!(read(None).await, None);

        let record = sample_record("ad|json", 1);
        let first = vault.create(record.clone()).await.unwrap();
        let found = read(None).await.unwrap();
        assert_eq!(found.sequence_number, first);
        assert_eq!(found.active, record.active);
        let text = found.json.expect("no copy held: the text is read");
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            record.profile
        );

        let current = read(Some(first.clone())).await.unwrap();
        assert_eq!((current.json, &current.sequence_number), (None, &first));

        let second = vault
            .update(edited(&record, "Renamed"), &first)
            .await
            .unwrap();
        let changed = read(Some(first)).await.unwrap();
        assert_eq!(changed.sequence_number, second);
        let text = changed.json.expect("an old copy gets the new text");
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap()["first_name"]["value"],
            "Renamed"
        );
    }

    #[test]
    fn json_paths_quote_every_segment_and_refuse_unquotable_ones() {
        let path = |segments: &[&str]| {
            sqlite_json_path(&segments.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        };
        assert_eq!(
            path(&["access_information", "ldap", "team.moco"]).as_deref(),
            Some(r#"$."access_information"."ldap"."team.moco""#)
        );
        assert_eq!(path(&["ldap", "odd\"name"]), None);
        assert_eq!(path(&["ldap", "back\\slash"]), None);
        assert_eq!(path(&["ldap", ""]), None);
    }

    #[test]
    fn prefix_upper_bound_is_the_next_string_after_every_extension() {
        assert_eq!(prefix_upper_bound("ad|").as_deref(), Some("ad}"));
        assert_eq!(prefix_upper_bound("a").as_deref(), Some("b"));
        let max = char::MAX.to_string();
        assert_eq!(prefix_upper_bound(&format!("a{max}")).as_deref(), Some("b"));
        assert_eq!(prefix_upper_bound(&max), None);
        // The surrogate gap is skipped.
        assert_eq!(prefix_upper_bound("\u{D7FF}").as_deref(), Some("\u{E000}"));
    }
}
