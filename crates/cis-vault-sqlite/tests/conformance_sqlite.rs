//! The SQLite vault passes the shared storage conformance suite.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use cis_vault::BoxFuture;
use cis_vault::conformance::Harness;
use cis_vault_sqlite::{Durability, SqliteOptions, SqliteVault};
use tempfile::TempDir;

/// Each case gets its own file in its own directory, kept until the harness is dropped.
#[derive(Default)]
struct SqliteHarness {
    dirs: Mutex<Vec<TempDir>>,
}

impl Harness for SqliteHarness {
    type Store = SqliteVault;

    fn fresh(&self) -> BoxFuture<'_, Arc<SqliteVault>> {
        Box::pin(async move {
            let dir = tempfile::tempdir().unwrap();
            let options = SqliteOptions {
                durability: Durability::Normal,
                ..SqliteOptions::default()
            };
            let vault = SqliteVault::open_with(dir.path().join("vault.sqlite"), options).unwrap();
            self.dirs.lock().unwrap().push(dir);
            Arc::new(vault)
        })
    }

    fn corrupt_profile<'a>(
        &'a self,
        store: &'a SqliteVault,
        user_id: &'a str,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            assert!(
                store
                    .plant_corrupt_profile(user_id, "{\"user_id\": {")
                    .unwrap()
            );
        })
    }
}

cis_vault::profile_store_conformance!(SqliteHarness::default());
cis_vault::vault_conformance!(SqliteHarness::default());
