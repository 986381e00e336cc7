//! cis-vault-sqlite
