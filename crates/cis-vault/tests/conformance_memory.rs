//! The in-memory vault passes the same suite as the durable backends.

use cis_vault::conformance::MemoryHarness;

cis_vault::profile_store_conformance!(MemoryHarness);
cis_vault::vault_conformance!(MemoryHarness);
