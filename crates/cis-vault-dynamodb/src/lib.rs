//! The DynamoDB backend of the identity vault (change-api-and-vault §7, DECISIONS A10).
//!
//! * [`DynamoVault`] implements [`cis_vault::ProfileStore`] on the `<env>-identity-vault` table
//!   with the item layout the Python CIS wrote, so both can share one table;
//! * [`ensure_vault`] is the curator's idempotent ensure-table (§8);
//! * [`DynamoDeadLetterStore`] keeps the notifier's dead letters, in the table
//!   [`ensure_dead_letter_table`] makes;
//! * [`decode_stream_record`] turns the table's KEYS_ONLY stream records into change events.

mod config;
mod curator;
mod dead_letters;
mod error;
mod ingest_status;
mod item;
mod layout;
mod retry;
mod scan;
mod store;
mod stream;

pub use config::{DynamoVaultConfig, build_client, table_name_from_arn};
pub use curator::{CuratorReport, EnsureReport, ensure_vault, ensure_vault_tables};
pub use dead_letters::{
    DEAD_LETTER_TABLE_VAR, DeadLetterTableReport, DynamoDeadLetterStore, dead_letter_table_name,
    ensure_dead_letter_table,
};
pub use error::DynamoVaultError;
pub use ingest_status::{
    DEFAULT_OUTCOME_TTL, INGEST_STATUS_TABLE_VAR, IngestStatusReport, IngestStatusTable,
    RecordedOutcome, ensure_ingest_status_table, ingest_status_table_name,
};
pub use item::{
    attribute_value_to_json, item_to_stored_profile, json_to_attribute_value, new_sequence_number,
    record_to_item,
};
pub use layout::{Billing, INDEXED_ATTRIBUTES, VaultTableSpec, index_name};
pub use scan::ParallelScan;
pub use store::DynamoVault;
pub use stream::{decode_stream_event, decode_stream_record};
