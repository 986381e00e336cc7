//! cis-vault
