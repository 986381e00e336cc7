//! The on-disk layout. One file holds the profiles, the change feed, the ingest queue and the
//! dead letters, so a profile write and its change event commit in one transaction.

use rusqlite::Connection;

use crate::error::Error;

/// Bumped when the layout changes; a file with a newer version is refused rather than misread.
pub(crate) const SCHEMA_VERSION: i64 = 1;

const CREATE: &str = r#"
CREATE TABLE IF NOT EXISTS profiles (
    user_id          TEXT NOT NULL UNIQUE,
    uuid             TEXT NOT NULL,
    primary_email    TEXT NOT NULL,
    primary_username TEXT NOT NULL,
    active           INTEGER NOT NULL,
    sequence_number  TEXT NOT NULL,
    profile          TEXT NOT NULL,
    flat_profile     TEXT NOT NULL
);
-- Profiles are large (tens of KB); the id listing must not touch them, so it reads this
-- covering index only.
CREATE INDEX IF NOT EXISTS profiles_id_listing
    ON profiles (user_id, active, uuid, primary_email);
CREATE INDEX IF NOT EXISTS profiles_by_uuid ON profiles (uuid, user_id);
CREATE INDEX IF NOT EXISTS profiles_by_primary_email ON profiles (primary_email, user_id);
CREATE INDEX IF NOT EXISTS profiles_by_primary_username ON profiles (primary_username, user_id);
CREATE INDEX IF NOT EXISTS profiles_by_sequence_number ON profiles (sequence_number);
CREATE INDEX IF NOT EXISTS profiles_by_active ON profiles (active, user_id);

-- AUTOINCREMENT: a cursor (and so a sequence number) is never reused, even after a restart.
CREATE TABLE IF NOT EXISTS changes (
    cursor    INTEGER PRIMARY KEY AUTOINCREMENT,
    operation TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    time_ms   INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS checkpoints (
    consumer TEXT PRIMARY KEY NOT NULL,
    cursor   INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS ingest_queue (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id         TEXT NOT NULL,
    profile         TEXT NOT NULL,
    enqueued_ms     INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    leased_until_ms INTEGER,
    state           TEXT NOT NULL DEFAULT 'pending',
    sequence_number TEXT,
    reason          TEXT
);
CREATE INDEX IF NOT EXISTS ingest_queue_pending
    ON ingest_queue (user_id, id) WHERE state = 'pending';

CREATE TABLE IF NOT EXISTS dead_letters (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    operation      TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    event_time_ms  INTEGER NOT NULL,
    rp_url         TEXT NOT NULL,
    last_status    INTEGER,
    error          TEXT NOT NULL,
    attempts       INTEGER NOT NULL,
    failed_at_ms   INTEGER NOT NULL,
    replayed_at_ms INTEGER
);
"#;

pub(crate) fn migrate(conn: &mut Connection) -> Result<(), Error> {
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(Error::Schema)?;
    if version > SCHEMA_VERSION {
        return Err(Error::NewerSchema {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    let tx = conn.transaction().map_err(Error::Schema)?;
    tx.execute_batch(CREATE).map_err(Error::Schema)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(Error::Schema)?;
    tx.commit().map_err(Error::Schema)
}
